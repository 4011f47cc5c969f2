"""Rollback: flip routing back with only the routing resources targeted.

On a breach (and with ``rollback --fast``) routing is restored through the
Kubernetes API before the update: the previous traffic state goes to the stack
config, the routing objects are server-side applied as the field managers the
provider applied them as (so the next update owns what it changes, no
conflict), then the targeted update records it in the state. If that update
fails, traffic stays restored and the state is behind until the next update.

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
from kgot_rollout._fast_path import FastPath
from kgot_rollout._journal import Journal
from kgot_rollout._types import Colour, Event, RolloutKind, TrafficState, other_colour

# Why a rollback ran when no trigger fired.
MANUAL = "manual"
MISSING_DATA = "missing_data"
METRICS_ERROR = "metrics_error"
# A step refused after traffic had moved (its colour not Available, say).
STEP_REFUSED = "step_refused"
# How a stale stack lock (a killed update) is cleared; the tool never clears it itself.
LOCK_HINT = (
    "If no update is running (a killed one left the lock), `pulumi cancel --stack {stack} "
    "--yes` clears it; then `kgot-rollout rollback --stack {stack}` reconciles the state."
)
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
    # Manual rollbacks take the fast path too (--fast); breaches always do.
    fast: bool = False

    def __post_init__(self) -> None:
        self.fast_path = FastPath(self.engine, self.journal, self.clock)

    def prepare(self) -> None:
        """Read the routing objects ahead of a decision (``FastPath.prepare``)."""
        self.fast_path.prepare()

    def run(
        self,
        settings: PlatformSettings,
        before: TrafficState,
        after: TrafficState,
        *,
        trigger: str,
        reason: str,
        rollout_id: str,
        blocked: str | None = None,
    ) -> None:
        """Flip routing from ``before`` to ``after`` (recorded with its time in history).

        ``blocked``: why the reconciling update cannot run (the stack's config
        has a key the program refuses): routing is restored through the
        Kubernetes API only and the state stays behind, saying so.
        """
        manual = trigger == MANUAL
        # A breach always takes the fast path; a manual rollback with --fast. Not
        # to a scaled-down standby: its pods must start first, which the update
        # awaits before it routes (the Services depend on the Deployments).
        fast = (self.fast or not manual or blocked is not None) and not _scales_up(
            settings, before, after
        )
        self.journal.log(
            f"Rollback triggered: {before.describe()} -> {after.describe()}: {reason}",
            level="WARNING" if manual else "ERROR",
            rollout=rollout_id,
            rollback=True,
            trigger=trigger,
        )
        self.console.line(f"Rollback triggered ({trigger}): {reason}")
        success = restored = refused = False
        reconciled: bool | None = None
        try:
            objects = self.fast_path.plan(after, rollout_id) if fast else None
            self.engine.set_config(after.as_config())
            if objects:
                restored = self.fast_path.restore(objects, after, rollout_id)
            try:
                if blocked is not None:
                    raise RefusedError(blocked)
                targets = self._targets(settings, before, after, rollout_id)
                self._up_routing(
                    targets,
                    f"kgot-rollout rollback ({trigger}): {reason}",
                    retries=0 if manual else LOCK_RETRIES,
                )
                reconciled = True
            except StackLockedError as exc:
                if not restored and not fast:
                    # The incident command does not wait for a lock (perhaps left by
                    # a killed update): users' traffic goes back through the API.
                    objects = self.fast_path.plan(after, rollout_id)
                    restored = bool(objects) and self.fast_path.restore(
                        objects or [], after, rollout_id
                    )
                if not restored:
                    self.engine.set_config(before.as_config())
                    refused = True
                    raise
                reconciled = False
                self._behind(f"{exc} {LOCK_HINT.format(stack=settings.stack)}", rollout_id)
            except RolloutError as exc:
                if not restored:
                    # Refused: nothing was applied, so the config goes back.
                    if isinstance(exc, RefusedError):
                        self.engine.set_config(before.as_config())
                        refused = True
                    raise
                # Traffic is back in the API server and the config says so; only
                # the state is behind, and the next `up` or rollback heals it.
                reconciled = False
                self._behind(str(exc), rollout_id)
            success = True
        finally:
            self._record(
                rollout_id,
                before,
                after,
                trigger=trigger,
                reason=reason,
                success=success,
                refused=refused,
                restored=restored,
                reconciled=reconciled,
            )
        if self.scale_failed and blocked is None:
            self._scale_failed(settings, other_colour(after.active), rollout_id)

    def _behind(self, why: str, rollout_id: str) -> None:
        self.journal.log(
            f"state behind: routing is restored in the API server but the update "
            f"that records it did not run: {why}; the next `pulumi up` or "
            "`kgot-rollout rollback` reconciles it",
            level="ERROR",
            rollout=rollout_id,
            rollback=True,
        )
        self.console.line(
            "routing restored; the stack's state is behind (see `kgot-rollout status`)"
        )

    def _record(
        self,
        rollout_id: str,
        before: TrafficState,
        after: TrafficState,
        *,
        trigger: str,
        reason: str,
        success: bool,
        refused: bool,
        restored: bool,
        reconciled: bool | None,
    ) -> None:
        if refused:
            # Nothing was attempted on the cluster: not a failed rollback (the
            # runbook pages on kgot_rollbacks_total{success="false"}).
            self.journal.record(
                rollout_id, RolloutKind.ROLLBACK, Event.ROLLBACK_REFUSED, trigger=trigger
            )
            self.journal.log(
                f"rollback refused: nothing was changed; traffic stays {before.describe()}",
                level="ERROR",
                rollout=rollout_id,
                rollback=True,
                trigger=trigger,
            )
            return
        self.journal.record(
            rollout_id,
            RolloutKind.ROLLBACK,
            Event.ROLLED_BACK,
            trigger=trigger,
            success=success,
            to=after.active,
            reason=reason,
            fast=restored,
            reconciled=reconciled,
        )
        self.journal.log(
            f"rollback {'complete' if success else 'FAILED'}: traffic "
            f"{after.describe() if success else 'state unknown, check status'}",
            level="INFO" if success else "ERROR",
            rollout=rollout_id,
            rollback=True,
            trigger=trigger,
        )

    def reconcile(
        self, settings: PlatformSettings, state: TrafficState, rollout_id: str | None
    ) -> None:
        """The targeted update of routing the config already holds (after a fast
        rollback whose update failed); RolloutError if it fails again."""
        targets = self._targets(settings, state, state, rollout_id or "-")
        self._up_routing(targets, f"kgot-rollout: reconcile {state.describe()}", retries=0)
        self.journal.log(
            f"state reconciled: {state.describe()}", rollout=rollout_id or "-", rollback=True
        )

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
        if _scales_up(settings, before, after):
            # The colour taking traffic back ran as a scaled-down standby: scale
            # its Deployments in the same update (not instant: pods must start).
            targets += self.engine.deployment_urns(after.active)
            self._warn(
                f"{after.active} ran with standbyReplicas={settings.standby_replicas}: "
                "scaling it back to full size with the flip",
                rollout_id,
            )
        return targets

    def _up_routing(self, targets: list[str], message: str, *, retries: int) -> None:
        """A targeted ``up``; an automatic rollback waits for a lock a few times."""
        for attempt in range(retries + 1):
            try:
                # Targets are routing objects and Deployments already in the
                # state, changed in place (selectors, weights, replicas).
                self.engine.up(message=message, target=targets, in_place=True)
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
                in_place=True,
            )
        except RolloutError as exc:  # routing is already restored; this is housekeeping
            self.journal.log(f"scaling {failed} failed: {exc}", level="WARNING", rollout=rollout_id)
            return
        self.journal.log(
            f"{failed} scaled to standbyReplicas={settings.standby_replicas}",
            rollout=rollout_id,
            rollback=True,
        )

    def _warn(self, message: str, rollout_id: str) -> None:
        """A rollback warning in the journal: the fast path falling back, a scale-up."""
        self.journal.log(message, level="WARNING", rollout=rollout_id, rollback=True)


def _scales_up(settings: PlatformSettings, before: TrafficState, after: TrafficState) -> bool:
    """Whether the colour taking traffic back ran as a scaled-down standby."""
    return after.active != before.active and settings.standby_replicas is not None
