"""Plain data out of pulumi-policy's proxies, with values unknown during preview marked.

Policies see resource inputs through proxies that raise on values unknown
during preview. :func:`plain` turns them into dicts and lists, where an unknown
value becomes :data:`UNKNOWN`: a rule that cannot see a value does not guess
(the engine analyses again with known inputs at ``up``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import UnknownValueError


class _Unknown:
    """A value the engine does not know yet (preview); compare with `is UNKNOWN`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unknown>"

    def __bool__(self) -> bool:
        return False

    # Copies stay the one marker, so `is UNKNOWN` holds after a deepcopy.
    def __copy__(self) -> _Unknown:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> _Unknown:
        return self


UNKNOWN: Any = _Unknown()

# The sentinels pulumi-policy substitutes for unknown values (proxy.py).
UNKNOWN_SENTINELS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
        "030794c1-ac77-496b-92df-f27374a8bd58",
        "e48ece36-62e2-4504-bad9-02848725956a",
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
    }
)


def plain(value: Any) -> Any:
    """Deep-copy proxied resource inputs into dicts and lists; unknowns become UNKNOWN."""
    # Every policy copies every resource's inputs, so plain data (tests, the
    # benchmark, already-unwrapped values) takes a path without ABC checks.
    kind = type(value)
    if kind is dict:
        return {str(k): plain(v) for k, v in value.items()}
    if kind is list:
        return [plain(v) for v in value]
    if kind is str:
        return UNKNOWN if value in UNKNOWN_SENTINELS else value
    if kind is int or kind is bool or kind is float or value is None:
        return value
    if isinstance(value, str):
        return UNKNOWN if value in UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in value:
            try:
                out[str(key)] = plain(value[key])
            except UnknownValueError:
                out[str(key)] = UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value
