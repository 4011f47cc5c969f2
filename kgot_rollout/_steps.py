"""Step progression: apply each weight (config, routing-only preview, ``up``), then hold.

A step whose preview changes more than routing is refused with the config put
back; traffic changed by hand under a running shift stops it untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pulumi.automation.events import OpType

from components.settings import PlatformSettings
from kgot_rollout._clock import Clock
from kgot_rollout._cluster import gaining_colours, not_serving
from kgot_rollout._console import Console, bar
from kgot_rollout._dataplane import DataPlane
from kgot_rollout._endings import Endings
from kgot_rollout._engine import Engine, PreviewReport, describe_steps, unsafe_changes
from kgot_rollout._exceptions import RefusedError, RolloutError
from kgot_rollout._hold import Hold
from kgot_rollout._journal import Journal
from kgot_rollout._notify import Notification
from kgot_rollout._triggers import TriggerSpec
from kgot_rollout._types import (
    Colour,
    Event,
    ExitCode,
    GateOutcome,
    Outcome,
    RolloutKind,
    RolloutStatus,
    TrafficState,
    state_for_weight,
)


class _TrafficChanged(Exception):
    """The stack's traffic config changed under a hold (ends it; never escapes Steps)."""

    def __init__(self, live: TrafficState) -> None:
        super().__init__(live.describe())
        self.live = live


