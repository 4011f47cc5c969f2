"""The hold loop: evaluate the gate on a fixed beat until the step passes or fails.

Each evaluation is pass, breach or inconclusive (no data), or an error (the
provider could not be asked). A breach ends the hold at once; inconclusive and
error each end it when they last longer than their own limit; a pass ends it
once the hold time is over and no trigger is pending.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from components.settings import BuiltinTrigger, RollbackTriggers
from kgot_rollout._availability import AVAILABILITY, AvailabilityWatch
from kgot_rollout._clock import Clock
from kgot_rollout._console import Console, bar
from kgot_rollout._gate import Gate
from kgot_rollout._journal import Journal
from kgot_rollout._triggers import GateResult, Status, TriggerSpec
from kgot_rollout._types import Colour, GateOutcome


def check_duration(name: str, seconds: float) -> float:
    """Finite and positive, or ValueError naming it (nan and inf would never elapse)."""
    if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{name} {seconds!r}: allowed: a finite number of seconds > 0")
    return float(seconds)


@dataclass(frozen=True)
class GateLimits:
    """How long each failure of the gate may last before ``onMissingData`` applies."""

    # Inconclusive (a trigger without data) for this long ends the hold.
    missing_data_seconds: float
    # Prometheus unreachable or erroring for this long ends the hold.
    metrics_error_seconds: float

    def __post_init__(self) -> None:
        check_duration("missing_data_seconds", self.missing_data_seconds)
        check_duration("metrics_error_seconds", self.metrics_error_seconds)


@dataclass(frozen=True)
class HoldPolicy:
    """How long a step holds, how often it evaluates, and overrides of the gate's limits."""

    hold_seconds: float = 60.0
    interval_seconds: float = 15.0
    # None: the stack's rollback.missingDataTimeoutSeconds (the command line overrides it).
    missing_data_seconds: float | None = None
    # None: the stack's rollback.metricsErrorTimeoutSeconds.
    metrics_error_seconds: float | None = None

    def __post_init__(self) -> None:
        check_duration("hold_seconds", self.hold_seconds)
        check_duration("interval_seconds", self.interval_seconds)
        if self.missing_data_seconds is not None:
            check_duration("missing_data_seconds", self.missing_data_seconds)
        if self.metrics_error_seconds is not None:
            check_duration("metrics_error_seconds", self.metrics_error_seconds)

    def limits(self, rollback: RollbackTriggers) -> GateLimits:
        """The gate's limits for one stack: these overrides, else its stack config."""
        return GateLimits(
            missing_data_seconds=float(rollback.missing_data_timeout_seconds)
            if self.missing_data_seconds is None
            else self.missing_data_seconds,
            metrics_error_seconds=float(rollback.metrics_error_timeout_seconds)
            if self.metrics_error_seconds is None
            else self.metrics_error_seconds,
        )


@dataclass(frozen=True)
class HoldResult:
    """PASS when the hold passed; otherwise the outcome that ended it."""

    outcome: GateOutcome
    gate: GateResult
    # Why it ended, when not the gate's limits (the data plane's route wait).
    why: str = ""


@dataclass
class Hold:
    """Holds one step (or a watch) on the gate."""

    gate: Gate
    journal: Journal
    console: Console
    clock: Clock
    policy: HoldPolicy
    limits: GateLimits
    # The colour's Deployments, read live at each evaluation (None: metrics only).
    availability: AvailabilityWatch | None = None
    # Called before each evaluation; raises to end the hold (traffic changed by hand).
    guard: Callable[[], None] | None = None

    def run(
        self,
        specs: tuple[TriggerSpec, ...],
        *,
        colour: Colour,
        weight: int,
        seconds: float,
        since: float | None,
        rollout: str,
        label: str,
    ) -> HoldResult:
        check_duration("hold", seconds)
        start = self.clock.now()
        # Since when each failure has lasted. An error says nothing about the data,
        # so it neither starts nor ends an inconclusive run.
        inconclusive_since: float | None = None
        error_since: float | None = None
        last_shown: tuple[GateOutcome, tuple[str, ...]] | None = None
        unhealthy = False
        while True:
            if self.guard is not None:
                self.guard()
            now = self.clock.now()
            result = self.gate.check(specs, now=now, since=since)
            if self.availability is not None:
                result = self.availability.extend(result, colour)
            self.journal.record_gate(rollout, colour, weight, result)
            outcome = result.outcome
            unhealthy = self._log_health(result, colour, rollout, was_unhealthy=unhealthy)
            shown = (outcome, tuple(v.trigger.name for v in result.pending))
            if shown != last_shown:
                self._log_outcome(result, colour, weight, rollout)
                last_shown = shown
            elapsed = now - start
            self.console.status(
                f"{label} {bar(weight)} {colour} {weight}%  hold {elapsed:.0f}/{seconds:.0f}s  "
                + brief(result)
            )
            if outcome is GateOutcome.BREACH:
                return HoldResult(outcome, result)
            if outcome is GateOutcome.ERROR:
                error_since = now if error_since is None else error_since
                if now - error_since >= self.limits.metrics_error_seconds:
                    return HoldResult(outcome, result)
            else:
                error_since = None
            if outcome is GateOutcome.INCONCLUSIVE:
                inconclusive_since = now if inconclusive_since is None else inconclusive_since
                if now - inconclusive_since >= self.limits.missing_data_seconds:
                    return HoldResult(outcome, result)
            elif outcome is GateOutcome.PASS:
                inconclusive_since = None
                if not result.pending and elapsed >= seconds:
                    return HoldResult(outcome, result)
            # Evaluate on a fixed beat: the time a check takes comes out of the wait.
            self.clock.sleep(max(0.0, now + self.policy.interval_seconds - self.clock.now()))

    def _log_outcome(self, result: GateResult, colour: Colour, weight: int, rollout: str) -> None:
        outcome = result.outcome
        pending = ", ".join(v.trigger.name for v in result.pending)
        headline = f"gate {outcome}" + (f" (pending: {pending})" if pending else "")
        self.journal.log(
            f"{headline}: {result.describe()}",
            level="INFO" if outcome is GateOutcome.PASS and not pending else "WARNING",
            rollout=rollout,
            colour=colour,
            weight=weight,
            outcome=outcome,
        )

    def _log_health(
        self, result: GateResult, colour: Colour, rollout: str, *, was_unhealthy: bool
    ) -> bool:
        """Log the health trigger's first failure (as the operations guide greps it)."""
        failing = [
            v
            for v in result.verdicts
            if v.trigger.name in (BuiltinTrigger.HEALTH, AVAILABILITY)
            and v.status in (Status.PENDING, Status.BREACH)
        ]
        if failing and not was_unhealthy:
            self.journal.log(
                f"Health check failed: {colour} {failing[0].describe()}",
                level="WARNING",
                rollout=rollout,
                rollback=True,
                colour=colour,
            )
        return bool(failing)


_MARKS = {
    Status.OK: "",
    Status.PENDING: "!",
    Status.BREACH: "!!",
    Status.MISSING: "?",
    Status.SHORT: "~",
}


def brief(result: GateResult) -> str:
    """One line of trigger values for the progress view."""
    if result.error:
        return f"metrics error: {result.error}"
    parts = []
    for verdict in result.verdicts:
        value = "?" if verdict.value is None else f"{verdict.value:.3g}"
        parts.append(f"{verdict.trigger.name}={value}{_MARKS[verdict.status]}")
    return " ".join(parts)
