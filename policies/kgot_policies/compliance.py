"""Compliance score per framework (rule 32).

A framework's score is the share of its controls (CIS Kubernetes Benchmark
sections, NIST SP 800-53 controls, SOC 2 criteria) that no policy of the pack
finds violated in the stack. The policies' own tags say which controls they
evidence, so adding a policy updates the score without touching this module.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from ._meta import FRAMEWORKS, REVIEW_TAG, Controls, config, controls_of, mapped

COMPLIANCE_DEFAULTS: dict[str, Any] = {
    "frameworks": list(FRAMEWORKS),
    "minimumScore": 0.8,
    "policyConfig": {},
}


def framework_scores(
    args: StackValidationArgs, frameworks: list[str], policy_config: dict[str, Any]
) -> dict[str, tuple[float, dict[str, set[str]]]]:
    """framework -> (score, failing control -> the policies that fail it)."""
    from . import evaluate
    from .registry import POLICIES

    # Review findings (people's sensitive grants) are for a reviewer's eyes,
    # not evidence that a control failed.
    others = [
        p for p in POLICIES if p.name != compliance_score.name and REVIEW_TAG not in (p.tags or [])
    ]
    failed_by: dict[str, set[str]] = defaultdict(set)
    for violation in evaluate.run(others, args.resources, policy_config):
        failed_by[violation.policy].add(violation.message)
    scores: dict[str, tuple[float, dict[str, set[str]]]] = {}
    for framework in frameworks:
        controls: dict[str, set[str]] = defaultdict(set)
        for policy in others:
            for control in controls_of(policy).get(framework, set()):
                controls[control].add(policy.name)
        if not controls:
            continue
        failing = {
            control: {p for p in names if p in failed_by}
            for control, names in controls.items()
            if any(p in failed_by for p in names)
        }
        scores[framework] = (1 - len(failing) / len(controls), failing)
    return scores


def compliance_validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    settings = config(args, COMPLIANCE_DEFAULTS)
    frameworks = [str(f).upper() for f in settings["frameworks"]]
    minimum = float(settings["minimumScore"])
    policy_config = dict(settings.get("policyConfig") or {})
    for framework, (score, failing) in framework_scores(args, frameworks, policy_config).items():
        if score < minimum:
            listed = "; ".join(
                f"{control} ({', '.join(sorted(policies))})"
                for control, policies in sorted(failing.items())
            )
            report_violation(
                f"{framework} score {score:.2f} is below the minimum {minimum:.2f}; failing "
                f"controls: {listed}.",
                None,
            )


compliance_score = StackValidationPolicy(
    name="compliance-score",
    description="Per framework (CIS, NIST, SOC2), the share of controls with no violation meets "
    "minimumScore.",
    validate=compliance_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    **mapped(Controls(32, cis=("5.7.4",), nist=("CA-2", "CA-7"), soc2=("CC4.1",)), "compliance"),
    remediation_steps="Fix the violations of the policies listed with each failing control; the "
    "score rises as each control is clean.",
    config_schema=PolicyConfigSchema(
        properties={
            "frameworks": {
                "type": "array",
                "items": {"type": "string", "enum": list(FRAMEWORKS)},
                "default": list(FRAMEWORKS),
            },
            "minimumScore": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.8},
            "policyConfig": {
                "type": "object",
                "default": {},
                "description": "The other policies' config (as in --policy-pack-config), used "
                "when the score re-evaluates them.",
            },
        }
    ),
)

POLICIES = [compliance_score]
