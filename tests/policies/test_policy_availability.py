"""Availability (rule 23): replicas and disruption budgets, HorizontalPodAutoscalers counted."""

from __future__ import annotations

from typing import Any

import pytest
from kgot_policies import availability as av
from policy_fixtures import (
    SERVICES,
    labels,
    obj,
    platform_objects,
    pod_spec,
    violations,
    workload,
)

pytestmark = pytest.mark.policies
PRODUCTION = {"environment": "production"}


def test_production_needs_two_replicas() -> None:
    body = workload("Deployment", pod_spec(), replicas=1)
    assert violations(av.replicas_minimum, body) == []  # dev
    found = violations(av.replicas_minimum, body, PRODUCTION)
    assert found and "1 replica(s) in production" in found[0]
    body["spec"]["replicas"] = 3
    assert violations(av.replicas_minimum, body, PRODUCTION) == []
    assert violations(av.replicas_minimum, body, {**PRODUCTION, "minReplicas": 4})


@pytest.mark.parametrize("standby", [0, 1])
def test_idle_standby_may_run_scaled_down_in_production(standby: int) -> None:
    stack = [
        b
        for b in platform_objects(replicas=3, standby_replicas=standby)
        if b["metadata"]["name"] not in ("prometheus", "alertmanager", "grafana")
    ]
    assert violations(av.replicas_minimum, stack, PRODUCTION) == []
    # Once the standby gets weight it serves, and counts.
    for body in stack:
        if body["kind"] == "HTTPRoute":
            body["spec"]["rules"][0]["backendRefs"][1]["weight"] = 10
    found = violations(av.replicas_minimum, stack, PRODUCTION)
    assert len(found) == len(SERVICES)


def _budget(**spec: Any) -> dict[str, Any]:
    return obj(
        "PodDisruptionBudget",
        "controller",
        spec={"selector": {"matchLabels": {"app.kubernetes.io/name": "controller"}}, **spec},
    )


@pytest.mark.parametrize(
    ("budget", "words"),
    [
        ({"maxUnavailable": 0}, "allows no voluntary disruption"),
        ({"minAvailable": "100%"}, "allows no voluntary disruption"),
        ({"maxUnavailable": "100%"}, "allows all"),
        ({"minAvailable": 0}, "allows all"),
        ({"minAvailable": 4}, "allows no voluntary disruption"),
    ],
)
def test_disruption_budget_must_allow_some_but_not_all(budget: dict[str, Any], words: str) -> None:
    deployments = [
        workload("Deployment", pod_spec(), f"controller-{c}", labels("controller", c), 2)
        for c in ("blue", "green")
    ]
    ok = violations(av.disruption_budget, [*deployments, _budget(maxUnavailable=1)], PRODUCTION)
    assert ok == []
    found = violations(av.disruption_budget, [*deployments, _budget(**budget)], PRODUCTION)
    assert any(words in m for m in found), found


def test_production_workloads_need_a_disruption_budget() -> None:
    deployment = workload("Deployment", pod_spec(), replicas=3)
    found = violations(av.disruption_budget, [deployment], PRODUCTION)
    assert any("no PodDisruptionBudget" in m for m in found)
    assert violations(av.disruption_budget, [deployment]) == []  # dev: not required


@pytest.mark.parametrize(
    "budget", [{"maxUnavailable": 0}, {"maxUnavailable": "0%"}, {"minAvailable": "100%"}]
)
@pytest.mark.parametrize("config", [{}, PRODUCTION])
def test_budget_forbidding_every_disruption_is_found_without_its_pods(
    budget: dict[str, Any], config: dict[str, Any]
) -> None:
    # The pods are another stack's: the budget alone shows it blocks every drain.
    found = violations(av.disruption_budget, [_budget(**budget)], config)
    assert found and "allows no voluntary disruption of any pod" in found[0]
    assert violations(av.disruption_budget, [_budget(maxUnavailable=1)], config) == []
    assert violations(av.disruption_budget, [_budget(minAvailable=2)], config) == []


def test_dev_budgets_are_judged_by_shape_only() -> None:
    # One replica a colour in dev: minAvailable 1 over a scaled-down standby is fine there.
    deployment = workload("Deployment", pod_spec(), replicas=1)
    assert violations(av.disruption_budget, [deployment, _budget(minAvailable=1)]) == []
    assert violations(av.disruption_budget, [deployment, _budget(maxUnavailable=0)])


