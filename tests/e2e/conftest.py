"""Fixtures for the end-to-end suites: the real Pulumi CLI and providers from
the hermetic toolchain, a local control plane of their own, and a copy of the
project per test module so `pulumi config set` never edits the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLCHAIN = REPO / "toolchain"
# What a Pulumi run of the program needs; everything else stays behind.
PROJECT_FILES = ("Pulumi.yaml", "Pulumi.dev.yaml", "__main__.py", "components", "dashboards")


def _toolchain_environment(state: Path) -> dict[str, str]:
    """The environment toolchain/env.sh sets up, with state kept under `state`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "KGOT_"))}
    env.pop("KUBECONFIG", None)
    env["KGOT_STATE"] = str(state)
    out = subprocess.run(
        ["bash", "-c", f"source {TOOLCHAIN / 'env.sh'} && env -0"],
        env=env,
        check=True,
        capture_output=True,
    ).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


def _missing_tools(env: dict[str, str]) -> list[str]:
    tools = ("pulumi", "pulumi-language-python", "kwokctl", "kube-apiserver", "etcd")
    return [t for t in tools if shutil.which(t, path=env["PATH"]) is None]


@pytest.fixture(scope="session")
def toolchain_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Env vars for subprocesses: the built CLI and plugins on PATH, offline
    settings, a file backend and a kubeconfig for a control plane started for
    this test session and stopped after it."""
    state = tmp_path_factory.mktemp("kgot-state")
    env = _toolchain_environment(state)
    missing = _missing_tools(env)
    if missing:
        reason = f"toolchain not built ({', '.join(missing)} missing): run `make toolchain`"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    up = subprocess.run(
        [str(TOOLCHAIN / "cluster.sh"), "up"], env=env, capture_output=True, text=True
    )
    if up.returncode != 0:
        pytest.fail(f"local control plane did not start:\n{up.stderr}")
    try:
        yield env
    finally:
        subprocess.run(
            [str(TOOLCHAIN / "cluster.sh"), "down"], env=env, capture_output=True, check=False
        )


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the Pulumi project that tests may reconfigure freely."""
    dest = tmp_path_factory.mktemp("project")
    for name in PROJECT_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    # The program and the pack run in the project's virtualenv.
    (dest / ".venv").symlink_to(REPO / ".venv")
    (dest / "policies").symlink_to(REPO / "policies")
    return dest
