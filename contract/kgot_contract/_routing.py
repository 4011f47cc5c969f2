"""The kinds of resource that only route traffic.

A colour flip or a weight change may touch these and nothing else: the program
puts the weights and selectors on them, the rollout tool's preview gate refuses
a shift that changes anything else and its fast rollback applies only these.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RoutingKind:
    """One routing kind as Kubernetes and Pulumi name it."""

    kind: str
    # As in a manifest: "v1" for the core group, "<group>/<version>" otherwise.
    api_version: str
    # The resource name in API paths (/api/v1/namespaces/<ns>/services/<name>).
    plural: str

    @property
    def pulumi_type(self) -> str:
        """The type token pulumi-kubernetes gives it (core/v1 for the core group)."""
        group_version = self.api_version if "/" in self.api_version else f"core/{self.api_version}"
        return f"kubernetes:{group_version}:{self.kind}"


SERVICE = RoutingKind("Service", "v1", "services")
HTTP_ROUTE = RoutingKind("HTTPRoute", "gateway.networking.k8s.io/v1", "httproutes")
# ingress-nginx's canary pair carries the standby's weight.
INGRESS = RoutingKind("Ingress", "networking.k8s.io/v1", "ingresses")

ROUTING_KINDS = (SERVICE, HTTP_ROUTE, INGRESS)
ROUTING_TYPES = tuple(k.pulumi_type for k in ROUTING_KINDS)


def routing_kind(kind: object) -> RoutingKind | None:
    """The routing kind of a manifest's ``kind``, None if it is not one."""
    return next((k for k in ROUTING_KINDS if k.kind == kind), None)
