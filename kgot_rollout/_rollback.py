"""Rollback: flip routing back with only the routing resources targeted.

An automatic rollback waits for the stack lock a few times (another update may
be finishing); a manual one never waits. After routing is restored, the failed
colour may be scaled down to ``standbyReplicas`` (``--scale-failed``).
"""

from __future__ import annotations

from dataclasses import dataclass

from components.settings import PlatformSettings
from kgot_rollout._clock import Clock
from kgot_rollout._console import Console
from kgot_rollout._engine import Engine
from kgot_rollout._exceptions import RefusedError, RolloutError, StackLockedError
from kgot_rollout._journal import Journal
from kgot_rollout._types import Colour, Event, RolloutKind, TrafficState, other_colour

# Why a rollback ran when no trigger fired.
MANUAL = "manual"
MISSING_DATA = "missing_data"
METRICS_ERROR = "metrics_error"
# Attempts of an automatic rollback on a locked stack, and the wait between them.
LOCK_RETRIES = 3


@dataclass
class Rollback:
    engine: Engine
    journal: Journal
    console: Console
    clock: Clock
    lock_wait_seconds: float = 15.0
    # After a rollback, scale the failed colour to standbyReplicas instead of
    # leaving it running at full size for inspection.
    scale_failed: bool = False

    def run(
        self,
        settings: PlatformSettings,
        before: TrafficState,
        after: TrafficState,
        *,
        trigger: str,
        reason: str,
        rollout_id: str,
    ) -> None:
        """Flip routing from ``before`` to ``after`` (recorded with its time in history)."""
        manual = trigger == MANUAL
        self.journal.log(
            f"Rollback triggered: {before.describe()} -> {after.describe()}: {reason}",
            level="WARNING" if manual else "ERROR",
            rollout=rollout_id,
            rollback=True,
            trigger=trigger,
        )
        self.console.line(f"Rollback triggered ({trigger}): {reason}")
        success = False
        try:
            targets = self._targets(settings, before, after, rollout_id)
            self.engine.set_config(after.as_config())
            try:
                self._up_routing(
                    targets,
                    f"kgot-rollout rollback ({trigger}): {reason}",
                    retries=0 if manual else LOCK_RETRIES,
                )
            except StackLockedError:
                self.engine.set_config(before.as_config())
                raise
            success = True
        finally:
            self.journal.record(
                rollout_id,
                RolloutKind.ROLLBACK,
                Event.ROLLED_BACK,
                trigger=trigger,
                success=success,
                to=after.active,
                reason=reason,
            )
            self.journal.log(
                f"rollback {'complete' if success else 'FAILED'}: traffic "
                f"{after.describe() if success else 'state unknown, check status'}",
                level="INFO" if success else "ERROR",
                rollout=rollout_id,
                rollback=True,
                trigger=trigger,
            )
        if self.scale_failed:
            self._scale_failed(settings, other_colour(after.active), rollout_id)

    def _targets(
        self,
        settings: PlatformSettings,
        before: TrafficState,
        after: TrafficState,
        rollout_id: str,
    ) -> list[str]:
        targets = self.engine.routing_urns()
        if not targets:
            raise RefusedError(
                f"stack {settings.stack} has no routing resources in its state "
                "(never deployed?); nothing to roll back"
            )
        if after.active != before.active and settings.standby_replicas is not None:
            # The colour taking traffic back ran as a scaled-down standby: scale
            # its Deployments in the same update (not instant: pods must start).
            targets += self.engine.deployment_urns(after.active)
            self.journal.log(
                f"{after.active} ran with standbyReplicas={settings.standby_replicas}: "
                "scaling it back to full size with the flip",
                level="WARNING",
                rollout=rollout_id,
                rollback=True,
            )
        return targets

    def _up_routing(self, targets: list[str], message: str, *, retries: int) -> None:
        """A targeted ``up``; an automatic rollback waits for a lock a few times."""
        for attempt in range(retries + 1):
            try:
                self.engine.up(message=message, target=targets)
                return
            except StackLockedError:
                if attempt == retries:
                    raise
                self.journal.log(
                    f"stack locked; rollback retries ({attempt + 1}/{retries})",
                    level="WARNING",
                    rollback=True,
                )
                self.clock.sleep(self.lock_wait_seconds)

    def _scale_failed(self, settings: PlatformSettings, failed: Colour, rollout_id: str) -> None:
        """After routing is restored: the failed colour to ``standbyReplicas``."""
        if settings.standby_replicas is None:
            self.journal.log(
                f"{failed} stays at full size: standbyReplicas is not set",
                rollout=rollout_id,
                rollback=True,
            )
            return
        try:
            targets = self.engine.deployment_urns(failed)
            self.engine.up(
                message=f"kgot-rollout: scale failed colour {failed} to standbyReplicas",
                target=targets,
            )
        except RolloutError as exc:  # routing is already restored; this is housekeeping
            self.journal.log(f"scaling {failed} failed: {exc}", level="WARNING", rollout=rollout_id)
            return
        self.journal.log(
            f"{failed} scaled to standbyReplicas={settings.standby_replicas}",
            rollout=rollout_id,
            rollback=True,
        )
