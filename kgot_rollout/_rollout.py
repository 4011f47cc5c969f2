"""Shift, promote, roll back and watch: the rollout driven step by step.

Each step writes the traffic config, previews (refusing anything but routing
changes unless told), runs ``up`` with the policy pack, then holds while the
target colour's triggers are evaluated. A breach rolls routing back with only
the routing resources targeted (or freezes, per config); missing data never
promotes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from components.settings import PlatformSettings, SettingsError, parse_settings
from kgot_rollout._console import Console, bar
from kgot_rollout._engine import Engine, describe_steps, unsafe_changes
from kgot_rollout._exceptions import RefusedError, RolloutError, StackLockedError
from kgot_rollout._gate import Gate
from kgot_rollout._journal import Journal, Rollout, new_rollout_id
from kgot_rollout._notify import BREACH, FINISHED, HELD, ROLLBACK, Notifier
from kgot_rollout._triggers import GateResult, Status, TriggerSpec
from kgot_rollout._types import Colour, ExitCode, TrafficState, other_colour, state_for_weight


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True)
class HoldPolicy:
    """How long a step holds, how often it evaluates, how long data may be missing."""

    hold_seconds: float = 60.0
    interval_seconds: float = 15.0
    missing_data_seconds: float = 120.0


@dataclass(frozen=True)
class Outcome:
    code: ExitCode
    message: str
    rollout_id: str = ""
    decided_at: float | None = None
    restored_at: float | None = None


@dataclass(frozen=True)
class HoldResult:
    """``passed``, ``breach`` or ``missing`` (data absent past the bound)."""

    kind: str
    gate: GateResult


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


def _config_for(state: TrafficState) -> dict[str, str]:
    return {"activeColor": state.active, "standbyWeight": str(state.standby_weight)}


@dataclass
class Rollouts:
    """The rollout operations on one stack."""

    engine: Engine
    journal: Journal
    console: Console
    notifier: Notifier | None = None
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

    # -- reading -------------------------------------------------------------------
    def settings(self) -> PlatformSettings:
        """The stack's config, or RefusedError (nothing changed) when it is not deployable."""
        try:
            return parse_settings(self.engine.get_config(), self.engine.stack)
        except SettingsError as exc:
            raise RefusedError(str(exc)) from exc

    def _gate(self, settings: PlatformSettings) -> Gate:
        if self.gate_factory is None:
            raise RefusedError("no Prometheus configured: pass --prometheus URL")
        return self.gate_factory(settings)

    # -- applying traffic ------------------------------------------------------------
    def apply(self, before: TrafficState, after: TrafficState, *, rollout: str, why: str) -> None:
        """Write the traffic config, preview it, refuse unsafe changes, then ``up``."""
        self.engine.set_config(_config_for(after))
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
            self.journal.log(
                f"applying {after.describe()}",
                rollout=rollout,
                changes=describe_steps(report.changes) or "none",
            )
            self.engine.up(message=f"kgot-rollout: {why}")
        except RefusedError:
            # Refused or locked: nothing was applied, so the config goes back too.
            self.engine.set_config(_config_for(before))
            raise

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
                self.clock.sleep(max(self.policy.interval_seconds, 2.0))

    # -- holding ---------------------------------------------------------------------
    def hold(
        self,
        gate: Gate,
        specs: tuple[TriggerSpec, ...],
        *,
        colour: Colour,
        weight: int,
        seconds: float,
        since: float | None,
        rollout: str,
        label: str,
    ) -> HoldResult:
        start = self.clock.now()
        missing_since: float | None = None
        last_status: Status | None = None
        unhealthy = False
        while True:
            now = self.clock.now()
            result = gate.check(specs, now=now, since=since)
            self.journal.record_gate(rollout, colour, weight, result)
            status = result.status
            health = [v for v in result.verdicts if v.trigger.name == "health"]
            failing = [v for v in health if v.status in (Status.PENDING, Status.BREACH)]
            if failing and not unhealthy:
                self.journal.log(
                    f"Health check failed: {colour} {failing[0].describe()}",
                    level="WARNING",
                    rollout=rollout,
                    rollback=True,
                    colour=colour,
                )
            unhealthy = bool(failing)
            if status is not last_status:
                self.journal.log(
                    f"gate {status.value}: {result.describe()}",
                    level="INFO" if status is Status.OK else "WARNING",
                    rollout=rollout,
                    colour=colour,
                    weight=weight,
                )
                last_status = status
            elapsed = now - start
            self.console.status(
                f"{label} {bar(weight)} {colour} {weight}%  hold {elapsed:.0f}/{seconds:.0f}s  "
                + _brief(result)
            )
            if status is Status.BREACH:
                return HoldResult("breach", result)
            if status is Status.MISSING:
                missing_since = now if missing_since is None else missing_since
                if now - missing_since >= self.policy.missing_data_seconds:
                    return HoldResult("missing", result)
            else:
                missing_since = None
            if status is Status.OK and elapsed >= seconds:
                return HoldResult("passed", result)
            # Evaluate on a fixed beat: the time a check takes comes out of the wait.
            self.clock.sleep(max(0.0, now + self.policy.interval_seconds - self.clock.now()))

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
        gate = self._gate(settings)
        resumed = self._resumable(source, target)
        rollout_id = resumed.id if resumed else new_rollout_id("shift")
        baseline = self._baseline(gate, source, resumed)
        specs = gate.triggers(target, baseline)
        self.journal.record(
            rollout_id,
            "shift",
            "resumed" if resumed else "started",
            queries=gate.report_queries(),
            source=source,
            target=target,
            steps=list(steps),
            from_weight=state.standby_weight,
            baseline_p95=baseline,
            versions={"blue": settings.blue_version, "green": settings.green_version},
            status="running",
        )
        self.journal.log(
            f"{'resuming' if resumed else 'starting'} shift {source} -> {target} "
            f"({settings.traffic.version_of(source)} -> {settings.traffic.version_of(target)}) "
            f"steps {','.join(map(str, remaining))}",
            rollout=rollout_id,
            baseline_p95=baseline if baseline is not None else "none",
        )
        self.console.line(
            f"shift {settings.stack}: {source} -> {target}, steps {remaining}, "
            f"triggers: {', '.join(s.condition() for s in specs)}"
        )
        return self._run_steps(settings, gate, specs, source, target, remaining, rollout_id)

    def _run_steps(
        self,
        settings: PlatformSettings,
        gate: Gate,
        specs: tuple[TriggerSpec, ...],
        source: Colour,
        target: Colour,
        steps: Sequence[int],
        rollout_id: str,
        kind: str = "shift",
    ) -> Outcome:
        current = TrafficState.of(settings.traffic)
        since: float | None = None
        for index, weight in enumerate(steps, start=1):
            after = state_for_weight(source, target, weight)
            label = f"[{index}/{len(steps)}]"
            if index > 1:
                live = TrafficState.of(self.settings().traffic)
                if live != current:
                    # Someone rolled back or flipped by hand while this step held.
                    message = (
                        f"traffic changed under this shift (now {live.describe()}, "
                        f"expected {current.describe()}); stopped without touching it"
                    )
                    self._finish(settings, rollout_id, kind, "held", message, HELD)
                    return Outcome(ExitCode.HELD, message, rollout_id)
            if after != current or not self._applied(after):
                self.apply(current, after, rollout=rollout_id, why=f"{kind} {target} {weight}%")
            current = after
            self.journal.record(rollout_id, kind, "step-applied", weight=weight, colour=target)
            self.console.line(f"{label} {bar(weight)} {target} {weight}% applied")
            if since is None:
                since = self.clock.now()
            held = self.hold(
                gate,
                specs,
                colour=target,
                weight=weight,
                seconds=self.policy.hold_seconds,
                since=since,
                rollout=rollout_id,
                label=label,
            )
            if held.kind != "passed":
                return self._on_failed_gate(
                    settings, held, current, source, target, weight, rollout_id, kind
                )
            self.journal.record(rollout_id, kind, "step-passed", weight=weight)
            self.console.line(f"{label} {bar(weight)} {target} {weight}% passed its gate")
        last = steps[-1]
        # "completed": every requested step passed; the split stays until `promote`.
        status = "promoted" if last == 100 else "completed"
        message = (
            f"{target} promoted: all traffic on {target}"
            if last == 100
            else f"{target} holds {last}%; run `kgot-rollout promote` to finish"
        )
        self._finish(settings, rollout_id, kind, status, message, FINISHED)
        return Outcome(ExitCode.DONE, message, rollout_id)

    def _on_failed_gate(
        self,
        settings: PlatformSettings,
        held: HoldResult,
        current: TrafficState,
        source: Colour,
        target: Colour,
        weight: int,
        rollout_id: str,
        kind: str,
    ) -> Outcome:
        decided = self.clock.now()
        gate = held.gate
        freeze = self.freeze or settings.rollback.on_breach == "freeze"
        if held.kind == "breach":
            fired = gate.fired
            trigger = fired.trigger.name if fired else "unknown"
            reason = fired.describe() if fired else gate.describe()
            self.journal.record(
                rollout_id,
                kind,
                "breach",
                trigger=trigger,
                metric=fired.trigger.label if fired else trigger,
                weight=weight,
                reason=reason,
                breaching_since=fired.breaching_since if fired else None,
                decided=decided,
            )
            if freeze:
                message = (
                    f"breach at {target} {weight}% ({reason}); freeze mode: shifting stopped, "
                    f"traffic left at {current.describe()}, no rollback"
                )
                self.journal.log(message, level="ERROR", rollout=rollout_id, trigger=trigger)
                self._finish(settings, rollout_id, kind, "frozen", message, BREACH)
                return Outcome(ExitCode.HELD, message, rollout_id, decided_at=decided)
            restored = self._rollback_routing(
                settings, current, TrafficState(source, 0), trigger, reason, rollout_id
            )
            message = f"rolled back to {source}: {reason}"
            self._finish(settings, rollout_id, kind, "rolled-back", message, ROLLBACK)
            return Outcome(ExitCode.ROLLED_BACK, message, rollout_id, decided, restored)
        reason = f"metrics missing for {self.policy.missing_data_seconds:g}s: {gate.describe()}"
        self.journal.record(rollout_id, kind, "missing-data", weight=weight, reason=reason)
        if settings.rollback.on_missing_data == "rollback" and not freeze:
            restored = self._rollback_routing(
                settings, current, TrafficState(source, 0), "missing_data", reason, rollout_id
            )
            message = f"rolled back to {source}: {reason}"
            self._finish(settings, rollout_id, kind, "rolled-back", message, ROLLBACK)
            return Outcome(ExitCode.ROLLED_BACK, message, rollout_id, decided, restored)
        message = (
            f"held at {current.describe()} (never promoted without data): {reason}. "
            "Run `kgot-rollout shift` again to resume or `kgot-rollout rollback`"
        )
        self.journal.log(message, level="WARNING", rollout=rollout_id)
        self._finish(settings, rollout_id, kind, "held", message, HELD)
        return Outcome(ExitCode.HELD, message, rollout_id, decided_at=decided)

    def _applied(self, state: TrafficState) -> bool:
        """Whether the last update applied ``state`` (it may not have, if interrupted)."""
        last = self.engine.last_update()
        if last is None or last.result != "succeeded":
            return False
        return last.config.get("activeColor") == state.active and str(
            last.config.get("standbyWeight", "0")
        ) == str(state.standby_weight)

    def _resumable(
        self, source: Colour, target: Colour, *, also: tuple[str, ...] = ()
    ) -> Rollout | None:
        last = self.journal.last_rollout(kinds=("shift",))
        if last is None or last.status not in ("running", "held", "interrupted", *also):
            return None
        if last.value("source") == source and last.value("target") == target:
            return last
        return None

    def _baseline(self, gate: Gate, source: Colour, resumed: Rollout | None) -> float | None:
        if resumed is not None:
            recorded = resumed.value("baseline_p95")
            if isinstance(recorded, int | float):
                return float(recorded)
        try:
            return gate.baseline_latency(source, self.clock.now())
        except Exception as exc:  # Prometheus down: the latency trigger holds instead
            self.journal.log(f"no baseline latency: {exc}", level="WARNING")
            return None

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
        gate = self._gate(settings)
        # A canary that stopped below 100 is finished by the same rollout.
        resumed = self._resumable(source, target, also=("completed",))
        rollout_id = resumed.id if resumed else new_rollout_id("promote")
        kind = "shift" if resumed else "promote"
        baseline = self._baseline(gate, source, resumed)
        self.journal.record(
            rollout_id,
            kind,
            "promote",
            source=source,
            target=target,
            baseline_p95=baseline,
            status="running",
        )
        specs = gate.triggers(target, baseline)
        return self._run_steps(settings, gate, specs, source, target, [100], rollout_id, kind)

    # -- rollback --------------------------------------------------------------------
    def rollback(self, *, reason: str, to: Colour | None = None) -> Outcome:
        settings = self.settings()
        state = TrafficState.of(settings.traffic)
        if to is not None:
            wanted = TrafficState(to, 0)
        elif state.standby_weight > 0:
            wanted = TrafficState(state.active, 0)
        else:
            last = self.journal.last_rollout(kinds=("shift", "promote", "rollback", "watch"))
            if (
                last is not None
                and last.status == "rolled-back"
                and last.latest("to") == state.active
            ):
                return Outcome(
                    ExitCode.DONE,
                    f"already rolled back to {state.active} ({last.id}); "
                    "use --to to flip to a given colour",
                )
            wanted = TrafficState(state.standby, 0)
        if wanted == state:
            return Outcome(ExitCode.DONE, f"{state.describe()} already; nothing to roll back")
        rollout_id = new_rollout_id("rollback")
        self.journal.record(
            rollout_id, "rollback", "started", source=state.active, target=wanted.active
        )
        restored = self._rollback_routing(settings, state, wanted, "manual", reason, rollout_id)
        message = f"rolled back to {wanted.describe()}: {reason}"
        self._finish(settings, rollout_id, "rollback", "rolled-back", message, ROLLBACK)
        return Outcome(ExitCode.DONE, message, rollout_id, restored_at=restored)

    def _rollback_routing(
        self,
        settings: PlatformSettings,
        before: TrafficState,
        after: TrafficState,
        trigger: str,
        reason: str,
        rollout_id: str,
    ) -> float:
        """Flip routing back with only routing resources targeted; returns when restored."""
        self.journal.log(
            f"Rollback triggered: {before.describe()} -> {after.describe()}: {reason}",
            level="ERROR" if trigger != "manual" else "WARNING",
            rollout=rollout_id,
            rollback=True,
            trigger=trigger,
        )
        self.console.line(f"Rollback triggered ({trigger}): {reason}")
        success = False
        try:
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
            self.engine.set_config(_config_for(after))
            try:
                self._up_routing(
                    targets,
                    f"kgot-rollout rollback ({trigger}): {reason}",
                    retries=0 if trigger == "manual" else 3,
                )
            except StackLockedError:
                self.engine.set_config(_config_for(before))
                raise
            success = True
        finally:
            self.journal.record(
                rollout_id,
                "rollback",
                "rolled-back",
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
        restored = self.clock.now()
        if self.scale_failed:
            self._scale_failed(settings, other_colour(after.active), rollout_id)
        return restored

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

    # -- watch -----------------------------------------------------------------------
    def watch(self, window: float | None = None) -> Outcome:
        settings = self.settings()
        state = TrafficState.of(settings.traffic)
        colour = state.active
        gate = self._gate(settings)
        last = self.journal.last_rollout()
        baseline: float | None = None
        if last is not None and last.value("target") == colour:
            value = last.value("baseline_p95")
            baseline = float(value) if isinstance(value, int | float) else None
        specs = gate.triggers(colour, baseline)
        if baseline is None:
            specs = tuple(s for s in specs if s.name != "latency")
            self.journal.log("watch: no recorded baseline; latency trigger off", level="WARNING")
        seconds = window if window is not None else settings.rollback.monitoring_window_seconds
        rollout_id = new_rollout_id("watch")
        self.journal.record(rollout_id, "watch", "started", colour=colour, window=seconds)
        self.console.line(
            f"watch {settings.stack}: {colour} for {seconds:g}s, "
            f"triggers: {', '.join(s.condition() for s in specs)}"
        )
        since = self.clock.now()
        held = self.hold(
            gate,
            specs,
            colour=colour,
            weight=state.weight_of(colour),
            seconds=seconds,
            since=since,
            rollout=rollout_id,
            label="[watch]",
        )
        if held.kind == "passed":
            message = f"{colour} healthy for the whole monitoring window ({seconds:g}s)"
            self._finish(settings, rollout_id, "watch", "healthy", message, None)
            return Outcome(ExitCode.DONE, message, rollout_id)
        previous = other_colour(colour) if state.standby_weight == 0 else colour
        return self._on_failed_gate(
            settings,
            held,
            state,
            previous,
            colour,
            state.weight_of(colour),
            rollout_id,
            "watch",
        )

    # -- endings ---------------------------------------------------------------------
    def _finish(
        self,
        settings: PlatformSettings,
        rollout_id: str,
        kind: str,
        status: str,
        message: str,
        notification: str | None,
    ) -> None:
        self.journal.record(rollout_id, kind, "finished", status=status, message=message)
        self.journal.log(message, rollout=rollout_id, status=status)
        notifier = self.notifier
        if notifier is None and self.notifier_factory is not None:
            notifier = self.notifier_factory(settings)
        if notification is not None and notifier is not None:
            notifier.notify(
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

    def interrupted(self, rollout_id: str | None) -> None:
        last = self.journal.last_rollout(kinds=("shift", "promote", "watch"))
        if last is not None and last.status == "running":
            self.journal.record(last.id, last.kind, "interrupted", status="interrupted")
            self.journal.log("interrupted", level="WARNING", rollout=last.id)


def _brief(result: GateResult) -> str:
    if result.error:
        return f"metrics unavailable: {result.error}"
    parts = []
    for verdict in result.verdicts:
        value = "?" if verdict.value is None else f"{verdict.value:.3g}"
        mark = {"ok": "", "pending": "!", "breach": "!!", "missing": "?"}[verdict.status.value]
        parts.append(f"{verdict.trigger.name}={value}{mark}")
    return " ".join(parts)
