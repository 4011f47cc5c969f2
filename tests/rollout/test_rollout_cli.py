"""The CLI against a fake engine and recorded metrics: shifts, rollbacks, holds, refusals."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import pytest
from pulumi.automation.events import OpType
from rollout_fakes import FakeEngine, dev_config, healthy
from rollout_harness import Harness, make_harness

from kgot_rollout._engine import ResourceStep
from kgot_rollout._journal import Journal
from kgot_rollout._parser import build_parser
from kgot_rollout._report import choose_rollout, draw, report_data
from kgot_rollout._report_picture import axis_label
from kgot_rollout._types import ExitCode, GateOutcome

pytestmark = pytest.mark.rollout


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


def events(h: Harness, name: str) -> list[dict[str, object]]:
    return [e for e in h.history() if e["event"] == name]


def samples(h: Harness) -> list[dict[str, object]]:
    """The gate's evaluations of the last rollout."""
    rollout = str(h.history()[-1]["rollout"])
    lines = (h.log_dir / f"{rollout}.samples.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_healthy_shift_promotes_in_steps(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    code = harness.run("shift", "--to", "green", "--steps", "10,50,100", "--hold", "20")
    assert code == ExitCode.DONE, harness.stderr
    assert harness.engine.traffic == ("green", 0)
    assert harness.engine.applied_traffic == ("green", 0)
    ups = harness.engine.ups()
    assert len(ups) == 3
    assert all(not up["target"] for up in ups)
    # Every step previews before its up.
    kinds = [c[0] for c in harness.engine.calls if c[0] in ("preview", "up")]
    assert kinds == ["preview", "up"] * 3
    assert [e["weight"] for e in events(harness, "step-passed")] == [10, 50, 100]
    assert events(harness, "finished")[-1]["status"] == "promoted"
    assert "green promoted" in harness.stdout
    metrics = (harness.log_dir / "kgot_rollout.prom").read_text()
    assert 'kgot_deployments_total{environment="dev",status="promoted"} 1.0' in metrics
    assert "kgot_deployment_duration_seconds_count 1.0" in metrics
    # The analysis results: what the gate last saw, and against what.
    assert (
        'kgot_rollout_analysis_value{colour="green",environment="dev",trigger="error_rate"} 0.01'
        in metrics
    )
    assert 'kgot_rollout_analysis_threshold{environment="dev",trigger="error_rate"} 0.05' in metrics


def test_breach_during_a_step_rolls_back_routing_only(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    breach_at = harness.clock.now() + 30.0
    harness.metrics.set("error_rate", "green", lambda t: 0.30 if t >= breach_at else 0.01)
    code = harness.run("shift", "--to", "green", "--steps", "25,50,100", "--hold", "20")
    assert code == ExitCode.ROLLED_BACK, harness.stderr
    assert harness.engine.traffic == ("blue", 0)
    assert harness.engine.applied_traffic == ("blue", 0)
    rollback_up = harness.engine.ups()[-1]
    assert rollback_up["target"] == harness.engine.routing_urns()
    assert "Rollback triggered" in harness.log("rollback.log")
    breach = events(harness, "breach")[0]
    assert breach["trigger"] == "error_rate"
    # Recorded on the tool's clock, within the window (20 s) plus one evaluation
    # interval (5 s) of the breach, and not before the window could have passed.
    decided = float(str(breach["decided"]))
    assert breach["time"] == decided
    assert 20 <= decided - breach_at <= 20 + 5
    assert float(str(breach["breaching_since"])) >= breach_at
    rolled = events(harness, "rolled-back")[0]
    assert rolled["success"] is True and rolled["trigger"] == "error_rate"
    metrics = (harness.log_dir / "kgot_rollout.prom").read_text()
    assert (
        'kgot_rollbacks_total{environment="dev",success="true",trigger="error_rate"} 1.0' in metrics
    )
    assert (
        'kgot_sla_violations_total{environment="dev",metric="error_rate",severity="critical"}'
        in (metrics)
    )


def test_latency_breach_against_the_baseline_of_the_active_colour(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.metrics.set("latency", "blue", lambda t: 0.200)
    harness.metrics.set("latency", "green", lambda t: 0.450)  # 2.25x the baseline
    code = harness.run("shift", "--to", "green", "--steps", "50,100", "--hold", "60")
    assert code == ExitCode.ROLLED_BACK
    assert events(harness, "breach")[0]["trigger"] == "latency"
    assert events(harness, "started")[0]["baseline_p95"] == pytest.approx(0.2)


def test_custom_trigger_from_stack_config(harness: Harness) -> None:
    config = dev_config()
    config["rollback"]["customTriggers"] = [  # type: ignore[index]
        {
            "name": "queue_depth",
            "query": 'queue_depth{color="$colour"}',
            "threshold": 100,
            "comparison": ">",
            "windowSeconds": 10,
        }
    ]
    harness.engine = FakeEngine.for_config(config)
    healthy(harness.metrics, "blue", "green")
    harness.metrics.set("queue_depth", "green", lambda t: 250.0)
    code = harness.run("shift", "--to", "green", "--steps", "50,100", "--hold", "30")
    assert code == ExitCode.ROLLED_BACK
    breach = events(harness, "breach")[0]
    assert (breach["trigger"], breach["metric"]) == ("queue_depth", "custom:queue_depth")
    assert 'queue_depth{color="green"}' in harness.metrics.queries


def test_missing_data_holds_and_never_promotes(harness: Harness) -> None:
    healthy(harness.metrics, "blue")  # green has no data at all
    code = harness.run("shift", "--to", "green", "--steps", "10,100", "--hold", "10")
    assert code == ExitCode.HELD
    assert harness.engine.traffic == ("blue", 10)
    assert events(harness, "finished")[-1]["status"] == "held"
    assert "never promoted" in harness.stdout


def test_missing_data_rolls_back_when_configured(harness: Harness) -> None:
    config = dev_config()
    config["rollback"]["onMissingData"] = "rollback"  # type: ignore[index]
    harness.engine = FakeEngine.for_config(config)
    healthy(harness.metrics, "blue")
    code = harness.run("shift", "--to", "green", "--steps", "10,100", "--hold", "10")
    assert code == ExitCode.ROLLED_BACK
    assert harness.engine.traffic == ("blue", 0)
    assert events(harness, "rolled-back")[0]["trigger"] == "missing_data"


def test_prometheus_down_before_the_first_step_applies_nothing(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.metrics.down = True
    code = harness.run("shift", "--to", "green", "--steps", "10,100", "--hold", "10")
    assert code == ExitCode.REFUSED
    assert "unreachable" in harness.stderr and "nothing was applied" in harness.stderr
    assert harness.engine.traffic == ("blue", 0)
    assert not [c for c in harness.engine.calls if c[0] in ("set_config", "preview", "up")]


def test_a_failing_baseline_query_applies_nothing(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.metrics.queries_fail = True  # online, but the queries fail
    code = harness.run("shift", "--to", "green", "--steps", "10,100")
    assert code == ExitCode.REFUSED
    assert "baseline latency of blue could not be measured" in harness.stderr
    assert not harness.engine.ups()


def test_prometheus_failing_during_a_hold_holds_after_its_own_limit(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")

    def fail_after_the_first_step(applied: object) -> None:
        harness.metrics.queries_fail = True

    harness.engine.on_up = fail_after_the_first_step
    start = harness.clock.now()
    args = ("--steps", "10,100", "--hold", "600", "--metrics-error-timeout", "20")
    code = harness.run("shift", "--to", "green", *args)
    assert code == ExitCode.HELD
    assert harness.engine.traffic == ("blue", 10)
    # The error limit (20 s), not the missing-data one (30 s) nor the hold (600 s).
    assert harness.clock.now() - start <= 20 + 5
    assert [e["event"] for e in harness.history()][-2:] == ["metrics-error", "finished"]
    assert "gate error" in harness.log() and "unreachable" in harness.log()
    assert "metrics unavailable for 20s" in harness.stdout
    outcomes = {s["outcome"] for s in samples(harness)}
    assert outcomes == {"error"}


def test_errors_between_inconclusive_evaluations_do_not_hold_forever(harness: Harness) -> None:
    healthy(harness.metrics, "blue")  # green: no data

    def flap(now: float) -> None:
        harness.metrics.queries_fail = not harness.metrics.queries_fail

    harness.engine.on_up = lambda applied: setattr(harness.clock, "on_sleep", flap)
    start = harness.clock.now()
    code = harness.run("shift", "--to", "green", "--steps", "10,100", "--hold", "600")
    assert code == ExitCode.HELD
    # The inconclusive limit (30 s) still ran out: an error neither proves nor resets it.
    assert harness.clock.now() - start <= 30 + 2 * 5
    assert events(harness, "missing-data")
    assert {s["outcome"] for s in samples(harness)} == {"inconclusive", "error"}


def test_missing_data_is_inconclusive_not_an_error(harness: Harness) -> None:
    healthy(harness.metrics, "blue")  # green: no data, Prometheus fine
    args = ("--steps", "10,100", "--metrics-error-timeout", "5")
    code = harness.run("shift", "--to", "green", *args)
    assert code == ExitCode.HELD
    assert events(harness, "missing-data") and not events(harness, "metrics-error")
    assert "gate inconclusive" in harness.log()
    assert {s["outcome"] for s in samples(harness)} == {"inconclusive"}


def test_freeze_stops_and_alerts_instead_of_rolling_back(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.metrics.set("error_rate", "green", lambda t: 0.5)
    code = harness.run("shift", "--to", "green", "--steps", "10,100", "--hold", "60", "--freeze")
    assert code == ExitCode.HELD
    assert harness.engine.traffic == ("blue", 10)
    assert not events(harness, "rolled-back")
    assert events(harness, "finished")[-1]["status"] == "frozen"


def test_unsafe_preview_is_refused_and_config_restored(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.engine.extra_changes.append(
        ResourceStep(
            "urn:pulumi:dev::kgot-platform::kubernetes:apps/v1:Deployment::controller-green",
            "kubernetes:apps/v1:Deployment",
            OpType.REPLACE,
            ("spec.template.spec.containers[0].image",),
        )
    )
    code = harness.run("shift", "--to", "green", "--steps", "10,100")
    assert code == ExitCode.REFUSED
    assert "more than routing" in harness.stderr
    assert harness.engine.traffic == ("blue", 0)
    assert not harness.engine.ups()


def test_scaling_the_standby_is_allowed(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.engine.extra_changes.append(
        ResourceStep(
            "urn:pulumi:dev::kgot-platform::kubernetes:apps/v1:Deployment::controller-green",
            "kubernetes:apps/v1:Deployment",
            OpType.UPDATE,
            ("spec.replicas",),
        )
    )
    assert harness.run("shift", "--to", "green", "--steps", "100", "--hold", "5") == 0


def test_allow_non_routing_applies_anyway(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.engine.extra_changes.append(
        ResourceStep(
            "urn:x::kubernetes:apps/v1:Deployment::d",
            "kubernetes:apps/v1:Deployment",
            OpType.REPLACE,
        )
    )
    args = ("shift", "--to", "green", "--steps", "100", "--hold", "5", "--allow-non-routing")
    assert harness.run(*args) == ExitCode.DONE


def test_stack_lock_is_a_clear_refusal_with_no_change(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.engine.locked = True
    code = harness.run("shift", "--to", "green")
    assert code == ExitCode.REFUSED
    assert "lock" in harness.stderr
    assert harness.engine.applied_traffic == ("blue", 0)
    assert harness.engine.traffic == ("blue", 0)


def test_manual_rollback_on_a_locked_stack_restores_traffic_through_the_api(
    harness: Harness,
) -> None:
    # A kill -9 during an `up` left the stack lock (issue 19): the incident
    # command restores users' traffic anyway and says how the lock is cleared.
    harness.engine = FakeEngine.for_config(dev_config(standbyWeight=25))
    harness.engine.locked = True
    assert harness.run("rollback") == ExitCode.DONE, harness.stderr
    assert harness.engine.traffic == ("blue", 0)
    route = harness.engine.routing["HTTPRoute/controller"]["spec"]
    assert isinstance(route, dict)
    assert [ref["weight"] for ref in route["rules"][0]["backendRefs"]] == [100, 0]
    assert "pulumi cancel --stack dev --yes" in harness.log("rollback.log")
    assert "routing restored; the stack's state is behind" in harness.stderr


def test_a_rollback_refused_on_the_lock_is_not_a_failed_rollback(harness: Harness) -> None:
    harness.engine = FakeEngine.for_config(dev_config(standbyWeight=25))
    harness.engine.locked = True
    harness.engine.fail_apply = True  # and the API refuses the fast path too
    assert harness.run("rollback") == ExitCode.REFUSED
    assert "lock" in harness.stderr
    assert harness.engine.traffic == ("blue", 25)
    assert "rollback FAILED" not in harness.log()
    assert "rollback refused: nothing was changed; traffic stays blue 75% / green 25%" in (
        harness.log("rollback.log")
    )
    metrics = (harness.log_dir / "kgot_rollout.prom").read_text()
    assert 'success="false"' not in metrics
    assert [e["status"] for e in harness.history() if e["event"] == "finished"] == ["refused"]


def test_automatic_rollback_waits_for_the_lock(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.metrics.set("error_rate", "green", lambda t: 0.5)

    def lock_after_first_step(applied: object) -> None:
        harness.engine.locked_ups = 2  # someone else's update is finishing

    harness.engine.on_up = lock_after_first_step
    code = harness.run("shift", "--to", "green", "--steps", "50,100", "--hold", "30")
    assert code == ExitCode.ROLLED_BACK
    assert harness.engine.applied_traffic == ("blue", 0)
    assert "stack locked; rollback retries (2/3)" in harness.log("rollback.log")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("shift", "--to", "purple"), "'purple' is not a colour; allowed: blue, green"),
        (("shift", "--to", "green", "--steps", "50,10"), "increasing integers"),
        (("shift", "--to", "green", "--steps", "10,120"), "1-100"),
        (("shift", "--to", "green", "--steps", "ten"), "allowed"),
        (("rollback", "--to", "red"), "'red' is not a colour"),
    ],
)
def test_bad_input_is_refused_and_nothing_changes(
    harness: Harness, argv: tuple[str, ...], message: str
) -> None:
    assert harness.run(*argv) == ExitCode.REFUSED
    assert message in harness.stderr
    assert not [c for c in harness.engine.calls if c[0] in ("set_config", "up")]


def test_selector_routing_only_flips_whole(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.engine = FakeEngine.for_config(dev_config(trafficRouting="selector"))
    assert harness.run("shift", "--to", "green") == ExitCode.REFUSED
    assert "allowed: --steps 100" in harness.stderr
    assert harness.run("shift", "--to", "green", "--steps", "100", "--hold", "5") == 0
    assert harness.engine.applied_traffic == ("green", 0)


def test_bad_stack_config_is_refused(harness: Harness) -> None:
    harness.engine = FakeEngine.for_config(dev_config(activeColor="purple"))
    assert harness.run("status") == ExitCode.REFUSED
    assert "activeColor" in harness.stderr and "purple" in harness.stderr


def test_unknown_stack_is_refused(harness: Harness) -> None:
    from kgot_rollout._exceptions import RefusedError

    def no_stack(args: object) -> FakeEngine:
        raise RefusedError("stack 'nope' does not exist")

    from kgot_rollout.cli import Dependencies, run

    code = run(
        ["status", "--stack", "nope", "--log-dir", str(harness.log_dir)],
        Dependencies(engine=no_stack),
    )
    assert code == ExitCode.REFUSED


def test_a_missing_policy_pack_config_is_refused_before_the_engine(tmp_path: Path) -> None:
    import io

    from kgot_rollout.cli import Dependencies, run

    missing = tmp_path / "pack.json"
    err = io.StringIO()
    argv = ["shift", "--to", "green", "--project-dir", str(tmp_path)]
    argv += ["--policy-pack-config", str(missing)]
    code = run(argv, Dependencies(stdout=io.StringIO(), stderr=err))
    assert code == ExitCode.REFUSED
    assert f"--policy-pack-config {missing}: no such file" in err.getvalue()


def test_manual_rollback_after_promotion_flips_to_the_warm_colour(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    assert harness.run("shift", "--to", "green", "--steps", "100", "--hold", "5") == 0
    code = harness.run("rollback", "--reason", "customer reports")
    assert code == ExitCode.DONE
    assert harness.engine.applied_traffic == ("blue", 0)
    assert harness.engine.ups()[-1]["target"] == harness.engine.routing_urns()
    assert "customer reports" in harness.log("rollback.log")
    # A second rollback has nothing left to do.
    assert harness.run("rollback") == ExitCode.DONE
    assert harness.engine.applied_traffic == ("blue", 0)


def test_manual_rollback_after_an_automatic_one_changes_nothing(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.metrics.set("error_rate", "green", lambda t: 0.5)
    assert harness.run("shift", "--to", "green", "--steps", "100", "--hold", "30") == 3
    assert harness.engine.applied_traffic == ("blue", 0)
    assert harness.run("rollback") == ExitCode.DONE
    assert "already rolled back to blue" in harness.stdout
    assert harness.engine.applied_traffic == ("blue", 0)


def test_the_failed_colour_keeps_running_unless_told(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.metrics.set("error_rate", "green", lambda t: 0.5)
    harness.engine = FakeEngine.for_config(dev_config(standbyReplicas=1))
    args = ("shift", "--to", "green", "--steps", "50,100", "--hold", "30")
    assert harness.run(*args) == ExitCode.ROLLED_BACK
    assert harness.engine.ups()[-1]["target"] == harness.engine.routing_urns()
    assert harness.run(*args, "--scale-failed") == ExitCode.ROLLED_BACK
    assert harness.engine.ups()[-1]["target"] == harness.engine.deployment_urns("green")
    assert "green scaled to standbyReplicas=1" in harness.log("rollback.log")


def test_manual_rollback_mid_shift_returns_weight_to_the_active(harness: Harness) -> None:
    harness.engine = FakeEngine.for_config(dev_config(standbyWeight=25))
    assert harness.run("rollback") == ExitCode.DONE
    assert harness.engine.applied_traffic == ("blue", 0)


def test_rollback_to_a_scaled_down_standby_scales_it_with_the_flip(harness: Harness) -> None:
    harness.engine = FakeEngine.for_config(dev_config(standbyReplicas=0))
    assert harness.run("rollback") == ExitCode.DONE
    assert harness.engine.applied_traffic == ("green", 0)
    target = harness.engine.ups()[-1]["target"]
    assert target == harness.engine.routing_urns() + harness.engine.deployment_urns("green")
    assert "scaling it back to full size" in harness.log("rollback.log")


def test_promote_finishes_a_paused_shift(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    assert harness.run("shift", "--to", "green", "--steps", "10,25", "--hold", "5") == 0
    assert harness.engine.traffic == ("blue", 25)
    assert "promote" in harness.stdout
    assert harness.run("promote", "--hold", "5") == ExitCode.DONE
    assert harness.engine.applied_traffic == ("green", 0)
    # The promotion finished the same rollout, with the baseline it measured.
    finished = events(harness, "finished")
    assert [e["status"] for e in finished] == ["completed", "promoted"]
    assert finished[0]["rollout"] == finished[1]["rollout"]
    assert harness.run("promote") == ExitCode.REFUSED


def test_interrupted_shift_resumes_from_the_stack(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")

    def interrupt(now: float) -> None:
        if harness.engine.traffic == ("blue", 50):
            raise KeyboardInterrupt

    harness.clock.on_sleep = interrupt
    code = harness.run("shift", "--to", "green", "--steps", "10,50,100", "--hold", "20")
    assert code == ExitCode.HELD
    assert "interrupted" in harness.stderr
    assert harness.run("status") == 0
    assert "green 1.0.0  50%" in harness.stdout
    harness.clock.on_sleep = None
    assert harness.run("shift", "--to", "green", "--steps", "10,50,100", "--hold", "5") == 0
    resumed = events(harness, "resumed")
    assert resumed and resumed[0]["from_weight"] == 50
    assert harness.engine.applied_traffic == ("green", 0)


def test_status_shows_when_config_was_not_applied(harness: Harness) -> None:
    harness.engine.config["standbyWeight"] = "25"  # written, then killed before `up`
    assert harness.run("status") == 0
    assert "applied:  NO" in harness.stdout
    assert harness.run("status", "--json") == 0
    data = json.loads(harness.stdout)
    assert data["standbyWeight"] == 25
    assert data["inSync"] is False
    assert data["lastUpdate"]["standbyWeight"] == 0


def test_watch_rolls_back_the_release_on_breach(harness: Harness) -> None:
    harness.engine = FakeEngine.for_config(dev_config(activeColor="green"))
    healthy(harness.metrics, "blue", "green")
    harness.metrics.set("health", "green", lambda t: 0.0)
    code = harness.run("watch", "--window", "60")
    assert code == ExitCode.ROLLED_BACK
    assert harness.engine.applied_traffic == ("blue", 0)
    log = harness.log("rollback.log")
    assert "Health check failed" in log
    assert "Rollback triggered" in log


def test_watch_healthy_for_the_window(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    assert harness.run("watch", "--window", "30") == ExitCode.DONE
    assert harness.engine.applied_traffic == ("blue", 0)


def test_history_lists_rollouts(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.run("shift", "--to", "green", "--steps", "100", "--hold", "5")
    harness.run("rollback")
    assert harness.run("history") == 0
    lines = harness.stdout.splitlines()
    assert "blue -> green" in lines[0] and "promoted" in lines[0]
    assert "rollback" in lines[1] and "trigger=manual" in lines[1]


def _floats(values: object) -> list[float]:
    return [float(v) for v in cast(Sequence[float], values)]


def test_report_shows_weights_gate_outcomes_trigger_values_and_what_fired(
    harness: Harness,
) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.metrics.set("error_rate", "green", lambda t: 0.4)
    start = harness.clock.now()
    harness.run("shift", "--to", "green", "--steps", "50,100", "--hold", "20")
    out = harness.tmp / "r.png"
    assert harness.run("report", "-o", str(out)) == 0
    assert harness.stdout.strip() == str(out)

    journal = Journal(harness.log_dir, "dev")
    rollout = choose_rollout(journal, None)
    data = report_data(journal, rollout)
    # Traffic: 0 -> 50 % on green, then back to 0 when the rollback landed.
    assert [w for _, w in data.timeline] == [0.0, 50.0, 0.0, 0.0, 0.0]
    assert data.timeline[0][0] == start
    # Every evaluation is there with its outcome: pending (a pass) until the breach.
    outcomes = [o for _, o in data.outcomes]
    assert set(outcomes[:-1]) == {GateOutcome.PASS} and outcomes[-1] is GateOutcome.BREACH
    assert data.pending == [t for t, _ in data.outcomes[:-1]]  # 0.4 from the start
    assert {v for _, v in data.series["error_rate"]["green"]} == {0.4}
    assert data.thresholds["error_rate"] == 0.05
    assert data.fired == [(data.outcomes[-1][0], "error_rate")]

    figure = draw(data)
    try:
        top, *rows = figure.axes
        assert rollout.id in top.get_title() and "rolled-back" in top.get_title()
        assert [a.get_ylabel() for a in rows] == [axis_label(t) for t in data.triggers]
        errors = rows[data.triggers.index("error_rate")]
        plotted = {line.get_label(): _floats(line.get_ydata()) for line in errors.get_lines()}
        assert set(plotted["green (release, taking traffic)"]) == {0.4}
        assert set(plotted["threshold"]) == {0.05}
        fired_at = data.fired[0][0] - data.start
        xs = [_floats(line.get_xdata()) for line in errors.get_lines()]
        assert [fired_at, fired_at] in xs
    finally:
        from matplotlib import pyplot as plt

        plt.close(figure)


@pytest.mark.parametrize(
    "command",
    [
        "status",
        "shift",
        "promote",
        "rollback",
        "watch",
        "release",
        "sync-config",
        "history",
        "report",
    ],
)
def test_help_documents_exit_codes(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "3  rolled back" in text and "4  held" in text and "2  refused" in text


def test_an_engine_failure_is_an_error_and_status_tells_the_truth(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.engine.fail_up = True
    assert harness.run("shift", "--to", "green", "--steps", "10,100") == ExitCode.ERROR
    assert "provider error" in harness.stderr
    harness.engine.fail_up = False
    assert harness.run("status", "--json") == 0
    data = json.loads(harness.stdout)
    # Nothing was applied, so the config is back to what is live (issue 19): a
    # plain `pulumi up` by someone else cannot apply the step without its gate.
    assert (data["standbyWeight"], data["inSync"]) == (0, True)
    assert harness.engine.traffic == ("blue", 0)


def test_a_rollback_by_hand_during_a_hold_stops_the_shift(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")

    def someone_rolls_back(now: float) -> None:
        if harness.engine.traffic == ("blue", 25):
            harness.engine.config["standbyWeight"] = "0"
            harness.engine.applied["standbyWeight"] = "0"

    harness.clock.on_sleep = someone_rolls_back
    code = harness.run("shift", "--to", "green", "--steps", "25,100", "--hold", "10")
    assert code == ExitCode.HELD
    assert "traffic changed under this shift" in harness.stdout
    assert harness.engine.applied_traffic == ("blue", 0)


def test_one_shift_per_stack_but_rollback_never_waits(harness: Harness) -> None:
    from kgot_rollout._journal import exclusive

    healthy(harness.metrics, "blue", "green")
    harness.engine = FakeEngine.for_config(dev_config(standbyWeight=25))
    with exclusive(harness.log_dir, "dev", "shift"):
        assert harness.run("shift", "--to", "green") == ExitCode.REFUSED
        assert "kgot-rollout shift (pid" in harness.stderr
        assert harness.run("rollback") == ExitCode.DONE
    assert harness.engine.applied_traffic == ("blue", 0)
