"""The colour taking traffic, watched for availability during a hold.

Refused connections never reach the application's metrics, and a pod whose
readiness is off stays scraped (``up`` = 1): a colour with no ready pods
looks healthy to every Prometheus trigger where kube-state-metrics does not
run (dev). The Deployments in the API server do know: each evaluation of the
hold reads them (one ``kubectl get`` list, as before each step) and adds an
``availability`` verdict to the gate's result. Not Available for the whole
health window (``--health-window``) is a breach, so the step rolls back like
any other; an API server that cannot be asked gives no verdict (missing),
which never promotes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from components.settings import PlatformSettings
from kgot_rollout._cluster import DeploymentStatus, not_serving
from kgot_rollout._exceptions import RolloutError
from kgot_rollout._triggers import GateResult, Status, TriggerSpec, Verdict
from kgot_rollout._types import Colour, TrafficState

# The verdict's trigger name, in samples, logs and `report`.
AVAILABILITY = "availability"


@dataclass
class AvailabilityWatch:
    """Adds an ``availability`` verdict for the colour a hold judges."""

    settings: PlatformSettings
    # The colour's Deployments as the API server has them (Engine.deployments).
    read: Callable[[str, Colour], Mapping[str, DeploymentStatus]]
    window_seconds: float
    # Since when the colour has been short of Available (None: it is Available).
    _short_since: float | None = field(default=None, init=False)
    _colour: Colour | None = field(default=None, init=False)

    def spec(self, colour: Colour) -> TriggerSpec:
        return TriggerSpec(
            AVAILABILITY,
            f"Deployments of {colour} in {self.settings.namespace} (Kubernetes API)",
            1.0,
            "<",
            self.window_seconds,
        )

    def verdict(self, colour: Colour, now: float) -> Verdict:
        """The share of the colour's Deployments Available at full size, judged over the window."""
        if colour != self._colour:
            self._colour, self._short_since = colour, None
        spec = self.spec(colour)
        try:
            live = self.read(self.settings.namespace, colour)
        except RolloutError as exc:
            # No answer says nothing about the pods: missing, never a pass.
            return Verdict(spec, Status.MISSING, reason=str(exc))
        # A colour with any share of traffic runs at full size.
        missing = not_serving(self.settings, TrafficState(colour, 0), colour, live)
        total = len(self.settings.services)
        value = (total - len(missing)) / total if total else 1.0
        if not missing:
            self._short_since = None
            return Verdict(spec, Status.OK, value=value)
        self._short_since = now if self._short_since is None else self._short_since
        status = Status.BREACH if now - self._short_since >= spec.window_seconds else Status.PENDING
        return Verdict(
            spec,
            status,
            value=value,
            breaching_since=self._short_since,
            reason="not Available: " + ", ".join(missing),
        )

    def extend(self, result: GateResult, colour: Colour) -> GateResult:
        """``result`` with the colour's availability verdict added."""
        verdict = self.verdict(colour, result.at)
        return dataclasses.replace(result, verdicts=(*result.verdicts, verdict))
