"""`rollback.dataPlane`: what the rollout tool checks of the gateway between `up` and a verdict.

A step's weights are objects in the API server until a gateway serves them.
Before a step's hold the tool waits for the gateway controller to accept the
routes it just applied; during the hold it compares the split the gateway
served with the step's weight. Both read a real gateway (its status and its
Prometheus metrics), so both are off unless a stack turns them on.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from components.settings._types import ConfigModel, NonEmpty, Number

# Where a trigger reads its numbers: the application's own metrics, the
# gateway's per-backend metrics (errors the proxy makes: 502/503 while pods
# come and go, connections refused), or both (either may breach).
TriggerSource = Literal["application", "gateway", "both"]
SOURCE_DESCRIPTION = (
    "application: the services' own metrics; gateway: the gateway's per-backend metrics "
    "(counts the 502/503 the proxy answers itself); both: either breaches"
)


class RouteStatusCheck(ConfigModel):
    """Wait for the controller to accept the routes a step applied before its hold."""

    enabled: bool = Field(
        default=False,
        description="before each hold, wait until the controller reports every route of the "
        "stack Accepted and ResolvedRefs for the generation just applied (an Ingress: a "
        "load-balancer address)",
    )
    timeout_seconds: Annotated[int, Field(ge=1, le=3600)] = Field(
        default=60,
        description="how long to wait; a route still not reported then holds the shift "
        "(onMissingData); a route the controller refuses rolls back as a breach",
    )
    controller_name: NonEmpty = Field(
        default="traefik.io/gateway-controller",
        description="the controller whose entries of status.parents count",
    )


class SplitCheck(ConfigModel):
    """Compare the split the gateway served with the step's weight."""

    enabled: bool = Field(
        default=False,
        description="judge the share of requests the gateway sent to the colour under test "
        "(its per-backend request counters) against the step's weight",
    )
    min_requests: Annotated[int, Field(ge=10, le=1_000_000)] = Field(
        default=100,
        description="requests through the stack's routes since the step before the split is "
        "judged; fewer: no verdict yet (the gate stays inconclusive)",
    )
    sigmas: Annotated[Number, Field(ge=1.0, le=10.0)] = Field(
        default=4.0,
        description="tolerance in binomial standard deviations, sqrt(w(1-w)/n)",
    )
    floor: Annotated[Number, Field(ge=0.0, le=0.5)] = Field(
        default=0.05,
        description="the smallest tolerance on the share (0.05: five percentage points)",
    )
    window_seconds: Annotated[int, Field(ge=5, le=3600)] = Field(
        default=30,
        description="a split off by more than the tolerance this long stops the shift "
        "(rolled back, as a breach)",
    )


class DataPlaneChecks(ConfigModel):
    """Checks that the gateway serves what a step applied (off by default: they need one)."""

    route_status: RouteStatusCheck = Field(default_factory=RouteStatusCheck)
    split: SplitCheck = Field(default_factory=SplitCheck)

    @property
    def any(self) -> bool:
        return self.route_status.enabled or self.split.enabled
