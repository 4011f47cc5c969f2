"""The rollout tool reads the program's stack config models, secrets included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rollout_fakes import FakeEngine, dev_config, healthy
from rollout_harness import Harness, make_harness

from components.settings import Secret, parse_settings
from kgot_rollout._hold import GateLimits, HoldPolicy
from kgot_rollout._types import ExitCode

pytestmark = pytest.mark.rollout

WEBHOOK = "https://hooks.slack.com/services/T000/B000/S3CR3T-token"


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


@pytest.mark.parametrize(
    "secure",
    [
        {"slackWebhookURL": Secret(WEBHOOK)},
        {"alerting": Secret(json.dumps({"slackWebhookUrl": WEBHOOK}))},
    ],
    ids=["misspelt-key", "wrong-level"],
)
def test_a_secure_value_is_never_echoed(harness: Harness, secure: dict[str, Secret]) -> None:
    harness.engine.secure.update(secure)
    assert harness.run("shift", "--to", "green") == ExitCode.REFUSED
    assert "= [secret] is not a known key" in harness.stderr
    assert "S3CR3T" not in harness.stderr
    assert "[secret]" in harness.log() and "S3CR3T" not in harness.log()
    # status still says where traffic is, and which key no update can pass.
    assert harness.run("status") == ExitCode.DONE
    assert "config:   REFUSED" in harness.stdout
    assert "= [secret] is not a known key" in harness.stdout
    assert "S3CR3T" not in harness.stdout


def test_one_rollback_key_keeps_the_documented_triggers(harness: Harness) -> None:
    """`rollback: {onBreach: freeze}` was refused; now the other keys take their defaults."""
    harness.engine = FakeEngine.for_config(dev_config(rollback={"onBreach": "freeze"}))
    healthy(harness.metrics, "blue", "green")
    # Above the default errorRate threshold (0.05) for the default window (120 s).
    harness.metrics.set("error_rate", "green", lambda t: 0.06)
    code = harness.run("shift", "--to", "green", "--steps", "10,100", "--hold", "300")
    assert code == ExitCode.HELD
    assert harness.engine.traffic == ("blue", 10)
    assert "error_rate" in harness.log() and "0.05" in harness.log()


def _metrics_fail_after_the_first_step(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")

    def fail(applied: object) -> None:
        harness.metrics.queries_fail = True

    harness.engine.on_up = fail


@pytest.mark.parametrize(
    ("stack_limit", "option", "held_after"),
    [(20, (), 20), (300, ("--metrics-error-timeout", "20"), 20)],
    ids=["stack-config", "command-line-overrides-it"],
)
def test_the_metrics_error_limit_is_stack_config_and_the_option_overrides_it(
    harness: Harness, stack_limit: int, option: tuple[str, ...], held_after: int
) -> None:
    harness.engine = FakeEngine.for_config(
        dev_config(rollback={"metricsErrorTimeoutSeconds": stack_limit})
    )
    _metrics_fail_after_the_first_step(harness)
    start = harness.clock.now()
    code = harness.run("shift", "--to", "green", "--steps", "10,100", "--hold", "600", *option)
    assert code == ExitCode.HELD
    assert harness.engine.traffic == ("blue", 10)
    # Held after the limit plus at most one evaluation interval (5 s).
    assert held_after <= harness.clock.now() - start <= held_after + 5
    assert f"metrics unavailable for {held_after}s" in harness.stdout


@pytest.mark.parametrize(
    ("rollback", "policy", "expected"),
    [
        ({}, HoldPolicy(), GateLimits(120.0, 60.0)),
        ({"missingDataTimeoutSeconds": "45"}, HoldPolicy(), GateLimits(45.0, 60.0)),
        (
            {"missingDataTimeoutSeconds": 45},
            HoldPolicy(missing_data_seconds=30),
            GateLimits(30, 60),
        ),
    ],
    ids=["documented-defaults", "stack-config-as-pulumi-config-set-writes-it", "override"],
)
def test_the_gate_limits_of_a_stack(
    rollback: dict[str, object], policy: HoldPolicy, expected: GateLimits
) -> None:
    settings = parse_settings(dev_config(rollback=rollback), "dev")
    assert policy.limits(settings.rollback) == expected


@pytest.mark.parametrize("value", [0, -5, 1.5, "nan", "inf", 86_401])
@pytest.mark.parametrize("key", ["missingDataTimeoutSeconds", "metricsErrorTimeoutSeconds"])
def test_a_limit_that_cannot_elapse_is_refused_before_anything_changes(
    harness: Harness, key: str, value: object
) -> None:
    harness.engine = FakeEngine.for_config(dev_config(rollback={key: value}))
    healthy(harness.metrics, "blue", "green")
    assert harness.run("shift", "--to", "green", "--steps", "100") == ExitCode.REFUSED
    assert f"kgot-platform:rollback.{key} = " in harness.stderr
    assert "allowed: an integer from 1 to 86400" in harness.stderr
    assert harness.engine.traffic == ("blue", 0)
