"""The pack as a whole: every rule covered and documented, the platform passes it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kgot_policies import evaluate
from kgot_policies._meta import REVIEW_TAG, controls_of, rule_of
from kgot_policies.registry import POLICIES, by_name
from kgot_policies.stack_config import pack_config
from policy_fixtures import DIGEST, as_resources, obj, platform_objects, pod_spec_of
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from components.settings import SecurityThresholds
from tests.committed_stacks import stack_file

pytestmark = pytest.mark.policies
ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT.parent / "shared" / "POLICY_RULES.md"
MANDATORY_RULES = set(range(1, 18)) | {29, 30, 33}


def test_every_rule_of_the_catalogue_has_a_policy() -> None:
    covered = {rule_of(p) for p in POLICIES}
    assert covered == set(range(1, 34))
    if RULES.exists():  # the catalogue sits beside the repository in the team's workspace
        numbered = {int(n) for n in re.findall(r"^(\d+)\. ", RULES.read_text(), re.MULTILINE)}
        assert numbered == covered


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_policy_is_documented(policy: Any) -> None:
    assert policy.description and policy.remediation_steps
    assert policy.severity is not None and policy.enforcement_level is not None
    assert policy.framework is not None and policy.framework.name
    controls = controls_of(policy)
    assert any(controls.values())
    if REVIEW_TAG in policy.tags:
        # A review policy shows what a mandatory one of its rule allows (people's grants).
        assert policy.enforcement_level == EnforcementLevel.ADVISORY
        assert any(
            rule_of(p) == rule_of(policy) and p.enforcement_level == EnforcementLevel.MANDATORY
            for p in POLICIES
        )
    elif rule_of(policy) in MANDATORY_RULES:
        assert policy.enforcement_level == EnforcementLevel.MANDATORY


def _natural(text: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _readme_rows() -> dict[str, list[str]]:
    """The README's policy table: policy name -> its cells."""
    rows = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        found = re.match(r"^\| `([a-z0-9-]+)` \|", line)
        if found:
            rows[found.group(1)] = [c.strip() for c in line.strip().strip("|").split("|")]
    return rows


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_readme_table_lists_the_policy(policy: Any) -> None:
    row = _readme_rows().get(policy.name)
    assert row is not None, f"README's policy table has no row for {policy.name}"
    controls = controls_of(policy)
    frameworks = " / ".join(
        ", ".join(sorted(controls[f], key=_natural)) or "-" for f in ("CIS", "NIST", "SOC2")
    )
    scope = "resource" if isinstance(policy, ResourceValidationPolicy) else "stack"
    expected = [
        str(rule_of(policy)),
        policy.severity.value,
        policy.enforcement_level.value,
        scope,
        frameworks,
    ]
    assert row[1:6] == expected
    assert len(row) == 8 and row[7], "the remediation column is empty"


def test_policy_names_are_unique() -> None:
    assert len(by_name()) == len(POLICIES)


def test_pack_entry_point_only_wraps_the_registry() -> None:
    source = (ROOT / "policies" / "__main__.py").read_text()
    assert "PolicyPack(" in source and "registry" in source
    assert "ResourceValidationPolicy(" not in source and "StackValidationPolicy(" not in source


