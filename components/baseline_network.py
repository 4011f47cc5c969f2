"""The namespace's NetworkPolicies: deny everything, then allow what the platform does.

Ingress and egress are both denied for every pod (`default-deny`); each
allow rule below names who talks to whom, on which ports:

- every pod -> the cluster DNS (kube-system, `k8s-app: kube-dns`), UDP and TCP 53;
- service <-> service on the services' ports (the controller calls the graph
  store, the agents, the tools);
- Prometheus -> the services' ports (scraping), Alertmanager (alerts) and the
  kube-apiserver (pod discovery, `network.apiServer`);
- Alertmanager -> its receivers on 443 (`network.alertReceivers`) and its peers;
- Grafana -> Prometheus; the edge controller -> public services and Grafana;
- each `network.egress` destination: the services it names -> its addresses
  or namespace, on its ports (`allow-egress-<name>`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.labels import (
    ALERTMANAGER,
    ALERTMANAGER_CLUSTER_PORT,
    ALERTMANAGER_PORT,
    GRAFANA,
    GRAFANA_PORT,
    PROMETHEUS,
    PROMETHEUS_PORT,
    TIER_LABEL,
    TIER_MONITORING,
    TIER_SERVICE,
)
from components.settings import EgressDestination, PlatformSettings

Meta = Callable[[str], k8s.meta.v1.ObjectMetaArgs]
np = k8s.networking.v1
Selector = k8s.meta.v1.LabelSelectorArgs
Port = k8s.networking.v1.NetworkPolicyPortArgs
Peer = k8s.networking.v1.NetworkPolicyPeerArgs
EgressRule = k8s.networking.v1.NetworkPolicyEgressRuleArgs
IngressRule = k8s.networking.v1.NetworkPolicyIngressRuleArgs
Spec = k8s.networking.v1.NetworkPolicySpecArgs

NAMESPACE_LABEL = "kubernetes.io/metadata.name"
# CoreDNS as kubeadm, kwok and most distributions label it.
DNS_NAMESPACE = "kube-system"
DNS_POD_LABELS = {"k8s-app": "kube-dns"}
DNS_PORT = 53


def pods(**labels: str) -> Selector:
    # No labels: every pod in the namespace (`podSelector: {}`).
    return Selector(match_labels=labels or None)


def monitoring(app: str) -> Selector:
    return pods(**{TIER_LABEL: TIER_MONITORING, "app.kubernetes.io/name": app})


def ports(numbers: Sequence[int], protocol: str = "TCP") -> list[Port]:
    return [Port(protocol=protocol, port=p) for p in numbers]


def to_pods(selector: Selector, allowed: list[Port]) -> EgressRule:
    return EgressRule(to=[Peer(pod_selector=selector)], ports=allowed)


def from_pods(selector: Selector, allowed: list[Port]) -> IngressRule:
    return IngressRule(from_=[Peer(pod_selector=selector)], ports=allowed)


def to_addresses(cidrs: Sequence[str], allowed: list[Port]) -> EgressRule:
    """Egress to these networks on these ports; no networks: any address, these ports only."""
    if not cidrs:
        return EgressRule(ports=allowed)
    return EgressRule(to=[Peer(ip_block=np.IPBlockArgs(cidr=c)) for c in cidrs], ports=allowed)


def _namespace(name: str) -> Selector:
    return pods(**{NAMESPACE_LABEL: name})


def policy_specs(settings: PlatformSettings) -> dict[str, Spec]:
    """NetworkPolicy name -> spec, for everything the platform's pods do."""
    services = pods(**{TIER_LABEL: TIER_SERVICE})
    service_ports = ports(sorted({s.port for s in settings.services}))
    gossip = [Port(protocol=p, port=ALERTMANAGER_CLUSTER_PORT) for p in ("TCP", "UDP")]
    # The ingress controller reaches the public services and Grafana.
    edge_controller = Peer(namespace_selector=_namespace(settings.edge.controller_namespace))
    network = settings.network
    grafana = settings.monitoring.grafana
    specs = {
        "default-deny": Spec(pod_selector=pods(), policy_types=["Ingress", "Egress"]),
        "allow-dns": Spec(
            pod_selector=pods(),
            policy_types=["Egress"],
            egress=[
                EgressRule(
                    to=[
                        Peer(
                            namespace_selector=_namespace(DNS_NAMESPACE),
                            pod_selector=pods(**DNS_POD_LABELS),
                        )
                    ],
                    ports=ports([DNS_PORT], "UDP") + ports([DNS_PORT]),
                )
            ],
        ),
        # The services call each other and are scraped by Prometheus.
        "allow-services": Spec(
            pod_selector=services,
            policy_types=["Ingress", "Egress"],
            ingress=[
                IngressRule(
                    from_=[Peer(pod_selector=services), Peer(pod_selector=monitoring(PROMETHEUS))],
                    ports=service_ports,
                )
            ],
            egress=[to_pods(services, service_ports)],
        ),
    }
    public = sorted(s.name for s in settings.services if s.public)
    if public:
        specs["allow-edge"] = Spec(
            pod_selector=Selector(
                match_labels={TIER_LABEL: TIER_SERVICE},
                match_expressions=[
                    k8s.meta.v1.LabelSelectorRequirementArgs(
                        key="app.kubernetes.io/name", operator="In", values=public
                    )
                ],
            ),
            policy_types=["Ingress"],
            ingress=[
                IngressRule(
                    from_=[edge_controller],
                    ports=ports(sorted({s.port for s in settings.services if s.public})),
                )
            ],
        )
    specs["allow-prometheus"] = Spec(
        pod_selector=monitoring(PROMETHEUS),
        policy_types=["Ingress", "Egress"],
        ingress=[from_pods(monitoring(GRAFANA), ports([PROMETHEUS_PORT]))] if grafana else [],
        egress=[
            to_pods(services, service_ports),
            to_pods(monitoring(ALERTMANAGER), ports([ALERTMANAGER_PORT])),
            # kubernetes_sd discovers the services' pods through the API server
            # (the in-cluster config: Service `kubernetes`, DNATed to the API
            # server's endpoints), whose addresses differ between clusters.
            to_addresses(network.api_server.cidrs, ports(network.api_server.ports)),
        ],
    )
    specs["allow-alertmanager"] = Spec(
        pod_selector=monitoring(ALERTMANAGER),
        policy_types=["Ingress", "Egress"],
        ingress=[
            from_pods(monitoring(PROMETHEUS), ports([ALERTMANAGER_PORT])),
            from_pods(monitoring(ALERTMANAGER), gossip),
        ],
        egress=[
            # Slack and PagerDuty are HTTPS endpoints on the internet.
            to_addresses(network.alert_receivers.cidrs, ports(network.alert_receivers.ports)),
            to_pods(monitoring(ALERTMANAGER), gossip),
        ],
    )
    if grafana:
        specs["allow-grafana"] = Spec(
            pod_selector=monitoring(GRAFANA),
            policy_types=["Ingress", "Egress"],
            ingress=[IngressRule(from_=[edge_controller], ports=ports([GRAFANA_PORT]))],
            egress=[to_pods(monitoring(PROMETHEUS), ports([PROMETHEUS_PORT]))],
        )
    for destination in network.egress:
        specs[f"allow-egress-{destination.name}"] = _destination_spec(settings, destination)
    return specs


def _destination_spec(settings: PlatformSettings, destination: EgressDestination) -> Spec:
    """A team's destination: only the services it names may call it, only on its ports."""
    names = sorted(settings.service(k).name for k in destination.services)
    callers = Selector(
        match_labels={TIER_LABEL: TIER_SERVICE},
        match_expressions=[
            k8s.meta.v1.LabelSelectorRequirementArgs(
                key="app.kubernetes.io/name", operator="In", values=names
            )
        ]
        if names
        else None,
    )
    allowed = [Port(protocol=p.protocol, port=p.port) for p in destination.ports]
    if destination.namespace is not None:
        peer = Peer(
            namespace_selector=_namespace(destination.namespace),
            pod_selector=pods(**destination.pod_labels),
        )
        rule = EgressRule(to=[peer], ports=allowed)
    else:
        rule = to_addresses(destination.cidrs, allowed)
    return Spec(pod_selector=callers, policy_types=["Egress"], egress=[rule])


def network_policies(
    name: str, settings: PlatformSettings, meta: Meta, opts: pulumi.ResourceOptions
) -> None:
    for policy, spec in policy_specs(settings).items():
        np.NetworkPolicy(f"{name}-netpol-{policy}", metadata=meta(policy), spec=spec, opts=opts)
