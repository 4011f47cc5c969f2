"""The one wording of a stack config error: key, value (or `[secret]`), what is allowed.

    stack 'staging': config kgot-platform:rollback.errorRate.windowSeconds = 1 is not
    allowed; allowed: an integer from 10 to 86400

What is allowed comes from the JSON Schema of the models (`x-allowed`, or the
schema's bounds and choices), so an error, the committed schema and the
README's reference say the same. A value is shown as `[secret]` when it came
from a `secure:` entry, sits under a key whose name says secret, or is
itself a `Secret`, whatever the error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from components.settings._types import PROJECT, Secret

SECRET = "[secret]"
# Words of a key name that say its value is a credential ...
_SECRET_WORDS = frozenset(
    {"secret", "secrets", "password", "passwd", "token", "key", "webhook", "credential"}
)
# ... unless the name ends in one of these (tlsSecretName names a Secret, holds none).
_NAMING_WORDS = frozenset({"name", "file", "path", "ref"})
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")


class SettingsError(ValueError):
    """A stack config value that the platform cannot deploy."""


def config_error(
    at: Sequence[str | int],
    value: object,
    allowed: str,
    *,
    missing: bool = False,
    service: str | None = None,
) -> PydanticCustomError:
    """An error for a rule across fields, raised by a model's validator.

    `at` is the key below the model that raised it; `service` names the
    service the error is about when the key does not (images.releaseVersion).
    """
    context: dict[str, Any] = {"at": tuple(at), "value": value, "allowed": allowed}
    context.update(missing=missing, service=service)
    return PydanticCustomError("kgot_config", "{allowed}", context)


def says_secret(name: str) -> bool:
    words = [w.lower() for w in _WORD.findall(name)]
    return bool(words) and words[-1] not in _NAMING_WORDS and any(w in _SECRET_WORDS for w in words)


def _masked(value: object, secret: bool) -> object:
    if secret or isinstance(value, Secret):
        return SECRET
    if isinstance(value, Mapping):
        return {str(k): _masked(v, says_secret(str(k))) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v, False) for v in value]
    return value


def show(value: object, *, secret: bool = False) -> str:
    """A value as JSON, every secret part of it as `[secret]`."""
    masked = _masked(value, secret)
    if masked == SECRET:
        return SECRET
    # YAML may hand over dates and the like; show them, do not crash on them.
    return json.dumps(masked, default=str)


def key_of(loc: Sequence[str | int]) -> str:
    """`("rollback", "customTriggers", 0, "name")` -> `rollback.customTriggers[0].name`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


class ErrorFormatter:
    """Turns a pydantic ValidationError into the platform's wording."""

    def __init__(self, schema: Mapping[str, Any], secret_roots: Collection[str] = ()) -> None:
        self._schema = schema
        self._secret_roots = frozenset(secret_roots)

    def is_secret(self, loc: Sequence[str | int]) -> bool:
        if loc and loc[0] in self._secret_roots:
            return True
        return any(isinstance(p, str) and p != "[key]" and says_secret(p) for p in loc)

    def message(self, stack: str, error: ValidationError) -> str:
        lines = [self.line(detail) for detail in error.errors()]
        if len(lines) == 1:
            return f"stack {stack!r}: {lines[0]}"
        listed = "\n".join(f"  - {line}" for line in lines)
        return f"stack {stack!r}: {len(lines)} config errors:\n{listed}"

    def line(self, detail: ErrorDetails) -> str:
        loc: tuple[str | int, ...] = tuple(detail["loc"])
        context = detail.get("ctx") or {}
        value: object = detail.get("input")
        allowed: str | None = None
        prefix = ""
        if detail["type"] == "kgot_config":
            loc += tuple(context["at"])
            value, allowed = context["value"], str(context["allowed"])
            if context.get("service"):
                prefix = f"service {context['service']}: "
            if context.get("missing"):
                return f"{prefix}{self._missing(loc, allowed)}"
        if detail["type"] == "missing":
            return self._missing(loc, self.allowed(loc))
        is_key = bool(loc) and loc[-1] == "[key]"
        if is_key:
            loc = loc[:-1]
        key = f"{PROJECT}:{key_of(loc)}"
        shown = show(value, secret=self.is_secret(loc) and not is_key)
        if detail["type"] == "extra_forbidden":
            known = ", ".join(self._properties(loc[:-1]))
            return f"config {key} = {shown} is not a known key; allowed keys: {known}"
        if allowed is None:
            allowed = self.allowed(loc[:-1], key=True) if is_key else self.allowed(loc)
        return f"{prefix}config {key} = {shown} is not allowed; allowed: {allowed}"

    def _missing(self, loc: Sequence[str | int], allowed: str) -> str:
        return f"config {PROJECT}:{key_of(loc)} is missing; it must be set to {allowed}"

    # -- what is allowed, read from the schema ---------------------------------------
    def _resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        return resolve(node, self._schema.get("$defs", {}))

    def _node(self, loc: Sequence[str | int]) -> Mapping[str, Any]:
        node = self._resolve(self._schema)
        for part in loc:
            if isinstance(part, int):
                node = node.get("items", {})
            elif part in node.get("properties", {}):
                node = node["properties"][part]
            elif isinstance(node.get("additionalProperties"), Mapping):
                node = node["additionalProperties"]
            elif node.get("patternProperties"):
                node = next(iter(node["patternProperties"].values()))
            else:
                return {}
            node = self._resolve(node)
        return node

    def _properties(self, loc: Sequence[str | int]) -> list[str]:
        return list(self._node(loc).get("properties", {}))

    def allowed(self, loc: Sequence[str | int], *, key: bool = False) -> str:
        node = self._node(loc)
        if key:
            return str(node.get("propertyNames", {}).get("x-allowed", "a key"))
        return describe(node)


def resolve(node: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    """A schema node with its `$ref` followed and `X | None` taken as X."""
    if "$ref" in node:
        target = defs[str(node["$ref"]).rsplit("/", 1)[-1]]
        return resolve({**target, **{k: v for k, v in node.items() if k != "$ref"}}, defs)
    for choice in node.get("anyOf", ()):
        if choice.get("type") != "null":
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            return {**resolve(choice, defs), **rest}
    return node


def describe(node: Mapping[str, Any]) -> str:
    """What a schema node allows, in words."""
    if "x-allowed" in node:
        return str(node["x-allowed"])
    if "enum" in node:
        return "one of " + " | ".join(str(v) for v in node["enum"])
    kind = node.get("type")
    if kind == "boolean":
        return "true | false"
    if kind == "integer":
        low, high = node.get("minimum"), node.get("maximum")
        if high is not None:
            return f"an integer from {low} to {high}"
        return f"an integer >= {low}" if low is not None else "an integer"
    if kind == "number":
        return _number(node)
    if kind == "array":
        return f"a list of {describe(node.get('items', {}))}"
    if kind == "object" and node.get("properties"):
        required = node.get("required") or list(node["properties"])
        return "an object {" + ", ".join(required) + "}"
    return "an object" if kind == "object" else "a value of the documented kind"


def _number(node: Mapping[str, Any]) -> str:
    bounds: list[str] = []
    for word, sign in (
        ("exclusiveMinimum", ">"),
        ("minimum", ">="),
        ("exclusiveMaximum", "<"),
        ("maximum", "<="),
    ):
        if word in node:
            bounds.append(f"{sign} {float(node[word])}")
    return "a number " + " and ".join(bounds) if bounds else "a finite number"
