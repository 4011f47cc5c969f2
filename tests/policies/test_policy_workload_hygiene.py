"""Workload hygiene rules (18, 20-25)."""

from __future__ import annotations

from typing import Any

import pytest
from kgot_policies import workload_hygiene as wh
from policy_fixtures import (
    POD_KINDS,
    SERVICES,
    full_pod_spec,
    labels,
    obj,
    platform_objects,
    pod_spec,
    pod_spec_of,
    violations,
    workload,
)

pytestmark = pytest.mark.policies
PRODUCTION = {"environment": "production"}


@pytest.mark.parametrize("kind", POD_KINDS)
@pytest.mark.parametrize("section", ["containers", "initContainers", "ephemeralContainers"])
def test_writable_root_filesystem_is_found(kind: str, section: str) -> None:
    body = workload(kind, full_pod_spec())
    assert violations(wh.read_only_root_filesystem, body) == []
    pod_spec_of(body)[section][0]["securityContext"]["readOnlyRootFilesystem"] = False
    assert any("writable root" in m for m in violations(wh.read_only_root_filesystem, body))


@pytest.mark.parametrize("kind", POD_KINDS)
@pytest.mark.parametrize("section", ["containers", "initContainers"])
def test_missing_requests_and_limits_are_named(kind: str, section: str) -> None:
    body = workload(kind, full_pod_spec())
    assert violations(wh.resource_requests_limits, body) == []
    pod_spec_of(body)[section][0]["resources"] = {"requests": {"cpu": "100m"}}
    found = violations(wh.resource_requests_limits, body)
    assert found and "requests.memory, limits.cpu, limits.memory" in found[0]


@pytest.mark.parametrize("kind", POD_KINDS)
def test_serving_containers_need_distinct_probes(kind: str) -> None:
    body = workload(kind, full_pod_spec())
    assert violations(wh.probes, body) == []
    container = pod_spec_of(body)["containers"][0]
    container["livenessProbe"] = container["readinessProbe"]
    assert any("same readiness and liveness" in m for m in violations(wh.probes, body))
    container.pop("readinessProbe")
    assert any("no readiness probe" in m for m in violations(wh.probes, body))


def test_containers_without_ports_need_no_probes() -> None:
    spec = full_pod_spec()
    for key in ("ports", "readinessProbe", "livenessProbe"):
        spec["containers"][0].pop(key)
    assert violations(wh.probes, workload("Job", spec)) == []


