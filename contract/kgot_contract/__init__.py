"""What the program, the policy pack, the rollout tool and the tests agree on.

The program labels pods with a colour and routes traffic with a few kinds of
resource; the pack judges those resources, the rollout tool changes only those
kinds, and everyone reads image references the same way; the rollout tool
and the tests name a colour's backend in the gateway's metrics one way. Defined here once, so
a change reaches all of them together.
"""

from kgot_contract._gateway import (
    GATEWAY_CONTROLLER,
    Backend,
    any_of,
    backend_label,
    route_label,
)
from kgot_contract._images import ImageRef, is_digest, parse_image
from kgot_contract._labels import COLOR_LABEL
from kgot_contract._routing import (
    HTTP_ROUTE,
    INGRESS,
    ROUTING_KINDS,
    ROUTING_TYPES,
    SERVICE,
    RoutingKind,
    routing_kind,
)

__all__ = [
    "COLOR_LABEL",
    "GATEWAY_CONTROLLER",
    "HTTP_ROUTE",
    "INGRESS",
    "ROUTING_KINDS",
    "ROUTING_TYPES",
    "SERVICE",
    "Backend",
    "ImageRef",
    "RoutingKind",
    "any_of",
    "backend_label",
    "is_digest",
    "parse_image",
    "route_label",
    "routing_kind",
]
