"""Reading stack config: from `pulumi.Config` (the program), from the Automation API
(the rollout tool) or from `Pulumi.<stack>.yaml` (the policy-config bridge, tests).

All three end in `parse_settings`, so they agree on what a stack means and
refuse the same mistakes with the same words.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from components.settings._errors import ErrorFormatter, SettingsError
from components.settings._platform import PlatformSettings, TrafficConfig, TrafficSettings
from components.settings._types import PROJECT, Secret


def _aliases(model: type[TrafficConfig]) -> tuple[str, ...]:
    return tuple(str(info.alias) for info in model.model_fields.values())


TOP_LEVEL_KEYS = _aliases(PlatformSettings)
Config = TypeVar("Config", bound=TrafficConfig)


@cache
def model_schema() -> dict[str, Any]:
    """JSON Schema of the un-namespaced config, as the models validate it."""
    return PlatformSettings.model_json_schema(by_alias=True, mode="validation")


def _is_secret(node: Mapping[str, Any]) -> bool:
    return bool(node.get("x-secret")) or any(_is_secret(c) for c in node.get("anyOf", ()))


# Keys whose value must be a secret (set with `pulumi config set --secret`).
SECRET_KEYS = tuple(k for k, v in model_schema()["properties"].items() if _is_secret(v))


def _strip_namespace(raw: Mapping[str, object]) -> dict[str, object]:
    """Keep this project's keys, un-namespaced; drop other namespaces (`kubernetes:`)."""
    plain: dict[str, object] = {}
    for key, value in raw.items():
        namespace, sep, name = str(key).rpartition(":")
        if not sep:
            plain[str(key)] = value
        elif namespace == PROJECT:
            plain[name] = value
    return plain


def _decode(value: object) -> object:
    """Objects and lists arrive as JSON text from `pulumi config` and the Automation API."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _validate(model: type[Config], raw: Mapping[str, object], stack: str) -> Config:
    plain: dict[str, object] = {}
    secret_roots: set[str] = set()
    for key, value in _strip_namespace(raw).items():
        if isinstance(value, Secret) and key not in SECRET_KEYS:
            # A secret where a plain value belongs: checked as usual, never shown.
            secret_roots.add(key)
            value = value.value
        plain[key] = _decode(value)
    try:
        return model.model_validate(plain, context={"stack": stack})
    except ValidationError as error:
        # `from None`: pydantic's own text would show the values, secrets included.
        message = ErrorFormatter(model_schema(), secret_roots).message(stack, error)
        raise SettingsError(message) from None


def parse_settings(raw: Mapping[str, object], stack: str) -> PlatformSettings:
    """Turn raw stack config into checked, frozen settings, or one SettingsError.

    Values may be what `pulumi config`, a stack file or the Automation API
    give: objects as JSON text, numbers and booleans as strings, keys with or
    without their `kgot-platform:` namespace, `Secret` for secure values.
    """
    return _validate(PlatformSettings, raw, stack)


def parse_traffic(raw: Mapping[str, object], stack: str) -> TrafficSettings:
    """Only the traffic keys (an applied update's config, which may be older)."""
    keys = set(_aliases(TrafficConfig))
    subset = {k: v for k, v in _strip_namespace(raw).items() if k in keys}
    return _validate(TrafficConfig, subset, stack).traffic


class _StackFileLoader(yaml.SafeLoader):
    """Reads a stack file's mappings as the engine hands them to the program.

    A scalar key is the text written (`2: sha256:...` under `digests` is the
    key "2", as `pulumi` gives it to the program: config objects have text
    keys), so the policy-config bridge and the program agree on one reading.
    A key twice in one mapping is refused, as `pulumi` refuses such a file.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.MarkedYAMLError(
                    "while reading a mapping",
                    node.start_mark,
                    "a list or mapping as a key",
                    key_node.start_mark,
                )
            key = str(key_node.value)
            if key in mapping:
                raise yaml.MarkedYAMLError(
                    "while reading a mapping",
                    node.start_mark,
                    f"key {key!r} twice",
                    key_node.start_mark,
                )
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


_TEXT_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool")


def _load(text: str) -> tuple[object, dict[str, str], set[str]]:
    """The stack file's document; the text of each top-level config value written
    as a number or boolean (`greenVersion: 2` is "2" to the program); and the
    config keys written as something other than text (`1:`)."""
    loader = _StackFileLoader(text)
    scalars: dict[str, str] = {}
    not_text: set[str] = set()
    try:
        node = loader.get_single_node()
        if node is None:
            return {}, scalars, not_text
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value != "config" or not isinstance(value_node, yaml.MappingNode):
                    continue
                for name, value in value_node.value:
                    if name.tag != "tag:yaml.org,2002:str":
                        not_text.add(str(name.value))
                    if isinstance(value, yaml.ScalarNode) and value.tag in _TEXT_TAGS:
                        scalars[str(name.value)] = str(value.value)
        return loader.construct_document(node) or {}, scalars, not_text
    finally:
        loader.dispose()


def _secure_leaves(value: object) -> object:
    """`{secure: <ciphertext>}` anywhere -> Secret: only the engine can decrypt it."""
    if isinstance(value, Mapping):
        if set(value) == {"secure"}:
            return Secret(str(value["secure"]))
        return {k: _secure_leaves(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_secure_leaves(v) for v in value]
    return value


def read_stack_file(path: str | Path) -> dict[str, object]:
    """Raw, un-namespaced config of a `Pulumi.<stack>.yaml`, or SettingsError.

    The secret keys' encrypted values are left out: nothing outside the
    program needs them. A secure value anywhere else stays a `Secret`, so an
    error about it (a misspelt key) never shows even its ciphertext.
    """
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise SettingsError(
            f"{path}: byte {error.start} is not UTF-8; allowed: a UTF-8 YAML stack file"
        ) from None
    except OSError as error:
        raise SettingsError(f"{path}: cannot read it: {error.strerror or error}") from None
    try:
        document, scalars, keys_not_text = _load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise SettingsError(
            f"{path}: not valid YAML{at}: {problem}; allowed: a YAML mapping with a "
            "`config:` section, each key once"
        ) from None
    if not isinstance(document, Mapping):
        raise SettingsError(f"{path}: expected a YAML mapping with a `config:` section")
    config = document.get("config") or {}
    if not isinstance(config, Mapping):
        raise SettingsError(f"{path}: `config:` must be a mapping, not {type(config).__name__}")
    raw: dict[str, object] = {}
    for key, value in config.items():
        if key in keys_not_text:
            raise SettingsError(
                f"{path}: config key {key} is not allowed; allowed: a text key such as "
                f"{PROJECT}:namespace"
            )
        # A top-level number or boolean reaches the program as the text written.
        raw[key] = scalars.get(key, _secure_leaves(value))
    plain = _strip_namespace(raw)
    return {k: v for k, v in plain.items() if not (k in SECRET_KEYS and isinstance(v, Secret))}
