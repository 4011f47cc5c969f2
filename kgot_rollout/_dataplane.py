"""The gate checks that the data plane follows: the route is taken, the split is served.

Between a step's ``up`` and its hold, the tool waits (at most
``rollback.dataPlane.routeStatus.timeoutSeconds``) for the controller to take
every route of the stack for the generation just applied. A route the
controller refuses stops the shift as a breach does (it is rolled back: the
proxy answers part of the traffic with errors, or not with the step); one it
never reports in time stops it as missing data does (``onMissingData``).
During the hold, once enough requests went through, the split the gateway
served (its per-backend request counters) is compared with the step's weight;
a split off by more than the tolerance for ``split.windowSeconds`` breaches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from kgot_contract import HTTP_ROUTE, INGRESS, Backend

from components.settings import PlatformSettings, SplitCheck
from kgot_rollout import _gateway_metrics as gateway_metrics
from kgot_rollout._clock import Clock
from kgot_rollout._console import Console
from kgot_rollout._exceptions import RolloutError
from kgot_rollout._gate import Gate
from kgot_rollout._hold import HoldResult
from kgot_rollout._journal import Journal
from kgot_rollout._prometheus import MetricsSource
from kgot_rollout._route_status import RouteReader, RouteReport, RouteState, route_reports
from kgot_rollout._triggers import GateResult, Status, TriggerSpec, Verdict
from kgot_rollout._types import Colour, GateOutcome, TrafficState

ROUTE = "route"
SPLIT = "split"
# Traefik applies a new configuration up to providers.providersThrottleDuration
# (2 s by default) after it saw it; requests before that took the old split.
SETTLE_SECONDS = 2.0
# How often the route status is read while waiting.
POLL_SECONDS = 1.0


@dataclass(eq=False)
class RouteCheck:
    """The route wait as a trigger, so its ending reads like any other gate's."""

    timeout_seconds: float
    kind: str

    def condition(self) -> str:
        if self.kind == INGRESS.kind:
            return (
                f"every Ingress served (a load-balancer address) within {self.timeout_seconds:g}s"
            )
        return (
            "every HTTPRoute Accepted and ResolvedRefs for the generation applied "
            f"within {self.timeout_seconds:g}s"
        )

    def judge(self, spec: TriggerSpec, now: float) -> Verdict:
        raise NotImplementedError("the route wait runs before the hold, not in it")


@dataclass(eq=False)
class SplitJudge:
    """The share of the gateway's requests the colour under test received since the step."""

    source: MetricsSource
    # The colour's (and the other backend's) requests since the step; `$window` left open.
    colour_requests: str
    other_requests: str
    colour: Colour
    weight: int
    since: float
    check: SplitCheck
    off_since: float | None = field(default=None)

    def condition(self) -> str:
        c = self.check
        return (
            f"split: {self.colour} gets {self.weight}% of the gateway's requests "
            f"(within {c.sigmas:g} sigma, at least {c.floor:.0%}, once {c.min_requests} "
            f"went through; off for {c.window_seconds}s stops the shift)"
        )

    def _count(self, template: str, window: str, now: float) -> float:
        values = self.source.query(template.replace("$window", window), now)
        return sum(v for v in values if math.isfinite(v))

    def judge(self, spec: TriggerSpec, now: float) -> Verdict:
        elapsed = now - self.since
        if elapsed < 1.0:
            return Verdict(spec, Status.MISSING, reason="the step's split is not served yet")
        window = f"{int(elapsed)}s"
        mine = self._count(self.colour_requests, window, now)
        total = mine + self._count(self.other_requests, window, now)
        if total < self.check.min_requests:
            self.off_since = None
            return Verdict(
                spec,
                Status.MISSING,
                reason=f"{total:.0f} requests through the gateway since the step, fewer "
                f"than {self.check.min_requests}: no verdict yet",
            )
        expected = self.weight / 100
        share = mine / total
        tolerance = max(
            self.check.sigmas * math.sqrt(expected * (1 - expected) / total), self.check.floor
        )
        observed = (
            f"observed split: {self.colour} {share:.1%} of {total:.0f} requests "
            f"(step {self.weight}%, tolerance {tolerance:.1%})"
        )
        if abs(share - expected) <= tolerance:
            self.off_since = None
            return Verdict(spec, Status.OK, value=share, reason=observed)
        self.off_since = now if self.off_since is None else self.off_since
        status = (
            Status.BREACH if now - self.off_since >= self.check.window_seconds else Status.PENDING
        )
        return Verdict(spec, status, value=share, breaching_since=self.off_since, reason=observed)


def data_plane_checks(settings: PlatformSettings) -> str:
    """``; data plane: ...`` naming the checks a stack turned on, for the shift's first line."""
    checks = settings.rollback.data_plane
    named = []
    if checks.route_status.enabled:
        named.append(f"routes taken within {checks.route_status.timeout_seconds}s")
    if checks.split.enabled:
        named.append(f"split served (from {checks.split.min_requests} requests)")
    return f"; data plane: {', '.join(named)}" if named else ""


