"""What the real-engine tests share: the environment of the hermetic toolchain,
a throwaway copy of the project, the local control plane, and running a
command with its output kept for the assertion message."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.committed_stacks import copy_stack_file

REPO = Path(__file__).resolve().parents[1]
TOOLCHAIN = REPO / "toolchain"
# What a Pulumi run of the program needs; everything else stays behind. The
# stack files are the committed ones (tests/committed_stacks.py).
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "components", "dashboards")
STACK_FILES = ("dev",)
ENGINE_TOOLS = ("pulumi", "pulumi-language-python", "kwokctl", "kube-apiserver", "etcd", "kubectl")


def toolchain_environment(state: Path) -> dict[str, str]:
    """The environment toolchain/env.sh sets up, with state kept under `state`
    (backend, kubeconfig, control plane) and nothing of the caller's Pulumi,
    kgot or kubeconfig settings leaking in."""
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


def require_tools(env: dict[str, str], tools: Sequence[str] = ENGINE_TOOLS) -> None:
    """Fails under CI (the toolchain must be built there) and skips elsewhere,
    saying which tools are missing."""
    missing = [t for t in tools if shutil.which(t, path=env["PATH"]) is None]
    if missing:
        reason = f"toolchain not built ({', '.join(missing)} missing): run `make toolchain`"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def free_port() -> int:
    """A loopback port nothing listens on right now (for a server of the test's own)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def copy_project(dest: Path) -> Path:
    """A copy of the Pulumi project that a test may reconfigure freely, using
    the checkout's virtualenv and policy pack."""
    for stack in STACK_FILES:
        copy_stack_file(stack, dest)
    for name in PROJECT_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    (dest / ".venv").symlink_to(REPO / ".venv")
    (dest / "policies").symlink_to(REPO / "policies")
    return dest


def cluster(action: str, env: dict[str, str]) -> None:
    """`toolchain/cluster.sh up|down`; a start that fails fails the test."""
    done = run([str(TOOLCHAIN / "cluster.sh"), action], cwd=REPO, env=env, check=False)
    if action == "up" and done.returncode != 0:
        pytest.fail(f"local control plane did not start:\n{done.stderr}")


def run(
    args: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    check: bool = True,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """Runs a command; on an unexpected failure the assertion shows its output."""
    proc = subprocess.run(
        list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout}"
            f"\n--- stderr\n{proc.stderr}"
        )
    return proc
