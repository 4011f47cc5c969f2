"""The fast rollback: routing restored through the Kubernetes API, then the state.

On a breach (and with ``rollback --fast``) the previous traffic state goes to
the config, the routing objects are applied as their field managers, then the
targeted update runs; when it fails, traffic stays restored and ``status`` says
the state is behind until ``rollback`` or an ``up`` reconciles it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from kgot_contract import COLOR_LABEL
from pulumi.automation.events import OpType
from rollout_fakes import FakeEngine, dev_config, healthy
from rollout_harness import Harness, make_harness

from kgot_rollout._cluster import carries_live_traffic, resource_path, routed_to
from kgot_rollout._engine import ResourceStep
from kgot_rollout._exceptions import RolloutError
from kgot_rollout._types import ExitCode, TrafficState

pytestmark = pytest.mark.rollout

SERVICES = ("controller", "graph-store")


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


def events(h: Harness, name: str) -> list[dict[str, object]]:
    return [e for e in h.history() if e["event"] == name]


def breach_green_at_second_step(h: Harness) -> None:
    healthy(h.metrics, "blue", "green")
    breach_at = h.clock.now() + 30.0
    h.metrics.set("error_rate", "green", lambda t: 0.30 if t >= breach_at else 0.01)


def route_weights(h: Harness, service: str) -> dict[object, object]:
    spec = h.engine.routing[f"HTTPRoute/{service}"]["spec"]
    assert isinstance(spec, dict)
    return {ref["name"]: ref["weight"] for ref in spec["rules"][0]["backendRefs"]}


def test_a_breach_restores_routing_through_the_api_before_the_update(harness: Harness) -> None:
    breach_green_at_second_step(harness)
    order: list[str] = []
    harness.engine.on_up = lambda applied: order.append("up")
    code = harness.run("shift", "--to", "green", "--steps", "25,50,100", "--hold", "20")
    assert code == ExitCode.ROLLED_BACK, harness.stderr
    calls = [name for name, _ in harness.engine.calls]
    applied_at = calls.index("apply_routing")
    # Config written first, then the API, then the targeted update.
    assert calls[applied_at - 1] == "set_config"
    assert calls[applied_at + 1 :].count("up") == 1
    # Read right after the step's update, the state is the cluster: only what
    # the rollback moves is applied (50 % -> 0 %: the routes, not the Services).
    applied = next(c[1] for c in harness.engine.calls if c[0] == "apply_routing")
    assert applied == [f"HTTPRoute/{svc}" for svc in SERVICES]
    for svc in SERVICES:
        assert route_weights(harness, svc) == {svc: 100, f"{svc}-preview": 0}
        assert harness.engine.selector_colour(svc) == "blue"
    assert harness.engine.applied_traffic == ("blue", 0)
    rolled = events(harness, "rolled-back")[0]
    assert (rolled["fast"], rolled["reconciled"], rolled["success"]) == (True, True, True)
    assert "routing restored in the API server: 2 objects carrying traffic" in harness.log(
        "rollback.log"
    )
    assert harness.run("status", "--json") == 0
    data = json.loads(harness.stdout)
    assert (data["inSync"], data["stateBehind"]) == (True, False)


def test_a_breach_applies_routing_read_before_the_decision(harness: Harness) -> None:
    """The state is read after each step's update, not between breach and restore."""
    breach_green_at_second_step(harness)
    code = harness.run("shift", "--to", "green", "--steps", "25,50,100", "--hold", "20")
    assert code == ExitCode.ROLLED_BACK, harness.stderr
    calls = [name for name, _ in harness.engine.calls]
    applied_at = calls.index("apply_routing")
    last_up = max(i for i, name in enumerate(calls[:applied_at]) if name == "up")
    # One read after each step's update (two steps ran), none from the breach on.
    assert calls[:applied_at].count("routing_objects") == 2
    assert calls[last_up + 1] == "routing_objects"
    assert "routing_objects" not in calls[last_up + 2 : applied_at]


