"""ServiceImages under mocks: built and pinned by digest when on, by reference when off."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mocked_program
import pulumi
import pytest
from dependency_recorder import record_dependencies
from kgot_contract import parse_image
from mocked_program import Program, ProgramRunner, Recorded
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

from components.settings import SettingsError

pytestmark = pytest.mark.unit

IMAGE_TYPE = "docker:index/image:Image"
SERVICE_KEYS = ("controller", "graph_store", "manager_agent", "web_agent", "mcp_tools")
PASSWORD = "ghp_not-a-real-registry-token"


def fake_digest(image_name: str) -> str:
    return "sha256:" + hashlib.sha256(image_name.encode()).hexdigest()


class RegistryMocks(mocked_program.RecordingMocks):
    """A registry that answers each push with a digest derived from the image name."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        rid, state = super().new_resource(args)
        if args.typ == IMAGE_TYPE:
            name = args.inputs["imageName"]
            repository = parse_image(name).repository
            state["repoDigest"] = f"{repository}@{fake_digest(name)}"
        return rid, state


@pytest.fixture(autouse=True)
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(mocked_program, "RecordingMocks", RegistryMocks)
    yield


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """A checkout of the services' sources: one folder with a Dockerfile each."""
    for key in SERVICE_KEYS:
        folder = tmp_path / key
        folder.mkdir()
        (folder / "Dockerfile").write_text("FROM scratch AS build\nFROM scratch AS runtime\n")
    return tmp_path


def build_config(sources: Path, **changes: object) -> dict[str, object]:
    images: dict[str, object] = {
        "build": True,
        "releaseVersion": "1.5.0",
        "registry": {"server": "ghcr.io", "username": "kgot-ci"},
        "contexts": {
            key: {"context": str(sources / key), "target": "runtime"} for key in SERVICE_KEYS
        },
    }
    images.update(changes)
    return {"images": images, "blueVersion": "1.4.0", "greenVersion": "1.5.0"}


def image_of(program: Program, deployment: str) -> str:
    spec = program.one("Deployment", deployment).inputs["spec"]["template"]["spec"]
    image: str = spec["containers"][0]["image"]
    return image


def built(program: Program) -> dict[str, Recorded]:
    return {r.name: r for r in program.resources if r.typ == IMAGE_TYPE}


def test_off_takes_images_by_reference_and_builds_nothing(run_program: ProgramRunner) -> None:
    program = run_program("staging", {"blueVersion": "1.4.0", "greenVersion": "1.5.0"})
    assert built(program) == {}
    assert not [r for r in program.resources if r.typ == "kgot:platform:ServiceImages"]
    assert image_of(program, "controller-blue") == "ghcr.io/kgot-platform/controller:1.4.0"
    assert image_of(program, "controller-green") == "ghcr.io/kgot-platform/controller:1.5.0"
    assert "imageDigests" not in program.exports


def test_dev_stack_has_image_builds_off(run_program: ProgramRunner) -> None:
    # No Docker engine runs on the machines that deploy dev.
    assert built(run_program("dev")) == {}


def test_on_builds_every_service_tagged_with_the_release(
    run_program: ProgramRunner, sources: Path
) -> None:
    program = run_program("staging", build_config(sources), secrets={"registryPassword": PASSWORD})
    images = built(program)
    assert sorted(r.inputs["imageName"] for r in images.values()) == sorted(
        f"ghcr.io/kgot-platform/{key.replace('_', '-')}:1.5.0" for key in SERVICE_KEYS
    )
    controller = images["images-controller"].inputs
    assert controller["build"]["context"] == str(sources / "controller")
    assert controller["build"]["dockerfile"] == str(sources / "controller" / "Dockerfile")
    assert controller["build"]["target"] == "runtime"
    assert controller["build"]["platform"] == "linux/amd64"
    # The password makes the registry block a secret as a whole.
    assert is_rpc_secret(controller["registry"])
    assert unwrap_rpc_secret(controller["registry"]) == {
        "server": "ghcr.io",
        "username": "kgot-ci",
        "password": PASSWORD,
    }


def test_release_colour_runs_the_pushed_digest_other_colour_its_tag(
    run_program: ProgramRunner, sources: Path
) -> None:
    program = run_program("staging", build_config(sources), secrets={"registryPassword": PASSWORD})
    pushed = "ghcr.io/kgot-platform/graph-store:1.5.0"
    expected = f"ghcr.io/kgot-platform/graph-store@{fake_digest(pushed)}"
    assert image_of(program, "graph-store-green") == expected
    assert image_of(program, "graph-store-blue") == "ghcr.io/kgot-platform/graph-store:1.4.0"
    assert program.exports["imageDigests"]["graph_store"] == expected
    assert set(program.exports["imageDigests"]) == set(SERVICE_KEYS)


