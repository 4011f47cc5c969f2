"""Stack config of kgot-platform, read once into typed, frozen settings.

This is the only module that reads stack config. The Pulumi program calls
`load()`; the rollout tool and the policy-config bridge call `parse_settings()`
on the raw values the Automation API or a `Pulumi.<stack>.yaml` gives them, so
all three agree on what a stack means and reject the same mistakes.

Every error is a `SettingsError` that names the config key, the bad value and
what is allowed, and is raised before the program registers any resource.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar, cast

import yaml

PROJECT = "kgot-platform"

Color = Literal["blue", "green"]
Environment = Literal["dev", "staging", "production"]
TrafficRouting = Literal["gateway", "ingress", "selector"]
Comparison = Literal[">", ">=", "<", "<="]
Severity = Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]
Framework = Literal["CIS", "NIST", "SOC2"]

COLORS: tuple[Color, ...] = ("blue", "green")
ENVIRONMENTS: tuple[Environment, ...] = ("dev", "staging", "production")
TRAFFIC_ROUTINGS: tuple[TrafficRouting, ...] = ("gateway", "ingress", "selector")
COMPARISONS: tuple[Comparison, ...] = (">", ">=", "<", "<=")
SEVERITIES: tuple[Severity, ...] = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
FRAMEWORKS: tuple[Framework, ...] = ("CIS", "NIST", "SOC2")

# Secrets never enter `parse_settings` from a stack file (they are encrypted
# there); the program gets them from `pulumi.Config` in `load()`.
SECRET_KEYS: tuple[str, ...] = (
    "slackWebhookUrl",
    "pagerdutyIntegrationKey",
    "grafanaAdminPassword",
    "registryPassword",
)

TOP_LEVEL_KEYS: tuple[str, ...] = (
    "environment",
    "namespace",
    "activeColor",
    "standbyWeight",
    "blueVersion",
    "greenVersion",
    "standbyReplicas",
    "trafficRouting",
    "services",
    "rollback",
    "security",
    "edge",
    "alerting",
    "monitoring",
    "images",
    "checks",
    *SECRET_KEYS,
)

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_SERVICE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,40}[a-z0-9]$|^[a-z]$")
# OCI tag grammar; `latest` is refused separately because it is not a version.
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_IMAGE_REPOSITORY = re.compile(r"^[a-z0-9]+([._/-][a-z0-9]+|:[0-9]+/)*$")
_IMAGE_REF = re.compile(
    r"^[a-z0-9][a-z0-9._/:-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?(@sha256:[0-9a-f]{64})?$"
)
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
_HTTP_PATH = re.compile(r"^/[A-Za-z0-9._~/-]*$")
_DURATION = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")
_HOSTNAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_REGISTRY = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$")
_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$")


class SettingsError(ValueError):
    """A stack config value that the platform cannot deploy."""


@dataclass(frozen=True)
class Secret:
    """A secret config value; its text never shows up in a repr or a log line."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret(***)"


@dataclass(frozen=True)
class ComputeResources:
    """CPU and memory as Kubernetes quantities, with their numeric values."""

    cpu: str
    memory: str

    @property
    def millicores(self) -> int:
        return cpu_millicores(self.cpu)

    @property
    def memory_bytes(self) -> int:
        return memory_bytes(self.memory)


@dataclass(frozen=True)
class ServiceResources:
    requests: ComputeResources
    limits: ComputeResources


@dataclass(frozen=True)
class ServiceSettings:
    """One KGoT service, deployed as a blue and a green set."""

    key: str  # config key, e.g. `graph_store`
    image: str  # repository; the tag is the colour's version
    port: int
    readiness_path: str
    liveness_path: str
    replicas: int
    resources: ServiceResources
    component: str
    metrics_path: str
    # Public services are reached through the edge (Gateway or Ingress);
    # the others only inside the namespace.
    public: bool
    # version -> `sha256:<hex>` of a released image, so the Deployment pins it.
    digests: tuple[tuple[str, str], ...] = ()

    def image_ref(self, version: str) -> str:
        """`<image>:<version>`, pinned `@sha256:...` when the version's digest is known."""
        digest = dict(self.digests).get(version)
        return f"{self.image}:{version}@{digest}" if digest else f"{self.image}:{version}"

    @property
    def name(self) -> str:
        """Kubernetes name: `graph_store` -> `graph-store`."""
        return kubernetes_name(self.key)


