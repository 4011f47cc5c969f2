"""Signing for real in tests: a registry of the test's own, images pushed with
crane, signed by toolchain/images.sh, and the verifier run on a stack file."""

from __future__ import annotations

import copy
import io
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kgot_contract import parse_image

from tests.committed_stacks import committed_text, stack_config
from tests.toolchain_support import REPO, free_port, require_tools

TOOLS = ("cosign", "crane", "docker-registry")
# The registry lives as long as the module's tests, and never longer than this.
REGISTRY_LIFETIME_SECONDS = 900


def signing_env(env: dict[str, str], cache: Path) -> dict[str, str]:
    """The toolchain's environment with a cache of the test's own: its key pair,
    never the machine's. Skips (fails under CI) without the tools."""
    require_tools(env, TOOLS)
    return {**env, "KGOT_CACHE": str(cache)}


@contextmanager
def own_registry(folder: Path, env: dict[str, str]) -> Iterator[str]:
    """Debian's docker-registry on a free loopback port, storage in `folder`;
    yields its address (`localhost:<port>`) and stops it after."""
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "error"},
        "storage": {"filesystem": {"rootdirectory": str(folder / "data")}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    config_file = folder / "config.yml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    with (folder / "registry.log").open("wb") as log:
        server = subprocess.Popen(
            [
                "timeout",
                str(REGISTRY_LIFETIME_SECONDS),
                "docker-registry",
                "serve",
                str(config_file),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_for(f"http://127.0.0.1:{port}/v2/", server, folder / "registry.log")
        yield f"localhost:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_for(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"docker-registry exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    pytest.fail(f"docker-registry did not answer {url} in 20 s:\n{log.read_text()}")


def command(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, cwd=REPO)


def checked(args: list[str], env: dict[str, str]) -> str:
    done = command(args, env)
    assert done.returncode == 0, f"{' '.join(args)}: {done.returncode}\n{done.stderr}"
    return done.stdout.strip()


def push(registry: str, ref: str, content: str, env: dict[str, str], folder: Path) -> str:
    """A one-file image `registry/ref` (content makes its digest); returns the digest."""
    data = content.encode()
    layer = folder / f"{ref.replace('/', '_').replace(':', '_')}.tar"
    with tarfile.open(layer, "w") as tar:
        info = tarfile.TarInfo("content")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    image = f"{registry}/{ref}"
    checked(
        ["crane", "append", "--oci-empty-base", "-f", str(layer), "-t", image, "--insecure"], env
    )
    return checked(["crane", "digest", "--insecure", image], env)


def sign(image: str, env: dict[str, str]) -> None:
    checked([str(REPO / "toolchain" / "images.sh"), "sign", image], env)


@dataclass(frozen=True)
class Verified:
    code: int
    log: str
    lines: list[str]


def verify(project: Path, stack: dict[str, Any], env: dict[str, str], out: Path) -> Verified:
    """Writes Pulumi.dev.yaml with `stack` config and runs the verifier on it."""
    document = yaml.safe_load(committed_text("Pulumi.dev.yaml"))
    document["config"] = {f"kgot-platform:{k}": v for k, v in stack.items()}
    project.mkdir(exist_ok=True)
    (project / "Pulumi.dev.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    args = [sys.executable, "-m", "kgot_policies.verify_images", "dev"]
    args += ["--project-dir", str(project), "-o", str(out)]
    done = command(args, {**env, "PYTHONPATH": str(REPO / "policies")})
    lines = out.read_text().splitlines() if out.exists() else []
    return Verified(done.returncode, done.stderr, lines)


def dev_stack(registry: str, images: dict[str, str], monitoring: tuple[str, str]) -> dict[str, Any]:
    """The committed dev stack with each service at `images[key]` (repo@digest) and
    the two monitoring images; signatures required, trusting the local key."""
    raw: dict[str, Any] = copy.deepcopy(stack_config("dev"))
    for key, service in raw["services"].items():
        image = parse_image(images.get(key, images["*"]))
        service["image"] = image.repository
        service["digests"] = {"1.0.0": image.digest}
    raw["monitoring"] = {
        **raw["monitoring"],
        "prometheusImage": monitoring[0],
        "alertmanagerImage": monitoring[1],
    }
    signing = {"required": True, "publicKey": "local"}
    raw["security"] = {**raw["security"], "signing": signing}
    # The gateway Traefik's image is one more pinned image of the same kind;
    # these tests count the services' and monitoring's, so it is not run here.
    raw["gateway"] = {**raw.get("gateway", {}), "deploy": False}
    return raw


def signed_monitoring(registry: str, env: dict[str, str], folder: Path) -> tuple[str, str]:
    """Signed stand-ins for the Prometheus and Alertmanager images (repo:tag@digest)."""
    refs = []
    for name in ("prometheus", "alertmanager"):
        digest = push(registry, f"kgot/{name}:v1", f"{name} stand-in", env, folder)
        sign(f"{registry}/kgot/{name}:v1", env)
        refs.append(f"{registry}/kgot/{name}:v1@{digest}")
    return refs[0], refs[1]