def _stack(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [body, obj("ServiceAccount", "controller", automountServiceAccountToken=False)]


@pytest.mark.parametrize("kind", POD_KINDS)
def test_default_service_account_and_token_mounts_are_found(kind: str) -> None:
    body = workload(kind, full_pod_spec())
    assert violations(wh.service_account_token, _stack(body)) == []
    pod_spec_of(body).pop("serviceAccountName")
    assert any(
        "default service account" in m for m in violations(wh.service_account_token, _stack(body))
    )
    body = workload(kind, full_pod_spec())
    pod_spec_of(body)["automountServiceAccountToken"] = True
    assert any(
        "mount an API token" in m for m in violations(wh.service_account_token, _stack(body))
    )


def test_service_account_unknown_during_preview_is_not_the_default() -> None:
    body = workload("Deployment", full_pod_spec())
    pod_spec_of(body)["serviceAccountName"] = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    assert violations(wh.service_account_token, _stack(body)) == []


def test_token_mount_follows_the_service_account_and_the_declared_need() -> None:
    body = workload("Deployment", full_pod_spec())
    pod_spec_of(body).pop("automountServiceAccountToken")
    # The ServiceAccount turns it off: fine.
    assert violations(wh.service_account_token, _stack(body)) == []
    # Nobody turns it off: Kubernetes mounts the token.
    assert violations(wh.service_account_token, [body])
    # Unless the workload says it calls the API.
    body["metadata"]["annotations"] = {wh.NEEDS_API_ANNOTATION: "true"}
    assert violations(wh.service_account_token, [body]) == []


def test_production_needs_two_replicas() -> None:
    body = workload("Deployment", pod_spec(), replicas=1)
    assert violations(wh.replicas_minimum, body) == []  # dev
    found = violations(wh.replicas_minimum, body, PRODUCTION)
    assert found and "1 replica(s) in production" in found[0]
    body["spec"]["replicas"] = 3
    assert violations(wh.replicas_minimum, body, PRODUCTION) == []
    assert violations(wh.replicas_minimum, body, {**PRODUCTION, "minReplicas": 4})


@pytest.mark.parametrize("standby", [0, 1])
def test_idle_standby_may_run_scaled_down_in_production(standby: int) -> None:
    stack = [
        b
        for b in platform_objects(replicas=3, standby_replicas=standby)
        if b["metadata"]["name"] not in ("prometheus", "alertmanager", "grafana")
    ]
    assert violations(wh.replicas_minimum, stack, PRODUCTION) == []
    # Once the standby gets weight it serves, and counts.
    for body in stack:
        if body["kind"] == "HTTPRoute":
            body["spec"]["rules"][0]["backendRefs"][1]["weight"] = 10
    found = violations(wh.replicas_minimum, stack, PRODUCTION)
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
    ok = violations(wh.disruption_budget, [*deployments, _budget(maxUnavailable=1)], PRODUCTION)
    assert ok == []
    found = violations(wh.disruption_budget, [*deployments, _budget(**budget)], PRODUCTION)
    assert any(words in m for m in found), found


def test_production_workloads_need_a_disruption_budget() -> None:
    deployment = workload("Deployment", pod_spec(), replicas=3)
    found = violations(wh.disruption_budget, [deployment], PRODUCTION)
    assert any("no PodDisruptionBudget" in m for m in found)
    assert violations(wh.disruption_budget, [deployment]) == []  # dev: not required


@pytest.mark.parametrize(
    "budget", [{"maxUnavailable": 0}, {"maxUnavailable": "0%"}, {"minAvailable": "100%"}]
)
@pytest.mark.parametrize("config", [{}, PRODUCTION])
def test_budget_forbidding_every_disruption_is_found_without_its_pods(
    budget: dict[str, Any], config: dict[str, Any]
) -> None:
    # The pods are another stack's: the budget alone shows it blocks every drain.
    found = violations(wh.disruption_budget, [_budget(**budget)], config)
    assert found and "allows no voluntary disruption of any pod" in found[0]
    assert violations(wh.disruption_budget, [_budget(maxUnavailable=1)], config) == []
    assert violations(wh.disruption_budget, [_budget(minAvailable=2)], config) == []


def test_dev_budgets_are_judged_by_shape_only() -> None:
    # One replica a colour in dev: minAvailable 1 over a scaled-down standby is fine there.
    deployment = workload("Deployment", pod_spec(), replicas=1)
    assert violations(wh.disruption_budget, [deployment, _budget(minAvailable=1)]) == []
    assert violations(wh.disruption_budget, [deployment, _budget(maxUnavailable=0)])


@pytest.mark.parametrize("kind", POD_KINDS)
def test_recommended_labels(kind: str) -> None:
    body = workload(kind, pod_spec())
    assert violations(wh.recommended_labels, body) == []
    bare = workload(kind, pod_spec(), pod_labels={"app": "controller"})
    found = violations(wh.recommended_labels, bare)
    assert found and "app.kubernetes.io/name" in found[0]


def test_nothing_in_the_default_namespace() -> None:
    assert violations(wh.no_default_namespace, platform_objects()) == []
    found = violations(wh.no_default_namespace, obj("ConfigMap", "x", "default"))
    assert found and "default namespace" in found[0]
    found = violations(wh.no_default_namespace, obj("ConfigMap", "x", None))
    assert found and "names no namespace" in found[0]
    # Cluster-scoped kinds have no namespace.
    assert violations(wh.no_default_namespace, obj("ClusterRole", "x", None, rules=[])) == []


def test_namespace_unknown_during_preview_is_not_missing() -> None:
    unknown_string = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    assert violations(wh.no_default_namespace, obj("ConfigMap", "x", unknown_string)) == []


def test_bare_pods_are_refused() -> None:
    assert violations(wh.no_bare_pods, workload("Pod", pod_spec()))
    assert violations(wh.no_bare_pods, workload("Deployment", pod_spec())) == []


def test_pre_release_apis_are_refused() -> None:
    beta = obj("CronJob", "x", spec={})
    beta["apiVersion"] = "batch/v1beta1"
    alpha = obj("ValidatingAdmissionPolicy", "y", None)
    alpha["apiVersion"] = "admissionregistration.k8s.io/v1alpha1"
    found = violations(wh.stable_api_versions, [beta, alpha])
    assert len(found) == 2 and "v1beta1" in found[0] and "v1alpha1" in found[1]
    assert violations(wh.stable_api_versions, platform_objects()) == []
