"""Trigger logic on series: thresholds held for a window, and missing data.

Pure functions over ``(timestamp, value)`` samples, so the same logic runs on
Prometheus range queries and on recorded series in tests. A trigger is
*breached* when its condition held at every sample for at least its window
(the ``for:`` of a Prometheus alert), *pending* while it holds for less, and
*missing* when there is no recent finite sample.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from components.settings import Comparison
from kgot_rollout._types import GateOutcome

Sample = tuple[float, float]
Series = Sequence[Sample]


class Status(enum.Enum):
    """One trigger's verdict at one instant."""

    OK = "ok"
    PENDING = "pending"
    BREACH = "breach"
    MISSING = "missing"
    # Within its threshold, but its data does not cover its window after a gap
    # (a Prometheus recreated without history): no pass counts yet.
    SHORT = "short"


class Judge(Protocol):
    """A check judged from the metrics by itself (not a threshold held on one series)."""

    def condition(self) -> str: ...

    def judge(self, spec: TriggerSpec, now: float) -> Verdict:
        """The verdict at ``now``; MetricsUnavailableError if the provider failed."""
        ...


@dataclass(frozen=True)
class TriggerSpec:
    """One rendered trigger: a PromQL query and the condition that breaches it."""

    name: str
    query: str
    threshold: float | None
    comparison: Comparison
    window_seconds: float
    metric: str = ""
    missing_reason: str = ""
    # More queries of the same trigger from other sources (the gateway's beside the
    # application's): their series merge with the query's, the worst value winning.
    also: tuple[str, ...] = ()
    # Where the numbers come from ("" : the application's metrics), for the condition.
    source: str = ""
    # A check that is no threshold on a series (the split the gateway served):
    # judges at ``now`` by itself instead of the query.
    judge: Judge | None = None

    @property
    def label(self) -> str:
        return self.metric or self.name

    @property
    def queries(self) -> tuple[str, ...]:
        return (self.query, *self.also)

    def condition(self) -> str:
        if self.judge is not None:
            return self.judge.condition()
        at = f" at the {self.source}" if self.source else ""
        if self.threshold is None:
            return f"{self.name}{at} (no threshold: {self.missing_reason})"
        return f"{self.name}{at} {self.comparison} {self.threshold:g} for {self.window_seconds:g}s"


@dataclass(frozen=True)
class Verdict:
    trigger: TriggerSpec
    status: Status
    value: float | None = None
    breaching_since: float | None = None
    reason: str = ""

    def describe(self) -> str:
        value = "no data" if self.value is None else f"{self.value:.4g}"
        text = f"{self.trigger.name}={value} ({self.status.value}; {self.trigger.condition()})"
        if self.trigger.judge is not None:
            # A check judged by itself names what it saw in its reason.
            text = f"{self.trigger.name} ({self.status.value}; {self.trigger.condition()})"
        return f"{text}: {self.reason}" if self.reason else text


def breaches(value: float, threshold: float, comparison: Comparison) -> bool:
    if comparison == ">":
        return value > threshold
    if comparison == "<":
        return value < threshold
    if comparison == ">=":
        return value >= threshold
    return value <= threshold


def worst_of(series: Sequence[Series], comparison: Comparison) -> list[Sample]:
    """Merge several series into one, keeping the value closest to breaching."""
    by_time: dict[float, float] = {}
    pick = max if comparison in (">", ">=") else min
    for one in series:
        for t, v in one:
            if not math.isfinite(v):
                continue
            by_time[t] = pick(by_time[t], v) if t in by_time else v
    return sorted(by_time.items())


def evaluate(
    spec: TriggerSpec,
    samples: Series,
    *,
    now: float,
    step: float,
    since: float | None = None,
) -> Verdict:
    """Judge one trigger at ``now`` from its samples (spaced ``step`` seconds apart)."""
    if spec.threshold is None:
        return Verdict(spec, Status.MISSING, reason=spec.missing_reason or "no threshold")
    finite = sorted(
        (t, v)
        for t, v in samples
        if math.isfinite(v) and t <= now + 1e-6 and (since is None or t >= since)
    )
    # A gap longer than this breaks a run of samples, and makes the latest one stale.
    max_gap = 2.5 * step
    if not finite:
        return Verdict(spec, Status.MISSING, reason="no samples")
    latest_t, latest_v = finite[-1]
    if now - latest_t > max_gap:
        return Verdict(spec, Status.MISSING, reason=f"latest sample is {now - latest_t:.0f}s old")
    if not breaches(latest_v, spec.threshold, spec.comparison):
        short = _coverage_shortfall(finite, spec, now=now, since=since, max_gap=max_gap)
        if short:
            return Verdict(spec, Status.SHORT, value=latest_v, reason=short)
        return Verdict(spec, Status.OK, value=latest_v)
    run_start = latest_t
    for t, v in reversed(finite[:-1]):
        if run_start - t > max_gap or not breaches(v, spec.threshold, spec.comparison):
            break
        run_start = t
    if latest_t - run_start >= spec.window_seconds:
        return Verdict(spec, Status.BREACH, value=latest_v, breaching_since=run_start)
    return Verdict(spec, Status.PENDING, value=latest_v, breaching_since=run_start)


# Traffic to a colour that just gained it takes a while to show in rates.
STARTUP_GRACE_SECONDS = 60.0


def _coverage_shortfall(
    finite: Series, spec: TriggerSpec, *, now: float, since: float | None, max_gap: float
) -> str:
    """Why the samples do not cover the trigger's window after a gap ("" when they do).

    The run of samples ending now must reach back to the window's start (or,
    early in a shift, to when traffic started, give or take the time new traffic
    takes to show). A Prometheus recreated without history answers with a few
    seconds of data, which would otherwise pass a window of minutes.
    """
    run_start = finite[-1][0]
    for t, _ in reversed(finite[:-1]):
        if run_start - t > max_gap:
            break
        run_start = t
    window_start = now - spec.window_seconds
    if since is not None and since > window_start:
        expected, tolerance = since, max(max_gap, STARTUP_GRACE_SECONDS)
    else:
        expected, tolerance = window_start, max_gap
    if run_start <= expected + tolerance:
        return ""
    return (
        f"data covers {now - run_start:.0f}s of its {spec.window_seconds:g}s window "
        "(after a gap in the metrics); holding until it does"
    )


@dataclass(frozen=True)
class GateResult:
    """All triggers of one colour at one instant."""

    at: float
    verdicts: tuple[Verdict, ...]
    error: str = ""

    def with_status(self, status: Status) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.status is status)

    @property
    def outcome(self) -> GateOutcome:
        # A breach stands even when Prometheus failed: the availability verdict
        # comes from the API server, and any verdict already made is real.
        if self.with_status(Status.BREACH):
            return GateOutcome.BREACH
        if self.error:
            return GateOutcome.ERROR
        if self.with_status(Status.MISSING) or not self.verdicts:
            return GateOutcome.INCONCLUSIVE
        return GateOutcome.PASS

    @property
    def pending(self) -> tuple[Verdict, ...]:
        """Triggers over their threshold for less than their window, or whose data does
        not cover their window after a gap: the gate still passes, the hold goes on."""
        return self.with_status(Status.PENDING) + self.with_status(Status.SHORT)

    @property
    def fired(self) -> Verdict | None:
        breached = self.with_status(Status.BREACH)
        return breached[0] if breached else None

    def describe(self) -> str:
        if self.error:
            return self.error
        return "; ".join(v.describe() for v in self.verdicts)