@dataclass(frozen=True)
class TrafficSettings:
    """Which colour serves, how much the standby gets, what each colour runs."""

    active_color: Color
    standby_weight: int
    blue_version: str
    green_version: str
    # None: the standby runs as many replicas as the active colour.
    standby_replicas: int | None
    routing: TrafficRouting

    @property
    def standby_color(self) -> Color:
        return "green" if self.active_color == "blue" else "blue"

    @property
    def active_weight(self) -> int:
        return 100 - self.standby_weight

    def version_of(self, color: Color) -> str:
        return self.blue_version if color == "blue" else self.green_version

    def weight_of(self, color: Color) -> int:
        return self.active_weight if color == self.active_color else self.standby_weight

    def replicas_of(self, color: Color, full: int) -> int:
        """Replicas a colour runs for a service whose full size is `full`.

        A colour is only scaled down while it is the standby AND has no
        weight: anything that receives traffic runs at full size.
        """
        if color == self.active_color or self.standby_weight > 0:
            return full
        if self.standby_replicas is None:
            return full
        return min(self.standby_replicas, full)


@dataclass(frozen=True)
class ThresholdTrigger:
    threshold: float
    window_seconds: int


@dataclass(frozen=True)
class LatencyTrigger:
    ratio: float  # p95 of the colour under test / p95 of the active colour
    window_seconds: int


@dataclass(frozen=True)
class CustomTrigger:
    name: str
    query: str  # PromQL, evaluated by the rollout tool
    threshold: float
    comparison: Comparison  # breach when `<query> <comparison> <threshold>`
    window_seconds: int


@dataclass(frozen=True)
class RollbackTriggers:
    error_rate: ThresholdTrigger
    latency: LatencyTrigger
    cpu: ThresholdTrigger
    monitoring_window_seconds: int
    on_missing_data: Literal["hold", "rollback"]
    on_breach: Literal["rollback", "freeze"]
    custom_triggers: tuple[CustomTrigger, ...]


@dataclass(frozen=True)
class SecurityThresholds:
    severity_threshold: Severity
    max_critical: int
    max_high: int
    frameworks: tuple[Framework, ...]
    minimum_score: float


@dataclass(frozen=True)
class EdgeSettings:
    """How public services are reached from outside the namespace."""

    domain: str
    gateway_class_name: str
    ingress_class_name: str
    tls_secret_name: str
    # Namespace of the gateway / ingress controller pods, let in by NetworkPolicy.
    controller_namespace: str

    def hostname(self, service: ServiceSettings) -> str:
        return f"{service.name}.{self.domain}"


@dataclass(frozen=True)
class AlertingSettings:
    slack_channel: str
    slack_webhook_url: Secret | None
    pagerduty_integration_key: Secret | None


@dataclass(frozen=True)
class MonitoringSettings:
    prometheus_image: str
    alertmanager_image: str
    grafana_image: str
    retention: str
    scrape_interval: str
    # Of each of Prometheus, Alertmanager (clustered) and Grafana.
    replicas: int
    # None: Grafana is read-only (anonymous viewers, no login form).
    grafana_admin_password: Secret | None


@dataclass(frozen=True)
class BuildContext:
    """Where one service's image is built from: a checkout of its sources."""

    context: str  # folder, relative to the project directory or absolute
    dockerfile: str  # relative to the context
    target: str | None  # stage of a multi-stage Dockerfile; None: the last one


@dataclass(frozen=True)
class ImageSettings:
    """ServiceImages: build, tag and push every service image, or take them by reference."""

    # False: Deployments run `<image>:<version>` as published elsewhere.
    build: bool
    # The version the build contexts hold; colours running it get the built digest.
    release_version: str | None
    registry_server: str | None
    registry_username: str | None
    registry_password: Secret | None
    platform: str
    contexts: tuple[tuple[str, BuildContext], ...]

    def context_of(self, service_key: str) -> BuildContext:
        return dict(self.contexts)[service_key]


@dataclass(frozen=True)
class CheckSettings:
    """Post-deploy health checks of each colour through the Service that selects it."""

    enabled: bool
    timeout_seconds: int
    interval_seconds: int


@dataclass(frozen=True)
class PlatformSettings:
    stack: str
    environment: Environment
    namespace: str
    traffic: TrafficSettings
    services: tuple[ServiceSettings, ...]
    rollback: RollbackTriggers
    security: SecurityThresholds
    edge: EdgeSettings
    alerting: AlertingSettings
    monitoring: MonitoringSettings
    images: ImageSettings
    checks: CheckSettings

    def service(self, key: str) -> ServiceSettings:
        for service in self.services:
            if service.key == key:
                return service
        raise KeyError(key)