def test_a_manual_fast_rollback_reads_the_state_itself(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    assert harness.run("shift", "--to", "green", "--steps", "50", "--hold", "5") == 0
    harness.engine.calls.clear()
    assert harness.run("rollback", "--fast") == ExitCode.DONE, harness.stderr
    calls = [name for name, _ in harness.engine.calls]
    assert calls.index("routing_objects") < calls.index("apply_routing")
    # The state may be behind the cluster here: every colour's object is applied,
    # those carrying users' traffic first, the preview Services (standby at 0 %) after.
    live, rest = (c[1] for c in harness.engine.calls if c[0] == "apply_routing")
    assert live == [f"{kind}/{svc}" for svc in SERVICES for kind in ("Service", "HTTPRoute")]
    assert rest == [f"Service/{svc}-preview" for svc in SERVICES]
    assert harness.engine.selector_colour("controller") == "blue"


def test_updates_that_only_change_routing_skip_checkpoints(harness: Harness) -> None:
    """Steps whose preview is routing only, and every rollback update, run in place."""
    breach_green_at_second_step(harness)
    code = harness.run("shift", "--to", "green", "--steps", "25,50,100", "--hold", "20")
    assert code == ExitCode.ROLLED_BACK, harness.stderr
    ups = harness.engine.ups()
    assert len(ups) == 3
    assert [u["in_place"] for u in ups] == [True, True, True]


def test_a_step_that_changes_more_than_routing_keeps_checkpoints(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.engine.extra_changes.append(
        ResourceStep(
            "urn:pulumi:dev::kgot-platform::kubernetes:core/v1:ConfigMap::extra",
            "kubernetes:core/v1:ConfigMap",
            OpType.CREATE,
        )
    )
    code = harness.run(
        "shift", "--to", "green", "--steps", "50", "--hold", "5", "--allow-non-routing"
    )
    assert code == 0, harness.stderr
    assert [u["in_place"] for u in harness.engine.ups()] == [False]


def test_a_failed_reconcile_leaves_traffic_restored_and_status_tells_the_truth(
    harness: Harness,
) -> None:
    breach_green_at_second_step(harness)

    def fail_after_the_second_step(applied: Mapping[str, str]) -> None:
        # The breach comes during the second step's hold; its rollback's update fails.
        harness.engine.fail_up = len(harness.engine.ups()) >= 2

    harness.engine.on_up = fail_after_the_second_step
    code = harness.run("shift", "--to", "green", "--steps", "25,50,100", "--hold", "20")
    assert code == ExitCode.ROLLED_BACK, harness.stderr
    # The API server routes everything to blue; the state still records 50 %.
    for svc in SERVICES:
        assert route_weights(harness, svc) == {svc: 100, f"{svc}-preview": 0}
    assert harness.engine.traffic == ("blue", 0)
    assert harness.engine.applied_traffic == ("blue", 50)
    rolled = events(harness, "rolled-back")[0]
    assert (rolled["fast"], rolled["reconciled"], rolled["success"]) == (True, False, True)
    assert "state behind" in harness.log("rollback.log")
    assert harness.run("status") == 0
    assert "the stack's state is BEHIND" in harness.stdout
    assert "standbyWeight=50" in harness.stdout
    # The next rollback heals it: one targeted update, no second flip.
    harness.engine.fail_up = False
    harness.engine.on_up = None
    assert harness.run("rollback") == ExitCode.DONE, harness.stderr
    assert "state now records it" in harness.stdout
    assert harness.engine.applied_traffic == ("blue", 0)
    assert harness.engine.ups()[-1]["target"] == harness.engine.routing_urns()
    assert harness.run("status", "--json") == 0
    data = json.loads(harness.stdout)
    assert (data["inSync"], data["stateBehind"]) == (True, False)


def test_when_the_api_refuses_the_update_restores_routing(harness: Harness) -> None:
    breach_green_at_second_step(harness)
    harness.engine.fail_apply = True
    code = harness.run("shift", "--to", "green", "--steps", "25,50,100", "--hold", "20")
    assert code == ExitCode.ROLLED_BACK, harness.stderr
    assert "fast path failed" in harness.log("rollback.log")
    assert harness.engine.applied_traffic == ("blue", 0)
    for svc in SERVICES:
        assert route_weights(harness, svc) == {svc: 100, f"{svc}-preview": 0}
    rolled = events(harness, "rolled-back")[0]
    assert (rolled["fast"], rolled["reconciled"]) == (False, True)


def test_a_manual_rollback_takes_the_fast_path_only_with_fast(tmp_path: Path) -> None:
    for flag, expected in (((), False), (("--fast",), True)):
        (tmp_path / str(expected)).mkdir()
        harness = make_harness(tmp_path / str(expected))
        harness.engine = FakeEngine.for_config(dev_config(activeColor="green"))
        assert harness.run("rollback", "--to", "blue", *flag) == ExitCode.DONE, harness.stderr
        assert any(c[0] == "apply_routing" for c in harness.engine.calls) is expected
        assert harness.engine.selector_colour("controller") == "blue"
        assert harness.engine.selector_colour("controller-preview") == "green"
        assert harness.engine.applied_traffic == ("blue", 0)


def test_routed_to_changes_only_colour_routing() -> None:
    labels = {"app.kubernetes.io/name": "controller"}
    back = TrafficState("blue", 0)
    service: dict[str, Any] = {
        "kind": "Service",
        "metadata": {"name": "controller-preview", "labels": labels},
        "spec": {"selector": {**labels, COLOR_LABEL: "blue"}, "type": "ClusterIP"},
    }
    routed = routed_to(service, back)
    assert routed is not None
    assert routed["spec"] == {"selector": {**labels, COLOR_LABEL: "green"}, "type": "ClusterIP"}
    assert service["spec"]["selector"][COLOR_LABEL] == "blue", "input left as it was"
    # Applied even when the state already routes so: the cluster may differ.
    assert routed_to(routed, back) == routed
    prometheus = {
        "kind": "Service",
        "metadata": {"name": "prometheus", "labels": {"app.kubernetes.io/name": "prometheus"}},
        "spec": {"selector": {"app.kubernetes.io/name": "prometheus"}},
    }
    assert routed_to(prometheus, back) is None
    canary = {
        "kind": "Ingress",
        "metadata": {
            "name": "controller-canary",
            "labels": labels,
            "annotations": {
                "nginx.ingress.kubernetes.io/canary": "true",
                "nginx.ingress.kubernetes.io/canary-weight": "30",
            },
        },
    }
    routed = routed_to(canary, back)
    assert routed is not None
    assert routed["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "0"
    main = {"kind": "Ingress", "metadata": {"name": "controller", "labels": labels}}
    assert routed_to(main, back) is None


def test_routing_objects_are_patched_at_their_api_paths() -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "namespace": "n"}}
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "a", "namespace": "n"},
    }
    assert resource_path(service) == "/api/v1/namespaces/n/services/a"
    assert resource_path(route) == "/apis/gateway.networking.k8s.io/v1/namespaces/n/httproutes/a"
    with pytest.raises(RolloutError, match="Deployment: not a routing kind"):
        resource_path({**service, "kind": "Deployment"})


