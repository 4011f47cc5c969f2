"""``kgot-rollout sync-config`` and the release's first gate: the traffic config of the
stack's last update is the truth; the committed file only seeds a stack never updated
(what .github/scripts/prepare-release.sh did)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rollout_harness import Harness, make_harness

from kgot_rollout._engine import AppliedUpdate
from kgot_rollout._exceptions import EngineError
from kgot_rollout._types import ExitCode

pytestmark = pytest.mark.rollout


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


def test_the_last_update_s_traffic_replaces_the_committed_one(harness: Harness) -> None:
    engine = harness.engine
    # A shift made green active with 1.5.0; this checkout's file still says blue 1.0.0.
    engine.applied.update(activeColor="green", greenVersion="1.5.0", blueVersion="1.4.0")
    engine.config["namespace"] = "kgot-dev"
    assert harness.run("sync-config") == ExitCode.DONE, harness.stderr
    assert (engine.config["activeColor"], engine.config["greenVersion"]) == ("green", "1.5.0")
    assert engine.config["blueVersion"] == "1.4.0"
    assert "traffic config of update 1" in harness.stdout
    # Only the traffic keys: everything else stays as committed, and nothing is deployed.
    written = [c[1] for c in engine.calls if c[0] == "set_config"]
    assert written == [{"activeColor": "green", "blueVersion": "1.4.0", "greenVersion": "1.5.0"}]
    assert engine.ups() == []


def test_a_stack_never_updated_keeps_the_committed_traffic(harness: Harness) -> None:
    engine = harness.engine
    engine.last_update = lambda: None  # type: ignore[method-assign]
    assert harness.run("sync-config") == ExitCode.DONE
    assert "no update yet: traffic config as committed" in harness.stdout
    assert not [c for c in engine.calls if c[0] == "set_config"]


def test_a_backend_error_stops_before_any_change(harness: Harness) -> None:
    engine = harness.engine

    def unreachable() -> AppliedUpdate | None:
        raise EngineError("stack dev: reading history failed: 503 Service Unavailable")

    engine.last_update = unreachable  # type: ignore[method-assign]
    engine.applied["activeColor"] = "green"
    assert harness.run("sync-config") == ExitCode.ERROR
    assert "503 Service Unavailable" in harness.stderr
    assert not [c for c in engine.calls if c[0] == "set_config"]
    assert engine.config["activeColor"] == "blue"
