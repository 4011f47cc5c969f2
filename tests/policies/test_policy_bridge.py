"""The policy-config bridge on bad stack files: exit 2 and a message, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kgot_policies import supply_chain
from kgot_policies._images import verified_digests
from kgot_policies.stack_config import main
from policy_fixtures import DIGEST, violations

from tests.committed_stacks import committed_text
from tests.committed_stacks import stack_file as committed_stack_file

pytestmark = pytest.mark.policies

ROOT = Path(__file__).resolve().parents[2]


def bridge(
    capsys: pytest.CaptureFixture[str], project: Path, *extra: str, stack: str = "x"
) -> tuple[int, str]:
    code = main([stack, "--project-dir", str(project), *extra])
    return code, capsys.readouterr().err


def stack_file(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "Pulumi.x.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("config:\n  kgot-platform:namespace: [unclosed\n", ["not valid YAML at line", "YAML"]),
        (b"config:\n  kgot-platform:namespace: kgot-\xff\n", ["byte 40 is not UTF-8"]),
        ("config:\n  1: 2\n", ["config key 1 is not allowed", "a text key"]),
        (
            "config:\n  kgot-platform:namespace: a\n  kgot-platform:namespace: b\n",
            ["key 'kgot-platform:namespace' twice", "each key once"],
        ),
        ("- a list\n", ["expected a YAML mapping"]),
    ],
    ids=["syntax", "not-utf8", "non-string-key", "duplicate-key", "not-a-mapping"],
)
def test_a_stack_file_pulumi_would_not_read_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str | bytes, expected: list[str]
) -> None:
    path = stack_file(tmp_path, text)
    code, err = bridge(capsys, tmp_path)
    assert code == 2
    assert err.startswith(f"stack_config: {path}")
    for fragment in expected:
        assert fragment in err
    assert "Traceback" not in err


def test_output_into_a_missing_folder_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "no-such-folder" / "pack.json"
    code, err = bridge(capsys, committed_stack_file("dev").parent, "-o", str(target), stack="dev")
    assert code == 2
    assert f"-o {target}: cannot write it" in err and "existing, writable folder" in err
    assert not target.exists()


def test_a_misspelt_secure_key_is_named_without_its_value(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    dev = committed_text("Pulumi.dev.yaml")
    misspelt = "  kgot-platform:slackWebhookURL:\n    secure: v1:S3CR3T-cipher\n"
    stack_file(tmp_path, dev.replace("config:\n", "config:\n" + misspelt, 1))
    code, err = bridge(capsys, tmp_path)
    assert code == 2
    assert "kgot-platform:slackWebhookURL = [secret] is not a known key" in err
    assert "S3CR3T" not in err


def test_a_project_dir_that_is_no_folder_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, err = bridge(capsys, tmp_path / "absent")
    assert code == 2 and "--project-dir" in err and "not a folder" in err


def test_a_good_stack_file_becomes_pack_config(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    output = tmp_path / "pack.json"
    code, err = bridge(
        capsys, committed_stack_file("staging").parent, "-o", str(output), stack="staging"
    )
    assert (code, err) == (0, "")
    document = json.loads(output.read_text(encoding="utf-8"))
    assert document["compliance-score"]["minimumScore"] == 0.8
    assert document["workload-replicas-production"] == {"environment": "staging"}
    # Staging always requires signed images (security.signing).
    assert document["image-tag-digest-signature"]["requireSignedImages"] is True


def test_a_secret_in_plain_text_is_refused_as_the_program_refuses_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    dev = committed_text("Pulumi.dev.yaml")
    plain = "  kgot-platform:slackWebhookUrl: https://hooks.slack.com/S3CR3T\n"
    stack_file(tmp_path, dev.replace("config:\n", "config:\n" + plain, 1))
    code, err = bridge(capsys, tmp_path)
    assert code == 2
    assert "kgot-platform:slackWebhookUrl = [secret]" in err and "plain text" in err
    assert "S3CR3T" not in err


def test_the_readmes_relative_paths_are_the_callers_files_where_the_pack_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--trivy-report build/trivy/` (the README's command) names the caller's folder.

    The pack runs in `policies/` and refuses relative paths, so the bridge makes
    them absolute; the gate then reads the caller's report and digests file.
    """
    build = tmp_path / "checkout" / "build"
    (build / "trivy").mkdir(parents=True)
    report = {
        "SchemaVersion": 2,
        "ArtifactName": "ghcr.io/kgot-platform/controller",
        "Results": [
            {
                "Target": "os",
                "Vulnerabilities": [
                    {
                        "VulnerabilityID": "CVE-2026-0001",
                        "PkgName": "pkg",
                        "InstalledVersion": "1",
                        "Severity": "CRITICAL",
                    }
                ],
            }
        ],
    }
    (build / "trivy" / "controller.json").write_text(json.dumps(report), encoding="utf-8")
    (build / "verified.txt").write_text(f"ghcr.io/kgot-platform/controller@{DIGEST}\n")
    output = tmp_path / "pack.json"
    monkeypatch.chdir(build.parent)
    code, err = bridge(
        capsys,
        committed_stack_file("production").parent,
        *("--trivy-report", "build/trivy/", "--verified-digests", "build/verified.txt"),
        *("--require-signed-images", "-o", str(output)),
        stack="production",
    )
    assert (code, err) == (0, "")
    document = json.loads(output.read_text(encoding="utf-8"))
    gate = document["vulnerability-thresholds"]
    assert gate["reportPaths"] == [str(build / "trivy")]
    for policy in ("image-tag-digest-signature", "traffic-shift-safety"):
        for config in (document[policy], document["compliance-score"]["policyConfig"][policy]):
            assert config["verifiedDigestsFile"] == str(build / "verified.txt")

    monkeypatch.chdir(ROOT / "policies")
    found = violations(supply_chain.vulnerability_thresholds, [], gate)
    assert len(found) == 1 and "1 CRITICAL vulnerabilities exceed max 0" in found[0]
    listed = {f"ghcr.io/kgot-platform/controller@{DIGEST}"}
    assert verified_digests(document["image-tag-digest-signature"]) == listed


