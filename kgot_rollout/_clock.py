"""The one place the rollout tool reads time: wall-clock time, sleeps and deadlines.

Everything that reads time takes a ``Clock``, so tests drive a fake one and the
journal, the gate and the samples agree on when things happened.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock time (seconds since the epoch), as Prometheus and the journal use."""
        ...

    def sleep(self, seconds: float) -> None: ...

    def monotonic(self) -> float:
        """For deadlines: never goes back, unrelated to the wall clock."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def monotonic(self) -> float:
        return time.monotonic()
