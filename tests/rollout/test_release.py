"""``kgot-rollout release`` on the fake engine: a healthy release, and each phase's refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi.automation.events import OpType
from release_fakes import (
    RELEASE,
    FakeChecks,
    FakeRegistry,
    phases,
    record,
    records,
    release,
    release_harness,
)
from rollout_fakes import available
from rollout_harness import Harness, make_harness

from kgot_rollout._engine import PreviewReport, ResourceStep
from kgot_rollout._exceptions import RefusedError
from kgot_rollout._journal import exclusive
from kgot_rollout._types import ExitCode

pytestmark = pytest.mark.rollout


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return release_harness(make_harness(tmp_path))


def unchanged(harness: Harness) -> None:
    """Nothing changed: no update ran and the config is what the last update applied."""
    engine = harness.engine
    assert engine.ups() == []
    for key in ("activeColor", "standbyWeight", "blueVersion", "greenVersion"):
        assert engine.config[key] == engine.applied[key], key


def test_a_healthy_release_runs_every_phase_and_writes_one_record(harness: Harness) -> None:
    assert release(harness) == ExitCode.DONE, harness.stderr
    engine = harness.engine
    assert engine.applied["greenVersion"] == RELEASE
    assert engine.applied_traffic == ("green", 0)
    data = record(harness)
    assert data["status"] == "released" and data["exit_code"] == 0
    assert phases(data) == dict.fromkeys(
        ("preflight", "deploy", "validate", "shift", "watch"), "passed"
    )
    listed = data["phases"]
    assert isinstance(listed, list)
    # Each phase: when it started and how long it took (the hold and watch on the fake clock).
    durations = {p["phase"]: p["duration"] for p in listed}
    assert durations["shift"] >= 20 and durations["watch"] >= 20
    assert data["versions_before"] == {"blue": "1.0.0", "green": "1.0.0"}
    assert data["versions_after"] == {"blue": "1.0.0", "green": RELEASE}
    assert (data["source"], data["target"]) == ("blue", "green")
    images = data["images"]
    assert isinstance(images, list)
    controller = next(i for i in images if i["service"] == "controller")
    assert controller["digest"].startswith("sha256:") and controller["verified"] is True
    gate = data["gate"]
    assert isinstance(gate, list)
    decisions = [d["event"] for d in gate]
    assert decisions.count("step-passed") == 2 and "finished" in decisions
    assert data["gate_evaluations"]["pass"] > 0  # type: ignore[index]
    assert data["rollback"] is None
    # The health check ran on the standby (every service), before any traffic moved.
    assert isinstance(harness.health_check, FakeChecks)
    assert harness.health_check.checked == [
        f"{s}-green"
        for s in ("controller", "graph-store", "manager-agent", "web-agent", "mcp-tools")
    ]
    # The phases as they ran, with their durations, on the terminal.
    for phase in ("preflight", "deploy", "validate", "shift", "watch"):
        assert f"] {phase} passed in" in harness.stderr
    assert "released 1.1.0 on green" in harness.stdout


def test_the_deployment_metrics_count_the_release_once(harness: Harness) -> None:
    assert release(harness) == ExitCode.DONE
    text = (harness.log_dir / "kgot_rollout.prom").read_text()
    assert 'kgot_deployments_total{environment="dev",status="released"} 1.0' in text
    # Its shift is not counted on its own.
    assert 'status="promoted"' not in text
    assert "kgot_deployment_duration_seconds_count 1.0" in text


def test_history_and_status_show_releases(harness: Harness) -> None:
    assert release(harness) == ExitCode.DONE
    release_id = str(record(harness)["id"])
    assert harness.run("history") == 0
    assert f"release-{release_id}" in harness.stdout and "released" in harness.stdout
    assert harness.run("status") == 0
    assert f"release:  {release_id} 1.1.0 released" in harness.stdout
    assert harness.run("status", "--json") == 0
    assert json.loads(harness.stdout)["lastRelease"]["status"] == "released"


def test_the_traffic_config_of_the_last_update_is_the_truth(harness: Harness) -> None:
    # This checkout's stack file says green; the last update applied blue (a shift
    # ran elsewhere, or a fresh CI checkout of an older commit).
    harness.engine.config.update(activeColor="green", blueVersion="0.9.0")
    assert release(harness) == ExitCode.DONE, harness.stderr
    data = record(harness)
    assert data["versions_before"] == {"blue": "1.0.0", "green": "1.0.0"}
    assert (data["source"], data["target"]) == ("blue", "green")


def test_a_version_already_serving_is_not_released_again(harness: Harness) -> None:
    assert release(harness, version="1.0.0") == ExitCode.DONE
    assert "already serves on blue" in harness.stdout
    unchanged(harness)
    assert record(harness)["status"] == "unchanged"


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        ("shift-in-progress", "a shift is in progress"),
        ("prometheus-down", "Prometheus at http://fake unreachable"),
        ("no-digest", "services.controller.digests has no digest for 9.9.9"),
        ("absent", "image localhost:5000/kgot/controller:1.1.0@sha256:"),
        ("unsigned", "has no verified signature: no signature in the registry (unsigned)"),
        ("registry-down", "registry localhost:5000 cannot be reached"),
        ("unsafe-preview", "would change more than the standby's version"),
        ("pack-refuses", "the policy pack refused the preview"),
        ("locked", "kgot-rollout shift (pid"),
    ],
)
def test_each_preflight_refusal_changes_nothing(harness: Harness, setup: str, words: str) -> None:
    engine = harness.engine
    registry = harness.registry
    assert isinstance(registry, FakeRegistry)
    version = RELEASE
    if setup == "shift-in-progress":
        engine.config["standbyWeight"] = engine.applied["standbyWeight"] = "25"
    elif setup == "prometheus-down":
        harness.metrics.down = True
    elif setup == "no-digest":
        version = "9.9.9"
    elif setup == "absent":
        registry.absent.add("controller:1.1.0")
    elif setup == "unsigned":
        registry.unsigned.add("graph-store:1.1.0")
    elif setup == "registry-down":
        registry.unreachable = True
    elif setup == "unsafe-preview":
        kind = "kubernetes:apps/v1:Deployment"
        engine.extra_changes = [
            ResourceStep(engine.urn(kind, "controller-blue"), kind, OpType.UPDATE)
        ]
    elif setup == "pack-refuses":

        def refuse() -> PreviewReport:
            raise RefusedError("stack dev: the policy pack refused the preview: image (unsigned)")

        engine.preview = refuse  # type: ignore[method-assign]
    if setup == "locked":
        with exclusive(harness.log_dir, "dev", "shift"):
            code = release(harness, version=version)
    else:
        code = release(harness, version=version)
    assert code == ExitCode.REFUSED, harness.stderr
    assert words in harness.stdout + harness.stderr
    unchanged(harness)
    if setup != "locked":
        data = record(harness)
        assert data["status"] == "refused" and data["exit_code"] == 2
        assert phases(data)["preflight"] == "refused"


def test_the_standby_may_change_its_deployments_and_checks(harness: Harness) -> None:
    engine = harness.engine
    deployment, check = "kubernetes:apps/v1:Deployment", "command:local:Command"
    engine.extra_changes = [
        ResourceStep(engine.urn(deployment, "controller-green"), deployment, OpType.UPDATE),
        ResourceStep(engine.urn(check, "checks-controller-green"), check, OpType.REPLACE),
    ]
    # The update applies them; the shift's previews then see routing only.
    engine.on_up = lambda applied: engine.extra_changes.clear()
    assert release(harness) == ExitCode.DONE, harness.stderr


def test_steps_that_do_not_end_at_100_are_refused(harness: Harness) -> None:
    assert harness.run("release", "--version", RELEASE, "--steps", "10,50") == ExitCode.REFUSED
    assert "allowed: steps ending at 100" in harness.stderr
    unchanged(harness)


def test_a_failed_deploy_is_an_error_and_moves_no_traffic(harness: Harness) -> None:
    harness.engine.fail_up = True
    assert release(harness) == ExitCode.ERROR
    assert "provider error" in harness.stdout
    assert harness.engine.applied_traffic == ("blue", 0)
    assert phases(record(harness)) == {"preflight": "passed", "deploy": "failed"}


def test_a_locked_stack_at_deploy_is_refused(harness: Harness) -> None:
    harness.engine.locked_ups = 1
    assert release(harness) == ExitCode.REFUSED
    assert "another update holds the stack lock" in harness.stdout
    assert phases(record(harness))["deploy"] == "refused"


def test_a_standby_that_never_becomes_available_fails_the_deploy(harness: Harness) -> None:
    stuck = available("graph-store-green", 1)
    harness.engine.live["graph-store-green"] = type(stuck)(
        name=stuck.name,
        replicas=1,
        available=0,
        updated=1,
        observed=True,
        available_condition=False,
    )
    assert release(harness) == ExitCode.ERROR
    assert "graph-store-green (available 0/1" in harness.stdout
    assert "no traffic moved" in harness.stdout
    assert harness.engine.applied_traffic == ("blue", 0)


def test_a_standby_failing_its_health_check_keeps_the_version_and_moves_no_traffic(
    harness: Harness,
) -> None:
    assert isinstance(harness.health_check, FakeChecks)
    harness.health_check.failing.add("graph-store-green")
    assert release(harness) == ExitCode.ERROR
    assert (
        "service graph-store (green, 1.1.0) failed its post-deploy health check" in harness.stdout
    )
    assert harness.engine.applied["greenVersion"] == RELEASE
    assert harness.engine.applied_traffic == ("blue", 0)
    assert phases(record(harness))["validate"] == "failed"


def test_a_breach_during_the_shift_rolls_back_and_the_record_says_why(harness: Harness) -> None:
    harness.metrics.set("error_rate", "green", lambda t: 0.5)
    assert release(harness) == ExitCode.ROLLED_BACK
    assert harness.engine.applied_traffic == ("blue", 0)
    data = record(harness)
    assert data["status"] == "rolled-back" and phases(data)["shift"] == "rolled-back"
    rollback = data["rollback"]
    assert isinstance(rollback, dict)
    assert rollback["trigger"] == "error_rate" and rollback["to"] == "blue"
    assert rollback["decided"] >= rollback["breachingSince"]


def test_a_breach_while_watching_rolls_back(harness: Harness) -> None:
    start = harness.clock.t

    def fails_late(t: float) -> float:
        # Healthy through the shift (2 x 10 s hold), failing in the watch.
        return 0.5 if t > start + 25 else 0.01

    harness.metrics.set("error_rate", "green", fails_late)
    assert release(harness, "--window", "120") == ExitCode.ROLLED_BACK
    data = record(harness)
    assert phases(data)["watch"] == "rolled-back"
    assert harness.engine.applied_traffic == ("blue", 0)


def test_missing_data_holds_the_release(harness: Harness) -> None:
    harness.metrics.set("error_rate", "green", lambda t: None)
    assert release(harness) == ExitCode.HELD
    assert record(harness)["status"] == "held"
    assert "again to resume at shift" in harness.stdout


def test_one_notification_per_release(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    from components.settings import Secret

    sent: list[tuple[str, object]] = []

    class Answer:
        status_code = 200

    def post(url: str, json: object, timeout: float) -> Answer:
        sent.append((url, json))
        return Answer()

    monkeypatch.setattr("kgot_rollout._notify.requests.post", post)
    harness.engine.secure.update(
        slackWebhookUrl=Secret("https://hooks.slack.test/T/B/secret"),
        pagerdutyIntegrationKey=Secret("routing-key"),
    )
    assert release(harness) == ExitCode.DONE
    # One Slack message; dev is not production, so no PagerDuty at all.
    assert len(sent) == 1 and "released 1.1.0" in str(sent[0][1])


def test_the_bridge_writes_the_pack_config_with_the_verified_digests(tmp_path: Path) -> None:
    """Without --policy-pack-config the release writes its own from the stack file."""
    harness = release_harness(make_harness(tmp_path))
    root = Path(__file__).resolve().parents[2]
    code = harness.run(
        "release",
        "--version",
        RELEASE,
        "--project-dir",
        str(root),
        "--log-dir",
        str(harness.log_dir),
        "--steps",
        "100",
        "--hold",
        "5",
        "--window",
        "5",
    )
    assert code == ExitCode.DONE, harness.stdout + harness.stderr
    files = record(harness)["files"]
    assert isinstance(files, dict)
    pack = json.loads(Path(files["packConfig"]).read_text())
    images = pack["image-tag-digest-signature"]
    assert images["verifiedDigestsFile"] == files["verifiedDigests"]
    assert (
        "localhost:5000/kgot/controller:1.1.0@sha256:" in Path(files["verifiedDigests"]).read_text()
    )
    assert len(records(harness)) == 1


def test_the_shift_waits_until_prometheus_sees_the_standby_up(harness: Harness) -> None:
    # The pods the deploy replaced stay targets, down, for a while.
    start = harness.clock.t
    harness.metrics.set("health", "green", lambda t: 0.0 if t < start + 30 else 1.0)
    assert release(harness) == ExitCode.DONE, harness.stdout + harness.stderr
    data = record(harness)
    listed = data["phases"]
    assert isinstance(listed, list)
    validate = next(p for p in listed if p["phase"] == "validate")
    assert "Prometheus sees every green target up after 3" in validate["detail"]
    assert data["rollback"] is None


def test_a_standby_prometheus_never_sees_up_fails_before_any_traffic(harness: Harness) -> None:
    harness.metrics.set("health", "green", lambda t: 0.0)
    assert release(harness) == ExitCode.ERROR
    assert "Prometheus does not see every pod of green up 180s after" in harness.stdout
    assert harness.engine.applied_traffic == ("blue", 0)
    assert phases(record(harness))["validate"] == "failed"