DEFAULT_ROLLBACK: Mapping[str, object] = {
    "errorRate": {"threshold": 0.05, "windowSeconds": 120},
    "latency": {"ratio": 2.0, "windowSeconds": 180},
    "cpu": {"threshold": 0.85, "windowSeconds": 300},
    "monitoringWindowSeconds": 300,
    "onMissingData": "hold",
    "onBreach": "rollback",
    "customTriggers": [],
}
DEFAULT_SECURITY: Mapping[str, object] = {
    "severityThreshold": "MEDIUM",
    "maxCritical": 0,
    "maxHigh": 5,
    "frameworks": ["CIS", "NIST", "SOC2"],
    "minimumScore": 0.8,
}
DEFAULT_MONITORING: Mapping[str, object] = {
    # Pinned by digest (the multi-platform index of each tag): production
    # admits no image by tag alone.
    "prometheusImage": "docker.io/prom/prometheus:v3.5.0"
    "@sha256:63805ebb8d2b3920190daf1cb14a60871b16fd38bed42b857a3182bc621f4996",
    "alertmanagerImage": "docker.io/prom/alertmanager:v0.28.1"
    "@sha256:27c475db5fb156cab31d5c18a4251ac7ed567746a2483ff264516437a39b15ba",
    "grafanaImage": "docker.io/grafana/grafana:12.1.1"
    "@sha256:a1701c2180249361737a99a01bc770db39381640e4d631825d38ff4535efa47d",
    "retention": "15d",
    "scrapeInterval": "15s",
    "replicas": 1,
}
DEFAULT_EDGE: Mapping[str, object] = {
    "domain": "kgot.example.com",
    "gatewayClassName": "kgot-platform",
    "ingressClassName": "nginx",
    "tlsSecretName": "kgot-platform-tls",
    "controllerNamespace": "kgot-edge",
}
DEFAULT_ALERTING: Mapping[str, object] = {"slackChannel": "#kgot-alerts"}
DEFAULT_IMAGES: Mapping[str, object] = {
    "build": False,
    "releaseVersion": None,
    "registry": None,
    "platform": "linux/amd64",
    "contexts": {},
}
DEFAULT_CHECKS: Mapping[str, object] = {
    "enabled": False,
    "timeoutSeconds": 120,
    "intervalSeconds": 5,
}


def kubernetes_name(service_key: str) -> str:
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


# --- reading raw values -------------------------------------------------------

T = TypeVar("T")


def _show(value: object) -> str:
    if isinstance(value, Secret):
        return repr(value)
    # YAML may hand over dates and the like; show them, do not crash on them.
    return json.dumps(value, default=str)


