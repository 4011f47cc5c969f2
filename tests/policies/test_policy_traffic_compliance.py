"""Traffic safety (rule 33) and the compliance score (rule 32)."""

from __future__ import annotations

from typing import Any

import pytest
from kgot_policies import compliance, traffic_safety
from kgot_policies._meta import controls_of
from kgot_policies.registry import POLICIES
from policy_fixtures import (
    DIGEST,
    as_resources,
    colour_deployment,
    obj,
    platform_objects,
    pod_spec_of,
    routing,
    violations,
)

pytestmark = pytest.mark.policies
TS = traffic_safety.traffic_safety
PRODUCTION = {"environment": "production"}


def _deployment(stack: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(b for b in stack if b["kind"] == "Deployment" and b["metadata"]["name"] == name)


@pytest.mark.parametrize("active", ["blue", "green"])
@pytest.mark.parametrize("weight", [0, 10, 50, 100])
def test_platform_shift_states_pass(active: str, weight: int) -> None:
    stack = platform_objects(active=active, standby_weight=weight)
    assert violations(TS, stack, PRODUCTION) == []


def test_scaled_down_standby_without_weight_passes() -> None:
    stack = platform_objects(standby_replicas=0)
    assert violations(TS, stack, PRODUCTION) == []


def test_standby_with_weight_but_fewer_replicas_is_refused() -> None:
    stack = platform_objects(standby_weight=10)
    _deployment(stack, "controller-green")["spec"]["replicas"] = 1
    found = violations(TS, stack)
    assert len(found) == 1
    assert "controller: colour green (weight 10 through Service controller-preview)" in found[0]
    assert "1 replica(s), fewer than the 2" in found[0]


def test_making_a_smaller_colour_active_is_refused() -> None:
    # Flip to green while green still runs the standby's scaled-down size.
    stack = platform_objects(active="green")
    _deployment(stack, "graph-store-green")["spec"]["replicas"] = 1
    found = violations(TS, stack)
    assert any("graph-store: colour green (active" in m and "fewer than" in m for m in found)


def test_colour_with_unpinned_image_in_production_is_refused() -> None:
    stack = platform_objects(standby_weight=25)
    deployment = _deployment(stack, "controller-green")
    pod_spec_of(deployment)["containers"][0]["image"] = "ghcr.io/kgot-platform/controller:1.0.0"
    assert violations(TS, stack) == []  # dev: tags are enough
    found = violations(TS, stack, PRODUCTION)
    assert any("colour green" in m and "not pinned by digest" in m for m in found)


def test_colour_whose_version_does_not_match_its_image_is_refused() -> None:
    stack = platform_objects(active="green")
    deployment = _deployment(stack, "controller-green")
    deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] = "1.1.0"
    found = violations(TS, stack)
    assert any("declares version 1.1.0 but runs image tag 1.0.0" in m for m in found)


def test_ingress_canary_weight_counts_as_traffic() -> None:
    stack = [b for b in platform_objects() if b["kind"] != "HTTPRoute"]
    _deployment(stack, "controller-green")["spec"]["replicas"] = 1
    assert violations(TS, stack) == []
    canary = obj(
        "Ingress",
        "controller-canary",
        spec={
            "rules": [
                {
                    "host": "controller.kgot.example.com",
                    "http": {
                        "paths": [
                            {"path": "/", "backend": {"service": {"name": "controller-preview"}}}
                        ]
                    },
                }
            ]
        },
    )
    canary["metadata"]["annotations"] = {
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-weight": "20",
    }
    found = violations(TS, [*stack, canary])
    assert any("colour green (weight 20" in m for m in found)


def test_active_colour_without_deployment_is_refused() -> None:
    stack = [colour_deployment("controller", "blue"), *routing("controller", active="green")]
    found = violations(TS, stack)
    assert any(
        "colour green is active" in m and "no Deployment controller-green" in m for m in found
    )


def test_selector_routing_only_the_active_colour_counts() -> None:
    stack = [b for b in platform_objects() if b["kind"] != "HTTPRoute"]
    _deployment(stack, "controller-green")["spec"]["replicas"] = 0
    assert violations(TS, stack) == []


def test_digest_only_image_cannot_prove_its_version() -> None:
    stack = platform_objects()
    pod_spec_of(_deployment(stack, "controller-blue"))["containers"][0]["image"] = (
        f"ghcr.io/kgot-platform/controller@{DIGEST}"
    )
    found = violations(TS, stack)
    assert any("runs image tag (none)" in m for m in found)


# ---- compliance score ---------------------------------------------------------------------


def test_every_framework_has_controls() -> None:
    for framework in ("CIS", "NIST", "SOC2"):
        assert any(controls_of(p)[framework] for p in POLICIES), framework


def test_clean_stack_scores_one() -> None:
    scores = compliance.framework_scores(
        _stack_args(platform_objects()), ["CIS", "NIST", "SOC2"], {}
    )
    assert {f: s for f, (s, _) in scores.items()} == {"CIS": 1.0, "NIST": 1.0, "SOC2": 1.0}
    assert violations(compliance.compliance_score, platform_objects()) == []


def _stack_args(bodies: list[dict[str, Any]]) -> Any:
    from pulumi_policy import StackValidationArgs

    return StackValidationArgs(as_resources(bodies))


def _insecure_stack() -> list[dict[str, Any]]:
    stack = platform_objects()
    for deployment in (b for b in stack if b["kind"] == "Deployment"):
        context = pod_spec_of(deployment)["containers"][0]["securityContext"]
        context.update(privileged=True, allowPrivilegeEscalation=True, readOnlyRootFilesystem=False)
        context["capabilities"] = {"add": ["SYS_ADMIN"]}
        pod_spec_of(deployment)["hostNetwork"] = True
        pod_spec_of(deployment)["containers"][0]["image"] = "nginx:latest"
    stack.append(
        obj(
            "ClusterRoleBinding",
            "root",
            None,
            roleRef={"kind": "ClusterRole", "name": "cluster-admin"},
            subjects=[{"kind": "ServiceAccount", "name": "controller", "namespace": "kgot-dev"}],
        )
    )
    return [b for b in stack if b["kind"] != "NetworkPolicy"]


def test_insecure_stack_fails_each_framework_and_names_the_controls() -> None:
    found = violations(compliance.compliance_score, _insecure_stack())
    assert {m.split()[0] for m in found} == {"CIS", "NIST", "SOC2"}
    cis = next(m for m in found if m.startswith("CIS"))
    assert "below the minimum 0.80" in cis
    assert "5.2.2 (pod-privileged-containers)" in cis
    assert "5.1.1 (" in cis and "rbac-no-cluster-admin" in cis


def test_minimum_score_and_frameworks_are_config() -> None:
    found = violations(
        compliance.compliance_score,
        _insecure_stack(),
        {"frameworks": ["SOC2"], "minimumScore": 0.0},
    )
    assert found == []
    found = violations(compliance.compliance_score, _insecure_stack(), {"frameworks": ["NIST"]})
    assert len(found) == 1 and found[0].startswith("NIST score")


def test_a_single_failing_control_lowers_the_score_without_failing_it() -> None:
    stack = platform_objects()
    stack.append(obj("ConfigMap", "x", "default", data={}))
    scores = compliance.framework_scores(_stack_args(stack), ["CIS"], {})
    score, failing = scores["CIS"]
    assert 0.8 <= score < 1.0 and set(failing) == {"5.7.1", "5.7.4"}
    assert violations(compliance.compliance_score, stack) == []
