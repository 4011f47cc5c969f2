"""The rollout tool reads the program's stack config models, secrets included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rollout_fakes import FakeEngine, dev_config, healthy
from rollout_harness import Harness, make_harness

from components.settings import Secret
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
    assert harness.run("status") == ExitCode.REFUSED
    assert "= [secret] is not a known key" in harness.stderr
    assert "S3CR3T" not in harness.stderr
    assert "[secret]" in harness.log() and "S3CR3T" not in harness.log()


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
