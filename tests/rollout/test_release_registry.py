"""Pre-flight's question to the registry (a stand-in crane): is the image there?"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kgot_rollout._exceptions import RefusedError
from kgot_rollout._registry import CosignRegistry

pytestmark = pytest.mark.rollout

IMAGE = "localhost:5000/kgot/controller:1.1.0@sha256:" + "ab" * 32
CRANE = """#!/bin/sh
echo "$@" > "$CRANE_ARGS"
case "$CRANE_ANSWER" in
  present) echo "sha256:abab"; exit 0 ;;
  absent) echo "Error: HEAD $ANSWER_URL: unexpected status code 404 Not Found" >&2; exit 1 ;;
  down) echo "Error: Get $ANSWER_URL: dial tcp 127.0.0.1:5000: connection refused" >&2; exit 1 ;;
esac
"""


@pytest.fixture
def crane(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "crane").write_text(CRANE)
    (folder / "crane").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CRANE_ARGS", str(tmp_path / "args"))
    monkeypatch.setenv("ANSWER_URL", "http://localhost:5000/v2/kgot/controller/manifests/sha256:ab")
    return tmp_path / "args"


def test_a_present_image_is_asked_for_by_digest(
    crane: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CRANE_ANSWER", "present")
    assert CosignRegistry(tmp_path).missing(IMAGE) is None
    args = crane.read_text().split()
    # By digest in its repository (the tag is a name that can move), plain HTTP on loopback.
    assert args == ["digest", "localhost:5000/kgot/controller@sha256:" + "ab" * 32, "--insecure"]


def test_an_absent_image_is_named_as_not_in_the_registry(
    crane: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CRANE_ANSWER", "absent")
    missing = CosignRegistry(tmp_path).missing(IMAGE)
    assert missing is not None and missing.startswith("not in the registry")


def test_an_unreachable_registry_is_a_refusal(
    crane: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CRANE_ANSWER", "down")
    with pytest.raises(RefusedError, match="registry localhost:5000 cannot be reached"):
        CosignRegistry(tmp_path).missing(IMAGE)


def test_without_crane_the_release_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RefusedError, match="crane is not on PATH"):
        CosignRegistry(tmp_path).missing(IMAGE)