@dataclass(frozen=True)
class StepChecks:
    """The triggers a step holds on, or what ended it before its hold."""

    specs: tuple[TriggerSpec, ...]
    stopped: HoldResult | None = None


@dataclass
class DataPlane:
    read: RouteReader
    journal: Journal
    console: Console
    clock: Clock

    def before_hold(
        self,
        settings: PlatformSettings,
        gate: Gate,
        state: TrafficState,
        colour: Colour,
        specs: tuple[TriggerSpec, ...],
        *,
        rollout: str,
        label: str,
    ) -> StepChecks:
        """Wait for the routes, then add the split check to the step's triggers."""
        checks = settings.rollback.data_plane
        if checks.route_status.enabled:
            stopped = self.wait_for_routes(settings, rollout=rollout, label=label)
            if stopped is not None:
                return StepChecks(specs, stopped)
        if checks.split.enabled:
            specs = (*specs, self.split_spec(settings, gate, state, colour))
        return StepChecks(specs)

    def split_spec(
        self, settings: PlatformSettings, gate: Gate, state: TrafficState, colour: Colour
    ) -> TriggerSpec:
        values = gateway_metrics.variables(settings, state, colour)
        mine = gateway_metrics.backend_of(state, colour)
        other = Backend.STANDBY if mine is Backend.ACTIVE else Backend.ACTIVE
        template = gate.queries.gateway_requests
        colour_requests = gateway_metrics.render_gateway(template, values)
        other_requests = gateway_metrics.render_gateway(
            template, {**values, "backend": gateway_metrics.backends(settings, other)}
        )
        check = settings.rollback.data_plane.split
        judge = SplitJudge(
            gate.source,
            colour_requests,
            other_requests,
            colour,
            state.weight_of(colour),
            since=self.clock.now() + SETTLE_SECONDS,
            check=check,
        )
        return TriggerSpec(
            SPLIT,
            colour_requests,
            state.weight_of(colour) / 100,
            ">",
            float(check.window_seconds),
            metric="gateway:split",
            source="gateway",
            judge=judge,
        )

    def _reports(self, settings: PlatformSettings) -> list[RouteReport]:
        controller = settings.rollback.data_plane.route_status.controller_name
        services = gateway_metrics.routed_services(settings)
        if settings.traffic_routing == "ingress":
            names = [n for s in services for n in (s, f"{s}-canary")]
            return route_reports(self.read, settings.namespace, INGRESS, names, controller)
        return route_reports(self.read, settings.namespace, HTTP_ROUTE, services, controller)

    def wait_for_routes(
        self, settings: PlatformSettings, *, rollout: str, label: str
    ) -> HoldResult | None:
        """None once every route is served; else the result that stops the step."""
        gateway_metrics.check_routed(settings, "rollback.dataPlane.routeStatus")
        timeout = float(settings.rollback.data_plane.route_status.timeout_seconds)
        kind = INGRESS.kind if settings.traffic_routing == "ingress" else HTTP_ROUTE.kind
        spec = TriggerSpec(
            ROUTE, kind, None, ">", timeout, metric=f"route:{kind}", judge=RouteCheck(timeout, kind)
        )
        start = self.clock.now()
        while True:
            now = self.clock.now()
            try:
                reports = self._reports(settings)
            except RolloutError as exc:
                # The API server did not answer: nothing is known of the routes yet.
                reports = [RouteReport(kind, settings.namespace, "*", RouteState.WAITING, str(exc))]
            refused = [r for r in reports if r.state is RouteState.REFUSED]
            if refused:
                verdict = Verdict(spec, Status.BREACH, breaching_since=now, reason=_list(refused))
                return HoldResult(GateOutcome.BREACH, GateResult(at=now, verdicts=(verdict,)))
            waiting = [r for r in reports if r.state is RouteState.WAITING]
            if not waiting:
                served = [r for r in reports if r.state is RouteState.SERVED]
                self.journal.log(
                    f"routes served after {now - start:.1f}s: {len(served)} {kind}s",
                    rollout=rollout,
                    not_checked=_list([r for r in reports if r.state is RouteState.NOT_CHECKED])
                    or "none",
                )
                return None
            if now - start >= timeout:
                verdict = Verdict(spec, Status.MISSING, reason=_list(waiting))
                why = (
                    f"the gateway did not report the routes served within {timeout:g}s: "
                    f"{verdict.describe()}"
                )
                return HoldResult(
                    GateOutcome.INCONCLUSIVE, GateResult(at=now, verdicts=(verdict,)), why=why
                )
            self.console.status(
                f"{label} waiting for the gateway ({now - start:.0f}/{timeout:g}s): "
                f"{waiting[0].describe()}"
            )
            self.clock.sleep(max(0.0, now + POLL_SECONDS - self.clock.now()))


def _list(reports: list[RouteReport]) -> str:
    return "; ".join(r.describe() for r in reports)
