"""Faults of the toolchain scripts: a failing build and a control plane that
never comes up. Both must say what failed and leave nothing behind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.toolchain_support import TOOLCHAIN, run

pytestmark = pytest.mark.e2e


def _fake_binary(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def test_failed_build_names_the_tool_and_leaves_nothing(tmp_path: Path) -> None:
    fakes = tmp_path / "fakes"
    fakes.mkdir()
    # A go that fails the way a broken build does: output, then exit 1.
    _fake_binary(fakes, "go", 'echo "simulated compile error in $*" >&2; exit 1')
    cache = tmp_path / "cache"
    env = {**os.environ, "PATH": f"{fakes}:{os.environ['PATH']}", "KGOT_CACHE": str(cache)}

    build = run([str(TOOLCHAIN / "build.sh"), "etcd"], cwd=tmp_path, env=env, check=False)

    assert build.returncode != 0
    assert "building etcd failed: go build" in build.stderr
    assert "simulated compile error" in build.stderr
    # Neither a finished-looking folder nor a temp folder is left to be reused.
    assert [p.name for p in (cache / "toolchain").iterdir() if p.is_dir()] == []


def test_control_plane_that_never_comes_up(toolchain_env: dict[str, str], tmp_path: Path) -> None:
    fakes = tmp_path / "fakes"
    fakes.mkdir()
    _fake_binary(fakes, "kube-apiserver", 'echo "simulated apiserver crash" >&2; exit 1')
    state = tmp_path / "state"
    env = {
        **toolchain_env,
        "PATH": f"{fakes}:{toolchain_env['PATH']}",
        "KGOT_STATE": str(state),
        "KGOT_CLUSTER_NAME": "broken",
        "KGOT_CLUSTER_TIMEOUT": "15",
    }

    up = run([str(TOOLCHAIN / "cluster.sh"), "up"], cwd=tmp_path, env=env, check=False, timeout=120)

    assert up.returncode != 0
    assert "did not come up (bound: 15s)" in up.stderr
    assert "kube-apiserver" in up.stderr and "simulated apiserver crash" in up.stderr
    # up cleaned up after itself; down is safe to run again and finds nothing.
    run([str(TOOLCHAIN / "cluster.sh"), "down"], cwd=tmp_path, env=env)
    left = subprocess.run(["pgrep", "-f", str(state)], capture_output=True, text=True)
    assert left.stdout == "", f"processes of the broken cluster still run: {left.stdout}"
