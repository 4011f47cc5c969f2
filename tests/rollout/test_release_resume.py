"""A release interrupted (Ctrl-C, SIGTERM) or killed in each phase, then run again: it
resumes at the phase it stopped in and never deploys again what is already Available."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from release_fakes import (
    RELEASE,
    FakeChecks,
    FakeRegistry,
    Killed,
    deploy_ups,
    phases,
    record,
    records,
    release,
    release_harness,
)
from rollout_harness import Harness, make_harness

from kgot_rollout._types import ExitCode

pytestmark = pytest.mark.rollout

PHASES = ("preflight", "deploy", "validate", "shift", "watch")


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return release_harness(make_harness(tmp_path))


def _history(harness: Harness) -> str:
    path = harness.log_dir / "history-dev.jsonl"
    return path.read_text() if path.exists() else ""


def stop_in(harness: Harness, phase: str, stop: Callable[[], None]) -> Callable[[], None]:
    """Make ``stop`` happen inside ``phase``; returns what undoes it."""
    registry, checks, engine = harness.registry, harness.health_check, harness.engine
    assert isinstance(registry, FakeRegistry) and isinstance(checks, FakeChecks)
    if phase == "preflight":
        registry.on_ask = lambda image: stop()
    elif phase == "deploy":
        # After the update applied the version: the kill that leaves the most behind.
        engine.on_up = lambda applied: stop() if applied["greenVersion"] == RELEASE else None
    elif phase == "validate":
        checks.on_check = lambda name: stop() if name == "graph-store-green" else None
    elif phase == "shift":
        harness.clock.on_sleep = lambda t: stop() if engine.traffic == ("blue", 50) else None
    else:
        harness.clock.on_sleep = lambda t: stop() if '"watch"' in _history(harness) else None

    def undo() -> None:
        registry.on_ask = checks.on_check = None
        engine.on_up = None
        harness.clock.on_sleep = None

    return undo


def interrupt() -> None:
    raise KeyboardInterrupt


def kill() -> None:
    raise Killed


def assert_resumed(harness: Harness, phase: str) -> None:
    assert "resuming" in harness.stderr and f"at phase {phase}" in harness.stderr
    data = record(harness)
    assert len(records(harness)) == 1, "a resumed release keeps its record"
    assert data["status"] == "released", data["message"]
    assert phases(data) == dict.fromkeys(PHASES, "passed")
    listed = data["phases"]
    assert isinstance(listed, list)
    attempts = {p["phase"]: p["attempts"] for p in listed}
    assert attempts[phase] == 2
    assert all(attempts[p] == 1 for p in PHASES[: PHASES.index(phase)])
    engine = harness.engine
    assert engine.applied_traffic == ("green", 0)
    assert engine.applied["greenVersion"] == RELEASE
    # Never deployed twice: a resume after the deploy's update finds it Available.
    assert len(deploy_ups(engine)) == 1


@pytest.mark.parametrize("phase", PHASES)
def test_an_interrupted_release_resumes_at_its_phase(harness: Harness, phase: str) -> None:
    undo = stop_in(harness, phase, interrupt)
    assert release(harness) == ExitCode.HELD
    data = record(harness)
    assert data["status"] == "interrupted"
    assert phases(data)[phase] == "interrupted"
    assert f"again to resume at {phase}" in harness.stdout
    undo()
    assert release(harness) == ExitCode.DONE, harness.stdout + harness.stderr
    assert_resumed(harness, phase)


@pytest.mark.parametrize("phase", PHASES)
def test_a_killed_release_resumes_at_its_phase(harness: Harness, phase: str) -> None:
    undo = stop_in(harness, phase, kill)
    with pytest.raises(Killed):
        release(harness)
    # Nothing ran after the kill: the record says the phase was running.
    data = record(harness)
    assert data["status"] == "running" and phases(data)[phase] == "running"
    undo()
    assert release(harness) == ExitCode.DONE, harness.stdout + harness.stderr
    assert_resumed(harness, phase)


def test_a_shift_resumes_from_the_weight_it_reached(harness: Harness) -> None:
    undo = stop_in(harness, "shift", kill)
    with pytest.raises(Killed):
        release(harness)
    undo()
    assert release(harness) == ExitCode.DONE
    assert harness.history()[-1]["event"] == "finished"
    resumed = [e for e in harness.history() if e["event"] == "resumed"]
    assert resumed and resumed[0]["from_weight"] == 50


def test_rollback_works_while_a_release_is_stopped(harness: Harness) -> None:
    undo = stop_in(harness, "shift", interrupt)
    assert release(harness) == ExitCode.HELD
    undo()
    assert harness.run("rollback", "--reason", "stop the release") == ExitCode.DONE
    assert harness.engine.applied_traffic == ("blue", 0)
    # The release's standby keeps the version for inspection.
    assert harness.engine.applied["greenVersion"] == RELEASE


def test_another_version_starts_a_new_release(harness: Harness) -> None:
    undo = stop_in(harness, "validate", interrupt)
    assert release(harness) == ExitCode.HELD
    undo()
    harness.clock.t += 60
    assert release(harness, version="1.2.0") == ExitCode.DONE
    assert [r["version"] for r in records(harness)] == [RELEASE, "1.2.0"]
    assert harness.engine.applied["greenVersion"] == "1.2.0"
