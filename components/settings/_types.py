"""The value types of stack config: what each kind of value may be.

Each type carries its constraints (pattern, bounds) where JSON Schema can say
them, so the committed schema and the editors that use it refuse what the
program refuses; `Allowed` adds the sentence an error shows ("allowed: ...").
Numbers, choices and booleans need none: the error formatter words them from
their schema.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

PROJECT = "kgot-platform"


class ConfigModel(BaseModel):
    """An object of stack config: camelCase keys, nothing unknown, frozen once read."""

    # Names are validated by their config key (the alias) only: a snake_case
    # spelling in a stack file is an unknown key, as in Pulumi.<stack>.yaml.
    # Lookarounds (never `latest`) need Python's regex engine.
    model_config = ConfigDict(
        alias_generator=to_camel,
        extra="forbid",
        frozen=True,
        regex_engine="python-re",
        hide_input_in_errors=True,
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_others(cls, value: object, info: ValidationInfo) -> object:
        # pydantic takes YAML's `true` as the integer 1; only a bool key (or an
        # optional one, unset meaning a default that depends on the stack) may be true.
        name = info.field_name
        boolean = (bool, bool | None)
        if isinstance(value, bool) and name and cls.model_fields[name].annotation not in boolean:
            raise ValueError("a boolean")
        return value


class Allowed:
    """What a value may be, in words; shown in errors and in the schema as `x-allowed`."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        value = handler(schema)
        handler.resolve_ref_schema(value)["x-allowed"] = self.text
        return value


@dataclass(frozen=True)
class Secret:
    """A value from a `secure:` entry (or a secret key); its text is never shown."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret([secret])"

    def __str__(self) -> str:
        return "[secret]"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def check(value: object) -> Secret:
            if isinstance(value, str):
                # The program, the rollout tool and the bridge all get secure
                # values as Secret: a plain string was set without --secret.
                allowed = (
                    "a secret; this value is stored in plain text: set it with "
                    "pulumi config set --secret <key> ..."
                )
                context = {"at": (), "value": Secret(value), "allowed": allowed}
                raise PydanticCustomError("kgot_config", "{allowed}", context)
            if not isinstance(value, Secret) or not value.value.strip():
                raise ValueError("not a non-empty secret")
            return value

        return core_schema.no_info_plain_validator_function(check)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # `x-secret`: the stack file holds it as `{secure: <ciphertext>}` (see schema.py).
        return {
            "type": "string",
            "minLength": 1,
            "writeOnly": True,
            "x-secret": True,
            "x-allowed": "a non-empty secret (pulumi config set --secret <key> ...)",
        }


Number = Annotated[float, Field(allow_inf_nan=False)]

Color = Literal["blue", "green"]
Environment = Literal["dev", "staging", "production"]
TrafficRouting = Literal["gateway", "ingress", "selector"]
Comparison = Literal[">", ">=", "<", "<="]
Severity = Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]
Framework = Literal["CIS", "NIST", "SOC2"]

COLORS: tuple[Color, ...] = ("blue", "green")
FRAMEWORKS: tuple[Framework, ...] = ("CIS", "NIST", "SOC2")

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
DnsLabel = Annotated[
    str,
    Field(pattern=DNS_LABEL),
    Allowed("a DNS label: lower-case letters, digits and -, at most 63 characters"),
]
Namespace = Annotated[
    str,
    Field(pattern=r"^(?!default$|kube-)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"),
    Allowed(
        "a DNS label such as kgot-staging (at most 63 characters), a namespace of the "
        "platform's own: not default and not kube-*"
    ),
]
# Every label at most 63 characters, the whole name at most 253.
_DOMAIN_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
Domain = Annotated[
    str,
    Field(pattern=rf"^({_DOMAIN_LABEL}\.)+{_DOMAIN_LABEL}$", max_length=253),
    Allowed(
        "a DNS domain such as kgot.example.com: labels of at most 63 characters, at most 253 in all"
    ),
]

# Deployments `<name>-green`, Services `<name>-preview` and the labels built
# from them stay far below the 63 characters of a Kubernetes name.
SERVICE_KEY_MAX = 42
ServiceKey = Annotated[
    str,
    Field(pattern=rf"^[a-z]([a-z0-9_]{{0,{SERVICE_KEY_MAX - 2}}}[a-z0-9])?$"),
    Allowed(
        "a service key of lower-case letters, digits and underscores (graph_store), "
        f"at most {SERVICE_KEY_MAX} characters"
    ),
]

_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
ImageTag = Annotated[
    str,
    Field(pattern=rf"^(?!latest$){_TAG}$"),
    Allowed("an image tag such as 1.4.2 (a fixed version tag, never latest)"),
]
# The OCI distribution grammar: an optional registry host (with a port), then
# path components of lower-case letters and digits joined by . _ __ or dashes.
_HOST = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]{1,5})?"
_COMPONENT = r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*"
_REPOSITORY = rf"({_HOST}/)?{_COMPONENT}(/{_COMPONENT})*"
ImageRepository = Annotated[
    str,
    Field(pattern=rf"^{_REPOSITORY}$", max_length=255),
    Allowed(
        "an image repository without tag, e.g. ghcr.io/kgot/controller or "
        "localhost:5000/kgot/controller (no empty path segment)"
    ),
]
_DIGEST = r"sha256:[0-9a-f]{64}"
ImageRef = Annotated[
    str,
    Field(pattern=rf"^{_REPOSITORY}(:(?!latest(@|$)){_TAG}(@{_DIGEST})?|@{_DIGEST})$"),
    Allowed(
        "an image with a fixed tag or digest (not latest), e.g. docker.io/prom/prometheus:v3.5.0"
    ),
]
Digest = Annotated[str, Field(pattern=rf"^{_DIGEST}$"), Allowed("sha256:<64 hex digits>")]
Registry = Annotated[
    str,
    Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$"),
    Allowed("a registry host such as ghcr.io or localhost:5000"),
]
Platform = Annotated[
    str,
    Field(pattern=r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$"),
    Allowed("an OCI platform such as linux/amd64"),
]

HttpPath = Annotated[
    str, Field(pattern=r"^/[A-Za-z0-9._~/-]*$"), Allowed("an HTTP path starting with /")
]
# Above zero: a 0s scrape interval or retention is not a Prometheus setting.
Duration = Annotated[
    str,
    Field(pattern=r"^0*[1-9][0-9]*(ms|s|m|h|d|w|y)$"),
    Allowed("a Prometheus duration above 0 such as 15s or 15d"),
]
SlackChannel = Annotated[
    str,
    Field(pattern=r"^#[a-z0-9][a-z0-9_-]{0,79}$"),
    Allowed("a Slack channel such as #kgot-alerts"),
]


class BuiltinTrigger(enum.StrEnum):
    """The rollout tool's triggers every colour gets; custom triggers may not take these names."""

    ERROR_RATE = "error_rate"
    LATENCY = "latency"
    CPU = "cpu"
    HEALTH = "health"


