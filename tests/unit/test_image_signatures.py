"""Images signed and verified for real: cosign, a registry of the test's own on loopback.

toolchain/images.sh signs as it does for the local cluster (its key pair, made
on first use in the test's own cache); `python -m kgot_policies.verify_images`
writes the verified-digests file; the policy pack runs on the program's
resources (mocked engine) with that file and signatures required. Needs the
built cosign and crane and Debian's docker-registry: under CI a missing one
fails, elsewhere the tests skip saying what to build.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kgot_contract import parse_image
from kgot_policies.evaluate import resource, run
from kgot_policies.registry import POLICIES
from kgot_policies.stack_config import pack_config, reviewed_roles
from mocked_program import ProgramRunner
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

from components.settings import parse_settings
from tests.signing_support import (
    checked,
    command,
    dev_stack,
    own_registry,
    push,
    sign,
    signed_monitoring,
    signing_env,
    verify,
)
from tests.toolchain_support import free_port, toolchain_environment

pytestmark = pytest.mark.signing


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    state = toolchain_environment(tmp_path_factory.mktemp("state"))
    return signing_env(state, tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Iterator[str]:
    with own_registry(tmp_path_factory.mktemp("registry"), env) as address:
        yield address


def _plain(value: Any) -> Any:
    if is_rpc_secret(value):
        return _plain(unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def pack_violations(run_program: ProgramRunner, stack: dict[str, Any], digests: Path) -> list[str]:
    """The pack on the program's resources, configured as the bridge configures it."""
    program = run_program("dev", stack)
    settings = parse_settings(stack, "dev")
    assert settings.require_signed_images
    config = pack_config(
        settings.environment,
        settings.security,
        (),
        str(digests),
        True,
        reviewed_roles=reviewed_roles(settings),
    )
    resources = [resource(r.typ, _plain(r.inputs), name=r.name) for r in program.kubernetes()]
    return [f"{v.policy}: {v.message}" for v in run(POLICIES, resources, config)]


def cosign_accepts(image: str, env: dict[str, str]) -> bool:
    """Asks the registry directly, with the test's trusted key."""
    key = Path(env["KGOT_CACHE"]) / "cosign" / "cosign.pub"
    flags = ["--insecure-ignore-tlog", "--allow-http-registry", "--allow-insecure-registry"]
    return command(["cosign", "verify", "--key", str(key), *flags, image], env).returncode == 0


@pytest.fixture(scope="module")
def monitoring(
    registry: str, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str]:
    return signed_monitoring(registry, env, tmp_path_factory.mktemp("layers"))


def test_signed_images_are_verified_and_the_pack_admits_them(
    registry: str,
    env: dict[str, str],
    monitoring: tuple[str, str],
    run_program: ProgramRunner,
    tmp_path: Path,
) -> None:
    digest = push(registry, "kgot/signed:1.0.0", "a signed release", env, tmp_path)
    started = time.monotonic()
    sign(f"{registry}/kgot/signed:1.0.0", env)
    signed_in = time.monotonic() - started
    stack = dev_stack(registry, {"*": f"{registry}/kgot/signed@{digest}"}, monitoring)
    out = tmp_path / "verified.txt"
    started = time.monotonic()
    verified = verify(tmp_path / "project", stack, env, out)
    verified_in = time.monotonic() - started
    assert verified.code == 0, verified.log
    assert sorted(verified.lines) == sorted(
        [f"{registry}/kgot/signed@{digest}", *(ref.replace(":v1@", "@") for ref in monitoring)]
    )
    assert "3 of 3 images verified" in verified.log
    assert pack_violations(run_program, stack, out) == []
    # Keys are never printed; the figures go to the report (pytest -rP).
    assert "PRIVATE KEY" not in verified.log
    print(f"sign one image: {signed_in:.2f} s; verify the stack's 3 images: {verified_in:.2f} s")


