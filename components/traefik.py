"""Traefik as the local cluster's gateway: its namespace, identity, pods and the ways in.

One binary serves both routing modes: its kubernetesGateway provider reads the
Gateway and the HTTPRoutes' weighted backendRefs, its kubernetesIngressNGINX
provider the Ingresses of the ingress class with ingress-nginx's
`canary`/`canary-weight` annotations. Both watch only the platform's
namespace, so every namespaced read (and the Secret read the TLS listener
needs) is a Role there; the ClusterRole holds only the cluster-scoped kinds.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.labels import PART_OF, common_labels, image_version
from components.settings import PlatformSettings
from components.traefik_network import edge_policies
from components.traefik_pod import traefik_pod_spec
from components.traefik_ports import (
    COMPONENT,
    CONTROLLER_NAME,
    HTTPS_PORT,
    INGRESS_CONTROLLER,
    INTERNAL_PORT,
    INTERNAL_SERVICE,
    METRICS_PORT,
    METRICS_SERVICE,
    NAME,
)
from components.traefik_ports import role_name as traefik_role_name

READ = ["get", "list", "watch"]


@dataclass
class TraefikArgs:
    settings: PlatformSettings
    # The platform namespace: routes, Services, EndpointSlices, the TLS Secret.
    watched_namespace: pulumi.Input[str]


class Traefik(pulumi.ComponentResource):
    """Namespace `edge.controllerNamespace` with Traefik, its RBAC, Services and NetworkPolicies."""

    namespace: pulumi.Output[str]
    address: pulumi.Output[str]
    internal_address: pulumi.Output[str]

    def __init__(
        self, name: str, args: TraefikArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kgot:platform:Traefik", name, None, opts)
        self._args = args
        edge = args.settings.edge
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=edge.controller_namespace,
                labels={
                    **{
                        f"pod-security.kubernetes.io/{mode}{suffix}": value
                        for mode in ("enforce", "audit", "warn")
                        for suffix, value in (("", "restricted"), ("-version", "latest"))
                    },
                    "app.kubernetes.io/part-of": PART_OF,
                    "app.kubernetes.io/managed-by": "pulumi",
                },
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.namespace = ns.metadata.name
        self._child = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        self._classes(name)
        account = self._rbac(name)
        public = self._service(name, NAME, "websecure", HTTPS_PORT)
        internal = self._service(name, INTERNAL_SERVICE, "internal", INTERNAL_PORT)
        self._metrics_service(name)
        self._network_policies(name)
        self._deployment(name, account, public.spec.cluster_ip)
        self.address = public.spec.cluster_ip
        self.internal_address = internal.spec.cluster_ip
        self.register_outputs({"address": self.address, "internalAddress": self.internal_address})

    def _meta(
        self, name: str, namespace: pulumi.Input[str] | None = None
    ) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=namespace if namespace is not None else self.namespace,
            labels=common_labels(NAME, COMPONENT),
        )

    def _classes(self, name: str) -> None:
        edge = self._args.settings.edge
        k8s.apiextensions.CustomResource(
            f"{name}-gatewayclass",
            api_version="gateway.networking.k8s.io/v1",
            kind="GatewayClass",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=edge.gateway_class_name, labels=common_labels(NAME, COMPONENT)
            ),
            spec={"controllerName": CONTROLLER_NAME},
            opts=self._child,
        )
        k8s.networking.v1.IngressClass(
            f"{name}-ingressclass",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=edge.ingress_class_name, labels=common_labels(NAME, COMPONENT)
            ),
            spec=k8s.networking.v1.IngressClassSpecArgs(controller=INGRESS_CONTROLLER),
            opts=self._child,
        )

    def _rbac(self, name: str) -> pulumi.Output[str]:
        rbac = k8s.rbac.v1
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata=self._meta(NAME), opts=self._child
        )
        gw = "gateway.networking.k8s.io"
        cluster_rules = [
            # The GatewayClass it controls, and its Accepted condition.
            rbac.PolicyRuleArgs(api_groups=[gw], resources=["gatewayclasses"], verbs=READ),
            rbac.PolicyRuleArgs(
                api_groups=[gw], resources=["gatewayclasses/status"], verbs=["update"]
            ),
            # Which namespaces a listener's allowedRoutes admits.
            rbac.PolicyRuleArgs(api_groups=[""], resources=["namespaces"], verbs=["list", "watch"]),
            rbac.PolicyRuleArgs(
                api_groups=["networking.k8s.io"], resources=["ingressclasses"], verbs=READ
            ),
        ]
        routes = ["gateways", "httproutes", "grpcroutes", "tlsroutes", "backendtlspolicies"]
        platform_rules = [
            rbac.PolicyRuleArgs(
                api_groups=[""], resources=["services", "configmaps", "secrets"], verbs=READ
            ),
            rbac.PolicyRuleArgs(
                api_groups=["discovery.k8s.io"], resources=["endpointslices"], verbs=READ
            ),
            rbac.PolicyRuleArgs(
                api_groups=[gw], resources=[*routes, "referencegrants"], verbs=READ
            ),
            # Accepted/ResolvedRefs/Programmed, which the rollout gate reads.
            rbac.PolicyRuleArgs(
                api_groups=[gw], resources=[f"{r}/status" for r in routes], verbs=["update"]
            ),
            rbac.PolicyRuleArgs(
                api_groups=["networking.k8s.io"], resources=["ingresses"], verbs=READ
            ),
            rbac.PolicyRuleArgs(
                api_groups=["networking.k8s.io"], resources=["ingresses/status"], verbs=["update"]
            ),
        ]
        role_name = traefik_role_name(self._args.settings.namespace)
        subject = rbac.SubjectArgs(kind="ServiceAccount", name=NAME, namespace=self.namespace)
        rbac.ClusterRole(
            f"{name}-clusterrole",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=role_name, labels=common_labels(NAME, COMPONENT)
            ),
            rules=cluster_rules,
            opts=self._child,
        )
        rbac.ClusterRoleBinding(
            f"{name}-clusterrolebinding",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=role_name, labels=common_labels(NAME, COMPONENT)
            ),
            role_ref=rbac.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role_name
            ),
            subjects=[subject],
            opts=self._child,
        )
        watched = self._args.watched_namespace
        rbac.Role(
            f"{name}-role",
            metadata=self._meta(role_name, watched),
            rules=platform_rules,
            opts=self._child,
        )
        rbac.RoleBinding(
            f"{name}-rolebinding",
            metadata=self._meta(role_name, watched),
            role_ref=rbac.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=role_name
            ),
            subjects=[subject],
            opts=self._child,
        )
        return account.metadata.name

    def _service(self, name: str, service: str, port_name: str, target: int) -> k8s.core.v1.Service:
        return k8s.core.v1.Service(
            f"{name}-service-{service}",
            metadata=self._meta(service),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector={"app.kubernetes.io/name": NAME},
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="https", port=443, target_port=port_name, protocol="TCP"
                    )
                ],
            ),
            opts=self._child,
        )

    def _metrics_service(self, name: str) -> None:
        k8s.core.v1.Service(
            f"{name}-service-metrics",
            metadata=self._meta(METRICS_SERVICE),
            spec=k8s.core.v1.ServiceSpecArgs(
                cluster_ip="None",
                selector={"app.kubernetes.io/name": NAME},
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="metrics", port=METRICS_PORT, target_port="metrics", protocol="TCP"
                    )
                ],
            ),
            opts=self._child,
        )

    def _network_policies(self, name: str) -> None:
        edge_policies(
            self._args.settings, self.namespace, self._args.watched_namespace, self._child, name
        )

    def _deployment(
        self, name: str, account: pulumi.Output[str], address: pulumi.Output[str]
    ) -> None:
        gateway = self._args.settings.gateway
        assert gateway.image is not None  # the settings refuse deploy without one
        labels = {
            **common_labels(NAME, COMPONENT),
            "app.kubernetes.io/instance": NAME,
            "app.kubernetes.io/version": image_version(gateway.image),
        }
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAME,
                namespace=self.namespace,
                labels=labels,
                # Declared for the policy pack: its providers watch the API.
                annotations={"kgot.io/needs-kubernetes-api": "true"},
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=gateway.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={"app.kubernetes.io/name": NAME}
                ),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_surge=1, max_unavailable=0
                    ),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=traefik_pod_spec(
                        self._args.settings, account, self._args.watched_namespace, address
                    ),
                ),
            ),
            opts=self._child,
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=self._meta(NAME),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={"app.kubernetes.io/name": NAME}
                ),
            ),
            opts=self._child,
        )
