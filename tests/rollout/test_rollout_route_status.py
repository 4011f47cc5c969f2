"""Reading a controller's report of a route: HTTPRoute conditions per parent, an
Ingress's load-balancer address; and the wait for them in ingress mode."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from kgot_contract import INGRESS, RoutingKind
from rollout_fakes import FakeClock, FakeEngine, RecordedMetrics, dev_config, healthy
from rollout_harness import Harness

from components.settings import parse_settings
from kgot_rollout._route_status import RouteState, judge_http_route, judge_ingress
from kgot_rollout._types import ExitCode

pytestmark = pytest.mark.rollout

CONTROLLER = "traefik.io/gateway-controller"
GATEWAY = {"name": "kgot-platform", "sectionName": "https"}


def route(
    *conditions: tuple[str, str, int],
    parents: Sequence[Mapping[str, object]] = (GATEWAY,),
    controller: str = CONTROLLER,
) -> dict[str, object]:
    return {
        "metadata": {"name": "controller", "namespace": "kgot-dev", "generation": 4},
        "spec": {"parentRefs": list(parents)},
        "status": {
            "parents": [
                {
                    "parentRef": parent,
                    "controllerName": controller,
                    "conditions": [
                        {
                            "type": kind,
                            "status": status,
                            "observedGeneration": observed,
                            "reason": "BackendNotFound" if status != "True" else kind,
                            "message": "service kgot-dev/controller-preview not found",
                        }
                        for kind, status, observed in conditions
                    ],
                }
                for parent in parents
            ]
        },
    }


def test_both_conditions_true_for_the_generation_is_served() -> None:
    report = judge_http_route(
        route(("Accepted", "True", 4), ("ResolvedRefs", "True", 5)), CONTROLLER
    )
    assert report.state is RouteState.SERVED


def test_an_older_generation_is_waited_for() -> None:
    report = judge_http_route(
        route(("Accepted", "True", 3), ("ResolvedRefs", "True", 3)), CONTROLLER
    )
    assert report.state is RouteState.WAITING
    assert "Accepted reported for generation 3, not yet for 4" in report.describe()


def test_a_false_condition_for_the_generation_is_refused_with_its_reason() -> None:
    report = judge_http_route(
        route(("Accepted", "True", 4), ("ResolvedRefs", "False", 4)), CONTROLLER
    )
    assert report.state is RouteState.REFUSED
    assert report.describe() == (
        "HTTPRoute kgot-dev/controller: Gateway kgot-platform listener https: "
        "ResolvedRefs=False (BackendNotFound: service kgot-dev/controller-preview not found) "
        "for generation 4"
    )


def test_a_false_condition_of_an_older_generation_is_only_waited_for() -> None:
    report = judge_http_route(
        route(("Accepted", "False", 3), ("ResolvedRefs", "True", 4)), CONTROLLER
    )
    assert report.state is RouteState.WAITING


def test_another_controllers_status_does_not_count() -> None:
    conditions = (("Accepted", "True", 4), ("ResolvedRefs", "True", 4))
    report = judge_http_route(route(*conditions, controller="example.com/other"), CONTROLLER)
    assert report.state is RouteState.WAITING
    assert f"no status from {CONTROLLER} yet" in report.describe()


def test_a_route_whose_parent_is_a_service_is_not_checked() -> None:
    gamma = {"group": "", "kind": "Service", "name": "controller"}
    report = judge_http_route(route(parents=[gamma]), CONTROLLER)
    assert report.state is RouteState.NOT_CHECKED


def test_every_gateway_parent_must_report() -> None:
    internal = {"name": "kgot-platform", "sectionName": "internal"}
    obj = route(("Accepted", "True", 4), ("ResolvedRefs", "True", 4))
    spec = obj["spec"]
    assert isinstance(spec, dict)
    spec["parentRefs"] = [GATEWAY, internal]
    report = judge_http_route(obj, CONTROLLER)
    assert report.state is RouteState.WAITING
    assert "listener internal: no status" in report.describe()


def ingress(name: str, address: str | None) -> dict[str, object]:
    balancer = [{"ip": address}] if address else []
    return {
        "metadata": {"name": name, "namespace": "kgot-dev"},
        "status": {"loadBalancer": {"ingress": balancer}},
    }


def test_an_ingress_is_served_once_it_has_an_address() -> None:
    assert judge_ingress(ingress("controller", "10.96.0.10")).state is RouteState.SERVED
    waiting = judge_ingress(ingress("controller-canary", None))
    assert waiting.state is RouteState.WAITING
    assert "no load-balancer address" in waiting.describe()


@pytest.mark.parametrize(
    ("address", "code"), [("10.96.0.10", ExitCode.DONE), (None, ExitCode.HELD)]
)
def test_ingress_mode_waits_for_the_pair_of_each_public_service(
    tmp_path: Path, address: str | None, code: ExitCode
) -> None:
    config = dev_config(trafficRouting="ingress")
    rollback = dict(config["rollback"])  # type: ignore[call-overload]
    rollback["dataPlane"] = {"routeStatus": {"enabled": True, "timeoutSeconds": 10}}
    config["rollback"] = rollback
    engine = FakeEngine.for_config(config)
    public = [s.name for s in parse_settings(engine.get_config(), "dev").services if s.public]
    asked: list[str] = []

    def read(namespace: str, kind: RoutingKind) -> list[Mapping[str, object]]:
        asked.append(kind.kind)
        return [ingress(n, address) for s in public for n in (s, f"{s}-canary")]

    metrics = RecordedMetrics()
    healthy(metrics, "blue", "green")
    h = Harness(tmp_path, engine, metrics, FakeClock(), routes=read)
    assert h.run("shift", "--to", "green", "--steps", "50,100", "--hold", "10") == code, h.stderr
    assert set(asked) == {INGRESS.kind}
    if code is ExitCode.HELD:
        assert f"Ingress kgot-dev/{public[0]}: no load-balancer address" in h.stdout