def test_unsigned_foreign_and_retagged_images_are_refused_naming_each(
    registry: str,
    env: dict[str, str],
    monitoring: tuple[str, str],
    run_program: ProgramRunner,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    good = push(registry, "kgot/good:1.0.0", "good release", env, tmp_path)
    sign(f"{registry}/kgot/good:1.0.0", env)
    unsigned = push(registry, "kgot/unsigned:1.0.0", "never signed", env, tmp_path)
    foreign = push(registry, "kgot/foreign:1.0.0", "signed by someone else", env, tmp_path)
    other_key = {**env, "KGOT_CACHE": str(tmp_path_factory.mktemp("other-cache"))}
    sign(f"{registry}/kgot/foreign:1.0.0", other_key)
    # Signed, then the tag pushed again with other content: the stack pins what
    # the tag now names, and nobody signed that.
    before = push(registry, "kgot/retagged:1.0.0", "as signed", env, tmp_path)
    sign(f"{registry}/kgot/retagged:1.0.0", env)
    after = push(registry, "kgot/retagged:1.0.0", "changed after signing", env, tmp_path)
    assert after != before
    # The signed image copied, unsigned, into another repository: same digest.
    copy = f"{registry}/kgot/copied:1.0.0"
    checked(["crane", "copy", "--insecure", f"{registry}/kgot/good:1.0.0", copy], env)
    images = {
        "*": f"{registry}/kgot/good@{good}",
        "controller": f"{registry}/kgot/unsigned@{unsigned}",
        "graph_store": f"{registry}/kgot/foreign@{foreign}",
        "manager_agent": f"{registry}/kgot/retagged@{after}",
        "web_agent": f"{registry}/kgot/copied@{good}",
    }
    stack = dev_stack(registry, images, monitoring)
    out = tmp_path / "verified.txt"
    verified = verify(tmp_path / "project", stack, env, out)
    assert verified.code == 0, verified.log
    reasons = {
        f"{registry}/kgot/unsigned:1.0.0@{unsigned}": "no signature in the registry (unsigned)",
        f"{registry}/kgot/foreign:1.0.0@{foreign}": "no signature by the trusted key",
        f"{registry}/kgot/retagged:1.0.0@{after}": "no signature in the registry (unsigned)",
        f"{registry}/kgot/copied:1.0.0@{good}": "no signature in the registry (unsigned)",
    }
    for image, reason in reasons.items():
        assert f"NOT VERIFIED {image}: {reason}" in verified.log
    listed = {parse_image(line).digest for line in verified.lines}
    assert not listed & {unsigned, foreign, after}
    assert good in listed
    refused = pack_violations(run_program, stack, out)
    for image in reasons:
        assert any(f"image {image} has no verified signature" in v for v in refused), refused
    good_image = f"{registry}/kgot/good:1.0.0@{good}"
    assert not any(f"image {good_image} " in v for v in refused), refused
    # The file holds only what cosign accepts, asked of the registry directly.
    for line in verified.lines:
        assert cosign_accepts(line, env), line
    for image in reasons:
        assert not cosign_accepts(image.replace(":1.0.0@", "@"), env), image


def test_a_registry_that_is_down_fails_closed(
    registry: str, env: dict[str, str], monitoring: tuple[str, str], tmp_path: Path
) -> None:
    down = f"localhost:{free_port()}"  # nothing listens there
    digest = "sha256:" + "ab" * 32
    stack = dev_stack(registry, {"*": f"{down}/kgot/controller@{digest}"}, monitoring)
    out = tmp_path / "verified.txt"
    out.write_text(f"{down}/kgot/controller@{digest}\n")  # a stale list from an earlier run
    verified = verify(tmp_path / "project", stack, env, out)
    assert verified.code == 3, verified.log
    assert f"registry {down} cannot be reached" in verified.log
    assert "nothing may deploy" in verified.log
    assert not out.exists()
