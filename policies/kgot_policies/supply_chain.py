"""Where images come from and what they carry (rules 19 and 31)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from ._images import IMAGE_SCHEMA, image_problems
from ._kube import KubeObject, containers
from ._meta import (
    ENVIRONMENT_SCHEMA,
    MANDATORY,
    Controls,
    PodSpec,
    config,
    environment,
    mapped,
    pod_rule,
)
from ._trivy import (
    SEVERITIES,
    Finding,
    ReportError,
    count_findings,
    read_trivy_report,
    report_files,
)

# ---- 19. image references -----------------------------------------------------------------

IMAGE_DEFAULTS: dict[str, Any] = {"requireSignedImages": False, "verifiedDigests": []}


@pod_rule
def image_reference_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    settings = config(args, IMAGE_DEFAULTS)
    production = environment(settings) == "production"
    for container in containers(pod):
        for problem in image_problems(container.body.get("image"), settings, production):
            report_violation(f"{obj.ref}: {container.ref} {problem}.", None)


image_reference = ResourceValidationPolicy(
    name="image-tag-digest-signature",
    description="Images carry an explicit tag other than latest; in production they are pinned "
    "by digest and, where the stack requires signed images, the digest has a verified signature.",
    validate=image_reference_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(
        Controls(
            19, cis=("5.5.1",), nist=("CM-2", "CM-14", "SI-7", "SR-4"), soc2=("CC7.1", "CC8.1")
        ),
        "supply-chain",
    ),
    remediation_steps="Reference images as registry/name:version@sha256:<digest> (the digest the "
    "build produced); sign them and pass the verified digests to the pack.",
    config_schema=PolicyConfigSchema(
        properties={"environment": ENVIRONMENT_SCHEMA, **IMAGE_SCHEMA},
    ),
)

# ---- 31. vulnerability thresholds ---------------------------------------------------------

VULNERABILITY_DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "reportPaths": [],
    "severityThreshold": "MEDIUM",
    "maxCritical": 0,
    "maxHigh": 5,
}


@dataclass(frozen=True)
class GateConfig:
    enabled: bool
    paths: tuple[str, ...]
    threshold: str
    max_critical: int
    max_high: int


def _limit(settings: dict[str, Any], key: str) -> int:
    value = settings.get(key)
    # The engine hands numbers over as floats (protobuf Struct): 5.0 is 5.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ReportError(f"config {key} is {value!r}; allowed: an integer >= 0")
    return value


def gate_config(settings: dict[str, Any]) -> GateConfig:
    """The gate's config, or ReportError naming the key and what is allowed."""
    listed = settings.get("reportPaths") or []
    if not isinstance(listed, list) or not all(isinstance(p, str) and p for p in listed):
        raise ReportError(
            f"config reportPaths is {listed!r}; allowed: a list of report paths (strings)"
        )
    paths = list(listed)
    single = settings.get("reportPath")
    if single is not None:
        if not isinstance(single, str) or not single:
            raise ReportError(f"config reportPath is {single!r}; allowed: a report path")
        paths.append(single)
    for path in paths:
        if not Path(path).is_absolute():
            # The pack runs in its own folder, not where the command was typed.
            raise ReportError(
                f"report path {path!r} is relative, and the pack runs in {Path.cwd()}, not "
                "where it was given; allowed: an absolute path (the policy-config bridge "
                "makes --trivy-report absolute against the folder it runs in)"
            )
    enabled = settings.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ReportError(f"config enabled is {enabled!r}; allowed: true or false")
    threshold = settings.get("severityThreshold")
    if not isinstance(threshold, str) or threshold.upper() not in SEVERITIES:
        raise ReportError(
            f"config severityThreshold is {threshold!r}; allowed: {', '.join(SEVERITIES)}"
        )
    return GateConfig(
        enabled=enabled,
        paths=tuple(paths),
        threshold=threshold.upper(),
        max_critical=_limit(settings, "maxCritical"),
        max_high=_limit(settings, "maxHigh"),
    )


def vulnerability_validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Fails closed: every report that cannot be read or checked is a violation."""
    settings = config(args, VULNERABILITY_DEFAULTS)
    try:
        gate = gate_config(settings)
    except ReportError as error:
        report_violation(f"The vulnerability gate's {error}; the gate fails closed.", None)
        return
    if not gate.enabled and not gate.paths:
        return
    if not gate.paths:
        report_violation(
            "The vulnerability gate is enabled but no scan report was given "
            "(config reportPath / reportPaths).",
            None,
        )
        return
    findings: list[Finding] = []
    failed = False
    for path in gate.paths:
        try:
            files = report_files(Path(path))
        except ReportError as error:
            report_violation(f"{error}; the gate fails closed without it.", None)
            failed = True
            continue
        for file in files:
            try:
                findings += read_trivy_report(file)
            except ReportError as error:
                report_violation(f"{error}; the gate fails closed without it.", None)
                failed = True
    if failed:
        return
    counts = count_findings(findings, gate.threshold)
    summary = ", ".join(f"{s} {counts[s]}" for s in reversed(SEVERITIES) if counts[s])
    limits = (("CRITICAL", gate.max_critical), ("HIGH", gate.max_high))
    for severity, limit in limits:
        if counts[severity] > limit:
            worst = sorted({f.vulnerability for f in findings if f.severity == severity})[:5]
            report_violation(
                f"{counts[severity]} {severity} vulnerabilities exceed max {limit} "
                f"(at or above {gate.threshold}: {summary}; e.g. {', '.join(worst)}) "
                f"in {', '.join(gate.paths)}.",
                None,
            )


vulnerability_thresholds = StackValidationPolicy(
    name="vulnerability-thresholds",
    description="Image scan reports (Trivy JSON) stay within the stack's vulnerability limits; "
    "a missing report fails the gate.",
    validate=vulnerability_validate,
    enforcement_level=MANDATORY,
    severity=Severity.CRITICAL,
    **mapped(Controls(31, cis=("5.5.1",), nist=("RA-5", "SI-2"), soc2=("CC7.1",)), "supply-chain"),
    remediation_steps="Upgrade the packages named in the report (or the base image), rebuild, "
    "rescan with `trivy image --format json -o <report>` and deploy the new digest.",
    config_schema=PolicyConfigSchema(
        properties={
            "enabled": {
                "type": "boolean",
                "default": False,
                "description": "Run the gate; on when a report path is given.",
            },
            "reportPath": {"type": "string", "description": "Trivy JSON report or directory."},
            "reportPaths": {"type": "array", "items": {"type": "string"}, "default": []},
            "severityThreshold": {
                "type": "string",
                "enum": list(SEVERITIES),
                "default": "MEDIUM",
                "description": "Count findings at or above this severity.",
            },
            "maxCritical": {"type": "integer", "minimum": 0, "default": 0},
            "maxHigh": {"type": "integer", "minimum": 0, "default": 5},
        }
    ),
)

POLICIES = [image_reference, vulnerability_thresholds]
