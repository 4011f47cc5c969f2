"""The gate checks that the data plane follows: against a fake engine, a fake controller
(route status) and the gateway's request counters.

A route the controller refuses rolls the shift back naming the condition; a
controller that never reports the generation applied holds it after the
wait; a split off the step's weight rolls back naming the split; too few
requests give no verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from rollout_fakes import FakeClock, FakeEngine, dev_config, healthy
from rollout_gateway import Controller, FakeRoutes, GatewayMetrics
from rollout_harness import Harness

from components.settings import SplitCheck, parse_settings
from kgot_rollout._dataplane import SplitJudge
from kgot_rollout._triggers import Status, TriggerSpec
from kgot_rollout._types import ExitCode

pytestmark = pytest.mark.rollout

ROUTE_TIMEOUT = 20


def _config(data_plane: Mapping[str, object], **overrides: object) -> dict[str, object]:
    config = dev_config(**overrides)
    rollback = dict(config["rollback"])  # type: ignore[call-overload]
    rollback["dataPlane"] = data_plane
    config["rollback"] = rollback
    return config


ROUTES_ON = {"routeStatus": {"enabled": True, "timeoutSeconds": ROUTE_TIMEOUT}}
SPLIT_ON = {"split": {"enabled": True, "minRequests": 100, "windowSeconds": 10}}


def gateway_harness(
    tmp_path: Path, data_plane: Mapping[str, object], routes: FakeRoutes | None = None
) -> Harness:
    engine = FakeEngine.for_config(_config(data_plane))
    services = tuple(s.name for s in parse_settings(engine.get_config(), "dev").services)
    metrics = GatewayMetrics(services=services)
    healthy(metrics, "blue", "green")
    fake_routes = routes or FakeRoutes()
    fake_routes.services = services

    def on_up(applied: Mapping[str, str]) -> None:
        fake_routes.bump(applied)
        metrics.route(applied)

    engine.on_up = on_up
    metrics.route(engine.applied)
    return Harness(tmp_path, engine, metrics, FakeClock(), routes=fake_routes)


def events(h: Harness, name: str) -> list[dict[str, object]]:
    return [e for e in h.history() if e["event"] == name]


def test_routes_accepted_for_the_generation_applied_let_the_shift_through(
    tmp_path: Path,
) -> None:
    routes = FakeRoutes(lag_reads=3)
    h = gateway_harness(tmp_path, ROUTES_ON, routes)
    code = h.run("shift", "--to", "green", "--steps", "50,100", "--hold", "10")
    assert code == ExitCode.DONE, h.stderr
    assert h.engine.applied_traffic == ("green", 0)
    # Each step waited for the controller to catch up with its generation (3 stale reads).
    assert h.log().count("routes served after 3.0s: 5 HTTPRoutes") == 2


def test_a_route_the_controller_refuses_rolls_back_naming_the_condition(tmp_path: Path) -> None:
    h = gateway_harness(tmp_path, ROUTES_ON, FakeRoutes(controller=Controller.REFUSE))
    code = h.run("shift", "--to", "green", "--steps", "25,100", "--hold", "10")
    assert code == ExitCode.ROLLED_BACK, h.stderr
    assert h.engine.applied_traffic == ("blue", 0)
    breach = events(h, "breach")[0]
    assert breach["trigger"] == "route"
    reason = str(breach["reason"])
    assert "HTTPRoute kgot-dev/controller" in reason
    assert "Accepted=False (NotAllowedByListeners: no listener of Gateway" in reason
    assert "rolled back to blue" in h.stdout


def test_a_stale_observed_generation_is_waited_for_then_holds(tmp_path: Path) -> None:
    h = gateway_harness(tmp_path, ROUTES_ON, FakeRoutes(controller=Controller.STALE))
    start = h.clock.now()
    code = h.run("shift", "--to", "green", "--steps", "25,100", "--hold", "10")
    assert code == ExitCode.HELD, h.stderr
    # Held where the step left it (onMissingData: hold), after the whole wait.
    assert h.engine.applied_traffic == ("blue", 25)
    assert h.clock.now() - start >= ROUTE_TIMEOUT
    held = events(h, "missing-data")[0]
    reason = str(held["reason"])
    assert f"did not report the routes served within {ROUTE_TIMEOUT}s" in reason
    assert "Accepted reported for generation 1, not yet for 2" in reason
    assert "never promoted" in h.stdout


def test_a_split_off_the_weight_rolls_back_naming_the_observed_split(tmp_path: Path) -> None:
    h = gateway_harness(tmp_path, SPLIT_ON)
    assert isinstance(h.metrics, GatewayMetrics)
    h.metrics.served_share = 0.02  # the proxy sends green 2% whatever the route says
    code = h.run("shift", "--to", "green", "--steps", "25,100", "--hold", "60")
    assert code == ExitCode.ROLLED_BACK, h.stderr
    breach = events(h, "breach")[0]
    assert breach["trigger"] == "split"
    assert "observed split: green 2.0% of" in str(breach["reason"])
    assert "(step 25%, tolerance 5.0%)" in str(breach["reason"])
    assert h.engine.applied_traffic == ("blue", 0)


def test_a_split_within_tolerance_passes(tmp_path: Path) -> None:
    h = gateway_harness(tmp_path, SPLIT_ON)
    code = h.run("shift", "--to", "green", "--steps", "25,100", "--hold", "20")
    assert code == ExitCode.DONE, h.stderr
    assert h.engine.applied_traffic == ("green", 0)
    assert "; data plane: split served (from 100 requests)" in h.stderr
    log = h.log()
    assert "observed split: green 25.0% of" in log
    assert "observed split: green 100.0% of" in log


def test_too_few_requests_give_no_verdict_and_never_promote(tmp_path: Path) -> None:
    h = gateway_harness(tmp_path, SPLIT_ON)
    assert isinstance(h.metrics, GatewayMetrics)
    h.metrics.total_rps = 0.5  # 30 requests a minute: under 100 for the whole wait
    h.metrics.route(h.engine.applied)
    code = h.run("shift", "--to", "green", "--steps", "25,100", "--hold", "10")
    assert code == ExitCode.HELD, h.stderr
    assert h.engine.applied_traffic == ("blue", 25)
    reason = str(events(h, "missing-data")[0]["reason"])
    assert "fewer than 100: no verdict yet" in reason


def test_gateway_checks_need_a_route(tmp_path: Path) -> None:
    h = gateway_harness(tmp_path, ROUTES_ON)
    h.engine.config["trafficRouting"] = "selector"
    h.engine.applied["trafficRouting"] = "selector"
    code = h.run("shift", "--to", "green", "--steps", "100", "--hold", "10")
    assert code == ExitCode.REFUSED, h.stderr
    assert "trafficRouting selector, which has no route for a gateway" in h.stderr


class Counts:
    """Requests per backend for SplitJudge, as the gateway's counters would give them."""

    def __init__(self, mine: float, other: float) -> None:
        self.values = {"mine": mine, "other": other}

    def query(self, query: str, at: float | None = None) -> list[float]:
        return [self.values[query.split("[")[0]]]

    def check_online(self) -> None: ...

    def query_range(
        self, query: str, start: float, end: float, step: float
    ) -> list[list[tuple[float, float]]]:
        return []


