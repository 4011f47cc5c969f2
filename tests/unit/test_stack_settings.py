"""Stack config -> settings: the three stacks parse, every bad value is named."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from components.settings import (
    PlatformSettings,
    Secret,
    SettingsError,
    parse_settings,
    read_stack_file,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def stack_raw(stack: str = "staging") -> dict[str, object]:
    return read_stack_file(ROOT / f"Pulumi.{stack}.yaml")


def parse(raw: dict[str, object], stack: str = "staging") -> PlatformSettings:
    return parse_settings(raw, stack)


@pytest.mark.parametrize(
    ("stack", "namespace", "replicas", "cpu", "memory"),
    [
        ("dev", "kgot-dev", 1, "100m", "128Mi"),
        ("staging", "kgot-staging", 2, "100m", "128Mi"),
        ("production", "kgot-production", 3, "200m", "256Mi"),
    ],
)
def test_stack_files_parse_with_their_sizing(
    stack: str, namespace: str, replicas: int, cpu: str, memory: str
) -> None:
    settings = parse(stack_raw(stack), stack)
    assert settings.environment == stack
    assert settings.namespace == namespace
    assert {s.key for s in settings.services} >= {"controller", "graph_store"}
    for service in settings.services:
        assert service.replicas == replicas
        assert service.resources.requests.cpu == cpu
        assert service.resources.requests.memory == memory
        assert service.resources.limits.millicores >= service.resources.requests.millicores
    rollback = settings.rollback
    assert (rollback.error_rate.threshold, rollback.error_rate.window_seconds) == (0.05, 120)
    assert (rollback.latency.ratio, rollback.latency.window_seconds) == (2.0, 180)
    assert (rollback.cpu.threshold, rollback.cpu.window_seconds) == (0.85, 300)
    assert rollback.monitoring_window_seconds == 300
    security = settings.security
    assert security.severity_threshold == "MEDIUM"
    assert (security.max_critical, security.max_high) == (0, 5)
    assert security.frameworks == ("CIS", "NIST", "SOC2")
    assert security.minimum_score == 0.8


def test_service_key_becomes_kubernetes_name() -> None:
    assert parse(stack_raw()).service("graph_store").name == "graph-store"


def test_values_as_the_automation_api_gives_them() -> None:
    """Objects as JSON text, numbers as strings, keys with their namespace."""
    raw = stack_raw()
    raw["standbyWeight"] = "25"
    raw["standbyReplicas"] = "1"
    raw["services"] = json.dumps(raw["services"])
    raw["rollback"] = json.dumps(raw["rollback"])
    namespaced: dict[str, object] = {f"kgot-platform:{k}": v for k, v in raw.items()}
    namespaced["kubernetes:context"] = "kwok"
    settings = parse(namespaced)
    assert settings.traffic.standby_weight == 25
    assert settings.traffic.standby_replicas == 1
    assert settings.service("controller").port == 8080


def test_standby_scales_down_only_without_weight() -> None:
    raw = stack_raw()
    raw["standbyReplicas"] = 1
    traffic = parse(raw).traffic
    assert traffic.replicas_of("blue", 3) == 3
    assert traffic.replicas_of("green", 3) == 1
    raw["standbyWeight"] = 10
    assert parse(raw).traffic.replicas_of("green", 3) == 3


def test_secrets_never_show_in_repr() -> None:
    raw = stack_raw()
    raw["slackWebhookUrl"] = "https://hooks.slack.com/services/T000/B000/XXXX"
    settings = parse(raw)
    assert settings.alerting.slack_webhook_url == Secret(
        "https://hooks.slack.com/services/T000/B000/XXXX"
    )
    assert "hooks.slack.com" not in repr(settings)


def test_read_stack_file_leaves_secure_values_out(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(
        "config:\n"
        "  kgot-platform:activeColor: green\n"
        "  kgot-platform:slackWebhookUrl:\n    secure: v1:abc\n"
        "  kubernetes:context: kwok\n",
        encoding="utf-8",
    )
    assert read_stack_file(path) == {"activeColor": "green"}


Mutation = Callable[[dict[str, object]], None]


def _set(path: str, value: object) -> Mutation:
    def mutate(raw: dict[str, object]) -> None:
        *parents, last = path.split(".")
        node: object = raw
        for part in parents:
            assert isinstance(node, dict)
            node = node.setdefault(part, {})
        assert isinstance(node, dict)
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


_DELETE = object()


def _both(first: Mutation, second: Mutation) -> Mutation:
    def mutate(raw: dict[str, object]) -> None:
        first(raw)
        second(raw)

    return mutate


BAD_CONFIG: list[tuple[str, Mutation, list[str]]] = [
    ("unknown colour", _set("activeColor", "purple"), ["activeColor", '"purple"', "blue | green"]),
    ("weight above 100", _set("standbyWeight", 101), ["standbyWeight", "101", "0 to 100"]),
    ("weight below 0", _set("standbyWeight", -5), ["standbyWeight", "-5", "0 to 100"]),
    ("weight not a number", _set("standbyWeight", "half"), ["standbyWeight", '"half"', "integer"]),
    (
        "replicas below 1",
        _set("services.controller.replicas", 0),
        ["services.controller.replicas", "0", "integer from 1"],
    ),
    (
        "negative standby replicas",
        _set("standbyReplicas", -1),
        ["standbyReplicas", "-1", "integer >= 0"],
    ),
    (
        "error rate above 1",
        _set("rollback.errorRate.threshold", 1.5),
        ["rollback.errorRate.threshold", "1.5", "<= 1.0"],
    ),
    (
        "latency ratio not above 1",
        _set("rollback.latency.ratio", 0.5),
        ["rollback.latency.ratio", "0.5", "> 1.0"],
    ),
    (
        "cpu threshold zero",
        _set("rollback.cpu.threshold", 0),
        ["rollback.cpu.threshold", "0", "> 0.0"],
    ),
    (
        "window too short",
        _set("rollback.errorRate.windowSeconds", 1),
        ["rollback.errorRate.windowSeconds", "1", "integer from 10"],
    ),
    (
        "unknown missing-data action",
        _set("rollback.onMissingData", "promote"),
        ["rollback.onMissingData", '"promote"', "hold | rollback"],
    ),
    (
        "minimum score above 1",
        _set("security.minimumScore", 2),
        ["security.minimumScore", "2", "<= 1.0"],
    ),
    (
        "negative max high",
        _set("security.maxHigh", -1),
        ["security.maxHigh", "-1", "integer >= 0"],
    ),
    (
        "unknown severity",
        _set("security.severityThreshold", "SEVERE"),
        ["security.severityThreshold", '"SEVERE"', "LOW | MEDIUM | HIGH | CRITICAL"],
    ),
    (
        "unknown framework",
        _set("security.frameworks", ["CIS", "PCI"]),
        ["security.frameworks[1]", '"PCI"', "CIS | NIST | SOC2"],
    ),
    (
        "unknown service field",
        _set("services.controller.imge", "x"),
        ["services.controller.imge", "not a known key", "image"],
    ),
    (
        "unknown top-level key",
        _set("activeColour", "blue"),
        ["activeColour", "not a known key", "activeColor"],
    ),
    (
        "missing image",
        _set("services.graph_store.image", _DELETE),
        ["services.graph_store.image", "missing", "image repository"],
    ),
    (
        "image with a tag",
        _set("services.graph_store.image", "ghcr.io/kgot/graph:1.0"),
        ["services.graph_store.image", "ghcr.io/kgot/graph:1.0", "without tag"],
    ),
    (
        "missing controller",
        _set("services.controller", _DELETE),
        ["services.controller", "missing"],
    ),
    (
        "bad service key",
        _set("services.Graph-Store", {}),
        ["services.Graph-Store", "lower-case"],
    ),
    (
        "latest version",
        _set("greenVersion", "latest"),
        ["greenVersion", '"latest"', "never latest"],
    ),
    ("missing version", _set("blueVersion", _DELETE), ["blueVersion", "missing", "image tag"]),
    (
        "limit below request",
        _set("services.controller.resources.limits.cpu", "50m"),
        ["services.controller.resources.limits.cpu", '"50m"', "at least the request 100m"],
    ),
    (
        "bad memory quantity",
        _set("services.controller.resources.requests.memory", "lots"),
        ["services.controller.resources.requests.memory", '"lots"', "memory quantity"],
    ),
    (
        "same probe paths",
        _set("services.controller.health.liveness", "/health/ready"),
        ["services.controller.health.liveness", '"/health/ready"', "other than readiness"],
    ),
    (
        "privileged port",
        _set("services.controller.port", 80),
        ["services.controller.port", "80", "1024 to 65535"],
    ),
    (
        "unknown routing",
        _set("trafficRouting", "istio"),
        ["trafficRouting", '"istio"', "gateway | ingress | selector"],
    ),
    (
        "selector cannot split",
        _both(_set("trafficRouting", "selector"), _set("standbyWeight", 30)),
        ["standbyWeight", "30", "trafficRouting selector"],
    ),
    ("unknown environment", _set("environment", "qa"), ["environment", '"qa"', "dev | staging"]),
    ("system namespace", _set("namespace", "default"), ["namespace", '"default"', "own"]),
    (
        "monitoring image without tag",
        _set("monitoring.grafanaImage", "grafana/grafana"),
        ["monitoring.grafanaImage", "grafana/grafana", "fixed tag"],
    ),
    (
        "bad custom trigger comparison",
        _set(
            "rollback.customTriggers",
            [{"name": "q", "query": "up", "threshold": 1, "comparison": "~", "windowSeconds": 60}],
        ),
        ["rollback.customTriggers[0].comparison", '"~"', "> | >= | < | <="],
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [pytest.param(m, e, id=case) for case, m, e in BAD_CONFIG],
)
def test_bad_config_names_key_value_and_what_is_allowed(
    mutate: Mutation, expected: list[str]
) -> None:
    raw = copy.deepcopy(stack_raw())
    mutate(raw)
    with pytest.raises(SettingsError) as caught:
        parse(raw)
    message = str(caught.value)
    assert "stack 'staging'" in message
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"
