"""Trigger logic on recorded series: windows, thresholds, baseline, missing data."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from kgot_rollout._triggers import GateResult, Status, TriggerSpec, Verdict, evaluate, worst_of
from kgot_rollout._types import GateOutcome

pytestmark = pytest.mark.rollout

ERRORS = TriggerSpec("error_rate", "q", 0.05, ">", 120.0)
HEALTH = TriggerSpec("health", "q", 1.0, "<", 30.0)


def series(
    values: Sequence[float | None], *, start: float = 0.0, step: float = 15.0
) -> list[tuple[float, float]]:
    return [(start + i * step, v) for i, v in enumerate(values) if v is not None]


def test_below_threshold_is_ok() -> None:
    verdict = evaluate(ERRORS, series([0.01] * 10), now=135.0, step=15.0)
    assert verdict.status is Status.OK
    assert verdict.value == pytest.approx(0.01)


def test_breach_needs_the_whole_window() -> None:
    # Above 5% from t=60: at t=165 it has held 105s (< 120s), at t=180 it has held 120s.
    values = [0.0] * 4 + [0.2] * 9
    pending = evaluate(ERRORS, series(values[:12]), now=165.0, step=15.0)
    assert pending.status is Status.PENDING
    assert pending.breaching_since == 60.0
    breach = evaluate(ERRORS, series(values), now=180.0, step=15.0)
    assert breach.status is Status.BREACH
    assert breach.breaching_since == 60.0


def test_threshold_itself_does_not_breach_with_greater_than() -> None:
    verdict = evaluate(ERRORS, series([0.05] * 20), now=285.0, step=15.0)
    assert verdict.status is Status.OK


def test_a_dip_below_threshold_restarts_the_window() -> None:
    values = [0.2] * 6 + [0.01] + [0.2] * 6
    verdict = evaluate(ERRORS, series(values), now=180.0, step=15.0)
    assert verdict.status is Status.PENDING
    assert verdict.breaching_since == 105.0


def test_a_gap_in_the_data_restarts_the_window() -> None:
    values: list[float | None] = [0.2] * 5 + [None] * 3 + [0.2] * 6
    verdict = evaluate(ERRORS, series(values), now=195.0, step=15.0)
    assert verdict.status is Status.PENDING


def test_no_samples_is_missing_never_ok() -> None:
    verdict = evaluate(ERRORS, [], now=100.0, step=15.0)
    assert verdict.status is Status.MISSING


def test_nan_samples_are_missing() -> None:
    # A colour without traffic: 0/0 in the error-rate query.
    verdict = evaluate(ERRORS, series([math.nan] * 5), now=60.0, step=15.0)
    assert verdict.status is Status.MISSING


def test_stale_samples_are_missing() -> None:
    verdict = evaluate(ERRORS, series([0.01] * 4), now=45.0 + 60.0, step=15.0)
    assert verdict.status is Status.MISSING
    assert "old" in verdict.reason


def test_samples_before_since_are_ignored() -> None:
    verdict = evaluate(ERRORS, series([0.5] * 20), now=285.0, step=15.0, since=250.0)
    assert verdict.status is Status.PENDING


def test_less_than_comparison_for_health() -> None:
    assert evaluate(HEALTH, series([1.0] * 4), now=45.0, step=15.0).status is Status.OK
    verdict = evaluate(HEALTH, series([1.0, 0.5, 0.5, 0.0]), now=45.0, step=15.0)
    assert verdict.status is Status.BREACH


def test_latency_without_baseline_is_missing() -> None:
    spec = TriggerSpec("latency", "q", None, ">", 180.0, missing_reason="no baseline")
    verdict = evaluate(spec, series([0.1] * 20), now=285.0, step=15.0)
    assert verdict.status is Status.MISSING
    assert "baseline" in verdict.describe()


def test_latency_against_twice_the_baseline() -> None:
    baseline = 0.2
    spec = TriggerSpec("latency", "q", 2.0 * baseline, ">", 30.0)
    assert evaluate(spec, series([0.39] * 5), now=60.0, step=15.0).status is Status.OK
    assert evaluate(spec, series([0.41] * 5), now=60.0, step=15.0).status is Status.BREACH


def test_worst_of_merges_series_towards_the_breach() -> None:
    merged = worst_of([[(0.0, 0.1), (15.0, 0.2)], [(0.0, 0.3), (15.0, math.nan)]], ">")
    assert merged == [(0.0, 0.3), (15.0, 0.2)]
    assert worst_of([[(0.0, 1.0)], [(0.0, 0.0)]], "<") == [(0.0, 0.0)]


def test_gate_outcome_is_breach_then_inconclusive_then_pass() -> None:
    ok = Verdict(ERRORS, Status.OK, 0.0)
    pending = Verdict(HEALTH, Status.PENDING, 0.5, 0.0)
    missing = Verdict(HEALTH, Status.MISSING)
    breach = Verdict(ERRORS, Status.BREACH, 0.5, 0.0)
    assert GateResult(0.0, (ok, missing)).outcome is GateOutcome.INCONCLUSIVE
    assert GateResult(0.0, (missing, breach)).outcome is GateOutcome.BREACH
    assert GateResult(0.0, (missing, breach)).fired is breach
    # Pending passes this evaluation (a step only completes once nothing is pending).
    assert GateResult(0.0, (ok, pending)).outcome is GateOutcome.PASS
    assert GateResult(0.0, (ok, pending)).pending == (pending,)
    assert GateResult(0.0, (ok,)).outcome is GateOutcome.PASS
    # No trigger at all is never a pass.
    assert GateResult(0.0, ()).outcome is GateOutcome.INCONCLUSIVE


def test_an_unreachable_provider_is_an_error_not_missing_data() -> None:
    ok = Verdict(ERRORS, Status.OK, 0.0)
    result = GateResult(0.0, (ok,), error="Prometheus at http://p unreachable")
    assert result.outcome is GateOutcome.ERROR
    assert result.describe() == "Prometheus at http://p unreachable"
