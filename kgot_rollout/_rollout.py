"""The commands that move traffic: shift, promote, rollback and watch on one stack.

Each command reads the stack's settings, checks Prometheus answers before the
first step, and wires the parts: step progression (``_steps``), the hold loop
(``_hold``), the data plane's checks (``_dataplane``), rollback (``_rollback``)
and the endings (``_endings``); a manual rollback and a watch are their own
modules (``_rollback_command``, ``_watch``). Missing data never promotes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from components.settings import PlatformSettings, SettingsError, parse_settings
from kgot_rollout._availability import AvailabilityWatch
from kgot_rollout._baselines import Baselines
from kgot_rollout._baselines import measure as measure_baselines
from kgot_rollout._clock import Clock, SystemClock
from kgot_rollout._console import Console
from kgot_rollout._dataplane import DataPlane, data_plane_checks
from kgot_rollout._endings import Endings
from kgot_rollout._engine import Engine
from kgot_rollout._exceptions import MetricsUnavailableError, RefusedError
from kgot_rollout._gate import Gate
from kgot_rollout._hold import Hold, HoldPolicy
from kgot_rollout._journal import Journal, Rollout, new_rollout_id
from kgot_rollout._notify import Notifier
from kgot_rollout._rollback import Rollback
from kgot_rollout._rollback_command import RollbackCommand
from kgot_rollout._route_status import RouteReader, read_routes
from kgot_rollout._steps import Steps
from kgot_rollout._triggers import TriggerSpec
from kgot_rollout._types import (
    GATED_KINDS,
    Colour,
    Event,
    ExitCode,
    Outcome,
    RolloutKind,
    RolloutStatus,
    TrafficState,
)
from kgot_rollout._watch import watch

# A rollout in one of these may be resumed by the next shift in the same direction.
_RESUMABLE = (RolloutStatus.RUNNING, RolloutStatus.HELD, RolloutStatus.INTERRUPTED)


def parse_steps(text: str) -> list[int]:
    """``"10,25,50,100"`` -> ``[10, 25, 50, 100]``, or RefusedError."""
    allowed = "a comma-separated list of increasing integers in 1-100, e.g. 10,25,50,100"
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise RefusedError(f"--steps {text!r} is not valid; allowed: {allowed}") from exc
    if not steps or any(not 1 <= s <= 100 for s in steps) or steps != sorted(set(steps)):
        raise RefusedError(f"--steps {text!r} is not valid; allowed: {allowed}")
    return steps


@dataclass
class Rollouts:
    """The rollout operations on one stack."""

    engine: Engine
    journal: Journal
    console: Console
    notifier_factory: Callable[[PlatformSettings], Notifier] | None = None
    gate_factory: Callable[[PlatformSettings], Gate] | None = None
    clock: Clock = field(default_factory=SystemClock)
    policy: HoldPolicy = field(default_factory=HoldPolicy)
    allow_non_routing: bool = False
    freeze: bool = False
    after_rollout: Callable[[PlatformSettings], None] | None = None
    # After a rollback, scale the failed colour to standbyReplicas instead of
    # leaving it running at full size for inspection.
    scale_failed: bool = False
    # A manual rollback restores routing through the Kubernetes API first.
    fast_rollback: bool = False
    # The live routes, for the data plane's checks (rollback.dataPlane).
    read_routes: RouteReader = read_routes
    # A manual rollback may send traffic to a colour that is not Available.
    allow_unavailable: bool = False

    def __post_init__(self) -> None:
        self.rollback_routing = Rollback(
            self.engine,
            self.journal,
            self.console,
            self.clock,
            lock_wait_seconds=max(self.policy.interval_seconds, 2.0),
            scale_failed=self.scale_failed,
            fast=self.fast_rollback,
        )
        self.endings = Endings(
            self.journal,
            self.rollback_routing,
            self.clock,
            self.policy,
            notifier_factory=self.notifier_factory,
            after_rollout=self.after_rollout,
            freeze=self.freeze,
        )
        self.steps = Steps(
            self.engine,
            self.journal,
            self.console,
            self.clock,
            self.endings,
            live_traffic=lambda: TrafficState.of(self.settings().traffic),
            allow_non_routing=self.allow_non_routing,
            prepare_rollback=self.rollback_routing.prepare,
            data_plane=DataPlane(self.read_routes, self.journal, self.console, self.clock),
        )
        self.rollback_command = RollbackCommand(
            self.engine,
            self.journal,
            self.clock,
            self.rollback_routing,
            self.endings,
            applied=self.steps.applied,
            allow_unavailable=self.allow_unavailable,
        )

    # -- reading -------------------------------------------------------------------
    def settings(self) -> PlatformSettings:
        """The stack's config, or RefusedError (nothing changed) when it is not deployable."""
        try:
            return parse_settings(self.engine.get_config(), self.engine.stack)
        except SettingsError as exc:
            raise RefusedError(str(exc)) from exc

    def online_gate(self, settings: PlatformSettings) -> Gate:
        """The gate, once its provider answered: nothing is applied without it."""
        if self.gate_factory is None:
            raise RefusedError("no Prometheus configured: pass --prometheus URL")
        gate = self.gate_factory(settings)
        try:
            gate.check_online()
        except MetricsUnavailableError as exc:
            raise RefusedError(
                f"{exc}; nothing was applied (the gate cannot judge a step without metrics)"
            ) from exc
        return gate

    def hold_on(self, gate: Gate) -> Hold:
        """The hold loop on ``gate``, with the limits of the stack it judges."""
        limits = self.policy.limits(gate.settings.rollback)
        watch = AvailabilityWatch(gate.settings, self.engine.deployments, gate.health_window)
        return Hold(gate, self.journal, self.console, self.clock, self.policy, limits, watch)

    @staticmethod
    def _specs_at(
        gate: Gate, target: Colour, baselines: Baselines
    ) -> Callable[[TrafficState], tuple[TriggerSpec, ...]]:
        """The target's triggers at a traffic state (the gateway's queries follow it)."""

        def specs(state: TrafficState) -> tuple[TriggerSpec, ...]:
            return gate.triggers(
                target, baselines.application, routing=state, gateway_baseline=baselines.gateway
            )

        return specs

    def _resumable(
        self, source: Colour, target: Colour, *, also: tuple[RolloutStatus, ...] = ()
    ) -> Rollout | None:
        last = self.journal.last_rollout(kinds=(RolloutKind.SHIFT,))
        if last is None or last.status not in (*_RESUMABLE, *also):
            return None
        if last.value("source") == source and last.value("target") == target:
            return last
        return None

    # -- shift -----------------------------------------------------------------------
    def shift(self, target: Colour, steps: Sequence[int]) -> Outcome:
        settings = self.settings()
        state = TrafficState.of(settings.traffic)
        if state.active == target and state.standby_weight == 0:
            return Outcome(ExitCode.DONE, f"{target} already has all traffic; nothing to do")
        if state.active == target:
            raise RefusedError(
                f"traffic is split {state.describe()} towards {state.standby}; "
                f"roll back first (kgot-rollout rollback) before shifting to {target}"
            )
        if settings.traffic_routing == "selector" and list(steps) != [100]:
            raise RefusedError(
                f"--steps {','.join(map(str, steps))}: stack {settings.stack} uses "
                "trafficRouting selector, which cannot split traffic; allowed: --steps 100"
            )
        source = state.active
        remaining = [w for w in steps if w >= state.standby_weight]
        if not remaining:
            raise RefusedError(
                f"--steps {','.join(map(str, steps))}: {target} already has "
                f"{state.standby_weight}%; allowed: steps that reach at least that weight"
            )
        gate = self.online_gate(settings)
        resumed = self._resumable(source, target)
        baselines = measure_baselines(gate, state, source, resumed, self.clock.now())
        specs_at = self._specs_at(gate, target, baselines)
        specs = specs_at(state)
        rollout_id = resumed.id if resumed else new_rollout_id(RolloutKind.SHIFT, self.clock.now())
        self.journal.record(
            rollout_id,
            RolloutKind.SHIFT,
            Event.RESUMED if resumed else Event.STARTED,
            queries=gate.report_queries(),
            source=source,
            target=target,
            steps=list(steps),
            from_weight=state.standby_weight,
            **baselines.as_record(),
            versions={"blue": settings.blue_version, "green": settings.green_version},
            status=RolloutStatus.RUNNING,
        )
        self.journal.log(
            f"{'resuming' if resumed else 'starting'} shift {source} -> {target} "
            f"({settings.traffic.version_of(source)} -> {settings.traffic.version_of(target)}) "
            f"steps {','.join(map(str, remaining))}",
            rollout=rollout_id,
            baseline_p95="none" if baselines.application is None else baselines.application,
        )
        self.console.line(
            f"shift {settings.stack}: {source} -> {target}, steps {remaining}, "
            f"triggers: {', '.join(s.condition() for s in specs)}{data_plane_checks(settings)}"
        )
        return self.steps.run(
            settings,
            self.hold_on(gate),
            specs,
            source=source,
            target=target,
            steps=remaining,
            hold_seconds=self.policy.hold_seconds,
            rollout_id=rollout_id,
            kind=RolloutKind.SHIFT,
            specs_at=specs_at,
        )

    # -- promote ---------------------------------------------------------------------
    def promote(self) -> Outcome:
        settings = self.settings()
        state = TrafficState.of(settings.traffic)
        if state.standby_weight == 0:
            raise RefusedError(
                f"nothing to promote: {state.describe()} (no shift in progress); "
                "allowed: promote while the standby colour has a share of traffic"
            )
        source, target = state.active, state.standby
        gate = self.online_gate(settings)
        # A canary that stopped below 100 is finished by the same rollout.
        resumed = self._resumable(source, target, also=(RolloutStatus.COMPLETED,))
        baselines = measure_baselines(gate, state, source, resumed, self.clock.now())
        specs_at = self._specs_at(gate, target, baselines)
        if resumed:
            rollout_id, kind = resumed.id, RolloutKind.SHIFT
        else:
            rollout_id = new_rollout_id(RolloutKind.PROMOTE, self.clock.now())
            kind = RolloutKind.PROMOTE
        self.journal.record(
            rollout_id,
            kind,
            Event.PROMOTE,
            source=source,
            target=target,
            **baselines.as_record(),
            status=RolloutStatus.RUNNING,
        )
        return self.steps.run(
            settings,
            self.hold_on(gate),
            specs_at(state),
            source=source,
            target=target,
            steps=[100],
            hold_seconds=self.policy.hold_seconds,
            rollout_id=rollout_id,
            kind=kind,
            specs_at=specs_at,
        )

    # -- rollback and watch (their own modules) -------------------------------------
    def rollback(self, *, reason: str, to: Colour | None = None) -> Outcome:
        return self.rollback_command.run(reason=reason, to=to)

    def watch(self, window: float | None = None) -> Outcome:
        return watch(self, window)

    # -- interruption ----------------------------------------------------------------
    def interrupted(self) -> None:
        last = self.journal.last_rollout(kinds=GATED_KINDS)
        if last is not None and last.status == RolloutStatus.RUNNING:
            kind = RolloutKind(last.kind)
            self.journal.record(last.id, kind, Event.INTERRUPTED, status=RolloutStatus.INTERRUPTED)
            self.journal.log("interrupted", level="WARNING", rollout=last.id)