def test_no_fast_path_to_a_scaled_down_standby(harness: Harness) -> None:
    harness.engine = FakeEngine.for_config(dev_config(activeColor="green", standbyReplicas=0))
    assert harness.run("rollback", "--to", "blue", "--fast") == ExitCode.DONE, harness.stderr
    assert not any(c[0] == "apply_routing" for c in harness.engine.calls)
    assert harness.engine.applied_traffic == ("blue", 0)
    targets = harness.engine.ups()[-1]["target"]
    assert isinstance(targets, list)
    assert any(":Deployment::" in urn for urn in targets)


@pytest.mark.parametrize(
    ("name", "standby_weight", "carries"),
    [
        ("controller", 0, True),
        ("controller-preview", 0, False),
        # Weighted, the standby's Service is behind the route's second backend.
        ("controller-preview", 10, True),
    ],
)
def test_which_services_carry_users_traffic(name: str, standby_weight: int, carries: bool) -> None:
    service = {
        "kind": "Service",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "controller"}},
        "spec": {"selector": {COLOR_LABEL: "blue"}},
    }
    after = TrafficState("blue", standby_weight)
    assert carries_live_traffic(service, after) is carries
    route = {"kind": "HTTPRoute", "metadata": {"name": "controller"}}
    assert carries_live_traffic(route, after)
