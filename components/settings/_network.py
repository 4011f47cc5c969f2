"""Where the platform's pods may send traffic: the egress side of its NetworkPolicies.

Every pod's egress is denied unless a NetworkPolicy allows it (the baseline's
default-deny). The platform's own rules (DNS, service to service, Prometheus
scraping) need no config; what differs between clusters and teams does: the
API server's address, the alert receivers', and the destinations a team's
services call (`egress`), added here, never in code.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, model_validator

from components.settings._errors import config_error
from components.settings._types import Allowed, ConfigModel, DnsLabel, ServiceKey


def _cidr(text: str) -> str:
    # strict: 10.0.0.1/8 is a typo for an address or for a network, not either.
    ipaddress.ip_network(text, strict=True)
    return text


Cidr = Annotated[
    str,
    Field(pattern=r"^[0-9a-fA-F:.]+/[0-9]{1,3}$"),
    AfterValidator(_cidr),
    Allowed("an IP network in CIDR form with no host bits set, e.g. 10.96.0.1/32 or 10.0.0.0/8"),
]
Cidrs = Annotated[
    list[Cidr],
    Allowed("a list of IP networks in CIDR form with no host bits set, e.g. [10.96.0.1/32]"),
]
Port = Annotated[int, Field(ge=1, le=65535)]
Ports = Annotated[
    list[Port], Field(min_length=1), Allowed("a list of ports from 1 to 65535, at least one")
]
Protocol = Literal["TCP", "UDP"]


class EgressPort(ConfigModel):
    port: Port = Field(description="destination port")
    protocol: Protocol = Field(default="TCP", description="TCP or UDP")


class EgressDestination(ConfigModel):
    """A destination some of the services call, beyond the platform's own rules."""

    name: DnsLabel = Field(description="names the NetworkPolicy `allow-egress-<name>`")
    services: Annotated[list[ServiceKey], Allowed("a list of service keys")] = Field(
        default_factory=list, description="service keys allowed to call it; default: every service"
    )
    cidrs: Cidrs = Field(
        default_factory=list, description="IP networks (outside the cluster: an API, a database)"
    )
    namespace: DnsLabel | None = Field(
        default=None, description="a namespace of the cluster (instead of cidrs)"
    )
    pod_labels: Annotated[dict[str, str], Allowed("an object: label -> value")] = Field(
        default_factory=dict, description="pods of that namespace; default: all of them"
    )
    ports: Annotated[
        list[EgressPort], Field(min_length=1), Allowed("a list of {port, protocol}, at least one")
    ] = Field(description="{port, protocol} the services call; at least one")

    @model_validator(mode="after")
    def _one_kind_of_destination(self) -> Self:
        if bool(self.cidrs) == (self.namespace is not None):
            allowed = "either cidrs (addresses) or namespace (with podLabels), not both or neither"
            raise config_error(("cidrs",), self.cidrs or None, allowed, missing=not self.cidrs)
        if self.pod_labels and self.namespace is None:
            allowed = "podLabels only with namespace"
            raise config_error(("podLabels",), self.pod_labels, allowed)
        return self


class ApiServerEgress(ConfigModel):
    """How Prometheus reaches the kube-apiserver for pod discovery (kubernetes_sd)."""

    cidrs: Cidrs = Field(
        default_factory=list,
        description="the API server's addresses: Service `kubernetes` (default namespace) and its "
        "endpoints (`kubectl get endpointslice -n default -l "
        "kubernetes.io/service-name=kubernetes`); default: any address on these ports",
    )
    ports: Ports = Field(
        default=[443, 6443],
        description="the Service's port and the endpoints' (NetworkPolicy sees either, by CNI)",
    )


class ReceiverEgress(ConfigModel):
    """Where Alertmanager sends notifications (Slack, PagerDuty: HTTPS on the internet)."""

    cidrs: Cidrs = Field(
        default_factory=list,
        description="the receivers' (or an egress proxy's) addresses; default: any address",
    )
    ports: Ports = Field(default=[443], description="HTTPS")


class NetworkSettings(ConfigModel):
    api_server: ApiServerEgress = Field(
        default_factory=ApiServerEgress, description="Prometheus -> kube-apiserver"
    )
    alert_receivers: ReceiverEgress = Field(
        default_factory=ReceiverEgress, description="Alertmanager -> Slack, PagerDuty"
    )
    egress: Annotated[
        list[EgressDestination],
        Allowed("a list of destinations {name, services, cidrs or namespace, podLabels, ports}"),
    ] = Field(default_factory=list, description="a team's own destinations, one NetworkPolicy each")

    def check_services(self, services: Collection[str]) -> None:
        """Each destination's services exist and its name is its own (keys from the root)."""
        seen: set[str] = set()
        for index, destination in enumerate(self.egress):
            if destination.name in seen:
                allowed = "a name no other egress destination has"
                raise config_error(("network", "egress", index, "name"), destination.name, allowed)
            seen.add(destination.name)
            for key in destination.services:
                if key not in services:
                    allowed = f"a service key ({', '.join(sorted(services))})"
                    raise config_error(("network", "egress", index, "services"), key, allowed)
