"""Stack config -> settings: the three stacks parse, every bad value is named."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from bad_stack_config import BAD_CONFIG, Mutation

from components.settings import (
    PlatformSettings,
    Secret,
    SettingsError,
    parse_settings,
    read_stack_file,
)
from tests.committed_stacks import stack_config

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def stack_raw(stack: str = "staging") -> dict[str, object]:
    return stack_config(stack)


def parse(raw: dict[str, object], stack: str = "staging") -> PlatformSettings:
    return parse_settings(raw, stack)


@pytest.mark.parametrize(
    ("stack", "namespace", "replicas", "cpu", "memory"),
    [
        ("dev", "kgot-dev", 1, "25m", "32Mi"),
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
    raw["slackWebhookUrl"] = Secret("https://hooks.slack.com/services/T000/B000/XXXX")
    settings = parse(raw)
    assert settings.slack_webhook_url == Secret("https://hooks.slack.com/services/T000/B000/XXXX")
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
