"""ClusterBaseline: the hardened namespace every other component lives in."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.labels import (
    ALERTMANAGER,
    ALERTMANAGER_CLUSTER_PORT,
    ALERTMANAGER_PORT,
    GRAFANA,
    GRAFANA_PORT,
    PART_OF,
    PROMETHEUS,
    PROMETHEUS_PORT,
    TIER_LABEL,
    TIER_MONITORING,
    TIER_SERVICE,
    common_labels,
)
from components.settings import PlatformSettings, ServiceSettings

# Room above the computed footprint for rolling-update surges and for
# debugging pods: a quota that is exactly full blocks the next rollout.
QUOTA_HEADROOM = 1.25


@dataclass(frozen=True)
class ResourceBudget:
    """What a set of pods may request and use, summed for the ResourceQuota."""

    pods: int = 0
    requests_millicores: int = 0
    requests_bytes: int = 0
    limits_millicores: int = 0
    limits_bytes: int = 0

    def __add__(self, other: ResourceBudget) -> ResourceBudget:
        return ResourceBudget(
            pods=self.pods + other.pods,
            requests_millicores=self.requests_millicores + other.requests_millicores,
            requests_bytes=self.requests_bytes + other.requests_bytes,
            limits_millicores=self.limits_millicores + other.limits_millicores,
            limits_bytes=self.limits_bytes + other.limits_bytes,
        )

    def scaled(self, factor: float) -> ResourceBudget:
        return ResourceBudget(
            pods=math.ceil(self.pods * factor),
            requests_millicores=math.ceil(self.requests_millicores * factor),
            requests_bytes=math.ceil(self.requests_bytes * factor),
            limits_millicores=math.ceil(self.limits_millicores * factor),
            limits_bytes=math.ceil(self.limits_bytes * factor),
        )

    @staticmethod
    def of_pods(
        pods: int, req_millicores: int, req_bytes: int, lim_millicores: int, lim_bytes: int
    ) -> ResourceBudget:
        return ResourceBudget(
            pods=pods,
            requests_millicores=pods * req_millicores,
            requests_bytes=pods * req_bytes,
            limits_millicores=pods * lim_millicores,
            limits_bytes=pods * lim_bytes,
        )


def service_budget(service: ServiceSettings) -> ResourceBudget:
    """Both colours at full size plus one surge pod each (maxSurge 1).

    Full size for both, whatever `standbyReplicas` says: a standby that gets
    weight scales up to full, and the quota must not stop it then.
    """
    res = service.resources
    return ResourceBudget.of_pods(
        2 * service.replicas + 2,
        res.requests.millicores,
        res.requests.memory_bytes,
        res.limits.millicores,
        res.limits.memory_bytes,
    )


@dataclass
class ClusterBaselineArgs:
    settings: PlatformSettings
    # Pods outside the services (monitoring), for the quota.
    extra_budget: ResourceBudget


class ClusterBaseline(pulumi.ComponentResource):
    """Namespace, identities, RBAC, quota, limits and network policy of the platform."""

    namespace: pulumi.Output[str]
    service_accounts: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: ClusterBaselineArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kgot:platform:ClusterBaseline", name, None, opts)
        self._settings = args.settings
        ns = self._namespace(name)
        self.namespace = ns.metadata.name
        self._child = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        self.service_accounts = {
            service.key: self._service_account(name, service) for service in args.settings.services
        }
        self._roles(name)
        self._quota(name, args.extra_budget)
        self._limit_range(name)
        self._network_policies(name)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "serviceAccounts": self.service_accounts,
            }
        )

    def _meta(self, name: str, component: str = "baseline") -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=self.namespace,
            labels=common_labels(name, component),
        )

    def _namespace(self, name: str) -> k8s.core.v1.Namespace:
        pod_security = {
            f"pod-security.kubernetes.io/{mode}{suffix}": value
            for mode in ("enforce", "audit", "warn")
            for suffix, value in (("", "restricted"), ("-version", "latest"))
        }
        return k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=self._settings.namespace,
                labels={
                    **pod_security,
                    "app.kubernetes.io/part-of": PART_OF,
                    "app.kubernetes.io/managed-by": "pulumi",
                    "kgot.io/environment": self._settings.environment,
                },
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _service_account(self, name: str, service: ServiceSettings) -> pulumi.Output[str]:
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa-{service.name}",
            metadata=self._meta(service.name, service.component),
            # The services never call the Kubernetes API.
            automount_service_account_token=False,
            opts=self._child,
        )
        return account.metadata.name

    def _roles(self, name: str) -> None:
        read = ["get", "list", "watch"]
        write = [*read, "create", "update", "patch", "delete"]
        # Explicit resources and verbs: wildcards would silently grant
        # whatever a future API version adds.
        deployer_rules = [
            ("apps", ["deployments", "replicasets"], write),
            ("", ["services", "configmaps", "secrets", "serviceaccounts"], write),
            ("", ["pods", "endpoints", "events"], read),
            ("policy", ["poddisruptionbudgets"], write),
            ("networking.k8s.io", ["ingresses", "networkpolicies"], write),
            ("gateway.networking.k8s.io", ["httproutes", "gateways"], write),
            ("", ["resourcequotas", "limitranges"], read),
        ]
        reader_rules = [
            ("apps", ["deployments", "replicasets"], read),
            ("", ["pods", "services", "endpoints", "configmaps", "events"], read),
            ("policy", ["poddisruptionbudgets"], read),
            ("networking.k8s.io", ["ingresses", "networkpolicies"], read),
            ("gateway.networking.k8s.io", ["httproutes", "gateways"], read),
            ("", ["resourcequotas", "limitranges"], read),
        ]
        for role, rules, group in (
            ("kgot-deployer", deployer_rules, "kgot-platform:deployers"),
            ("kgot-read-only", reader_rules, "kgot-platform:viewers"),
        ):
            k8s.rbac.v1.Role(
                f"{name}-role-{role}",
                metadata=self._meta(role, "rbac"),
                rules=[
                    k8s.rbac.v1.PolicyRuleArgs(api_groups=[g], resources=r, verbs=v)
                    for g, r, v in rules
                ],
                opts=self._child,
            )
            k8s.rbac.v1.RoleBinding(
                f"{name}-rolebinding-{role}",
                metadata=self._meta(role, "rbac"),
                role_ref=k8s.rbac.v1.RoleRefArgs(
                    api_group="rbac.authorization.k8s.io", kind="Role", name=role
                ),
                subjects=[
                    k8s.rbac.v1.SubjectArgs(
                        api_group="rbac.authorization.k8s.io", kind="Group", name=group
                    )
                ],
                opts=self._child,
            )

    def _quota(self, name: str, extra: ResourceBudget) -> None:
        budget = extra
        for service in self._settings.services:
            budget += service_budget(service)
        hard = budget.scaled(QUOTA_HEADROOM)
        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=self._meta("kgot-platform-quota"),
            spec=k8s.core.v1.ResourceQuotaSpecArgs(
                hard={
                    "pods": str(hard.pods),
                    "requests.cpu": f"{hard.requests_millicores}m",
                    "requests.memory": f"{math.ceil(hard.requests_bytes / 2**20)}Mi",
                    "limits.cpu": f"{hard.limits_millicores}m",
                    "limits.memory": f"{math.ceil(hard.limits_bytes / 2**20)}Mi",
                    # No node ports or cloud load balancers from this namespace.
                    "services.nodeports": "0",
                    "services.loadbalancers": "0",
                }
            ),
            opts=self._child,
        )

    def _limit_range(self, name: str) -> None:
        largest_cpu = max(s.resources.limits.millicores for s in self._settings.services)
        largest_mem = max(s.resources.limits.memory_bytes for s in self._settings.services)
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=self._meta("kgot-platform-limits"),
            spec=k8s.core.v1.LimitRangeSpecArgs(
                limits=[
                    k8s.core.v1.LimitRangeItemArgs(
                        type="Container",
                        # Defaults only for containers someone starts by hand;
                        # every container of the platform sets its own.
                        default_request={"cpu": "100m", "memory": "128Mi"},
                        default={"cpu": "500m", "memory": "512Mi"},
                        # At least 2 cores / 2Gi: the monitoring containers
                        # (Prometheus asks for up to 1 core and 2Gi).
                        max={
                            "cpu": f"{max(largest_cpu, 2000)}m",
                            "memory": f"{math.ceil(max(largest_mem, 2**31) / 2**20)}Mi",
                        },
                    )
                ]
            ),
            opts=self._child,
        )

    def _policy(
        self, name: str, policy: str, spec: k8s.networking.v1.NetworkPolicySpecArgs
    ) -> None:
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol-{policy}",
            metadata=self._meta(policy, "network-policy"),
            spec=spec,
            opts=self._child,
        )

    def _network_policies(self, name: str) -> None:
        np = k8s.networking.v1
        tier = TIER_LABEL

        def pods(**labels: str) -> k8s.meta.v1.LabelSelectorArgs:
            # No labels: every pod in the namespace (`podSelector: {}`).
            return k8s.meta.v1.LabelSelectorArgs(match_labels=labels or None)

        def monitoring(app: str) -> k8s.meta.v1.LabelSelectorArgs:
            return pods(**{tier: TIER_MONITORING, "app.kubernetes.io/name": app})

        def tcp(*ports: int) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
            return [np.NetworkPolicyPortArgs(protocol="TCP", port=p) for p in ports]

        def from_pods(
            selector: k8s.meta.v1.LabelSelectorArgs,
            ports: list[k8s.networking.v1.NetworkPolicyPortArgs],
        ) -> k8s.networking.v1.NetworkPolicyIngressRuleArgs:
            return np.NetworkPolicyIngressRuleArgs(
                from_=[np.NetworkPolicyPeerArgs(pod_selector=selector)], ports=ports
            )

        def to_pods(
            selector: k8s.meta.v1.LabelSelectorArgs,
            ports: list[k8s.networking.v1.NetworkPolicyPortArgs],
        ) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
            return np.NetworkPolicyEgressRuleArgs(
                to=[np.NetworkPolicyPeerArgs(pod_selector=selector)], ports=ports
            )

        services = pods(**{tier: TIER_SERVICE})
        gossip = [
            np.NetworkPolicyPortArgs(protocol=protocol, port=ALERTMANAGER_CLUSTER_PORT)
            for protocol in ("TCP", "UDP")
        ]
        service_ports = tcp(*sorted({s.port for s in self._settings.services}))
        # The ingress controller reaches the public services and Grafana.
        edge_controller = np.NetworkPolicyPeerArgs(
            namespace_selector=pods(
                **{"kubernetes.io/metadata.name": self._settings.edge.controller_namespace}
            )
        )
        self._policy(
            name,
            "default-deny",
            np.NetworkPolicySpecArgs(pod_selector=pods(), policy_types=["Ingress", "Egress"]),
        )
        self._policy(
            name,
            "allow-dns",
            np.NetworkPolicySpecArgs(
                pod_selector=pods(),
                policy_types=["Egress"],
                egress=[
                    np.NetworkPolicyEgressRuleArgs(
                        to=[
                            np.NetworkPolicyPeerArgs(
                                namespace_selector=pods(
                                    **{"kubernetes.io/metadata.name": "kube-system"}
                                ),
                                pod_selector=pods(**{"k8s-app": "kube-dns"}),
                            )
                        ],
                        ports=[
                            np.NetworkPolicyPortArgs(protocol="UDP", port=53),
                            np.NetworkPolicyPortArgs(protocol="TCP", port=53),
                        ],
                    )
                ],
            ),
        )
        # The services call each other (controller -> graph store, agents, tools)
        # and are scraped by Prometheus.
        self._policy(
            name,
            "allow-services",
            np.NetworkPolicySpecArgs(
                pod_selector=services,
                policy_types=["Ingress", "Egress"],
                ingress=[
                    np.NetworkPolicyIngressRuleArgs(
                        from_=[
                            np.NetworkPolicyPeerArgs(pod_selector=services),
                            np.NetworkPolicyPeerArgs(pod_selector=monitoring(PROMETHEUS)),
                        ],
                        ports=service_ports,
                    )
                ],
                egress=[to_pods(services, service_ports)],
            ),
        )
        grafana = self._settings.monitoring.grafana
        public = sorted(s.name for s in self._settings.services if s.public)
        if public:
            self._policy(
                name,
                "allow-edge",
                np.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(
                        match_labels={tier: TIER_SERVICE},
                        match_expressions=[
                            k8s.meta.v1.LabelSelectorRequirementArgs(
                                key="app.kubernetes.io/name", operator="In", values=public
                            )
                        ],
                    ),
                    policy_types=["Ingress"],
                    ingress=[
                        np.NetworkPolicyIngressRuleArgs(
                            from_=[edge_controller],
                            ports=tcp(
                                *sorted({s.port for s in self._settings.services if s.public})
                            ),
                        )
                    ],
                ),
            )
        self._policy(
            name,
            "allow-prometheus",
            np.NetworkPolicySpecArgs(
                pod_selector=monitoring(PROMETHEUS),
                policy_types=["Ingress", "Egress"],
                ingress=[from_pods(monitoring(GRAFANA), tcp(PROMETHEUS_PORT))] if grafana else [],
                egress=[
                    to_pods(services, service_ports),
                    to_pods(monitoring(ALERTMANAGER), tcp(ALERTMANAGER_PORT)),
                    # Service discovery talks to the kube-apiserver, whose
                    # address and port differ between clusters.
                    np.NetworkPolicyEgressRuleArgs(ports=tcp(443, 6443)),
                ],
            ),
        )
        self._policy(
            name,
            "allow-alertmanager",
            np.NetworkPolicySpecArgs(
                pod_selector=monitoring(ALERTMANAGER),
                policy_types=["Ingress", "Egress"],
                ingress=[
                    from_pods(monitoring(PROMETHEUS), tcp(ALERTMANAGER_PORT)),
                    from_pods(monitoring(ALERTMANAGER), gossip),
                ],
                egress=[
                    # Slack and PagerDuty are HTTPS endpoints on the internet.
                    np.NetworkPolicyEgressRuleArgs(ports=tcp(443)),
                    to_pods(monitoring(ALERTMANAGER), gossip),
                ],
            ),
        )
        if not grafana:
            return
        self._policy(
            name,
            "allow-grafana",
            np.NetworkPolicySpecArgs(
                pod_selector=monitoring(GRAFANA),
                policy_types=["Ingress", "Egress"],
                ingress=[
                    np.NetworkPolicyIngressRuleArgs(
                        from_=[edge_controller],
                        ports=tcp(GRAFANA_PORT),
                    )
                ],
                egress=[to_pods(monitoring(PROMETHEUS), tcp(PROMETHEUS_PORT))],
            ),
        )
