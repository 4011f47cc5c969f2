"""Image references (rule 19) and the vulnerability gate (rule 31)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kgot_policies import supply_chain as sc
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
    # Verified in one repository is not verified in another (cosign keeps a
    # signature beside the image it signs).
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text(f"ghcr.io/kgot-platform/graph-store:1.0.0@{DIGEST}\n")
    found = violations(sc.image_reference, body, {**config, "verifiedDigestsFile": str(elsewhere)})
    assert any(f"image {PINNED} has no verified signature" in m for m in found)
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


def test_limits_arrive_as_floats_through_the_engine(tmp_path: Path) -> None:
    report = _trivy(tmp_path / "r.json", ["HIGH"] * 6)
    limits = {"reportPath": str(report), "maxCritical": 0.0, "maxHigh": 6.0}
    assert violations(sc.vulnerability_thresholds, [], limits) == []


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


def _report(**fields: Any) -> dict[str, Any]:
    return {"SchemaVersion": 2, "ArtifactName": "ghcr.io/kgot-platform/controller", **fields}


def _vuln(**fields: Any) -> dict[str, Any]:
    base = {"VulnerabilityID": "CVE-2026-1", "PkgName": "openssl", "InstalledVersion": "3"}
    return {**base, "Severity": "LOW", **fields}


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({}, "SchemaVersion is missing; allowed: 2"),
        ([], "the document is a list, not a Trivy report object"),
        ("report", "the document is a string, not a Trivy report object"),
        (None, "the document is null"),
        ({"runs": [], "version": "2.1.0"}, "SchemaVersion is missing"),  # SARIF
        ({**_report(), "SchemaVersion": 1}, "SchemaVersion is 1; allowed: 2"),
        ({**_report(), "SchemaVersion": True}, "SchemaVersion is True"),
        (_report(ArtifactName=""), "ArtifactName is empty; allowed: a non-empty string"),
        ({"SchemaVersion": 2}, "ArtifactName is missing"),
        (_report(Results={"os": []}), "Results is an object, not a list"),
        (_report(Results=[3]), "Results[0] is a int, not an object"),
        (_report(Results=[None]), "Results[0] is null, not an object"),
        (_report(Results=[{"Vulnerabilities": {"a": 1}}]), "Results[0].Vulnerabilities is an"),
        (_report(Results=[{"Vulnerabilities": ["CVE-1"]}]), "Vulnerabilities[0] is a string"),
        (
            _report(Results=[{"Vulnerabilities": [_vuln(VulnerabilityID=7)]}]),
            "Results[0].Vulnerabilities[0].VulnerabilityID is a int",
        ),
        (
            _report(Results=[{"Vulnerabilities": [_vuln(PkgName=None)]}]),
            "Vulnerabilities[0].PkgName is null; allowed: a non-empty string",
        ),
        (
            _report(Results=[{"Vulnerabilities": [_vuln(Severity="SEVERE")]}]),
            "Severity is 'SEVERE'; allowed: UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL",
        ),
        (
            _report(Results=[{"Vulnerabilities": [_vuln(Severity=None)]}]),
            "Vulnerabilities[0].Severity is None",
        ),
    ],
)
def test_a_report_the_gate_cannot_read_is_a_violation_naming_file_and_fault(
    tmp_path: Path, document: Any, words: str
) -> None:
    path = tmp_path / "trivy.json"
    path.write_text(json.dumps(document))
    found = violations(sc.vulnerability_thresholds, [], {"reportPath": str(path)})
    assert len(found) == 1, found
    assert f"scan report {path}" in found[0] and words in found[0], found[0]
    assert "fails closed" in found[0]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
        (b'{"SchemaVersion": 2, "ArtifactName": "\xff' + bytes([0xFF, 0xFE]) + b'"}', "UTF-8"),
        (bytes(range(256)), "is not UTF-8 text"),
        (b"", "is not valid JSON"),
    ],
)
def test_binary_truncated_or_deeply_nested_reports_fail_closed(
    tmp_path: Path, content: bytes, words: str
) -> None:
    path = tmp_path / "trivy.json"
    path.write_bytes(content)
    found = violations(sc.vulnerability_thresholds, [], {"reportPath": str(path)})
    assert len(found) == 1 and str(path) in found[0] and words in found[0], found


def test_a_clean_scan_without_results_passes(tmp_path: Path) -> None:
    # Trivy leaves Results out when the image has nothing it can scan.
    path = tmp_path / "scratch.json"
    path.write_text(json.dumps(_report(ArtifactType="container_image")))
    assert violations(sc.vulnerability_thresholds, [], {"reportPath": str(path)}) == []


def test_every_bad_report_of_a_directory_is_named(tmp_path: Path) -> None:
    _trivy(tmp_path / "a.json", ["LOW"])
    (tmp_path / "b.json").write_text("{}")
    (tmp_path / "c.json").write_text("[]")
    found = violations(sc.vulnerability_thresholds, [], {"reportPaths": [str(tmp_path)]})
    assert len(found) == 2
    assert str(tmp_path / "b.json") in found[0] and str(tmp_path / "c.json") in found[1]


def test_a_relative_report_path_is_refused_not_looked_up_in_the_packs_folder() -> None:
    found = violations(sc.vulnerability_thresholds, [], {"reportPaths": ["build/trivy/"]})
    assert len(found) == 1
    assert "'build/trivy/' is relative" in found[0] and "an absolute path" in found[0]


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"reportPaths": "/tmp/r.json"}, "reportPaths is '/tmp/r.json'; allowed: a list"),
        ({"reportPaths": [3]}, "reportPaths is [3]"),
        ({"reportPath": 3}, "reportPath is 3"),
        ({"enabled": "yes"}, "enabled is 'yes'; allowed: true or false"),
        ({"enabled": True, "severityThreshold": "SEVERE"}, "severityThreshold is 'SEVERE'"),
        ({"enabled": True, "maxHigh": "5"}, "maxHigh is '5'; allowed: an integer >= 0"),
        ({"enabled": True, "maxCritical": -1}, "maxCritical is -1"),
        ({"enabled": True, "maxCritical": True}, "maxCritical is True"),
        ({"enabled": True, "maxHigh": 2.5}, "maxHigh is 2.5"),
    ],
)
def test_gate_config_the_gate_cannot_use_fails_closed(config: dict[str, Any], words: str) -> None:
    found = violations(sc.vulnerability_thresholds, [], config)
    assert len(found) == 1 and words in found[0] and "fails closed" in found[0], found


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (bytes(range(256)), "is not UTF-8 text"),
        (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
        (b'{"digests": []}', "not a list of strings"),
        (b"[1, 2]", "not a list of strings"),
    ],
)
def test_a_verified_digests_file_it_cannot_read_fails_every_signed_image(
    tmp_path: Path, content: bytes, words: str
) -> None:
    listed = tmp_path / "verified.bin"
    listed.write_bytes(content)
    body = _with_image("Deployment", "containers", PINNED)
    config = {
        "environment": "production",
        "requireSignedImages": True,
        "verifiedDigestsFile": str(listed),
    }
    found = violations(sc.image_reference, body, config)
    assert found and all(f"verifiedDigestsFile {listed}" in m and words in m for m in found)


def test_a_relative_verified_digests_file_is_refused() -> None:
    body = _with_image("Deployment", "containers", PINNED)
    config = {"requireSignedImages": True, "verifiedDigestsFile": "build/verified.txt"}
    found = violations(sc.image_reference, body, config)
    assert found and all("'build/verified.txt' is relative" in m for m in found)


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
