"""The inputs a remediation rewrites, with Pulumi secrets still marked.

In a remediation the engine hands the pack inputs wrapped, level by level, in
proxies that unwrap Pulumi secrets on read. A remediation must return inputs
whose secrets are still secrets, so it works on a copy taken from underneath
the proxies, where secret values are :class:`pulumi_policy.Secret` objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import Secret


def _target(value: Any) -> Any:
    # pulumi-policy's proxies hand out what they wrap under this key.
    if isinstance(value, Mapping) and not isinstance(value, dict):
        return value["__target"]
    if isinstance(value, Sequence) and not isinstance(value, list | str | bytes):
        proxy: Any = value
        return proxy["__target"]
    return value


def editable(value: Any) -> Any:
    """A deep, plain copy (dicts and lists) that keeps Secret markers in place."""
    value = _target(value)
    if isinstance(value, Secret):
        return Secret(editable(value.value))
    if isinstance(value, dict):
        return {key: editable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [editable(item) for item in value]
    return value


def editable_props(props: Mapping[str, Any]) -> dict[str, Any]:
    copied = editable(props)
    if not isinstance(copied, dict):
        raise TypeError(f"resource inputs are {type(copied).__name__}, not a mapping")
    return copied
