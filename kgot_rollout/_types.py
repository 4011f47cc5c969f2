"""Small value types shared by the rollout modules."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from components.settings import Color, TrafficSettings

# The program's colours (stack config's activeColor), in the rollout's words.
Colour = Color


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