@dataclass
class Steps:
    engine: Engine
    journal: Journal
    console: Console
    clock: Clock
    endings: Endings
    # The traffic state in stack config now (re-read between steps).
    live_traffic: Callable[[], TrafficState]
    allow_non_routing: bool = False
    # Called once the step's routing is in the state, before its hold: reads
    # what a fast rollback would apply, so a breach restores routing without
    # first reading the stack's state (Rollback.prepare).
    prepare_rollback: Callable[[], None] = lambda: None
    # Between a step's `up` and its hold: waits for the gateway to take the routes
    # and adds the split check (kgot_rollout._dataplane); None: no gateway checks.
    data_plane: DataPlane | None = None

    def apply(
        self,
        settings: PlatformSettings,
        before: TrafficState,
        after: TrafficState,
        *,
        rollout: str,
        why: str,
    ) -> None:
        """Write the traffic config, preview it, refuse unsafe changes or a colour
        that is not Available, then ``up``."""
        self.engine.set_config(after.as_config())
        try:
            report = self.engine.preview()
            unsafe = unsafe_changes(report)
            if unsafe and not self.allow_non_routing:
                self.journal.log(
                    "refused: preview changes non-routing resources",
                    level="ERROR",
                    rollout=rollout,
                    changes=describe_steps(unsafe),
                )
                raise RefusedError(
                    f"the preview of {after.describe()} would change more than routing: "
                    f"{describe_steps(unsafe)}. Config restored to {before.describe()}; "
                    "nothing was applied. Use --allow-non-routing to apply it anyway."
                )
            self._refuse_unavailable(settings, before, after, report, rollout=rollout)
            self.journal.log(
                f"applying {after.describe()}",
                rollout=rollout,
                changes=describe_steps(report.changes) or "none",
            )
            # Nothing but in-place updates of routing and replica counts: the
            # update may skip its per-step state checkpoints (_automation.SKIP_CHECKPOINTS).
            self.engine.up(message=f"kgot-rollout: {why}", in_place=not unsafe)
        except RolloutError:
            # Refused, locked or the engine failed: the config goes back to what is
            # live, so a plain `pulumi up` by someone else cannot apply the step
            # without its gate.
            self.engine.set_config(before.as_config())
            raise

    def _refuse_unavailable(
        self,
        settings: PlatformSettings,
        before: TrafficState,
        after: TrafficState,
        report: PreviewReport,
        *,
        rollout: str,
    ) -> None:
        """RefusedError naming the Deployments of a colour gaining traffic that are not
        Available at the size ``after`` asks for (routing skips the provider's await)."""
        # A Deployment this `up` changes (a standby scaled to full size) is awaited
        # by the provider before the routing that depends on it moves.
        updating = {
            step.name
            for step in report.changes
            if step.type == "kubernetes:apps/v1:Deployment" and step.op is OpType.UPDATE
        }
        for colour in gaining_colours(before, after):
            live = self.engine.deployments(settings.namespace, colour)
            missing = not_serving(settings, after, colour, live, updating)
            if not missing:
                continue
            self.journal.log(
                f"refused: {colour} is not Available",
                level="ERROR",
                rollout=rollout,
                deployments=", ".join(missing),
            )
            raise RefusedError(
                f"{after.describe()} would send traffic to {colour}, whose Deployments are not "
                f"Available at the size stack {settings.stack} asks for: {', '.join(missing)}. "
                f"Config restored to {before.describe()}; nothing was applied. Allowed: a "
                f"colour whose Deployments are Available (wait for its pods or `pulumi up`)."
            )

    def applied(self, state: TrafficState) -> bool:
        """Whether the last update applied ``state`` (it may not have, if interrupted)."""
        last = self.engine.last_update()
        if last is None or last.result != "succeeded":
            return False
        return last.config.get("activeColor") == state.active and str(
            last.config.get("standbyWeight", "0")
        ) == str(state.standby_weight)

    def _guard(self, expected: TrafficState) -> None:
        try:
            live = self.live_traffic()
        except RolloutError:
            # The config cannot be read or parsed right now: the gate goes on;
            # the check before the next step tells.
            return
        if live != expected:
            raise _TrafficChanged(live)

    def _changed_by_hand(
        self, settings: PlatformSettings, current: TrafficState, rollout_id: str, kind: RolloutKind
    ) -> Outcome | None:
        """HELD (exit 4), untouched, when the stack's traffic is no longer ``current``."""
        live = self.live_traffic()
        if live == current:
            return None
        return self._held_untouched(settings, current, live, rollout_id, kind)

    def _held_untouched(
        self,
        settings: PlatformSettings,
        current: TrafficState,
        live: TrafficState,
        rollout_id: str,
        kind: RolloutKind,
    ) -> Outcome:
        # Someone rolled back or flipped by hand while this step held.
        message = (
            f"traffic changed under this {kind} (now {live.describe()}, "
            f"expected {current.describe()}); stopped without touching it"
        )
        self.endings.finish(
            settings, rollout_id, kind, RolloutStatus.HELD, message, Notification.HELD
        )
        return Outcome(ExitCode.HELD, message, rollout_id)

    def run(
        self,
        settings: PlatformSettings,
        hold: Hold,
        specs: tuple[TriggerSpec, ...],
        *,
        source: Colour,
        target: Colour,
        steps: Sequence[int],
        hold_seconds: float,
        rollout_id: str,
        kind: RolloutKind,
        specs_at: Callable[[TrafficState], tuple[TriggerSpec, ...]] | None = None,
    ) -> Outcome:
        """``specs_at``: a step's triggers from the state it applies (the gateway's
        queries name the Service that carries the colour); default ``specs``."""
        current = TrafficState.of(settings.traffic)
        since: float | None = None
        for index, weight in enumerate(steps, start=1):
            after = state_for_weight(source, target, weight)
            label = f"[{index}/{len(steps)}]"
            if index > 1:
                changed = self._changed_by_hand(settings, current, rollout_id, kind)
                if changed is not None:
                    return changed
            if after != current or not self.applied(after):
                try:
                    self.apply(
                        settings,
                        current,
                        after,
                        rollout=rollout_id,
                        why=f"{kind} {target} {weight}%",
                    )
                except RolloutError as exc:
                    if current.weight_of(target) > 0:
                        # Traffic already moved (an earlier step, or the shift this
                        # one resumes): stopping would leave it on a colour no gate
                        # watches any more, so the step that cannot go on rolls back.
                        return self.endings.cannot_continue(
                            settings, current, source, target, weight, rollout_id, kind, str(exc)
                        )
                    # Recorded as running: end it, so `status` and `history` say so
                    # and the next shift starts afresh instead of resuming it.
                    refused = isinstance(exc, RefusedError)
                    self.endings.finish(
                        settings,
                        rollout_id,
                        kind,
                        RolloutStatus.REFUSED if refused else RolloutStatus.FAILED,
                        f"{'refused' if refused else 'error'}: {exc}",
                        None,
                    )
                    raise
            current = after
            self.prepare_rollback()
            self.journal.record(rollout_id, kind, Event.STEP_APPLIED, weight=weight, colour=target)
            self.console.line(f"{label} {bar(weight)} {target} {weight}% applied")
            step_specs = specs if specs_at is None else specs_at(after)
            if self.data_plane is not None:
                checked = self.data_plane.before_hold(
                    settings, hold.gate, after, target, step_specs, rollout=rollout_id, label=label
                )
                if checked.stopped is not None:
                    return self.endings.failed_gate(
                        settings, checked.stopped, current, source, target, weight, rollout_id, kind
                    )
                step_specs = checked.specs
            if since is None:
                since = self.clock.now()
            # Traffic changed by hand while this step holds: stop at the next
            # evaluation, not after the hold (the gate would judge a colour that
            # may no longer get the traffic it is judged on).
            hold.guard = lambda expected=current: self._guard(expected)
            try:
                held = hold.run(
                    step_specs,
                    colour=target,
                    weight=weight,
                    seconds=hold_seconds,
                    since=since,
                    rollout=rollout_id,
                    label=label,
                )
            except _TrafficChanged as exc:
                return self._held_untouched(settings, current, exc.live, rollout_id, kind)
            finally:
                hold.guard = None
            if held.outcome is not GateOutcome.PASS:
                return self.endings.failed_gate(
                    settings, held, current, source, target, weight, rollout_id, kind
                )
            self.journal.record(rollout_id, kind, Event.STEP_PASSED, weight=weight)
            self.console.line(f"{label} {bar(weight)} {target} {weight}% passed its gate")
        # A hand flip during the last hold is no promotion (README: exit 4).
        changed = self._changed_by_hand(settings, current, rollout_id, kind)
        if changed is not None:
            return changed
        last = steps[-1]
        if last == 100:
            status, message = RolloutStatus.PROMOTED, f"{target} promoted: all traffic on {target}"
        else:
            status = RolloutStatus.COMPLETED
            message = f"{target} holds {last}%; run `kgot-rollout promote` to finish"
        self.endings.finish(settings, rollout_id, kind, status, message, Notification.FINISHED)
        return Outcome(ExitCode.DONE, message, rollout_id)
