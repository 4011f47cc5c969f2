"""What the program, the policy pack, the rollout tool and the tests agree on.

The program labels pods with a colour and routes traffic with a few kinds of
resource; the pack judges those resources, the rollout tool changes only those
kinds, and everyone reads image references the same way. Defined here once, so
a change reaches all of them together.
"""

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
    "HTTP_ROUTE",
    "INGRESS",
    "ROUTING_KINDS",
    "ROUTING_TYPES",
    "SERVICE",
    "ImageRef",
    "RoutingKind",
    "is_digest",
    "parse_image",
    "routing_kind",
]