BUILTIN_TRIGGERS = tuple(t.value for t in BuiltinTrigger)
TriggerName = Annotated[
    str,
    Field(pattern=rf"^(?!({'|'.join(BUILTIN_TRIGGERS)})$)[a-zA-Z_][a-zA-Z0-9_]*$"),
    Allowed(
        "a name of letters, digits and underscores, not one of the built-in triggers "
        f"({', '.join(BUILTIN_TRIGGERS)})"
    ),
]
NonEmpty = Annotated[str, Field(pattern=r"\S"), Allowed("a non-empty string")]

_CPU = re.compile(r"^([0-9]+m|[0-9]+(\.[0-9]{1,3})?)$")
_MEMORY = re.compile(r"^([0-9]+)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_MEMORY_UNITS = {
    None: 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def kubernetes_name(service_key: str) -> str:
    """Kubernetes name of a service key: `graph_store` -> `graph-store`."""
    return service_key.replace("_", "-")


def cpu_millicores(quantity: str) -> int:
    if quantity.endswith("m"):
        return int(quantity[:-1])
    return round(float(quantity) * 1000)


def memory_bytes(quantity: str) -> int:
    match = _MEMORY.match(quantity)
    if match is None:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return int(match.group(1)) * _MEMORY_UNITS[match.group(2)]


def _above_zero(measure: Any) -> Any:
    def check(quantity: str) -> str:
        if measure(quantity) <= 0:
            raise ValueError("zero")
        return quantity

    return check


Cpu = Annotated[
    str,
    Field(pattern=_CPU.pattern),
    AfterValidator(_above_zero(cpu_millicores)),
    Allowed("a CPU quantity above 0 such as 100m or 0.5"),
]
Memory = Annotated[
    str,
    Field(pattern=_MEMORY.pattern),
    AfterValidator(_above_zero(memory_bytes)),
    Allowed("a memory quantity above 0 such as 128Mi or 1Gi"),
]