def test_images_build_in_parallel_and_each_colour_waits_for_its_own(
    run_program: ProgramRunner, sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dependencies = record_dependencies(monkeypatch)
    program = run_program("staging", build_config(sources), secrets={"registryPassword": PASSWORD})
    images = set(built(program))
    assert [r.typ for r in program.resources].count("kgot:platform:ServiceImages") == 1
    for image in images:
        # No image waits for another, so the engine builds them all at once.
        assert not dependencies[image] & images, image
    # The release colour's Deployment waits for its push; the other colour does not.
    assert "images-web-agent" in dependencies["web-agent-green"]
    assert not dependencies["web-agent-blue"] & images


def test_flip_with_builds_on_changes_neither_images_nor_deployments(
    run_program: ProgramRunner, sources: Path
) -> None:
    config = build_config(sources)
    secrets = {"registryPassword": PASSWORD}
    before = run_program("production", config, secrets=secrets)
    after = run_program("production", {**config, "activeColor": "green"}, secrets=secrets)
    for kind in ("Deployment",):
        assert {r.name: r.inputs for r in before.of_kind(kind)} == {
            r.name: r.inputs for r in after.of_kind(kind)
        }
    assert {n: r.inputs for n, r in built(before).items()} == {
        n: r.inputs for n, r in built(after).items()
    }


def run_bad(run_program: ProgramRunner, overrides: dict[str, object], **kw: Any) -> str:
    with pytest.raises(pulumi.RunError) as caught:
        run_program("staging", overrides, **kw)
    assert isinstance(caught.value.__cause__, SettingsError)
    # Refused before anything was registered, so nothing was built or pushed.
    assert run_program.last is not None
    assert run_program.last.resources == []
    return str(caught.value)


@pytest.mark.parametrize("version", ["1.5.0 beta", "latest", "-1.5", "v" * 129])
def test_release_version_that_is_not_a_tag_is_refused(
    run_program: ProgramRunner, sources: Path, version: str
) -> None:
    message = run_bad(
        run_program,
        build_config(sources, releaseVersion=version),
        secrets={"registryPassword": PASSWORD},
    )
    # One release version for every service: the key, not a service, is at fault.
    assert f"kgot-platform:images.releaseVersion = {json.dumps(version)}" in message
    assert "image tag" in message


def test_build_without_release_version_is_refused(
    run_program: ProgramRunner, sources: Path
) -> None:
    config = build_config(sources)
    images = config["images"]
    assert isinstance(images, dict)
    del images["releaseVersion"]
    message = run_bad(run_program, config, secrets={"registryPassword": PASSWORD})
    assert "service controller" in message
    assert "images.releaseVersion is missing" in message


def test_registry_without_password_is_refused(run_program: ProgramRunner, sources: Path) -> None:
    message = run_bad(run_program, build_config(sources))
    assert "service controller" in message
    assert "kgot-platform:registryPassword is missing" in message
    assert "--secret" in message


def test_registry_password_in_plain_text_is_refused(
    run_program: ProgramRunner, sources: Path
) -> None:
    message = run_bad(run_program, build_config(sources), plain={"registryPassword": PASSWORD})
    assert "registryPassword" in message
    assert PASSWORD not in message


def test_registry_without_username_is_refused(run_program: ProgramRunner, sources: Path) -> None:
    config = build_config(sources, registry={"server": "ghcr.io"})
    message = run_bad(run_program, config, secrets={"registryPassword": PASSWORD})
    assert "service controller" in message
    assert "kgot-platform:images.registry.username is missing" in message


def test_image_outside_the_registry_with_credentials_is_refused(
    run_program: ProgramRunner, sources: Path
) -> None:
    config = build_config(sources, registry={"server": "registry.example.com", "username": "ci"})
    message = run_bad(run_program, config, secrets={"registryPassword": PASSWORD})
    assert "service controller" in message
    assert "kgot-platform:services.controller.image" in message
    assert "registry.example.com/" in message


def test_build_context_that_does_not_exist_is_refused(
    run_program: ProgramRunner, sources: Path
) -> None:
    config = build_config(sources)
    images = config["images"]
    assert isinstance(images, dict)
    images["contexts"]["web_agent"]["context"] = str(sources / "no-such-folder")
    message = run_bad(run_program, config, secrets={"registryPassword": PASSWORD})
    assert "service web_agent" in message
    assert "kgot-platform:images.contexts.web_agent.context" in message
    assert "no-such-folder" in message


def test_dockerfile_that_does_not_exist_is_refused(
    run_program: ProgramRunner, sources: Path
) -> None:
    (sources / "mcp_tools" / "Dockerfile").unlink()
    message = run_bad(run_program, build_config(sources), secrets={"registryPassword": PASSWORD})
    assert "service mcp_tools" in message
    assert "kgot-platform:images.contexts.mcp_tools.dockerfile" in message


def test_service_without_build_context_is_refused(
    run_program: ProgramRunner, sources: Path
) -> None:
    config = build_config(sources)
    images = config["images"]
    assert isinstance(images, dict)
    del images["contexts"]["manager_agent"]
    message = run_bad(run_program, config, secrets={"registryPassword": PASSWORD})
    assert "service manager_agent" in message
    assert "images.contexts.manager_agent is missing" in message


def test_context_for_unknown_service_is_refused(run_program: ProgramRunner, sources: Path) -> None:
    config = build_config(sources)
    images = config["images"]
    assert isinstance(images, dict)
    images["contexts"]["billing"] = {"context": str(sources)}
    message = run_bad(run_program, config, secrets={"registryPassword": PASSWORD})
    assert "images.contexts.billing" in message
    assert "a service key" in message


def test_contexts_are_not_checked_on_disk_while_builds_are_off(
    run_program: ProgramRunner,
) -> None:
    # The rollout tool and the policy bridge read the same stack files on
    # machines without the sources.
    images = {"build": False, "contexts": {"controller": {"context": "/nowhere"}}}
    program = run_program("staging", {"images": images})
    assert built(program) == {}
