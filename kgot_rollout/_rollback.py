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

from dataclasses import dataclass, field

from components.settings import PlatformSettings
from kgot_rollout._clock import Clock
from kgot_rollout._cluster import RoutingObject, carries_live_traffic, routed_to
from kgot_rollout._console import Console
from kgot_rollout._engine import Engine
from kgot_rollout._exceptions import RefusedError, RolloutError, StackLockedError
from kgot_rollout._journal import Journal
from kgot_rollout._types import Colour, Event, RolloutKind, TrafficState, other_colour

# Why a rollback ran when no trigger fired.
MANUAL = "manual"
MISSING_DATA = "missing_data"
METRICS_ERROR = "metrics_error"
# A step refused after traffic had moved (its colour not Available, say).
STEP_REFUSED = "step_refused"
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
    # The routing objects as the state had them after the last step (prepare()).
    _prepared: list[RoutingObject] | None = field(default=None, init=False, repr=False)

    def prepare(self) -> None:
        """Read the routing objects from the stack's state now, ahead of a decision.

        Reading the state is the slow part of the fast path: ``stack export``
        took 1.7 s of the 2.4 s from decision to routing restored on 100
        services. A shift calls this after each step's update, when the state
        holds exactly what the cluster has; the rollback then rewrites only the
        selectors and weights of these manifests (``routed_to``), so it needs
        nothing newer. Unreadable now: the rollback reads it itself.
        """
        try:
            self._prepared = self.engine.routing_objects()
        except RolloutError:
            self._prepared = None

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
        # A breach always takes the fast path; a manual rollback with --fast. Not
        # to a scaled-down standby: its pods must start first, which the update
        # awaits before it routes (the Services depend on the Deployments).
        fast = (self.fast or not manual) and not _scales_up(settings, before, after)
        self.journal.log(
            f"Rollback triggered: {before.describe()} -> {after.describe()}: {reason}",
            level="WARNING" if manual else "ERROR",
            rollout=rollout_id,
            rollback=True,
            trigger=trigger,
        )
        self.console.line(f"Rollback triggered ({trigger}): {reason}")
        success = restored = False
        reconciled: bool | None = None
        try:
            objects = self._fast_plan(after, rollout_id) if fast else None
            self.engine.set_config(after.as_config())
            if objects:
                restored = self._restore(objects, after, rollout_id)
            try:
                targets = self._targets(settings, before, after, rollout_id)
                self._up_routing(
                    targets,
                    f"kgot-rollout rollback ({trigger}): {reason}",
                    retries=0 if manual else LOCK_RETRIES,
                )
                reconciled = True
            except RolloutError as exc:
                if not restored:
                    # Refused or locked: nothing was applied, so the config goes back.
                    if isinstance(exc, RefusedError):
                        self.engine.set_config(before.as_config())
                    raise
                # Traffic is back in the API server and the config says so; only
                # the state is behind, and the next `up` or rollback heals it.
                reconciled = False
                self.journal.log(
                    f"state behind: routing is restored in the API server but the update "
                    f"that records it failed: {exc}; the next `pulumi up` or "
                    "`kgot-rollout rollback` reconciles it",
                    level="ERROR",
                    rollout=rollout_id,
                    rollback=True,
                )
                self.console.line(
                    "routing restored; the stack's state is behind (see `kgot-rollout status`)"
                )
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
        if self.scale_failed:
            self._scale_failed(settings, other_colour(after.active), rollout_id)

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

    def _fast_plan(self, after: TrafficState, rollout_id: str) -> list[RoutingObject] | None:
        """The routing objects as ``after`` routes them (None: fall back to the ``up``)."""
        prepared, self._prepared = self._prepared, None
        try:
            objects = prepared if prepared is not None else self.engine.routing_objects()
        except RolloutError as exc:
            self._warn(
                f"fast path unavailable ({exc}); restoring through the targeted update",
                rollout_id,
            )
            return None
        changed: list[RoutingObject] = []
        for obj in objects:
            manifest = routed_to(obj.manifest, after)
            # Read right after a successful update, the state is what the API
            # server has: an object ``after`` leaves as it is needs no apply (on
            # a weight step only the HTTPRoutes move). Read at the decision, the
            # state may be behind the cluster (a failed reconcile), so every
            # colour's object is applied.
            if manifest is not None and (prepared is None or manifest != obj.manifest):
                changed.append(RoutingObject(obj.urn, obj.field_manager, manifest))
        return changed

    def _restore(self, objects: list[RoutingObject], after: TrafficState, rollout_id: str) -> bool:
        """Apply ``objects`` through the Kubernetes API; False: the update must do it.

        The objects that carry users' traffic go first, in one batch: on a flip
        of 100 services that is the 100 active Services, not the 100 preview
        ones too (half the server-side applies before traffic is back; the
        API server's apply, not the tool, is the cost).
        """
        started = self.clock.monotonic()
        live: list[RoutingObject] = []
        rest: list[RoutingObject] = []
        for obj in objects:
            (live if carries_live_traffic(obj.manifest, after) else rest).append(obj)
        try:
            self.engine.apply_routing(live)
        except RolloutError as exc:
            self._warn(
                f"fast path failed ({exc}); restoring through the targeted update",
                rollout_id,
            )
            return False
        restored = self.clock.monotonic() - started
        try:
            self.engine.apply_routing(rest)
        except RolloutError as exc:
            # Users' traffic is back; the targeted update sets these too.
            self._warn(
                f"preview Services left to the targeted update ({exc})",
                rollout_id,
            )
        self.journal.log(
            f"routing restored in the API server: {len(live)} objects carrying traffic in "
            f"{restored:.2f}s, {len(objects)} in {self.clock.monotonic() - started:.2f}s; "
            "reconciling the stack's state",
            rollout=rollout_id,
            rollback=True,
        )
        return True

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