class _Reader:
    """Reads one config object, naming each value by its full config path."""

    def __init__(self, stack: str, path: str, raw: Mapping[str, object]) -> None:
        self.stack = stack
        self.path = path
        self.raw = raw

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, value: object, allowed: str) -> SettingsError:
        return SettingsError(
            f"stack {self.stack!r}: config {PROJECT}:{self.key(name)} = {_show(value)} "
            f"is not allowed; allowed: {allowed}"
        )

    def missing(self, name: str, allowed: str) -> SettingsError:
        return SettingsError(
            f"stack {self.stack!r}: config {PROJECT}:{self.key(name)} is missing; "
            f"it must be set to {allowed}"
        )

    def reject_unknown(self, known: Sequence[str]) -> None:
        for name in self.raw:
            if name not in known:
                raise SettingsError(
                    f"stack {self.stack!r}: config {PROJECT}:{self.key(name)} = "
                    f"{_show(self.raw[name])} is not a known key; allowed keys: {', '.join(known)}"
                )

    def _get(self, name: str, default: object, allowed: str) -> object:
        value = self.raw.get(name)
        if value is None:
            if default is None:
                raise self.missing(name, allowed)
            return default
        return value

    def choice(self, name: str, options: Sequence[T], default: T | None = None) -> T:
        allowed = " | ".join(str(o) for o in options)
        value = self._get(name, default, f"one of {allowed}")
        if value not in options:
            raise self.fail(name, value, f"one of {allowed}")
        return cast(T, value)

    def string(
        self,
        name: str,
        pattern: re.Pattern[str] | None = None,
        allowed: str = "a non-empty string",
        default: str | None = None,
    ) -> str:
        value = self._get(name, default, allowed)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, value, allowed)
        if pattern is not None and not pattern.match(value):
            raise self.fail(name, value, allowed)
        return value

    def integer(
        self, name: str, low: int, high: int | None = None, default: int | None = None
    ) -> int:
        allowed = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"
        value = self._get(name, default, allowed)
        number = _as_int(value)
        if number is None or number < low or (high is not None and number > high):
            raise self.fail(name, value, allowed)
        return number

    def number(
        self,
        name: str,
        low: float,
        high: float | None,
        default: float | None = None,
        low_open: bool = False,
    ) -> float:
        if math.isinf(low):
            allowed = "a finite number"
        else:
            lower = f"> {low}" if low_open else f">= {low}"
            allowed = f"a number {lower}" + (f" and <= {high}" if high is not None else "")
        value = self._get(name, default, allowed)
        number = _as_float(value)
        if (
            number is None
            or not math.isfinite(number)
            or number < low
            or (low_open and number == low)
            or (high is not None and number > high)
        ):
            raise self.fail(name, value, allowed)
        return number

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw.get(name, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise self.fail(name, value, "true | false")

    def obj(
        self, name: str, default: Mapping[str, object] | None = None, allowed: str = "an object"
    ) -> _Reader:
        value = _decode(self._get(name, default, allowed))
        if not isinstance(value, Mapping):
            raise self.fail(name, value, allowed)
        return _Reader(self.stack, self.key(name), cast(Mapping[str, object], value))

    def items(self, name: str, default: Sequence[object] | None = None) -> Iterator[object]:
        value = _decode(self._get(name, default, "a list"))
        if not isinstance(value, list | tuple):
            raise self.fail(name, value, "a list")
        yield from value

    def secret(self, name: str) -> Secret | None:
        value = self.raw.get(name)
        if value is None or isinstance(value, Secret):
            return value
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, "<hidden>", "a non-empty secret string")
        return Secret(value)


