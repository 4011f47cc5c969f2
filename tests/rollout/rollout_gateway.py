"""A fake gateway for the rollout tests: the routes' status and Traefik's request counters.

``FakeRoutes`` plays the API server and the controller: each ``up`` that moves
weights bumps the routes' generation, and the controller reports it (or
refuses it, or lags) as the test asks. ``GatewayMetrics`` answers the split
check's query (``increase`` of ``traefik_service_requests_total`` over the
backends' labels) from request rates per Traefik label, computed with
tests/traefik_support.py, beside the recorded application series.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kgot_contract import RoutingKind
from rollout_fakes import SERVICES, RecordedMetrics

from tests import traefik_support as traefik

NAMESPACE = "kgot-dev"
CONTROLLER = "traefik.io/gateway-controller"
PARENT = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "kgot-platform"}


class Controller(enum.Enum):
    """What the fake controller reports of each generation."""

    ACCEPT = "accept"
    REFUSE = "refuse"
    # Never reports a generation after the first: a controller that stopped.
    STALE = "stale"


@dataclass
class FakeRoutes:
    # The Kubernetes names of the stack's services (a route each).
    services: tuple[str, ...] = SERVICES
    controller: Controller = Controller.ACCEPT
    generation: int = 1
    # Reads after an `up` before the controller reports the new generation.
    lag_reads: int = 0
    reason: str = "NotAllowedByListeners"
    message: str = "no listener of Gateway kgot-platform allows routes from kgot-dev"
    reads: int = 0
    _since_bump: int = 0

    def bump(self, applied: Mapping[str, str]) -> None:
        """An `up` applied new weights: the API server raises each route's generation."""
        self.generation += 1
        self._since_bump = 0

    def _observed(self) -> int:
        if self.controller is Controller.STALE:
            return 1
        return self.generation - 1 if self._since_bump <= self.lag_reads else self.generation

    def __call__(self, namespace: str, kind: RoutingKind) -> Sequence[Mapping[str, object]]:
        self.reads += 1
        self._since_bump += 1
        observed = self._observed()
        refused = self.controller is Controller.REFUSE and observed == self.generation
        conditions = [
            {
                "type": "Accepted",
                "status": "False" if refused else "True",
                "reason": self.reason if refused else "Accepted",
                "message": self.message if refused else "",
                "observedGeneration": observed,
            },
            {
                "type": "ResolvedRefs",
                "status": "True",
                "reason": "ResolvedRefs",
                "observedGeneration": observed,
            },
        ]
        return [
            {
                "metadata": {"name": svc, "namespace": namespace, "generation": self.generation},
                "spec": {"parentRefs": [PARENT]},
                "status": {
                    "parents": [
                        {
                            "parentRef": PARENT,
                            "controllerName": CONTROLLER,
                            "conditions": conditions,
                        }
                    ]
                },
            }
            for svc in self.services
        ]


_INCREASE = re.compile(
    r'^sum\(increase\(traefik_service_requests_total\{service=~"(.*)"\}\[([0-9]+)s\]\)\)$'
)


@dataclass
class GatewayMetrics(RecordedMetrics):
    """Recorded application series, and the gateway's requests per Traefik label."""

    services: tuple[str, ...] = SERVICES
    total_rps: float = 100.0
    # The standby backend's share the gateway serves (None: exactly the applied weight).
    served_share: float | None = None
    rps: dict[str, float] = field(default_factory=dict)

    def route(self, applied: Mapping[str, str]) -> None:
        """The gateway serves the applied weights (or ``served_share``)."""
        weight = int(applied["standbyWeight"]) / 100
        share = weight if self.served_share is None else self.served_share
        for svc in self.services:
            active, standby = traefik.backends("gateway", NAMESPACE, svc)
            self.rps[active] = self.total_rps * (1 - share)
            self.rps[standby] = self.total_rps * share

    def query(self, query: str, at: float | None = None) -> list[float]:
        match = _INCREASE.match(query)
        if match is None:
            return super().query(query, at)
        self.queries.append(query)
        pattern, seconds = match.group(1), float(match.group(2))
        return [sum(r * seconds for label, r in self.rps.items() if re.fullmatch(pattern, label))]
