"""Signatures in the real engine: `pulumi preview --policy-pack` fed by `verify_images`.

The dev stack's images are replaced by images in a registry of the test's own,
signed by toolchain/images.sh with a key pair of the test's own; the preview
passes when every image verified, and is refused, naming the image, when one
is unsigned.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.signing_support import (
    dev_stack,
    own_registry,
    push,
    sign,
    signed_monitoring,
    signing_env,
    verify,
)
from tests.toolchain_support import REPO, copy_project

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def env(toolchain_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return signing_env(toolchain_env, tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Iterator[str]:
    with own_registry(tmp_path_factory.mktemp("registry"), env) as address:
        yield address


def preview(project: Path, stack: dict[str, Any], env: dict[str, str], folder: Path) -> str:
    """verify_images, the bridge, then the preview with the pack (a failure before
    the preview fails the test); returns `exit <code>` and the preview's output."""
    verified = verify(project, stack, env, folder / "verified.txt")
    verified_path = str(folder / "verified.txt")
    assert verified.code == 0, verified.log
    pack = folder / "pack.json"
    bridge_args = ["--project-dir", str(project), "--verified-digests", verified_path, "-o"]
    bridge = subprocess.run(
        [sys.executable, "-m", "kgot_policies.stack_config", "dev", *bridge_args, str(pack)],
        cwd=REPO / "policies",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bridge.returncode == 0, bridge.stderr
    policy_args = ["--policy-pack", str(REPO / "policies"), "--policy-pack-config", str(pack)]
    done = subprocess.run(
        ["pulumi", "preview", "--stack", "dev", "--non-interactive", *policy_args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"


def test_signed_images_preview_with_the_pack_and_an_unsigned_one_is_refused(
    env: dict[str, str], registry: str, tmp_path: Path
) -> None:
    signed = push(registry, "kgot/signed:1.0.0", "a signed release", env, tmp_path)
    sign(f"{registry}/kgot/signed:1.0.0", env)
    unsigned = push(registry, "kgot/unsigned:1.0.0", "never signed", env, tmp_path)
    monitoring = signed_monitoring(registry, env, tmp_path)
    backend = tmp_path / "backend"
    backend.mkdir()
    env = {**env, "PULUMI_BACKEND_URL": f"file://{backend}"}
    (tmp_path / "project").mkdir()
    project = copy_project(tmp_path / "project")
    init = subprocess.run(
        ["pulumi", "stack", "init", "dev", "--non-interactive"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert init.returncode == 0, init.stderr

    stack = dev_stack(registry, {"*": f"{registry}/kgot/signed@{signed}"}, monitoring)
    shown = preview(project, stack, env, tmp_path)
    assert shown.startswith("exit 0"), shown
    assert "kgot-platform-security" in shown and "mandatory" not in shown, shown

    images = {"*": f"{registry}/kgot/signed@{signed}"}
    images["controller"] = f"{registry}/kgot/unsigned@{unsigned}"
    shown = preview(project, dev_stack(registry, images, monitoring), env, tmp_path)
    assert not shown.startswith("exit 0"), shown
    image = f"{registry}/kgot/unsigned:1.0.0@{unsigned}"
    assert f"image {image} has no verified signature for its digest" in shown, shown
