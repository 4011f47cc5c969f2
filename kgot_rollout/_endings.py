"""How a rollout ends: what a failed gate leads to, and the records, alerts and metrics after.

A breach rolls back (or freezes); a gate inconclusive past its limit, or a
provider in error past its own, holds traffic where it is (or rolls back with
``onMissingData: rollback``). Every ending is journalled, notified and counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from components.settings import PlatformSettings
from kgot_rollout._clock import Clock
from kgot_rollout._hold import HoldPolicy, HoldResult
from kgot_rollout._journal import Journal
from kgot_rollout._notify import Notification, Notifier
from kgot_rollout._rollback import METRICS_ERROR, MISSING_DATA, STEP_REFUSED, Rollback
from kgot_rollout._types import (
    Colour,
    Event,
    ExitCode,
    GateOutcome,
    Outcome,
    RolloutKind,
    RolloutStatus,
    TrafficState,
)


@dataclass
class Endings:
    journal: Journal
    rollback: Rollback
    clock: Clock
    policy: HoldPolicy
    notifier_factory: Callable[[PlatformSettings], Notifier] | None = None
    after_rollout: Callable[[PlatformSettings], None] | None = None
    freeze: bool = False

    def finish(
        self,
        settings: PlatformSettings,
        rollout_id: str,
        kind: RolloutKind,
        status: RolloutStatus,
        message: str,
        notification: Notification | None,
    ) -> None:
        """Record the ending, tell the receivers, rebuild the deployment metrics."""
        self.journal.record(rollout_id, kind, Event.FINISHED, status=status, message=message)
        self.journal.log(message, rollout=rollout_id, status=status)
        if notification is not None and self.notifier_factory is not None:
            self.notifier_factory(settings).notify(
                notification,
                f"[{settings.stack}] {message}",
                dedup_key=f"kgot-rollout/{settings.stack}/{rollout_id}",
                details={"stack": settings.stack, "rollout": rollout_id, "status": status},
            )
        if self.after_rollout is not None:
            try:
                self.after_rollout(settings)
            except Exception as exc:  # metrics must never change a rollout's outcome
                self.journal.log(f"writing deployment metrics failed: {exc}", level="WARNING")

    def failed_gate(
        self,
        settings: PlatformSettings,
        held: HoldResult,
        current: TrafficState,
        source: Colour,
        target: Colour,
        weight: int,
        rollout_id: str,
        kind: RolloutKind,
    ) -> Outcome:
        """A hold that did not pass: roll back, freeze or hold, and finish."""
        if held.outcome is GateOutcome.BREACH:
            return self._breach(settings, held, current, source, target, weight, rollout_id, kind)
        limits = self.policy.limits(settings.rollback)
        if held.outcome is GateOutcome.ERROR:
            event, trigger = Event.METRICS_ERROR, METRICS_ERROR
            reason = (
                f"metrics unavailable for {limits.metrics_error_seconds:g}s: {held.gate.describe()}"
            )
        else:
            event, trigger = Event.MISSING_DATA, MISSING_DATA
            reason = (
                f"gate inconclusive (metrics missing) for {limits.missing_data_seconds:g}s: "
                f"{held.gate.describe()}"
            )
        reason = held.why or reason
        self.journal.record(rollout_id, kind, event, weight=weight, reason=reason)
        freeze = self.freeze or settings.rollback.on_breach == "freeze"
        if settings.rollback.on_missing_data == "rollback" and not freeze:
            return self._roll_back(settings, current, source, trigger, reason, rollout_id, kind)
        message = (
            f"held at {current.describe()} (never promoted without data): {reason}. "
            "Run `kgot-rollout shift` again to resume or `kgot-rollout rollback`"
        )
        self.journal.log(message, level="WARNING", rollout=rollout_id)
        self.finish(settings, rollout_id, kind, RolloutStatus.HELD, message, Notification.HELD)
        return Outcome(ExitCode.HELD, message, rollout_id)

    def cannot_continue(
        self,
        settings: PlatformSettings,
        current: TrafficState,
        source: Colour,
        target: Colour,
        weight: int,
        rollout_id: str,
        kind: RolloutKind,
        why: str,
    ) -> Outcome:
        """A later step refused (its colour not Available, an unsafe preview) after
        traffic moved: roll back to ``source`` rather than leave the split ungated."""
        # The refusal's own tail ("Config restored ...; nothing was applied") is
        # what a refusal before any traffic moved means; here the rollback follows.
        reason = f"the step to {target} {weight}% cannot go on: {why.split(' Config restored')[0]}"
        self.journal.record(rollout_id, kind, Event.STEP_REFUSED, weight=weight, reason=reason)
        return self._roll_back(settings, current, source, STEP_REFUSED, reason, rollout_id, kind)

    def _breach(
        self,
        settings: PlatformSettings,
        held: HoldResult,
        current: TrafficState,
        source: Colour,
        target: Colour,
        weight: int,
        rollout_id: str,
        kind: RolloutKind,
    ) -> Outcome:
        decided = self.clock.now()
        fired = held.gate.fired
        trigger = fired.trigger.name if fired else "unknown"
        reason = fired.describe() if fired else held.gate.describe()
        self.journal.record(
            rollout_id,
            kind,
            Event.BREACH,
            trigger=trigger,
            metric=fired.trigger.label if fired else trigger,
            weight=weight,
            reason=reason,
            breaching_since=fired.breaching_since if fired else None,
            decided=decided,
        )
        if self.freeze or settings.rollback.on_breach == "freeze":
            message = (
                f"breach at {target} {weight}% ({reason}); freeze mode: shifting stopped, "
                f"traffic left at {current.describe()}, no rollback"
            )
            self.journal.log(message, level="ERROR", rollout=rollout_id, trigger=trigger)
            self.finish(
                settings, rollout_id, kind, RolloutStatus.FROZEN, message, Notification.BREACH
            )
            return Outcome(ExitCode.HELD, message, rollout_id)
        return self._roll_back(settings, current, source, trigger, reason, rollout_id, kind)

    def _roll_back(
        self,
        settings: PlatformSettings,
        current: TrafficState,
        source: Colour,
        trigger: str,
        reason: str,
        rollout_id: str,
        kind: RolloutKind,
    ) -> Outcome:
        self.rollback.run(
            settings,
            current,
            TrafficState(source, 0),
            trigger=trigger,
            reason=reason,
            rollout_id=rollout_id,
        )
        message = f"rolled back to {source}: {reason}"
        self.finish(
            settings, rollout_id, kind, RolloutStatus.ROLLED_BACK, message, Notification.ROLLBACK
        )
        return Outcome(ExitCode.ROLLED_BACK, message, rollout_id)
