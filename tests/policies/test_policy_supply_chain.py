"""Image references (rule 19) and the vulnerability gate (rule 31)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kgot_policies import supply_chain as sc
from kgot_policies._images import parse_image
from policy_fixtures import (
    DIGEST,
    POD_KINDS,
    SECTIONS,
    full_pod_spec,
    pod_spec_of,
    violations,
    workload,
)

pytestmark = pytest.mark.policies
PINNED = f"ghcr.io/kgot-platform/controller:1.0.0@{DIGEST}"


def _with_image(kind: str, section: str, image: str) -> dict[str, Any]:
    spec = full_pod_spec()
    for s in SECTIONS:
        spec[s][0]["image"] = PINNED
    spec[section][0]["image"] = image
    return workload(kind, spec)


def test_image_references_parse() -> None:
    assert parse_image("registry:5000/a/b") == parse_image("registry:5000/a/b")
    assert parse_image("registry:5000/a/b").tag is None
    ref = parse_image(PINNED)
    assert (ref.repository, ref.tag, ref.digest, ref.pinned) == (
        "ghcr.io/kgot-platform/controller",
        "1.0.0",
        DIGEST,
        True,
    )


@pytest.mark.parametrize("section", SECTIONS)
@pytest.mark.parametrize("kind", POD_KINDS)
@pytest.mark.parametrize(
    ("image", "words"),
    [
        ("ghcr.io/kgot-platform/controller", "has no tag"),
        ("ghcr.io/kgot-platform/controller:latest", "mutable tag latest"),
        ("ghcr.io/kgot-platform/controller:Latest", "mutable tag latest"),
        ("registry:5000/controller", "has no tag"),
    ],
)
def test_untagged_and_latest_images_are_refused_everywhere(
    image: str, words: str, kind: str, section: str
) -> None:
    found = violations(sc.image_reference, _with_image(kind, section, image))
    assert any(words in m for m in found), found


def test_tagged_image_passes_outside_production_but_not_in_it() -> None:
    body = _with_image("Deployment", "containers", "ghcr.io/kgot-platform/controller:1.0.0")
    assert violations(sc.image_reference, body) == []
    found = violations(sc.image_reference, body, {"environment": "production"})
    assert any("not pinned by digest" in m for m in found)
    pinned = _with_image("Deployment", "containers", PINNED)
    assert violations(sc.image_reference, pinned, {"environment": "production"}) == []
    assert violations(sc.image_reference, body, {"requireDigest": True})


def test_environment_falls_back_to_the_stack_name(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _with_image("Deployment", "containers", "ghcr.io/kgot-platform/controller:1.0.0")
    monkeypatch.setenv("PULUMI_STACK", "production")
    assert violations(sc.image_reference, body)
    assert violations(sc.image_reference, body, {"environment": "dev"}) == []


def test_signed_images_need_a_verified_digest(tmp_path: Path) -> None:
    body = _with_image("Deployment", "initContainers", PINNED)
    config: dict[str, Any] = {"environment": "production", "requireSignedImages": True}
    found = violations(sc.image_reference, body, config)
    assert any("no verified signature" in m for m in found)
    assert violations(sc.image_reference, body, {**config, "verifiedDigests": [DIGEST]}) == []
    listed = tmp_path / "verified.txt"
    listed.write_text(f"ghcr.io/kgot-platform/controller@{DIGEST}\n")
    assert (
        violations(sc.image_reference, body, {**config, "verifiedDigestsFile": str(listed)}) == []
    )
    missing = {**config, "verifiedDigestsFile": str(tmp_path / "absent.txt")}
    assert any(
        "cannot read verifiedDigestsFile" in m
        for m in violations(sc.image_reference, body, missing)
    )


def _trivy(
    path: Path, severities: list[str], artifact: str = "ghcr.io/kgot-platform/controller"
) -> Path:
    vulns = [
        {
            "VulnerabilityID": f"CVE-2026-{i:04d}",
            "PkgName": f"pkg{i}",
            "InstalledVersion": "1",
            "Severity": s,
        }
        for i, s in enumerate(severities)
    ]
    path.write_text(
        json.dumps(
            {
                "SchemaVersion": 2,
                "ArtifactName": artifact,
                "Results": [
                    {"Target": "os", "Vulnerabilities": vulns},
                    {"Target": "python", "Vulnerabilities": None},
                ],
            }
        )
    )
    return path


def test_vulnerability_gate_is_off_until_configured() -> None:
    assert violations(sc.vulnerability_thresholds, []) == []


def test_vulnerability_gate_passes_within_limits(tmp_path: Path) -> None:
    report = _trivy(tmp_path / "r.json", ["HIGH"] * 5 + ["MEDIUM"] * 40 + ["LOW"])
    assert violations(sc.vulnerability_thresholds, [], {"reportPath": str(report)}) == []


def test_vulnerability_gate_fails_over_max_critical_and_max_high(tmp_path: Path) -> None:
    report = _trivy(tmp_path / "r.json", ["CRITICAL"] + ["HIGH"] * 6)
    found = violations(sc.vulnerability_thresholds, [], {"reportPath": str(report)})
    assert len(found) == 2
    assert "1 CRITICAL vulnerabilities exceed max 0" in found[0] and "CVE-2026-0000" in found[0]
    assert "6 HIGH vulnerabilities exceed max 5" in found[1]
    relaxed = {"reportPath": str(report), "maxCritical": 1, "maxHigh": 6}
    assert violations(sc.vulnerability_thresholds, [], relaxed) == []


def test_threshold_decides_what_is_counted(tmp_path: Path) -> None:
    report = _trivy(tmp_path / "r.json", ["HIGH"] * 9)
    assert violations(sc.vulnerability_thresholds, [], {"reportPath": str(report)})
    only_critical = {"reportPath": str(report), "severityThreshold": "CRITICAL"}
    assert violations(sc.vulnerability_thresholds, [], only_critical) == []


def test_reports_are_read_from_a_directory_and_deduplicated(tmp_path: Path) -> None:
    _trivy(tmp_path / "a.json", ["CRITICAL"], "img-a")
    _trivy(tmp_path / "b.json", ["CRITICAL"], "img-a")  # the same finding twice
    found = violations(sc.vulnerability_thresholds, [], {"reportPaths": [str(tmp_path)]})
    assert len(found) == 1 and "1 CRITICAL" in found[0]


@pytest.mark.parametrize("content", [None, "not json", '{"Results": 3}'])
def test_gate_fails_closed_on_missing_or_unreadable_report(
    tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "trivy.json"
    if content is not None:
        path.write_text(content)
    found = violations(sc.vulnerability_thresholds, [], {"reportPath": str(path)})
    assert len(found) == 1 and str(path) in found[0] and "fails closed" in found[0]


def test_enabled_gate_without_a_report_path_fails() -> None:
    found = violations(sc.vulnerability_thresholds, [], {"enabled": True})
    assert found and "no scan report" in found[0]


def test_empty_report_directory_fails(tmp_path: Path) -> None:
    found = violations(sc.vulnerability_thresholds, [], {"reportPath": str(tmp_path)})
    assert found and "holds no" in found[0]


def test_pod_spec_helper_round_trip() -> None:
    assert (
        pod_spec_of(workload("CronJob", full_pod_spec()))["containers"][0]["name"] == "controller"
    )
