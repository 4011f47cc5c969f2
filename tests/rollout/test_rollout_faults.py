"""Faults on a live stack (issue 19), on the fake engine: traffic never ends on a
colour with no ready pods, and every ending says what happened."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from rollout_fakes import available, dev_config, healthy
from rollout_harness import Harness, make_harness

from components.settings import Secret
from kgot_rollout._cluster import DeploymentStatus
from kgot_rollout._engine import PreviewReport
from kgot_rollout._types import ExitCode

pytestmark = pytest.mark.rollout


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


def events(h: Harness, name: str) -> list[dict[str, object]]:
    return [e for e in h.history() if e["event"] == name]


def not_ready(name: str) -> DeploymentStatus:
    """Pods running but not ready (readiness switched off): AVAILABLE 0."""
    return replace(available(name, 1), available=0, available_condition=False)


# -- 1. the colour taking traffic loses readiness during a hold ------------------------


def test_a_colour_losing_its_ready_pods_during_a_hold_is_rolled_back(harness: Harness) -> None:
    # Every metric stays healthy: refused connections never reach the app's metrics.
    healthy(harness.metrics, "blue", "green")
    lost_at = harness.clock.now() + 12.0

    def readiness_off(now: float) -> None:
        if now >= lost_at:
            harness.engine.live["controller-green"] = not_ready("controller-green")

    harness.clock.on_sleep = readiness_off
    code = harness.run("shift", "--to", "green", "--steps", "25,100", "--hold", "60")
    assert code == ExitCode.ROLLED_BACK, harness.stderr
    assert harness.engine.traffic == ("blue", 0)
    assert harness.engine.selector_colour("controller") == "blue"
    breach = events(harness, "breach")[0]
    assert breach["trigger"] == "availability"
    assert breach["weight"] == 25
    assert "controller-green (available 0/1, condition Available is not True)" in str(
        breach["reason"]
    )
    # Detected within the health window (10 s) plus one interval (5 s) of the loss.
    assert float(str(breach["decided"])) - lost_at <= 10.0 + 5.0 + 1e-6
    assert "Health check failed: green availability" in harness.log("rollback.log")
    # The second step never ran.
    assert len(harness.engine.ups()) == 2  # the step, then the rollback's targeted up


def test_a_short_readiness_blip_is_pending_not_a_breach(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    start = harness.clock.now()

    def blip(now: float) -> None:
        if start + 10 <= now < start + 15:
            harness.engine.live["controller-green"] = not_ready("controller-green")
        else:
            harness.engine.live.pop("controller-green", None)

    harness.clock.on_sleep = blip
    code = harness.run("shift", "--to", "green", "--steps", "100", "--hold", "30")
    assert code == ExitCode.DONE, harness.stderr
    assert harness.engine.traffic == ("green", 0)


def test_an_api_server_that_cannot_be_asked_never_promotes(harness: Harness) -> None:
    from kgot_rollout._exceptions import RefusedError

    healthy(harness.metrics, "blue", "green")
    reads = {"n": 0}
    real = harness.engine.deployments

    def flaky(namespace: str, colour: str) -> dict[str, DeploymentStatus]:
        reads["n"] += 1
        if reads["n"] > 1:  # the step's own check answers, the hold's do not
            raise RefusedError("could not read the Deployments: kubectl exited 1")
        return real(namespace, colour)

    harness.engine.deployments = flaky  # type: ignore[method-assign]
    code = harness.run("shift", "--to", "green", "--steps", "100", "--hold", "10")
    assert code == ExitCode.HELD, harness.stderr
    assert "gate inconclusive" in harness.stdout


def test_a_later_step_refused_after_traffic_moved_rolls_back(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    previews = {"n": 0}
    real = harness.engine.preview

    def preview() -> PreviewReport:
        # Readiness lost between the hold's last evaluation and the next step's check.
        previews["n"] += 1
        if previews["n"] == 2:
            harness.engine.live["controller-green"] = not_ready("controller-green")
        return real()

    harness.engine.preview = preview  # type: ignore[method-assign]
    code = harness.run("shift", "--to", "green", "--steps", "25,50,100", "--hold", "5")
    assert code == ExitCode.ROLLED_BACK, harness.stderr
    assert harness.engine.traffic == ("blue", 0)
    assert harness.engine.applied_traffic == ("blue", 0)
    refused = events(harness, "step-refused")[0]
    assert refused["weight"] == 50
    assert "controller-green (available 0/1" in str(refused["reason"])
    assert "Config restored" not in harness.stdout
    assert "rolled back to blue: the step to green 50% cannot go on" in harness.stdout


# -- 2. a manual rollback to a standby with no ready pods ---------------------------


def test_rollback_to_a_standby_with_no_ready_pods_is_refused(harness: Harness) -> None:
    # After a completed shift to green, blue's pods lose readiness.
    harness.engine = type(harness.engine).for_config(dev_config(activeColor="green"))
    harness.engine.live["graph-store-blue"] = not_ready("graph-store-blue")
    assert harness.run("rollback", "--reason", "bad release") == ExitCode.REFUSED
    assert "graph-store-blue (available 0/1, condition Available is not True)" in harness.stderr
    assert "Nothing was changed; traffic stays green 100%" in harness.stderr
    assert harness.engine.traffic == ("green", 0)
    assert harness.engine.selector_colour("controller") == "green"
    assert not harness.engine.ups()
    # Nothing was attempted: no rollout recorded, no failed rollback counted.
    assert not (harness.log_dir / "history-dev.jsonl").exists()


def test_rollback_to_an_unavailable_standby_when_told_explicitly(harness: Harness) -> None:
    harness.engine = type(harness.engine).for_config(dev_config(activeColor="green"))
    harness.engine.live["graph-store-blue"] = not_ready("graph-store-blue")
    assert harness.run("rollback", "--allow-unavailable") == ExitCode.DONE, harness.stderr
    assert harness.engine.traffic == ("blue", 0)


def test_rollback_of_a_split_checks_the_active_colour_it_returns_to(harness: Harness) -> None:
    harness.engine = type(harness.engine).for_config(dev_config(standbyWeight=25))
    harness.engine.live["controller-blue"] = not_ready("controller-blue")
    assert harness.run("rollback") == ExitCode.REFUSED
    assert "controller-blue (available 0/1" in harness.stderr
    assert harness.engine.traffic == ("blue", 25)


# -- bad input: an unrelated key refused since the last update ----------------------


def test_rollback_restores_traffic_when_an_unrelated_key_became_invalid(
    harness: Harness,
) -> None:
    harness.engine = type(harness.engine).for_config(dev_config(standbyWeight=25))
    # Set since the last update: the program (and so any update) refuses it.
    harness.engine.secure["slackWebhookUrl"] = Secret("chat.example/no-scheme-s3cr3t")
    code = harness.run("rollback", "--reason", "incident")
    assert code == ExitCode.DONE, harness.stderr
    assert harness.engine.traffic == ("blue", 0)
    route = harness.engine.routing["HTTPRoute/controller"]["spec"]
    assert isinstance(route, dict)
    assert [ref["weight"] for ref in route["rules"][0]["backendRefs"]] == [100, 0]
    # No update ran: the program would refuse the config.
    assert not harness.engine.ups()
    assert "slackWebhookUrl" in harness.stdout
    assert "s3cr3t" not in harness.stdout + harness.stderr + harness.log()
    assert "kgot-rollout status" in harness.stdout
    assert "notifications not sent" in harness.log()
    # status says where traffic is, that the state is behind, and which key blocks it.
    assert harness.run("status") == ExitCode.DONE, harness.stderr
    assert "config:   REFUSED" in harness.stdout
    assert "slackWebhookUrl" in harness.stdout
    assert "the stack's state is BEHIND" in harness.stdout
    # Once the key is fixed, rollback reconciles the state.
    del harness.engine.secure["slackWebhookUrl"]
    assert harness.run("rollback") == ExitCode.DONE, harness.stderr
    assert harness.engine.applied_traffic == ("blue", 0)


# -- 3. a hand change during the final hold ------------------------------------------


def test_a_hand_flip_during_the_last_hold_is_not_a_promotion(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")

    flipped: list[float] = []

    def flip_back_by_hand(now: float) -> None:
        # `pulumi config set activeColor blue && pulumi up` while 100 % holds.
        if harness.engine.applied_traffic == ("green", 0) and not flipped:
            harness.engine.config["activeColor"] = "blue"
            harness.engine.applied["activeColor"] = "blue"
            flipped.append(now)

    harness.clock.on_sleep = flip_back_by_hand
    code = harness.run("shift", "--to", "green", "--steps", "50,100", "--hold", "300")
    assert code == ExitCode.HELD, harness.stdout
    # Seen at the next evaluation (5 s), not at the end of the 300 s hold.
    finished = float(str(events(harness, "finished")[-1]["time"]))
    assert finished - flipped[0] <= 5.0
    assert "traffic changed under this shift (now blue 100%, expected green 100%)" in (
        harness.stdout
    )
    assert "promoted" not in harness.stdout
    assert events(harness, "finished")[-1]["status"] == "held"


# -- 4. a shift refused after it was recorded ends ------------------------------------


def test_a_refused_shift_is_ended_and_never_resumed(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.engine.live["controller-green"] = not_ready("controller-green")
    assert harness.run("shift", "--to", "green", "--steps", "25,100") == ExitCode.REFUSED
    first = str(harness.history()[0]["rollout"])
    assert events(harness, "finished")[-1]["status"] == "refused"
    assert harness.run("status") == ExitCode.DONE
    assert f"{first} refused" in harness.stdout
    assert harness.run("history") == ExitCode.DONE
    assert "running" not in harness.stdout
    # The next shift starts afresh: a new id, no "resuming".
    harness.engine.live.clear()
    assert harness.run("shift", "--to", "green", "--steps", "100", "--hold", "5") == 0
    started = [e for e in harness.history() if e["event"] in ("started", "resumed")]
    assert [e["event"] for e in started] == ["started", "started"]
    assert started[1]["rollout"] != first


def test_an_engine_error_ends_the_shift_with_the_config_put_back(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.engine.fail_up = True
    assert harness.run("shift", "--to", "green", "--steps", "25,100") == ExitCode.ERROR
    assert harness.engine.traffic == ("blue", 0)
    assert events(harness, "finished")[-1]["status"] == "failed"


def test_an_engine_error_after_traffic_moved_rolls_back(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")

    def fail_the_next(applied: object) -> None:
        harness.engine.fail_up = True  # the second step's update fails

    harness.engine.on_up = fail_the_next
    code = harness.run("shift", "--to", "green", "--steps", "25,100", "--hold", "5")
    assert code == ExitCode.ROLLED_BACK, harness.stderr
    # The update failed too: routing went back through the API, the state is behind.
    assert harness.engine.traffic == ("blue", 0)
    assert harness.engine.selector_colour("controller") == "blue"
    route = harness.engine.routing["HTTPRoute/controller"]["spec"]
    assert isinstance(route, dict)
    assert [ref["weight"] for ref in route["rules"][0]["backendRefs"]] == [100, 0]


# -- 5. status after a release whose update failed ----------------------------------


def test_status_after_a_failed_release_says_traffic_is_unaffected(harness: Harness) -> None:
    # `pulumi up` of green 1.1.0 whose image is not in the registry: it failed on
    # green's Deployments; the traffic config (blue 100 %) is what is live.
    harness.engine.config["greenVersion"] = "1.1.0"
    harness.engine.applied["greenVersion"] = "1.1.0"
    harness.engine.last_result = "failed"
    harness.engine.failed_resources = (
        "graph-store-green: the Kubernetes API server reported that the rollout failed",
    )
    assert harness.run("status") == ExitCode.DONE
    out = harness.stdout
    assert "applied:  traffic YES, unaffected" in out
    assert "FAILED on graph-store-green: the Kubernetes API server reported" in out
    assert "users stay on blue 100%" in out
    assert "not live" not in out and "Run `shift` to resume" not in out
    assert harness.run("status", "--json") == ExitCode.DONE
    assert '"trafficUnaffected": true' in harness.stdout


def test_status_names_a_held_stack_lock(harness: Harness) -> None:
    harness.engine.locked = True
    assert harness.run("status") == ExitCode.DONE
    assert "lock:     the stack's update lock is held (pid 4242" in harness.stdout
    assert "pulumi cancel --stack dev --yes" in harness.stdout


# -- a Prometheus recreated without history -----------------------------------------


def test_a_pass_after_prometheus_lost_its_history_waits_for_a_covered_window(
    harness: Harness,
) -> None:
    start = harness.clock.now()
    deleted, back = start + 10.0, start + 25.0
    values = {"error_rate": 0.01, "latency": 0.1, "cpu": 0.3, "health": 1.0}

    def series(value: float) -> Callable[[float], float | None]:
        def at(t: float) -> float | None:
            # The new Prometheus has no samples from before it started.
            if harness.clock.now() >= back and t < back:
                return None
            return value

        return at

    for name, value in values.items():
        for colour in ("blue", "green"):
            harness.metrics.set(name, colour, series(value))

    def outage(now: float) -> None:
        harness.metrics.queries_fail = deleted <= now < back

    harness.clock.on_sleep = outage
    code = harness.run("shift", "--to", "green", "--steps", "100", "--hold", "30")
    assert code == ExitCode.DONE, harness.stderr
    passed = events(harness, "step-passed")[0]
    # Not at the end of the hold (30 s) on 5 s of new data: once the longest
    # window (cpu, 30 s) is covered by samples since the restart, give or take
    # the gap tolerance (2.5 intervals).
    assert float(str(passed["time"])) - back >= 30.0 - 12.5
    assert "data covers" in harness.log()
