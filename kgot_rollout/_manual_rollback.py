"""A manual ``rollback``: traffic back to a colour, through routing only, recorded.

Without ``--to``: the standby's share back to 0, or (no split) a flip to the
standby. A rollback whose fast path restored routing but whose update failed is
finished by the next one (the stack's state is reconciled with live routing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from components.settings import PlatformSettings
from kgot_rollout._journal import new_rollout_id
from kgot_rollout._notify import Notification
from kgot_rollout._rollback import MANUAL
from kgot_rollout._types import (
    Colour,
    Event,
    ExitCode,
    Outcome,
    RolloutKind,
    RolloutStatus,
    TrafficState,
)

if TYPE_CHECKING:
    from kgot_rollout._rollout import Rollouts


def rollback(rollouts: Rollouts, *, reason: str, to: Colour | None = None) -> Outcome:
    settings = rollouts.settings()
    state = TrafficState.of(settings.traffic)
    if to is not None:
        wanted = TrafficState(to, 0)
    elif state.standby_weight > 0:
        wanted = TrafficState(state.active, 0)
    else:
        last = rollouts.journal.last_rollout(kinds=tuple(RolloutKind))
        if (
            last is not None
            and last.status == RolloutStatus.ROLLED_BACK
            and last.latest("to") == state.active
        ):
            if not rollouts.steps.applied(state):
                return _reconcile(rollouts, settings, state, last.id)
            return Outcome(
                ExitCode.DONE,
                f"already rolled back to {state.active} ({last.id}); "
                "use --to to flip to a given colour",
            )
        wanted = TrafficState(state.standby, 0)
    if wanted == state:
        if not rollouts.steps.applied(state):
            return _reconcile(rollouts, settings, state, None)
        return Outcome(ExitCode.DONE, f"{state.describe()} already; nothing to roll back")
    rollout_id = new_rollout_id(RolloutKind.ROLLBACK, rollouts.clock.now())
    rollouts.journal.record(
        rollout_id,
        RolloutKind.ROLLBACK,
        Event.STARTED,
        source=state.active,
        target=wanted.active,
    )
    rollouts.rollback_routing.run(
        settings, state, wanted, trigger=MANUAL, reason=reason, rollout_id=rollout_id
    )
    message = f"rolled back to {wanted.describe()}: {reason}"
    rollouts.endings.finish(
        settings,
        rollout_id,
        RolloutKind.ROLLBACK,
        RolloutStatus.ROLLED_BACK,
        message,
        Notification.ROLLBACK,
    )
    return Outcome(ExitCode.DONE, message, rollout_id)


def _reconcile(
    rollouts: Rollouts, settings: PlatformSettings, state: TrafficState, rollout_id: str | None
) -> Outcome:
    """The update a fast rollback could not finish: the state records live routing."""
    rollouts.rollback_routing.reconcile(settings, state, rollout_id)
    return Outcome(
        ExitCode.DONE,
        f"{state.describe()} already routed; the stack's state now records it",
        rollout_id or "",
    )
