"""The policy pack in the real engine: `pulumi preview --policy-pack policies`.

Passes on the dev stack of the real program and fails, naming the policies,
on a deliberately insecure program (tests/e2e/insecure_program).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

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


def test_dev_stack_preview_passes_the_pack(backend_env: dict[str, str], tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    copy_stack_file("dev", project)  # the committed one, not the user's edits
    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, project / name)
    (project / ".venv").symlink_to(REPO / ".venv")
    _init_stack(project, "dev", backend_env)
    pack_config = tmp_path / "pack-config.json"
    bridge_args = ["dev", "--project-dir", str(project), "-o", str(pack_config)]
    bridge = _run(
        [str(PYTHON), "-m", "kgot_policies.stack_config", *bridge_args],
        PACK,
        backend_env,
    )
    assert bridge.returncode == 0, _shown(bridge)
    policy_args = ["--policy-pack", str(PACK), "--policy-pack-config", str(pack_config)]
    proc = _run(
        ["pulumi", "preview", "--stack", "dev", "--non-interactive", "--diff", *policy_args],
        project,
        backend_env,
    )
    assert proc.returncode == 0, _shown(proc)
    assert "kgot-platform-security" in proc.stdout, _shown(proc)
    assert "mandatory" not in proc.stdout, _shown(proc)


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
