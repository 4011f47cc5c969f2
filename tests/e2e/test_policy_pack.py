"""The policy pack in the real engine: `pulumi preview --policy-pack policies`.

Passes on the dev, staging and production stacks of the real program (staging
and production with their defaults: egress isolation, digests, signatures)
and fails, naming the policies, on a deliberately insecure program
(tests/e2e/insecure_program).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from components.settings import parse_settings, read_stack_file
from tests.committed_stacks import copy_stack_file

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "policies"
PYTHON = REPO / ".venv" / "bin" / "python"
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "components", "dashboards")
# Policies the insecure program breaks; the preview output must name each.
EXPECTED = (
    "pod-host-namespaces",
    "pod-privileged-containers",
    "pod-capabilities-baseline",
    "pod-host-path-volumes",
    "pod-host-ports",
    "pod-run-as-non-root",
    "pod-no-privilege-escalation",
    "image-tag-digest-signature",
    "no-plaintext-secrets",
    "no-default-namespace",
    "service-exposure",
    "rbac-no-cluster-admin",
    "rbac-no-wildcards",
    "network-policy-coverage",
    "compliance-score",
)


def _run(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _shown(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


@pytest.fixture
def backend_env(toolchain_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The toolchain's environment with a backend of this test's own."""
    state = tmp_path / "state"
    state.mkdir()
    return {**toolchain_env, "PULUMI_BACKEND_URL": f"file://{state}"}


def _init_stack(project: Path, stack: str, env: dict[str, str]) -> None:
    proc = _run(["pulumi", "stack", "init", stack, "--non-interactive"], project, env)
    assert proc.returncode == 0, _shown(proc)


def _project(tmp_path: Path, stack: str) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    copy_stack_file(stack, project)  # the committed one, not the user's edits
    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, project / name)
    (project / ".venv").symlink_to(REPO / ".venv")
    return project


def _preview_with_pack(
    project: Path, stack: str, env: dict[str, str], tmp_path: Path, *bridge_extra: str
) -> subprocess.CompletedProcess[str]:
    """The bridge writes the stack's pack config, then the preview runs with the pack."""
    _init_stack(project, stack, env)
    pack_config = tmp_path / "pack-config.json"
    bridge_args = [stack, "--project-dir", str(project), "-o", str(pack_config), *bridge_extra]
    bridge = _run([str(PYTHON), "-m", "kgot_policies.stack_config", *bridge_args], PACK, env)
    assert bridge.returncode == 0, _shown(bridge)
    policy_args = ["--policy-pack", str(PACK), "--policy-pack-config", str(pack_config)]
    return _run(
        ["pulumi", "preview", "--stack", stack, "--non-interactive", "--diff", *policy_args],
        project,
        env,
    )


def test_dev_stack_preview_passes_the_pack(backend_env: dict[str, str], tmp_path: Path) -> None:
    proc = _preview_with_pack(_project(tmp_path, "dev"), "dev", backend_env, tmp_path)
    assert proc.returncode == 0, _shown(proc)
    assert "kgot-platform-security" in proc.stdout, _shown(proc)
    assert "mandatory" not in proc.stdout, _shown(proc)


RELEASED_DIGEST = "sha256:" + "5e" * 32


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_staging_and_production_previews_pass_the_pack(
    backend_env: dict[str, str], tmp_path: Path, stack: str
) -> None:
    """The committed stack with what a release adds, under the pack's staging/production
    defaults: egress isolation required, digests required, signatures required."""
    project = _project(tmp_path, stack)
    path = project / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    config = document["config"]
    # The post-deploy checks need the command plugin, which cannot be built
    # here (README, toolchain); they add no object the pack judges.
    config["kgot-platform:checks"] = {"enabled": False}
    # What the release job records: each service's released digest.
    for service in config["kgot-platform:services"].values():
        service["digests"] = {config["kgot-platform:blueVersion"]: RELEASED_DIGEST}
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    # Signatures are verified against a registry elsewhere (test_signed_preview);
    # here the stack's digests stand as verified, as `make verify-images` lists them.
    settings = parse_settings(read_stack_file(path), stack)
    verified = tmp_path / "verified.txt"
    digests = sorted({r.partition("@")[2] for r in settings.deployed_images if "@" in r})
    verified.write_text("".join(f"{d}\n" for d in digests), encoding="utf-8")
    proc = _preview_with_pack(
        project, stack, backend_env, tmp_path, "--verified-digests", str(verified)
    )
    assert proc.returncode == 0, _shown(proc)
    assert "kgot-platform-security" in proc.stdout, _shown(proc)
    assert "mandatory" not in proc.stdout, _shown(proc)
    assert "allow-dns" in proc.stdout and "default-deny" in proc.stdout, _shown(proc)


def test_insecure_program_is_refused_naming_the_policies(
    backend_env: dict[str, str], tmp_path: Path
) -> None:
    program = tmp_path / "insecure"
    shutil.copytree(REPO / "tests" / "e2e" / "insecure_program", program)
    settings = program / "Pulumi.yaml"
    settings.write_text(
        settings.read_text().replace("../../../.venv", str(REPO / ".venv")), encoding="utf-8"
    )
    _init_stack(program, "insecure", backend_env)
    proc = _run(
        [
            "pulumi",
            "preview",
            "--stack",
            "insecure",
            "--non-interactive",
            "--policy-pack",
            str(PACK),
        ],
        program,
        backend_env,
    )
    assert proc.returncode != 0, _shown(proc)
    output = proc.stdout + proc.stderr
    missing = [name for name in EXPECTED if name not in output]
    assert missing == [], f"not named: {missing}\n{_shown(proc)}"
    assert "mandatory" in output
    # The secret is reported, never printed.
    assert "AKIA" + "IOSFODNN7EXAMPLE" not in output