def _decode(value: object) -> object:
    """Objects and lists arrive as JSON text from `pulumi config` and the Automation API."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return cast(object, json.loads(value))
        except json.JSONDecodeError:
            return value
    return value


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value)
    return None


def _as_float(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


# --- the schema -----------------------------------------------------------------


def _compute(reader: _Reader, name: str) -> ComputeResources:
    part = reader.obj(name, allowed="an object {cpu, memory}")
    part.reject_unknown(("cpu", "memory"))
    return ComputeResources(
        cpu=part.string("cpu", _CPU, "a CPU quantity such as 100m or 0.5"),
        memory=part.string("memory", _MEMORY, "a memory quantity such as 128Mi or 1Gi"),
    )


def _resources(reader: _Reader) -> ServiceResources:
    part = reader.obj("resources", allowed="an object {requests, limits}")
    part.reject_unknown(("requests", "limits"))
    requests = _compute(part, "requests")
    limits = _compute(part, "limits")
    if requests.millicores <= 0:
        raise part.fail("requests.cpu", requests.cpu, "more than 0")
    if limits.millicores < requests.millicores:
        raise part.fail("limits.cpu", limits.cpu, f"at least the request {requests.cpu}")
    if limits.memory_bytes < requests.memory_bytes:
        raise part.fail("limits.memory", limits.memory, f"at least the request {requests.memory}")
    return ServiceResources(requests=requests, limits=limits)


_SERVICE_KEYS = (
    "image",
    "port",
    "health",
    "replicas",
    "resources",
    "component",
    "metricsPath",
    "public",
    "digests",
)


def _service(services: _Reader, key: str) -> ServiceSettings:
    if not _SERVICE_KEY.match(key):
        raise services.fail(
            key, key, "a service key of lower-case letters, digits and underscores (graph_store)"
        )
    svc = services.obj(key, allowed="an object {image, port, health, replicas, resources}")
    svc.reject_unknown(_SERVICE_KEYS)
    image = svc.string(
        "image", _IMAGE_REPOSITORY, "an image repository without tag, e.g. ghcr.io/kgot/controller"
    )
    health = svc.obj("health", allowed="an object {readiness, liveness} of HTTP paths")
    health.reject_unknown(("readiness", "liveness"))
    readiness = health.string("readiness", _HTTP_PATH, "an HTTP path starting with /")
    liveness = health.string("liveness", _HTTP_PATH, "an HTTP path starting with /")
    if readiness == liveness:
        # Same endpoint for both probes restarts pods that are merely busy.
        raise health.fail("liveness", liveness, f"a path other than readiness ({readiness})")
    return ServiceSettings(
        key=key,
        image=image,
        port=svc.integer("port", 1024, 65535),
        readiness_path=readiness,
        liveness_path=liveness,
        replicas=svc.integer("replicas", 1, 50),
        resources=_resources(svc),
        component=svc.string("component", _DNS_LABEL, "a DNS label", default=kubernetes_name(key)),
        metrics_path=svc.string(
            "metricsPath", _HTTP_PATH, "an HTTP path starting with /", default="/metrics"
        ),
        public=svc.boolean("public", default=False),
        digests=_digests(svc),
    )


def _digests(svc: _Reader) -> tuple[tuple[str, str], ...]:
    digests = svc.obj("digests", {}, allowed="an object: version -> sha256:<64 hex digits>")
    pairs: list[tuple[str, str]] = []
    for version, digest in digests.raw.items():
        if not _IMAGE_TAG.match(version) or version == "latest":
            raise digests.fail(version, version, "a version tag such as 1.4.2 (not latest)")
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            raise digests.fail(version, digest, "sha256:<64 hex digits>")
        pairs.append((version, digest))
    return tuple(pairs)


def _services(root: _Reader) -> tuple[ServiceSettings, ...]:
    services = root.obj("services", allowed="an object: service key -> service")
    if not services.raw:
        raise root.fail("services", {}, "at least the services controller and graph_store")
    parsed = tuple(_service(services, key) for key in services.raw)
    for required in ("controller", "graph_store"):
        if required not in services.raw:
            raise services.missing(required, "a service (the platform cannot run without it)")
    names: dict[str, str] = {}
    for service in parsed:
        other = names.setdefault(service.name, service.key)
        if other != service.key:
            raise services.fail(
                service.key, service.key, f"a key whose Kubernetes name differs from {other!r}"
            )
    return parsed


def _traffic(root: _Reader) -> TrafficSettings:
    routing = root.choice("trafficRouting", TRAFFIC_ROUTINGS, default="gateway")
    weight = root.integer("standbyWeight", 0, 100, default=0)
    if routing == "selector" and weight != 0:
        raise root.fail(
            "standbyWeight", weight, "0 with trafficRouting selector (it cannot split traffic)"
        )
    raw_standby = root.raw.get("standbyReplicas")
    standby = None if raw_standby is None else root.integer("standbyReplicas", 0)
    versions = {}
    for color in COLORS:
        key = f"{color}Version"
        version = root.string(key, _IMAGE_TAG, "an image tag such as 1.4.2 (not latest)")
        if version == "latest":
            raise root.fail(key, version, "a fixed version tag, never latest")
        versions[color] = version
    return TrafficSettings(
        active_color=root.choice("activeColor", COLORS),
        standby_weight=weight,
        blue_version=versions["blue"],
        green_version=versions["green"],
        standby_replicas=standby,
        routing=routing,
    )


def _window(reader: _Reader, name: str = "windowSeconds") -> int:
    return reader.integer(name, 10, 86_400)


def _rollback(root: _Reader) -> RollbackTriggers:
    rb = root.obj("rollback", DEFAULT_ROLLBACK)
    rb.reject_unknown(tuple(DEFAULT_ROLLBACK))
    error = rb.obj("errorRate", cast(Mapping[str, object], DEFAULT_ROLLBACK["errorRate"]))
    error.reject_unknown(("threshold", "windowSeconds"))
    latency = rb.obj("latency", cast(Mapping[str, object], DEFAULT_ROLLBACK["latency"]))
    latency.reject_unknown(("ratio", "windowSeconds"))
    cpu = rb.obj("cpu", cast(Mapping[str, object], DEFAULT_ROLLBACK["cpu"]))
    cpu.reject_unknown(("threshold", "windowSeconds"))
    customs: list[CustomTrigger] = []
    for index, item in enumerate(rb.items("customTriggers", [])):
        if not isinstance(item, Mapping):
            raise rb.fail(f"customTriggers[{index}]", item, "an object {name, query, ...}")
        custom = _Reader(rb.stack, rb.key(f"customTriggers[{index}]"), item)
        custom.reject_unknown(("name", "query", "threshold", "comparison", "windowSeconds"))
        name = custom.string("name", _METRIC_NAME, "a name of letters, digits and underscores")
        if name in (c.name for c in customs):
            raise custom.fail("name", name, "a name no other custom trigger uses")
        customs.append(
            CustomTrigger(
                name=name,
                query=custom.string("query", allowed="a PromQL expression"),
                threshold=custom.number("threshold", -math.inf, None),
                comparison=custom.choice("comparison", COMPARISONS),
                window_seconds=_window(custom),
            )
        )
    monitoring_window = rb.integer("monitoringWindowSeconds", 30, 86_400)
    return RollbackTriggers(
        error_rate=ThresholdTrigger(
            error.number("threshold", 0.0, 1.0, low_open=True), _window(error)
        ),
        latency=LatencyTrigger(
            latency.number("ratio", 1.0, 100.0, low_open=True), _window(latency)
        ),
        cpu=ThresholdTrigger(cpu.number("threshold", 0.0, 1.0, low_open=True), _window(cpu)),
        monitoring_window_seconds=monitoring_window,
        on_missing_data=rb.choice("onMissingData", ("hold", "rollback"), default="hold"),
        on_breach=rb.choice("onBreach", ("rollback", "freeze"), default="rollback"),
        custom_triggers=tuple(customs),
    )


def _security(root: _Reader) -> SecurityThresholds:
    sec = root.obj("security", DEFAULT_SECURITY)
    sec.reject_unknown(tuple(DEFAULT_SECURITY))
    frameworks: list[Framework] = []
    for index, item in enumerate(sec.items("frameworks", list(FRAMEWORKS))):
        if item not in FRAMEWORKS or item in frameworks:
            raise sec.fail(f"frameworks[{index}]", item, f"one of {' | '.join(FRAMEWORKS)}, once")
        frameworks.append(item)
    if not frameworks:
        raise sec.fail("frameworks", [], f"a non-empty list of {' | '.join(FRAMEWORKS)}")
    return SecurityThresholds(
        severity_threshold=sec.choice("severityThreshold", SEVERITIES, default="MEDIUM"),
        max_critical=sec.integer("maxCritical", 0, default=0),
        max_high=sec.integer("maxHigh", 0, default=5),
        frameworks=tuple(frameworks),
        minimum_score=sec.number("minimumScore", 0.0, 1.0, default=0.8),
    )


def _edge(root: _Reader) -> EdgeSettings:
    edge = root.obj("edge", {})
    edge.reject_unknown(tuple(DEFAULT_EDGE))

    def text(name: str, pattern: re.Pattern[str], allowed: str) -> str:
        return edge.string(name, pattern, allowed, default=str(DEFAULT_EDGE[name]))

    return EdgeSettings(
        domain=text("domain", _HOSTNAME, "a DNS domain such as kgot.example.com"),
        gateway_class_name=text("gatewayClassName", _DNS_LABEL, "a DNS label"),
        ingress_class_name=text("ingressClassName", _DNS_LABEL, "a DNS label"),
        tls_secret_name=text("tlsSecretName", _DNS_LABEL, "a DNS label"),
        controller_namespace=text("controllerNamespace", _DNS_LABEL, "a DNS label"),
    )


def _alerting(root: _Reader) -> AlertingSettings:
    alerting = root.obj("alerting", {})
    alerting.reject_unknown(tuple(DEFAULT_ALERTING))
    return AlertingSettings(
        slack_channel=alerting.string(
            "slackChannel",
            re.compile(r"^#[a-z0-9][a-z0-9_-]{0,79}$"),
            "a Slack channel such as #kgot-alerts",
            default=str(DEFAULT_ALERTING["slackChannel"]),
        ),
        slack_webhook_url=root.secret("slackWebhookUrl"),
        pagerduty_integration_key=root.secret("pagerdutyIntegrationKey"),
    )


def _monitoring(root: _Reader) -> MonitoringSettings:
    mon = root.obj("monitoring", {})
    mon.reject_unknown(tuple(DEFAULT_MONITORING))

    def image(name: str) -> str:
        value = mon.string(
            name, _IMAGE_REF, "an image with a fixed tag", default=str(DEFAULT_MONITORING[name])
        )
        tag = value.rsplit("/", 1)[-1].partition("@")[0].partition(":")[2]
        if tag in ("", "latest") and "@sha256:" not in value:
            raise mon.fail(name, value, "an image with a fixed tag or digest (not latest)")
        return value

    def duration(name: str) -> str:
        allowed = "a Prometheus duration such as 15s or 15d"
        return mon.string(name, _DURATION, allowed, default=str(DEFAULT_MONITORING[name]))

    return MonitoringSettings(
        prometheus_image=image("prometheusImage"),
        alertmanager_image=image("alertmanagerImage"),
        grafana_image=image("grafanaImage"),
        retention=duration("retention"),
        scrape_interval=duration("scrapeInterval"),
        replicas=mon.integer("replicas", 1, 5, default=1),
        grafana_admin_password=root.secret("grafanaAdminPassword"),
    )


def _images(root: _Reader, services: Sequence[ServiceSettings]) -> ImageSettings:
    images = root.obj("images", {})
    images.reject_unknown(tuple(DEFAULT_IMAGES))
    build = images.boolean("build", default=False)
    platform = images.string(
        "platform", _PLATFORM, "an OCI platform such as linux/amd64", default="linux/amd64"
    )
    release: str | None = None
    if build or images.raw.get("releaseVersion") is not None:
        # Checked per service so the error says whose image could not be tagged.
        for service in services:
            value = images.raw.get("releaseVersion")
            allowed = f"an image tag such as 1.4.2 (not latest) for {service.image}:<tag>"
            if value is None:
                raise _for_service(service, images.missing("releaseVersion", allowed))
            if not isinstance(value, str) or not _IMAGE_TAG.match(value) or value == "latest":
                raise _for_service(service, images.fail("releaseVersion", value, allowed))
            release = value
    server = username = None
    if images.raw.get("registry") is not None or build:
        registry = images.obj("registry", {}, allowed="an object {server, username}")
        registry.reject_unknown(("server", "username"))
        for name in ("server", "username"):
            if build and registry.raw.get(name) is None:
                # Nothing can be pushed without somewhere to push and someone to log in as.
                raise _for_service(
                    services[0],
                    registry.missing(name, "the registry's host and the user images are pushed as"),
                )
        if registry.raw.get("server") is not None:
            server = registry.string("server", _REGISTRY, "a registry host such as ghcr.io")
        if registry.raw.get("username") is not None:
            username = registry.string("username", allowed="a registry user name")
    contexts = images.obj("contexts", {}, allowed="an object: service key -> {context, ...}")
    known = {service.key for service in services}
    for key in contexts.raw:
        if key not in known:
            raise contexts.fail(key, key, f"a service key ({', '.join(sorted(known))})")
    parsed: list[tuple[str, BuildContext]] = []
    for service in services:
        if service.key not in contexts.raw:
            if build:
                allowed = "an object {context, dockerfile, target}"
                raise _for_service(service, contexts.missing(service.key, allowed))
            continue
        parsed.append((service.key, _build_context(contexts, service.key)))
        if build and server is not None and not service.image.startswith(f"{server}/"):
            raise _for_service(
                service,
                root.fail(
                    f"services.{service.key}.image",
                    service.image,
                    f"an image under {server}/ (images.registry.server, the only registry "
                    "with credentials)",
                ),
            )
    return ImageSettings(
        build=build,
        release_version=release,
        registry_server=server,
        registry_username=username,
        registry_password=root.secret("registryPassword"),
        platform=platform,
        contexts=tuple(parsed),
    )


def _build_context(contexts: _Reader, key: str) -> BuildContext:
    ctx = contexts.obj(key, allowed="an object {context, dockerfile, target}")
    ctx.reject_unknown(("context", "dockerfile", "target"))
    target = None
    if ctx.raw.get("target") is not None:
        target = ctx.string("target", _DNS_LABEL, "a Dockerfile stage name")
    return BuildContext(
        context=ctx.string("context", allowed="a folder holding the service's sources"),
        dockerfile=ctx.string(
            "dockerfile", allowed="a Dockerfile path inside the context", default="Dockerfile"
        ),
        target=target,
    )


def _for_service(service: ServiceSettings, error: SettingsError) -> SettingsError:
    return SettingsError(f"service {service.key}: {error}")


def _checks(root: _Reader) -> CheckSettings:
    checks = root.obj("checks", {})
    checks.reject_unknown(tuple(DEFAULT_CHECKS))
    timeout = checks.integer("timeoutSeconds", 10, 3600, default=120)
    return CheckSettings(
        enabled=checks.boolean("enabled", default=False),
        timeout_seconds=timeout,
        interval_seconds=checks.integer("intervalSeconds", 1, timeout, default=5),
    )


def check_image_build(settings: PlatformSettings, project_dir: Path) -> None:
    """What only the program can check before a build: sources on disk, a registry password.

    Not part of `parse_settings`: the rollout tool and the policy bridge read
    stack files on machines without the sources and without the secret.
    """
    images = settings.images
    if not images.build:
        return
    for service in settings.services:
        if images.registry_password is None:
            raise SettingsError(
                f"stack {settings.stack!r}: service {service.key}: config "
                f"{PROJECT}:registryPassword is missing; images are pushed to "
                f"{images.registry_server} as {images.registry_username}, so it must be set "
                "with pulumi config set --secret registryPassword ..."
            )
        build = images.context_of(service.key)
        context = project_dir / build.context
        key = f"{PROJECT}:images.contexts.{service.key}"
        if not context.is_dir():
            raise SettingsError(
                f"stack {settings.stack!r}: service {service.key}: config {key}.context = "
                f"{_show(build.context)} is not allowed; allowed: an existing folder "
                f"({context} does not exist)"
            )
        if not (context / build.dockerfile).is_file():
            raise SettingsError(
                f"stack {settings.stack!r}: service {service.key}: config {key}.dockerfile = "
                f"{_show(build.dockerfile)} is not allowed; allowed: a file in the context "
                f"({context / build.dockerfile} does not exist)"
            )


def _strip_namespace(raw: Mapping[str, object]) -> dict[str, object]:
    """Keep this project's keys, un-namespaced; drop other namespaces (`kubernetes:`)."""
    plain: dict[str, object] = {}
    for key, value in raw.items():
        namespace, sep, name = key.rpartition(":")
        if not sep:
            plain[key] = value
        elif namespace == PROJECT:
            plain[name] = value
    return plain


