"""Trivy JSON scan reports: the findings they hold, counted at or above a severity.

A report that cannot be read or is not Trivy's is a ReportError: the gate
(rule 31, `supply_chain`) fails closed on it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
# `trivy image --format json` writes this schema version.
TRIVY_SCHEMA_VERSION = 2
# Problems listed per report before the rest are summarised.
_SHOWN_PROBLEMS = 5


@dataclass(frozen=True)
class Finding:
    vulnerability: str
    package: str
    installed: str
    severity: str
    artifact: str


class ReportError(Exception):
    """A scan report or gate config that cannot be used; the gate fails closed on it."""


def report_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise ReportError(f"scan report directory {path} holds no *.json report")
        return files
    return [path]


def _load_json(path: Path) -> object:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ReportError(f"cannot read scan report {path}: {error.strerror}") from error
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ReportError(
            f"scan report {path} is not UTF-8 text (byte {error.start}); "
            "allowed: a Trivy JSON report"
        ) from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ReportError(f"scan report {path} is not valid JSON: {error}") from error
    except RecursionError as error:
        raise ReportError(
            f"scan report {path} is nested too deeply to be a Trivy report"
        ) from error


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _text(
    item: dict[str, Any], key: str, where: str, problems: list[str], *, required: bool
) -> str:
    """A string field the gate reads (or "" after noting the problem)."""
    value = item.get(key)
    if isinstance(value, str) and (value or not required):
        return value
    if value is None and not required:
        return ""
    name = f"{where}.{key}" if where else key
    shown = "missing" if key not in item else "empty" if value == "" else _kind(value)
    problems.append(
        f"{name} is {shown}; allowed: {'a non-empty string' if required else 'a string'}"
    )
    return ""


def trivy_findings(document: object) -> tuple[list[Finding], list[str]]:
    """Findings of a Trivy JSON report, and what is wrong with the fields the gate reads.

    The gate reads ``SchemaVersion`` and ``ArtifactName`` (that it is a Trivy
    report, and of which image), ``Results[].Vulnerabilities[]`` and in each
    finding ``VulnerabilityID``, ``PkgName``, ``InstalledVersion`` and
    ``Severity``. Trivy leaves ``Results`` out when it found nothing to scan.
    """
    if not isinstance(document, dict):
        return [], [f"the document is {_kind(document)}, not a Trivy report object"]
    problems: list[str] = []
    version = document.get("SchemaVersion")
    if version != TRIVY_SCHEMA_VERSION or isinstance(version, bool):
        shown = "missing" if "SchemaVersion" not in document else repr(version)
        problems.append(
            f"SchemaVersion is {shown}; allowed: {TRIVY_SCHEMA_VERSION} (trivy --format json)"
        )
    artifact = _text(document, "ArtifactName", "", problems, required=True)
    results = document.get("Results")
    if results is None:
        results = []
    elif not isinstance(results, list):
        problems.append(f"Results is {_kind(results)}, not a list")
        results = []
    findings: list[Finding] = []
    for r, result in enumerate(results):
        where = f"Results[{r}]"
        if not isinstance(result, dict):
            problems.append(f"{where} is {_kind(result)}, not an object")
            continue
        vulns = result.get("Vulnerabilities")
        if vulns is None:
            continue
        if not isinstance(vulns, list):
            problems.append(f"{where}.Vulnerabilities is {_kind(vulns)}, not a list")
            continue
        for v, vuln in enumerate(vulns):
            at = f"{where}.Vulnerabilities[{v}]"
            if not isinstance(vuln, dict):
                problems.append(f"{at} is {_kind(vuln)}, not an object")
                continue
            severity = vuln.get("Severity")
            if not isinstance(severity, str) or severity.upper() not in SEVERITIES:
                problems.append(f"{at}.Severity is {severity!r}; allowed: {', '.join(SEVERITIES)}")
                severity = "UNKNOWN"
            findings.append(
                Finding(
                    vulnerability=_text(vuln, "VulnerabilityID", at, problems, required=True),
                    package=_text(vuln, "PkgName", at, problems, required=True),
                    installed=_text(vuln, "InstalledVersion", at, problems, required=False),
                    severity=severity.upper(),
                    artifact=artifact,
                )
            )
    return findings, problems


def read_trivy_report(path: Path) -> list[Finding]:
    """Findings of one Trivy JSON report (``trivy image --format json``), or ReportError."""
    findings, problems = trivy_findings(_load_json(path))
    if problems:
        shown = "; ".join(problems[:_SHOWN_PROBLEMS])
        more = len(problems) - _SHOWN_PROBLEMS
        raise ReportError(
            f"scan report {path} is not a Trivy JSON report the gate can read: {shown}"
            + (f"; and {more} more" if more > 0 else "")
        )
    return findings


def count_findings(findings: list[Finding], threshold: str) -> Counter[str]:
    """Findings per severity at or above the threshold, each (image, CVE, package) once."""
    floor = SEVERITIES.index(threshold)
    unique = {(f.artifact, f.vulnerability, f.package, f.installed): f.severity for f in findings}
    return Counter(
        severity
        for severity in unique.values()
        if severity in SEVERITIES and SEVERITIES.index(severity) >= floor
    )
