"""Workload hygiene and identity rules (18, 20-22, 24, 25)."""

from __future__ import annotations

from typing import Any

import pytest
from kgot_policies import workload_hygiene as wh
from kgot_policies import workload_identity as wi
from policy_fixtures import (
    POD_KINDS,
    full_pod_spec,
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
    assert violations(wi.service_account_token, _stack(body)) == []
    pod_spec_of(body).pop("serviceAccountName")
    assert any(
        "default service account" in m for m in violations(wi.service_account_token, _stack(body))
    )
    body = workload(kind, full_pod_spec())
    pod_spec_of(body)["automountServiceAccountToken"] = True
    assert any(
        "mount an API token" in m for m in violations(wi.service_account_token, _stack(body))
    )


def test_service_account_unknown_during_preview_is_not_the_default() -> None:
    body = workload("Deployment", full_pod_spec())
    pod_spec_of(body)["serviceAccountName"] = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    assert violations(wi.service_account_token, _stack(body)) == []


def test_token_mount_follows_the_service_account_and_the_declared_need() -> None:
    body = workload("Deployment", full_pod_spec())
    pod_spec_of(body).pop("automountServiceAccountToken")
    # The ServiceAccount turns it off: fine.
    assert violations(wi.service_account_token, _stack(body)) == []
    # Nobody turns it off: Kubernetes mounts the token.
    assert violations(wi.service_account_token, [body])
    # Unless the workload says it calls the API.
    body["metadata"]["annotations"] = {wi.NEEDS_API_ANNOTATION: "true"}
    assert violations(wi.service_account_token, [body]) == []


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