def parse_settings(raw: Mapping[str, object], stack: str) -> PlatformSettings:
    """Turn raw stack config (un-namespaced keys) into checked, frozen settings.

    Values may be what `pulumi config`, a stack file or the Automation API
    give: objects as JSON text, numbers and booleans as strings.
    """
    root = _Reader(stack, "", _strip_namespace(raw))
    root.reject_unknown(TOP_LEVEL_KEYS)
    namespace = root.string("namespace", _DNS_LABEL, "a DNS label such as kgot-staging")
    if namespace in ("default", "kube-system", "kube-public", "kube-node-lease"):
        raise root.fail("namespace", namespace, "a namespace of the platform's own")
    environment = root.choice("environment", ENVIRONMENTS)
    traffic = _traffic(root)
    services = _services(root)
    return PlatformSettings(
        stack=stack,
        environment=environment,
        namespace=namespace,
        traffic=traffic,
        services=services,
        rollback=_rollback(root),
        security=_security(root),
        edge=_edge(root),
        alerting=_alerting(root),
        monitoring=_monitoring(root),
        images=_images(root, services),
        checks=_checks(root),
    )


def read_stack_file(path: str | Path) -> dict[str, object]:
    """Raw, un-namespaced config of a `Pulumi.<stack>.yaml`.

    Secure (encrypted) values are left out: only the Pulumi engine can decrypt
    them, and nothing outside the program needs them.
    """
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(document, Mapping):
        raise SettingsError(f"{path}: expected a YAML mapping with a `config:` section")
    config = document.get("config") or {}
    if not isinstance(config, Mapping):
        raise SettingsError(f"{path}: `config:` must be a mapping, not {type(config).__name__}")
    raw: dict[str, object] = {}
    for key, value in _strip_namespace(cast(Mapping[str, object], config)).items():
        if isinstance(value, Mapping) and set(value) == {"secure"}:
            continue
        raw[key] = value
    return raw


def load() -> PlatformSettings:
    """Read this stack's `pulumi.Config` once and parse it.

    Runs before any resource is registered, so bad config stops the program
    with no partial deployment.
    """
    import pulumi
    from pulumi.runtime import config as runtime_config

    config = pulumi.Config(PROJECT)
    # Every key set in our namespace, so that a typo is reported, not ignored.
    present = {
        key.partition(":")[2]
        for key in [*runtime_config.CONFIG.get(), *runtime_config.get_config_env()]
        if key.startswith(f"{PROJECT}:")
    }
    raw: dict[str, object] = {}
    for key in sorted(present | set(TOP_LEVEL_KEYS)):
        value = config.get(key)
        if value is None:
            continue
        if key in SECRET_KEYS:
            if not runtime_config.is_config_secret(config.full_key(key)):
                raise SettingsError(
                    f"stack {pulumi.get_stack()!r}: config {PROJECT}:{key} = <hidden> is stored "
                    f"in plain text; allowed: a secret (pulumi config set --secret {key} ...)"
                )
            raw[key] = Secret(value)
        else:
            raw[key] = value
    settings = parse_settings(raw, pulumi.get_stack())
    # The engine runs the program in the project directory.
    check_image_build(settings, Path.cwd())
    return settings