# ---- HorizontalPodAutoscalers ------------------------------------------------------------


def _hpa(
    target: str = "controller-blue", minimum: int | None = 3, kind: str = "Deployment"
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": target},
        "maxReplicas": 10,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 70},
                },
            }
        ],
    }
    if minimum is not None:
        spec["minReplicas"] = minimum
    return obj("HorizontalPodAutoscaler", target, spec=spec)


def _left_to_hpa(replicas: int | None = None) -> dict[str, Any]:
    """A Deployment whose replica count the HPA owns: no spec.replicas (or a stale 1)."""
    body = workload("Deployment", pod_spec(), "controller-blue", labels("controller"))
    if replicas is None:
        body["spec"].pop("replicas")
    else:
        body["spec"]["replicas"] = replicas
    return body


@pytest.mark.parametrize("minimum", [1, None])
def test_hpa_that_can_scale_production_to_one_pod_is_refused(minimum: int | None) -> None:
    # minReplicas unset is 1, as the API defaults it.
    deployment = workload("Deployment", pod_spec(), replicas=3)
    found = violations(av.replicas_minimum, [deployment, _hpa(minimum=minimum)], PRODUCTION)
    assert len(found) == 1
    assert "HorizontalPodAutoscaler kgot-dev/controller-blue: minReplicas 1" in found[0]
    assert "Deployment kgot-dev/controller-blue down to 1 pod(s)" in found[0]
    assert violations(av.replicas_minimum, [deployment, _hpa(minimum=1)]) == []  # dev


@pytest.mark.parametrize("replicas", [None, 1])
def test_hpa_managed_deployment_with_a_high_floor_passes(replicas: int | None) -> None:
    stack = [
        _left_to_hpa(replicas),
        _hpa(minimum=3),
        _budget(maxUnavailable=1),
    ]
    assert violations(av.replicas_minimum, stack, PRODUCTION) == []
    # The budget is judged over the HPA's 3 pods, not the 1 spec.replicas says.
    assert violations(av.disruption_budget, stack, PRODUCTION) == []
    without_hpa = [b for b in stack if b["kind"] != "HorizontalPodAutoscaler"]
    assert violations(av.replicas_minimum, without_hpa, PRODUCTION)


def test_budget_is_judged_against_the_hpa_minimum() -> None:
    # minAvailable 3 over an HPA that may scale to 3 pods blocks every drain at the floor,
    # though spec.replicas (5) would leave room.
    deployment = _left_to_hpa(5)
    found = violations(
        av.disruption_budget, [deployment, _hpa(minimum=3), _budget(minAvailable=3)], PRODUCTION
    )
    assert any("allows no voluntary disruption of its 3 pod(s)" in m for m in found), found
    fine = [deployment, _hpa(minimum=3), _budget(minAvailable=2)]
    assert violations(av.disruption_budget, fine, PRODUCTION) == []


def test_hpa_matches_its_target_by_kind_name_and_namespace() -> None:
    deployment = workload("Deployment", pod_spec(), replicas=1)
    other_kind = _hpa(minimum=3, kind="StatefulSet")
    other_namespace = _hpa(minimum=3)
    other_namespace["metadata"]["namespace"] = "elsewhere"
    for hpa in (other_kind, other_namespace):
        found = violations(av.replicas_minimum, [deployment, hpa], PRODUCTION)
        assert any("Deployment kgot-dev/controller-blue: runs 1 replica(s)" in m for m in found)


def test_hpa_whose_target_is_elsewhere_is_judged_alone() -> None:
    found = violations(av.replicas_minimum, [_hpa("someone-elses", minimum=1)], PRODUCTION)
    assert found and "minReplicas 1" in found[0]
    assert violations(av.replicas_minimum, [_hpa("someone-elses", minimum=2)], PRODUCTION) == []


# ---- both budget fields --------------------------------------------------------------------


@pytest.mark.parametrize("config", [{}, PRODUCTION])
def test_budget_setting_both_fields_is_refused(config: dict[str, Any]) -> None:
    deployment = workload("Deployment", pod_spec(), replicas=3)
    found = violations(
        av.disruption_budget, [deployment, _budget(minAvailable=1, maxUnavailable=1)], config
    )
    assert found == [
        "PodDisruptionBudget kgot-dev/controller: sets both minAvailable and maxUnavailable; "
        "a PodDisruptionBudget takes one of them (the API server refuses it)."
    ]
