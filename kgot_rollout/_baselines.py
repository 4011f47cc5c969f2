"""The active colour's latency before a shift: what the latency trigger compares with.

Measured once when a shift starts (or taken from the rollout it resumes), at
the application and, when the latency trigger reads the gateway, at the
gateway too: each source is compared with its own baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

from kgot_rollout._exceptions import MetricsUnavailableError, RefusedError
from kgot_rollout._gate import Gate
from kgot_rollout._journal import Rollout
from kgot_rollout._types import Colour, TrafficState


@dataclass(frozen=True)
class Baselines:
    """p95 latency of the active colour (None: no traffic to measure)."""

    application: float | None
    gateway: float | None = None

    def as_record(self) -> dict[str, float | None]:
        """The journal's keys (``baseline_p95`` as before the gateway was read)."""
        return {"baseline_p95": self.application, "baseline_gateway_p95": self.gateway}


def _recorded(resumed: Rollout | None, key: str) -> float | None:
    value = resumed.value(key) if resumed is not None else None
    return float(value) if isinstance(value, int | float) else None


def measure(
    gate: Gate, state: TrafficState, source: Colour, resumed: Rollout | None, at: float
) -> Baselines:
    """The baselines of ``source`` (the active colour of ``state``), or RefusedError."""
    application = _recorded(resumed, "baseline_p95")
    gateway = _recorded(resumed, "baseline_gateway_p95")
    try:
        if application is None:
            application = gate.baseline_latency(source, at)
        if gateway is None and gate.settings.rollback.latency.source != "application":
            gateway = gate.gateway_baseline_latency(state, at)
    except MetricsUnavailableError as exc:
        raise RefusedError(
            f"the baseline latency of {source} could not be measured: {exc}; nothing was applied"
        ) from exc
    return Baselines(application, gateway)
