"""Where images come from and what they carry (rules 19 and 31)."""

from __future__ import annotations

import json
from collections import Counter
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

SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
VULNERABILITY_DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "reportPaths": [],
    "severityThreshold": "MEDIUM",
    "maxCritical": 0,
    "maxHigh": 5,
}


@dataclass(frozen=True)
class Finding:
    vulnerability: str
    package: str
    installed: str
    severity: str
    artifact: str


class ReportError(Exception):
    """A scan report that cannot be used; the gate fails closed on it."""


def _report_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise ReportError(f"scan report directory {path} holds no *.json report")
        return files
    return [path]


def read_trivy_report(path: Path) -> list[Finding]:
    """Findings of one Trivy JSON report (``trivy image --format json``)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ReportError(f"cannot read scan report {path}: {error.strerror}") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ReportError(f"scan report {path} is not valid JSON: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("Results", []), list):
        raise ReportError(f"scan report {path} is not a Trivy JSON report (no Results list)")
    artifact = str(document.get("ArtifactName") or path.name)
    findings = []
    for result in document.get("Results") or []:
        for vuln in (result or {}).get("Vulnerabilities") or []:
            findings.append(
                Finding(
                    vulnerability=str(vuln.get("VulnerabilityID", "?")),
                    package=str(vuln.get("PkgName", "?")),
                    installed=str(vuln.get("InstalledVersion", "")),
                    severity=str(vuln.get("Severity", "UNKNOWN")).upper(),
                    artifact=artifact,
                )
            )
    return findings


def count_findings(findings: list[Finding], threshold: str) -> Counter[str]:
    """Findings per severity at or above the threshold, each (image, CVE, package) once."""
    floor = SEVERITIES.index(threshold) if threshold in SEVERITIES else SEVERITIES.index("MEDIUM")
    unique = {(f.artifact, f.vulnerability, f.package, f.installed): f.severity for f in findings}
    return Counter(
        severity
        for severity in unique.values()
        if severity in SEVERITIES and SEVERITIES.index(severity) >= floor
    )


def vulnerability_validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    settings = config(args, VULNERABILITY_DEFAULTS)
    paths = [str(p) for p in settings.get("reportPaths") or []]
    if settings.get("reportPath"):
        paths.append(str(settings["reportPath"]))
    if not settings.get("enabled") and not paths:
        return
    if not paths:
        report_violation(
            "The vulnerability gate is enabled but no scan report was given "
            "(config reportPath / reportPaths).",
            None,
        )
        return
    findings: list[Finding] = []
    for path in paths:
        try:
            for file in _report_files(Path(path)):
                findings += read_trivy_report(file)
        except ReportError as error:
            report_violation(f"{error}; the gate fails closed without it.", None)
            return
    threshold = str(settings["severityThreshold"]).upper()
    counts = count_findings(findings, threshold)
    summary = ", ".join(f"{s} {counts[s]}" for s in reversed(SEVERITIES) if counts[s])
    limits = (("CRITICAL", int(settings["maxCritical"])), ("HIGH", int(settings["maxHigh"])))
    for severity, limit in limits:
        if counts[severity] > limit:
            worst = sorted({f.vulnerability for f in findings if f.severity == severity})[:5]
            report_violation(
                f"{counts[severity]} {severity} vulnerabilities exceed max {limit} "
                f"(at or above {threshold}: {summary}; e.g. {', '.join(worst)}) "
                f"in {', '.join(paths)}.",
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
