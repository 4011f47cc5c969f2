"""kgot_contract: the one definition of the colour label, the routing kinds and
image-reference parsing that the program, the pack, the rollout tool and the
tests share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from kgot_contract import (
    COLOR_LABEL,
    HTTP_ROUTE,
    INGRESS,
    ROUTING_KINDS,
    ROUTING_TYPES,
    SERVICE,
    ImageRef,
    parse_image,
    routing_kind,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "contract"
DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("image", "expected", "registry", "pinned"),
    [
        # A registry's port is no tag; the tag is what follows the last path segment's colon.
        (
            f"localhost:5000/a:1.2@{DIGEST}",
            ImageRef("localhost:5000/a", "1.2", DIGEST),
            "localhost:5000",
            True,
        ),
        ("localhost:5000/a", ImageRef("localhost:5000/a", None, None), "localhost:5000", False),
        ("reg:5000/a/b:2.0", ImageRef("reg:5000/a/b", "2.0", None), "reg:5000", False),
        # Digest only: pinned, no tag.
        (f"a/b@{DIGEST}", ImageRef("a/b", None, DIGEST), None, True),
        # No tag at all (the runtime would pull latest).
        ("busybox", ImageRef("busybox", None, None), None, False),
        # Docker Hub by its full name: kept as written, not shortened.
        ("docker.io/library/x", ImageRef("docker.io/library/x", None, None), "docker.io", False),
        # A Docker Hub user is no registry.
        ("grafana/grafana:12.1.1", ImageRef("grafana/grafana", "12.1.1", None), None, False),
        # A digest that is not sha256 and 64 hex digits pins nothing.
        ("a/b@sha256:short", ImageRef("a/b", None, "sha256:short"), None, False),
    ],
)
def test_image_references_parse(
    image: str, expected: ImageRef, registry: str | None, pinned: bool
) -> None:
    ref = parse_image(image)
    assert ref == expected
    assert ref.registry == registry
    assert ref.pinned is pinned


@pytest.mark.parametrize(
    ("image", "host"),
    [
        ("localhost:5000/kgot/controller:1.0.0", "localhost"),
        ("127.0.0.1:5000/kgot/controller", "127.0.0.1"),
        ("[::1]:5000/kgot/controller", "[::1]"),
        ("[::1]/kgot/controller", "[::1]"),
        ("ghcr.io/kgot-platform/controller", "ghcr.io"),
        ("kgot/controller", None),
    ],
)
def test_the_registry_host_drops_only_the_port(image: str, host: str | None) -> None:
    # verify_images allows plain HTTP for a loopback registry by this host.
    assert parse_image(image).registry_host == host


def test_routing_kinds_name_their_pulumi_types_and_api_resources() -> None:
    assert ROUTING_TYPES == (
        "kubernetes:core/v1:Service",
        "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
        "kubernetes:networking.k8s.io/v1:Ingress",
    )
    assert [(k.kind, k.plural) for k in ROUTING_KINDS] == [
        ("Service", "services"),
        ("HTTPRoute", "httproutes"),
        ("Ingress", "ingresses"),
    ]
    assert (routing_kind("Service"), routing_kind("HTTPRoute"), routing_kind("Ingress")) == (
        SERVICE,
        HTTP_ROUTE,
        INGRESS,
    )
    assert routing_kind("ServiceAccount") is None
    assert routing_kind(None) is None


def _python_sources() -> list[Path]:
    skipped = {".venv", "build", ".git", "node_modules"}
    return [
        path
        for path in ROOT.rglob("*.py")
        if not skipped & set(path.relative_to(ROOT).parts)
        and not path.is_relative_to(CONTRACT / "kgot_contract")
    ]


def test_the_colour_label_is_spelled_only_in_the_contract() -> None:
    # Everyone else imports COLOR_LABEL: a second spelling would let the program's
    # pods and the pack's or the tool's selectors drift apart unnoticed.
    # (The label is read from the contract, so this file does not spell it either.)
    sources = _python_sources()
    assert ROOT / "components" / "labels.py" in sources
    assert ROOT / "policies" / "kgot_policies" / "traffic_safety.py" in sources
    spelled = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if COLOR_LABEL in line
    ]
    assert spelled == [], f"use kgot_contract.COLOR_LABEL instead of {COLOR_LABEL!r}"


def test_the_pack_imports_the_contract_from_its_own_folder() -> None:
    # As the engine starts the pack: the project venv's python in the pack's
    # folder, no PYTHONPATH (-E), so the contract must come from the venv.
    code = "import kgot_contract, kgot_policies.registry; print(kgot_contract.__file__)"
    done = subprocess.run(
        [sys.executable, "-E", "-c", code],
        cwd=ROOT / "policies",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(CONTRACT)
