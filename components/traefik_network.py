"""NetworkPolicies of the gateway: its own namespace, and the ways it adds into the platform's.

The baseline's `allow-edge` already lets the controller namespace reach the
public services; these add what only a gateway run by the program needs:
Traefik reaching the internal services (their routes attach to its internal
listener) and Prometheus scraping Traefik's per-backend metrics.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.labels import PROMETHEUS, TIER_LABEL, TIER_MONITORING, TIER_SERVICE, common_labels
from components.settings import PlatformSettings
from components.traefik_ports import COMPONENT, HTTPS_PORT, INTERNAL_PORT, METRICS_PORT, NAME

np = k8s.networking.v1
Selector = k8s.meta.v1.LabelSelectorArgs


def _tcp(*ports: int) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [np.NetworkPolicyPortArgs(protocol="TCP", port=p) for p in ports]


def _namespace(name: str) -> Selector:
    return Selector(match_labels={"kubernetes.io/metadata.name": name})


def edge_policies(
    settings: PlatformSettings,
    edge_namespace: pulumi.Input[str],
    platform_namespace: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    name: str,
) -> None:
    edge = settings.edge.controller_namespace
    traefik = Selector(match_labels={"app.kubernetes.io/name": NAME})
    prometheus = Selector(
        match_labels={TIER_LABEL: TIER_MONITORING, "app.kubernetes.io/name": PROMETHEUS}
    )
    services = Selector(match_labels={TIER_LABEL: TIER_SERVICE})
    service_ports = _tcp(*sorted({s.port for s in settings.services}))

    def policy(suffix: str, namespace: pulumi.Input[str], spec: np.NetworkPolicySpecArgs) -> None:
        np.NetworkPolicy(
            f"{name}-netpol-{suffix}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=suffix,
                namespace=namespace,
                labels=common_labels(NAME, COMPONENT),
            ),
            spec=spec,
            opts=opts,
        )

    policy("default-deny", edge_namespace, np.NetworkPolicySpecArgs(
        pod_selector=Selector(), policy_types=["Ingress", "Egress"]
    ))  # fmt: skip
    policy(
        "allow-traefik",
        edge_namespace,
        np.NetworkPolicySpecArgs(
            pod_selector=traefik,
            policy_types=["Ingress", "Egress"],
            ingress=[
                # Clients: anywhere (the host through kube-proxy, in-cluster callers).
                np.NetworkPolicyIngressRuleArgs(ports=_tcp(HTTPS_PORT, INTERNAL_PORT)),
                np.NetworkPolicyIngressRuleArgs(
                    from_=[
                        np.NetworkPolicyPeerArgs(
                            namespace_selector=_namespace(settings.namespace),
                            pod_selector=prometheus,
                        )
                    ],
                    ports=_tcp(METRICS_PORT),
                ),
            ],
            egress=[
                # The backends: every service pod of the platform (the proxy
                # connects to pod IPs from EndpointSlices, not the cluster IP).
                np.NetworkPolicyEgressRuleArgs(
                    to=[
                        np.NetworkPolicyPeerArgs(
                            namespace_selector=_namespace(settings.namespace),
                            pod_selector=services,
                        )
                    ],
                    ports=service_ports,
                ),
                # The providers watch the kube-apiserver.
                np.NetworkPolicyEgressRuleArgs(ports=_tcp(443, 6443)),
                np.NetworkPolicyEgressRuleArgs(
                    to=[
                        np.NetworkPolicyPeerArgs(
                            namespace_selector=_namespace("kube-system"),
                            pod_selector=Selector(match_labels={"k8s-app": "kube-dns"}),
                        )
                    ],
                    ports=[
                        np.NetworkPolicyPortArgs(protocol="UDP", port=53),
                        np.NetworkPolicyPortArgs(protocol="TCP", port=53),
                    ],
                ),
            ],
        ),
    )
    from_edge = np.NetworkPolicyPeerArgs(namespace_selector=_namespace(edge), pod_selector=traefik)
    internal = sorted(s.name for s in settings.services if not s.public)
    if settings.gateway.internal_routes == "listener" and internal:
        policy(
            "allow-gateway-internal",
            platform_namespace,
            np.NetworkPolicySpecArgs(
                pod_selector=Selector(
                    match_labels={TIER_LABEL: TIER_SERVICE},
                    match_expressions=[
                        k8s.meta.v1.LabelSelectorRequirementArgs(
                            key="app.kubernetes.io/name", operator="In", values=internal
                        )
                    ],
                ),
                policy_types=["Ingress"],
                ingress=[np.NetworkPolicyIngressRuleArgs(from_=[from_edge], ports=service_ports)],
            ),
        )
    policy(
        "allow-prometheus-gateway",
        platform_namespace,
        np.NetworkPolicySpecArgs(
            pod_selector=prometheus,
            policy_types=["Egress"],
            egress=[np.NetworkPolicyEgressRuleArgs(to=[from_edge], ports=_tcp(METRICS_PORT))],
        ),
    )