def judge(mine: float, other: float, weight: int, **check: float) -> tuple[Status, str]:
    split = SplitJudge(
        Counts(mine, other),
        "mine[$window]",
        "other[$window]",
        "green",
        weight,
        since=0.0,
        check=SplitCheck.model_validate(check),
    )
    spec = TriggerSpec("split", "mine", weight / 100, ">", 10.0, judge=split)
    verdict = split.judge(spec, 60.0)
    return verdict.status, verdict.reason


@pytest.mark.parametrize(
    ("mine", "other", "weight", "check", "status"),
    [
        # 99 requests: no verdict, whatever the split.
        (0, 99, 25, {}, Status.MISSING),
        # 10,000 requests at 25%: 4 sigma is 1.7 points, the floor 5 points.
        (2400, 7600, 25, {}, Status.OK),
        (1900, 8100, 25, {}, Status.PENDING),
        # Without the floor, 4 sigma alone: 23% is off, 24% is not.
        (2300, 7700, 25, {"floor": 0.0}, Status.PENDING),
        (2400, 7600, 25, {"floor": 0.0}, Status.OK),
        # 200 requests at 10%: 4 sigma is 8.5 points.
        (4, 196, 10, {}, Status.OK),
        (1, 199, 10, {"floor": 0.0, "minRequests": 100}, Status.PENDING),
        # The last step: the colour being left may keep at most the floor.
        (960, 40, 100, {}, Status.OK),
        (900, 100, 100, {}, Status.PENDING),
    ],
)
def test_split_tolerance_is_binomial_with_a_floor(
    mine: float, other: float, weight: int, check: dict[str, float], status: Status
) -> None:
    assert judge(mine, other, weight, **check)[0] is status


def test_a_split_off_for_its_window_breaches() -> None:
    split = SplitJudge(
        Counts(0, 1000),
        "mine[$window]",
        "other[$window]",
        "green",
        50,
        since=0.0,
        check=SplitCheck.model_validate({"windowSeconds": 10}),
    )
    spec = TriggerSpec("split", "mine", 0.5, ">", 10.0, judge=split)
    assert split.judge(spec, 20.0).status is Status.PENDING
    assert split.judge(spec, 25.0).status is Status.PENDING
    verdict = split.judge(spec, 30.0)
    assert verdict.status is Status.BREACH
    assert verdict.breaching_since == 20.0
    assert "observed split: green 0.0% of 1000 requests (step 50%" in verdict.reason
