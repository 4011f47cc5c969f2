"""The images of a release in their registry: present (crane) and signed (cosign).

The signature check is the policy pack's own ``kgot_policies.verify_images``
(cosign against the stack's ``security.signing`` trust), imported from the
project's ``policies/`` folder, so the release and ``make verify-images``
cannot disagree on what verified. Presence is asked separately: cosign looks
a signature up by the digest's tag alone, so an image that was never pushed
reads as merely "unsigned".
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Protocol

from kgot_contract import parse_image

from components.settings import SigningSettings
from kgot_rollout._exceptions import RefusedError

CRANE_TIMEOUT_SECONDS = 60
LOOPBACK = ("localhost", "127.0.0.1", "[::1]")
# go-containerregistry's words for a manifest or repository the registry lacks.
NOT_FOUND = ("MANIFEST_UNKNOWN", "NAME_UNKNOWN", "manifest unknown", "404 Not Found")
UNREACHABLE = ("connection refused", "no such host", "i/o timeout", "network is unreachable")


@dataclass(frozen=True)
class Verification:
    image: str
    verified: bool
    reason: str


class ImageRegistry(Protocol):
    """What pre-flight asks about images; tests use a fake."""

    def missing(self, image: str) -> str | None:
        """None when ``image`` (``repo:tag@digest``) is in its registry, else why not.

        RefusedError when the registry cannot be reached at all."""
        ...

    def verify(self, signing: SigningSettings, images: Sequence[str]) -> list[Verification]:
        """Each image's signature checked against ``signing`` (RefusedError: cannot check)."""
        ...

    def write_verified(self, path: Path, verified: Sequence[str]) -> None:
        """The pack's verified-digests file (``repository@digest`` a line)."""
        ...


def _policies(project_dir: Path, name: str) -> ModuleType:
    """A module of the project's policy pack package (``policies/kgot_policies``)."""
    folder = str((project_dir / "policies").resolve())
    if folder not in sys.path:
        sys.path.append(folder)
    return importlib.import_module(f"kgot_policies.{name}")


class CosignRegistry:
    """crane for presence, the pack's verify_images (cosign) for signatures."""

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = project_dir

    def missing(self, image: str) -> str | None:
        crane = shutil.which("crane")
        if crane is None:
            raise RefusedError(
                "crane is not on PATH: the release asks the registry for each image with it "
                "(toolchain/build.sh crane, then source toolchain/env.sh; CI: setup-platform)"
            )
        ref = parse_image(image)
        pinned = f"{ref.repository}@{ref.digest}"
        registry = ref.repository.split("/", 1)[0]
        command = [crane, "digest", pinned]
        if ref.registry_host in LOOPBACK:
            command.append("--insecure")
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=CRANE_TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise RefusedError(
                f"registry {registry}: no answer for {pinned} within "
                f"{CRANE_TIMEOUT_SECONDS} s; nothing was changed"
            ) from exc
        if done.returncode == 0:
            return None
        error = (done.stderr.strip().splitlines() or ["no output"])[-1]
        if any(words in error for words in UNREACHABLE):
            raise RefusedError(
                f"registry {registry} cannot be reached ({error}); nothing was changed"
            )
        if any(words in error for words in NOT_FOUND):
            return f"not in the registry ({pinned})"
        return f"the registry did not give it ({error})"

    def verify(self, signing: SigningSettings, images: Sequence[str]) -> list[Verification]:
        module = _policies(self.project_dir, "verify_images")
        cosign = shutil.which("cosign")
        if cosign is None:
            raise RefusedError(
                "cosign is not on PATH: toolchain/build.sh cosign, then source toolchain/env.sh"
            )
        found: list[Verification] = []
        with tempfile.TemporaryDirectory(prefix="kgot-release-verify-") as scratch:
            try:
                trust = module.trust_arguments(signing, self.project_dir, Path(scratch))
                for image in images:
                    outcome = module.verify_image(cosign, image, trust)
                    found.append(Verification(image, outcome.verified, outcome.reason))
            except module.VerifyError as exc:
                raise RefusedError(f"{exc}; nothing verified, nothing was changed") from exc
        return found

    def write_verified(self, path: Path, verified: Sequence[str]) -> None:
        module = _policies(self.project_dir, "verify_images")
        module.write_verified(path, [module.Outcome(image, True, "verified") for image in verified])
