"""The manual ``rollback``: where traffic goes back to, whether it may, and with what config.

An incident command: it never waits for a shift's lock, restores users'
traffic through the Kubernetes API when the stack's lock or config stops the
update, and refuses (nothing changed) only what would make things worse:
sending traffic to a colour whose Deployments are not Available.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from components.settings import (
    SECRET_KEYS,
    PlatformSettings,
    SettingsError,
    TrafficConfig,
    parse_settings,
)
from kgot_rollout._clock import Clock
from kgot_rollout._cluster import gaining_colours, not_serving
from kgot_rollout._endings import Endings
from kgot_rollout._engine import Engine
from kgot_rollout._exceptions import RefusedError
from kgot_rollout._journal import Journal, new_rollout_id
from kgot_rollout._notify import Notification
from kgot_rollout._rollback import MANUAL, Rollback
from kgot_rollout._types import (
    Colour,
    Event,
    ExitCode,
    Outcome,
    RolloutKind,
    RolloutStatus,
    TrafficState,
)

TRAFFIC_KEYS = frozenset(str(info.alias) for info in TrafficConfig.model_fields.values())


def incident_settings(engine: Engine) -> tuple[PlatformSettings, str | None]:
    """The stack's settings, and None; or, when its config has a key the program
    refuses, the last update's settings (the traffic keys as the config has them,
    where they are valid) and why the config is refused.

    What a rollback needs (namespace, services, where routing is) is what the
    last update applied; a key set since (a malformed webhook URL) must not stop
    an incident. RefusedError when there is no successful update to fall back on.
    """
    raw = engine.get_config()
    try:
        return parse_settings(raw, engine.stack), None
    except SettingsError as exc:
        problem = str(exc)
    last = engine.last_update()
    if last is None or last.result != "succeeded":
        raise RefusedError(problem)
    # Secret values are not in the update's record (shown as [secret]).
    applied = {k: v for k, v in last.config.items() if k not in SECRET_KEYS}
    traffic = {k: v for k, v in raw.items() if k in TRAFFIC_KEYS}
    for candidate in ({**applied, **traffic}, applied):
        try:
            return parse_settings(candidate, engine.stack), problem
        except SettingsError:
            continue
    raise RefusedError(problem)


@dataclass
class RollbackCommand:
    engine: Engine
    journal: Journal
    clock: Clock
    routing: Rollback
    endings: Endings
    # Whether the last update applied a traffic state (Steps.applied).
    applied: Callable[[TrafficState], bool]
    # Roll back to a colour whose Deployments are not Available (--allow-unavailable).
    allow_unavailable: bool = False

    def run(self, *, reason: str, to: Colour | None = None) -> Outcome:
        settings, problem = incident_settings(self.engine)
        blocked = None
        if problem is not None:
            blocked = (
                f"the stack's config has a key the program refuses, so the update that "
                f"records the rollback cannot run: {problem}"
            )
            self.journal.log(f"config invalid: {problem}", level="WARNING", rollback=True)
        state = TrafficState.of(settings.traffic)
        if to is not None:
            wanted = TrafficState(to, 0)
        elif state.standby_weight > 0:
            wanted = TrafficState(state.active, 0)
        else:
            last = self.journal.last_rollout(kinds=tuple(RolloutKind))
            if (
                last is not None
                and last.status == RolloutStatus.ROLLED_BACK
                and last.latest("to") == state.active
            ):
                if not self.applied(state):
                    return self._reconcile(settings, state, last.id, blocked)
                return Outcome(
                    ExitCode.DONE,
                    f"already rolled back to {state.active} ({last.id}); "
                    "use --to to flip to a given colour",
                )
            wanted = TrafficState(state.standby, 0)
        if wanted == state:
            if not self.applied(state):
                return self._reconcile(settings, state, None, blocked)
            return Outcome(ExitCode.DONE, f"{state.describe()} already; nothing to roll back")
        self._refuse_unavailable(settings, state, wanted)
        rollout_id = new_rollout_id(RolloutKind.ROLLBACK, self.clock.now())
        self.journal.record(
            rollout_id,
            RolloutKind.ROLLBACK,
            Event.STARTED,
            source=state.active,
            target=wanted.active,
        )
        try:
            self.routing.run(
                settings,
                state,
                wanted,
                trigger=MANUAL,
                reason=reason,
                rollout_id=rollout_id,
                blocked=blocked,
            )
        except RefusedError as exc:
            self.endings.finish(
                settings,
                rollout_id,
                RolloutKind.ROLLBACK,
                RolloutStatus.REFUSED,
                f"refused: {exc}",
                None,
            )
            raise
        message = f"rolled back to {wanted.describe()}: {reason}"
        notification: Notification | None = Notification.ROLLBACK
        if problem is not None:
            message += (
                f". Routing was restored through the Kubernetes API; the stack's state is "
                f"BEHIND because the config is refused: {problem}. Fix that key, then run "
                f"`kgot-rollout rollback --stack {settings.stack}` to reconcile; "
                "`kgot-rollout status` shows the state behind until then"
            )
            # The receivers' keys are config too; they wait for the fix.
            self.journal.log(
                "notifications not sent: the stack's config is refused", level="WARNING"
            )
            notification = None
        self.endings.finish(
            settings,
            rollout_id,
            RolloutKind.ROLLBACK,
            RolloutStatus.ROLLED_BACK,
            message,
            notification,
        )
        return Outcome(ExitCode.DONE, message, rollout_id)

    def _refuse_unavailable(
        self, settings: PlatformSettings, state: TrafficState, wanted: TrafficState
    ) -> None:
        """RefusedError (nothing changed) naming the Deployments of the colour taking
        traffic back that are not Available: flipping users there fails every request."""
        if self.allow_unavailable:
            return
        if wanted.active != state.active and settings.standby_replicas is not None:
            # A scaled-down standby: the rollback's update scales it and awaits it
            # before it routes (the Services depend on the Deployments).
            return
        for colour in gaining_colours(state, wanted):
            live = self.engine.deployments(settings.namespace, colour)
            missing = not_serving(settings, wanted, colour, live)
            if not missing:
                continue
            self.journal.log(
                f"rollback refused: {colour} is not Available",
                level="ERROR",
                rollback=True,
                deployments=", ".join(missing),
            )
            raise RefusedError(
                f"rolling back to {wanted.describe()} would send traffic to {colour}, whose "
                f"Deployments are not Available: {', '.join(missing)}. Nothing was changed; "
                f"traffic stays {state.describe()}. Allowed: a colour whose Deployments are "
                "Available (wait for its pods, or `pulumi up` it), or --allow-unavailable to "
                "roll back anyway"
            )

    def _reconcile(
        self,
        settings: PlatformSettings,
        state: TrafficState,
        rollout_id: str | None,
        blocked: str | None,
    ) -> Outcome:
        """The update a fast rollback could not finish: the state records live routing."""
        if blocked is not None:
            raise RefusedError(
                f"{state.describe()} is routed; the stack's state is behind and {blocked}"
            )
        self.routing.reconcile(settings, state, rollout_id)
        return Outcome(
            ExitCode.DONE,
            f"{state.describe()} already routed; the stack's state now records it",
            rollout_id or "",
        )
