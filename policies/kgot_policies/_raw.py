"""The unwrapped inputs a remediation rewrites.

In a remediation the engine hands the pack inputs wrapped in a proxy that
unwraps Pulumi secrets on read. A remediation must return the inputs with
those secrets still marked, so it edits the wrapped structure underneath, where
secret values are still :class:`pulumi_policy.Secret` objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def raw_props(props: Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(props, dict):
        return props
    # pulumi-policy's proxies hand out what they wrap under this key.
    target = props["__target"]
    if isinstance(target, dict):
        return target
    return raw_props(target)
