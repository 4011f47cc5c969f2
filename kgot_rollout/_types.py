"""Small value types shared by the rollout modules."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from components.settings import Color, TrafficSettings

# The program's colours (stack config's activeColor), in the rollout's words.
Colour = Color


class RolloutKind(enum.StrEnum):
    """What a rollout in the history is."""

    SHIFT = "shift"
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    WATCH = "watch"


# The kinds that hold on the gate (a manual rollback does not).
GATED_KINDS = (RolloutKind.SHIFT, RolloutKind.PROMOTE, RolloutKind.WATCH)


class RolloutStatus(enum.StrEnum):
    """Where a rollout stands; the last one recorded is its state."""

    RUNNING = "running"
    INTERRUPTED = "interrupted"
    # Every requested step passed; the split stays until `promote`.
    COMPLETED = "completed"
    PROMOTED = "promoted"
    HEALTHY = "healthy"
    HELD = "held"
    FROZEN = "frozen"
    ROLLED_BACK = "rolled-back"
    # Recorded, then refused before any traffic moved (nothing was changed).
    REFUSED = "refused"
    # Recorded, then the engine or a tool failed; the config went back to what is live.
    FAILED = "failed"


class Event(enum.StrEnum):
    """The events of a rollout in ``history-<stack>.jsonl``."""

    STARTED = "started"
    RESUMED = "resumed"
    PROMOTE = "promote"
    STEP_APPLIED = "step-applied"
    STEP_PASSED = "step-passed"
    BREACH = "breach"
    # A later step was refused after traffic had moved: rolled back instead.
    STEP_REFUSED = "step-refused"
    # The gate stayed inconclusive (no data) past its limit.
    MISSING_DATA = "missing-data"
    # Prometheus stayed unreachable or answered errors past its limit.
    METRICS_ERROR = "metrics-error"
    ROLLED_BACK = "rolled-back"
    # A rollback refused before anything was changed (not a failed rollback).
    ROLLBACK_REFUSED = "rollback-refused"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"


class GateOutcome(enum.StrEnum):
    """One evaluation of the gate: three outcomes, and the error path.

    PASS: every trigger has data and none is breached (one may be over its
    threshold for less than its window: pending). BREACH: a trigger held its
    condition for its whole window. INCONCLUSIVE: a trigger has no data, so no
    verdict. ERROR: the provider (Prometheus) could not be asked, so there was
    no evaluation at all. Inconclusive and error each have their own limit.
    """

    PASS = "pass"
    BREACH = "breach"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


class ExitCode(enum.IntEnum):
    """Process exit codes, documented in ``--help`` and the README."""

    DONE = 0
    ERROR = 1
    REFUSED = 2
    ROLLED_BACK = 3
    HELD = 4


def other_colour(colour: Colour) -> Colour:
    return "green" if colour == "blue" else "blue"


def parse_colour(value: str, *, what: str = "colour") -> Colour:
    if value == "blue":
        return "blue"
    if value == "green":
        return "green"
    raise ValueError(f"{what}: {value!r} is not a colour; allowed: blue, green")


@dataclass(frozen=True)
class TrafficState:
    """Where traffic goes: the active colour and the standby colour's share."""

    active: Colour
    standby_weight: int

    @classmethod
    def of(cls, traffic: TrafficSettings) -> TrafficState:
        return cls(active=traffic.active_color, standby_weight=traffic.standby_weight)

    @property
    def standby(self) -> Colour:
        return other_colour(self.active)

    def weight_of(self, colour: Colour) -> int:
        """Share of traffic (0-100) that ``colour`` receives."""
        return 100 - self.standby_weight if colour == self.active else self.standby_weight

    def as_config(self) -> dict[str, str]:
        """The stack config keys that hold this state."""
        return {"activeColor": self.active, "standbyWeight": str(self.standby_weight)}

    def describe(self) -> str:
        if self.standby_weight == 0:
            return f"{self.active} 100%"
        return f"{self.active} {100 - self.standby_weight}% / {self.standby} {self.standby_weight}%"


def state_for_weight(source: Colour, target: Colour, weight: int) -> TrafficState:
    """Traffic state that sends ``weight`` percent to ``target`` (the rest to ``source``).

    At 100 the target becomes the active colour, so the standby weight is 0.
    """
    if source == target:
        raise ValueError(f"source and target colour are both {source}")
    if not 0 <= weight <= 100:
        raise ValueError(f"weight {weight} is outside 0-100")
    if weight == 100:
        return TrafficState(active=target, standby_weight=0)
    return TrafficState(active=source, standby_weight=weight)


@dataclass(frozen=True)
class Outcome:
    """How a command ended: its exit code, what to tell the user, and the rollout."""

    code: ExitCode
    message: str
    rollout_id: str = ""
