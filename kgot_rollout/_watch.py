"""``watch``: the active colour held on the gate for the monitoring window after a release.

A breach rolls back to the other colour (or, mid-shift, takes the standby's
weight back); missing data holds, as in a shift.
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


def watch_active_colour(rollouts: Rollouts, window: float | None = None) -> Outcome:
    """Hold the active colour on the gate for the monitoring window; roll back on a breach."""
    settings = rollouts.settings()
    state = TrafficState.of(settings.traffic)
    colour = state.active
    gate = rollouts.online_gate(settings)
    last = rollouts.journal.last_rollout(kinds=GATED_KINDS)
    baseline: float | None = None
    if last is not None and last.value("target") == colour:
        value = last.value("baseline_p95")
        baseline = float(value) if isinstance(value, int | float) else None
    if baseline is None:
        rollouts.journal.log("watch: no recorded baseline; latency trigger off", level="WARNING")
    specs = gate.triggers(colour, baseline, latency=baseline is not None)
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
