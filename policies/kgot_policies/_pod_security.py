"""What the Pod Security rules share: capability names, security contexts, remediation plumbing."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from pulumi_policy import ResourceRemediation, ResourceValidationArgs

from ._kube import _POD_SPEC_PATHS, UNKNOWN, as_dict, containers


def sync_remediation(
    remediate: Callable[[ResourceValidationArgs], Mapping[str, Any] | None],
) -> ResourceRemediation:
    # The SDK types remediations as awaitable, but its Remediate handler takes a
    # plain return value too (policy.py: "elif result is not None").
    return cast(ResourceRemediation, remediate)


def capability_names(names: Iterable[Any]) -> set[str]:
    """Capability names as Kubernetes spells them (upper case, no CAP_); unknowns left out."""
    return {str(name).upper().removeprefix("CAP_") for name in names if name is not UNKNOWN}


def contexts(pod: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The pod security context and each container's, with how messages name them."""
    found = [("pod securityContext", as_dict(pod.get("securityContext")))]
    found += [(f"{c.ref} securityContext", c.security_context) for c in containers(pod)]
    return found


def raw_pod_spec(props: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The pod spec inside editable resource inputs, for a remediation to change in place."""
    node: Any = props
    for key in _POD_SPEC_PATHS[kind]:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node if isinstance(node, dict) else None
