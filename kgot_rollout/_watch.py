"""``watch``: hold the active colour on its triggers for the monitoring window.

The latency trigger compares with the baselines the shift that made the colour
active recorded; without one (no such shift) it is left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kgot_rollout._journal import new_rollout_id
from kgot_rollout._types import (
    GATED_KINDS,
    Event,
    ExitCode,
    GateOutcome,
    Outcome,
    RolloutKind,
    RolloutStatus,
    TrafficState,
    other_colour,
)

if TYPE_CHECKING:
    from kgot_rollout._rollout import Rollouts


def _recorded(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def watch(rollouts: Rollouts, window: float | None = None) -> Outcome:
    settings = rollouts.settings()
    state = TrafficState.of(settings.traffic)
    colour = state.active
    gate = rollouts.online_gate(settings)
    last = rollouts.journal.last_rollout(kinds=GATED_KINDS)
    baseline: float | None = None
    gateway_baseline: float | None = None
    if last is not None and last.value("target") == colour:
        baseline = _recorded(last.value("baseline_p95"))
        gateway_baseline = _recorded(last.value("baseline_gateway_p95"))
    source = settings.rollback.latency.source
    measured = {
        "application": baseline is not None,
        "gateway": gateway_baseline is not None,
        "both": baseline is not None or gateway_baseline is not None,
    }[source]
    if not measured:
        rollouts.journal.log("watch: no recorded baseline; latency trigger off", level="WARNING")
    specs = gate.triggers(
        colour, baseline, latency=measured, routing=state, gateway_baseline=gateway_baseline
    )
    seconds = window if window is not None else settings.rollback.monitoring_window_seconds
    rollout_id = new_rollout_id(RolloutKind.WATCH, rollouts.clock.now())
    rollouts.journal.record(
        rollout_id, RolloutKind.WATCH, Event.STARTED, colour=colour, window=seconds
    )
    rollouts.console.line(
        f"watch {settings.stack}: {colour} for {seconds:g}s, "
        f"triggers: {', '.join(s.condition() for s in specs)}"
    )
    held = rollouts.hold_on(gate).run(
        specs,
        colour=colour,
        weight=state.weight_of(colour),
        seconds=seconds,
        since=rollouts.clock.now(),
        rollout=rollout_id,
        label="[watch]",
    )
    if held.outcome is GateOutcome.PASS:
        message = f"{colour} healthy for the whole monitoring window ({seconds:g}s)"
        rollouts.endings.finish(
            settings, rollout_id, RolloutKind.WATCH, RolloutStatus.HEALTHY, message, None
        )
        return Outcome(ExitCode.DONE, message, rollout_id)
    previous = other_colour(colour) if state.standby_weight == 0 else colour
    return rollouts.endings.failed_gate(
        settings,
        held,
        state,
        previous,
        colour,
        state.weight_of(colour),
        rollout_id,
        RolloutKind.WATCH,
    )