@pytest.mark.parametrize("option", ["--trivy-report", "--verified-digests"])
def test_an_empty_path_is_refused_not_taken_for_the_current_folder(
    capsys: pytest.CaptureFixture[str], option: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["production", option, ""])
    assert exited.value.code == 2
    assert f"argument {option}: '' is empty; allowed: a file or folder path" in (
        capsys.readouterr().err
    )


def test_a_numeric_version_key_reads_as_the_program_gets_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`2: sha256:...` under `digests` (and `greenVersion: 2`) is the text "2" to the
    program, as the engine hands it; the bridge reads the stack file the same way."""
    from components.settings import parse_settings, read_stack_file

    dev = committed_text("Pulumi.dev.yaml")
    first = (
        "        1.0.0: sha256:08f2a7e045d44b393a0b2818a138ca120f81e9963a23418c7e2ceaacb34a34a8\n"
    )
    second = (
        "        1.1.0: sha256:2c1f451e196328603f80ffa052256c421ed5ea26df321b803f0de581873927b9\n"
    )
    assert first in dev and second in dev
    text = dev.replace(first, first.replace("1.0.0:", "2:"), 1)
    text = text.replace(second, second.replace("1.1.0:", "1.10:"), 1)
    text = text.replace("kgot-platform:greenVersion: 1.0.0", "kgot-platform:greenVersion: 2")
    path = stack_file(tmp_path, text)
    code, err = bridge(capsys, tmp_path)
    assert (code, err) == (0, "")
    settings = parse_settings(read_stack_file(path), "x")
    controller = next(s for s in settings.services if s.key == "controller")
    assert settings.green_version == "2"
    assert controller.image_ref("2").endswith(
        "@sha256:08f2a7e045d44b393a0b2818a138ca120f81e9963a23418c7e2ceaacb34a34a8"
    )
    # `1.10` stays 1.10 (a YAML float would have read 1.1).
    assert "1.10" in controller.digests and "1.1" not in controller.digests
    # The program's reading: what `pulumi config` hands over (objects as JSON text).
    engine_form = {
        key: json.dumps(value) if isinstance(value, dict | list) else str(value)
        for key, value in read_stack_file(path).items()
    }
    assert parse_settings(engine_form, "x") == settings