def _production(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for body in bodies:
        if body["kind"] == "Deployment":
            container = pod_spec_of(body)["containers"][0]
            if "@" not in container["image"]:
                container["image"] += f"@{DIGEST}"
    return bodies


@pytest.mark.parametrize("active", ["blue", "green"])
@pytest.mark.parametrize("weight", [0, 30])
def test_platform_passes_the_whole_pack(active: str, weight: int) -> None:
    found = evaluate.run(POLICIES, as_resources(platform_objects(active, weight)))
    assert found == []


@pytest.mark.parametrize("standby_replicas", [None, 0, 1])
def test_production_platform_passes_the_whole_pack(standby_replicas: int | None) -> None:
    stack = _production(platform_objects(replicas=3, standby_replicas=standby_replicas))
    config = {
        name: {"environment": "production"}
        for name in (
            "image-tag-digest-signature",
            "traffic-shift-safety",
            "workload-replicas-production",
            "workload-disruption-budget",
        )
    }
    for app in ("prometheus", "alertmanager", "grafana"):
        # Production monitoring as rule 23 wants it: two replicas and a budget.
        next(b for b in stack if b["metadata"]["name"] == app and b["kind"] == "Deployment")[
            "spec"
        ]["replicas"] = 2
        stack.append(
            obj(
                "PodDisruptionBudget",
                app,
                spec={
                    "maxUnavailable": 1,
                    "selector": {"matchLabels": {"app.kubernetes.io/name": app}},
                },
            )
        )
    assert evaluate.run(POLICIES, as_resources(stack), config) == []


def test_enforcement_levels_follow_pack_config() -> None:
    stack = platform_objects()
    grafana = next(
        b for b in stack if b["metadata"]["name"] == "grafana" and b["kind"] == "Deployment"
    )
    pod_spec_of(grafana)["hostNetwork"] = True
    found = evaluate.run(POLICIES, as_resources(stack))
    assert [v.policy for v in found] == ["pod-host-namespaces"]
    assert found[0].urn and found[0].urn.endswith("::grafana")
    assert all(v.enforcement == "mandatory" for v in found)
    quiet = evaluate.run(POLICIES, as_resources(stack), {"pod-host-namespaces": "disabled"})
    assert "pod-host-namespaces" not in {v.policy for v in quiet}
    advisory = evaluate.run(POLICIES, as_resources(stack), {"all": "advisory"})
    assert advisory and all(v.enforcement == "advisory" for v in advisory)


def test_resource_and_stack_policies_are_both_present() -> None:
    kinds = {type(p) for p in POLICIES}
    assert kinds == {ResourceValidationPolicy, StackValidationPolicy}


SECURITY = SecurityThresholds.model_validate(
    {
        "severityThreshold": "HIGH",
        "maxCritical": 1,
        "maxHigh": 3,
        "frameworks": ["CIS", "SOC2"],
        "minimumScore": 0.9,
    }
)


def test_stack_security_settings_become_pack_config() -> None:
    document = pack_config("production", SECURITY, ["trivy/"], "verified.txt", True)
    gate = document["vulnerability-thresholds"]
    assert gate == {
        "enabled": True,
        "reportPaths": ["trivy/"],
        "severityThreshold": "HIGH",
        "maxCritical": 1,
        "maxHigh": 3,
    }
    assert document["compliance-score"]["frameworks"] == ["CIS", "SOC2"]
    assert document["compliance-score"]["minimumScore"] == 0.9
    assert document["compliance-score"]["policyConfig"]["vulnerability-thresholds"] == gate
    images = document["image-tag-digest-signature"]
    assert images == {
        "environment": "production",
        "requireSignedImages": True,
        "verifiedDigestsFile": "verified.txt",
    }
    # Every key the bridge writes is in the policy's schema (the engine validates them).
    for name, settings in document.items():
        schema = by_name()[name].config_schema
        assert schema is not None and set(settings) <= set(schema.properties), name


def test_bridge_reads_a_stack_file(tmp_path: Path) -> None:
    out = tmp_path / "pack.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kgot_policies.stack_config",
            "production",
            "--project-dir",
            str(stack_file("production").parent),
            "-o",
            str(out),
        ],
        cwd=ROOT / "policies",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(out.read_text())
    assert document["image-tag-digest-signature"]["environment"] == "production"
    assert document["vulnerability-thresholds"]["enabled"] is False


def test_bridge_names_a_missing_stack(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "kgot_policies.stack_config",
            "nope",
            "--project-dir",
            str(tmp_path),
        ],
        cwd=ROOT / "policies",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "Pulumi.nope.yaml" in result.stderr
