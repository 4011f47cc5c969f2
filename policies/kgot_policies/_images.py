"""Container images: whether the stack trusts them (rule 19).

References are split by kgot_contract.parse_image, as the program and the
signature-verification step split them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kgot_contract import ImageRef, is_digest, parse_image


class DigestsFileError(Exception):
    """The verified-digests file cannot be used: every signed-image check then fails."""


def _digests_file(path: Path) -> list[str]:
    allowed = "allowed: UTF-8 text with one digest a line, or a JSON list of them"
    if not path.is_absolute():
        # The pack runs in its own folder, not where the command was typed.
        raise DigestsFileError(
            f"verifiedDigestsFile {str(path)!r} is relative, and the pack runs in {Path.cwd()}; "
            "allowed: an absolute path"
        )
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DigestsFileError(f"cannot read verifiedDigestsFile: {error.strerror}") from error
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DigestsFileError(
            f"verifiedDigestsFile {path} is not UTF-8 text (byte {error.start}); {allowed}"
        ) from error
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError:
        return [line.strip() for line in text.splitlines() if line.strip()]
    except RecursionError as error:
        raise DigestsFileError(
            f"verifiedDigestsFile {path} is nested too deeply; {allowed}"
        ) from error
    if not isinstance(loaded, list) or not all(isinstance(x, str) for x in loaded):
        raise DigestsFileError(
            f"verifiedDigestsFile {path} is JSON but not a list of strings; {allowed}"
        )
    return loaded


def verified_digests(settings: Mapping[str, Any]) -> set[str]:
    """What the pipeline verified, listed in config or in a file: bare digests, and
    `repository@digest` for an image (its tag dropped).

    The file holds one digest (or image@digest) a line, or a JSON list of them,
    as the signature-verification step (kgot_policies.verify_images) writes it;
    one it cannot read is a DigestsFileError.
    """
    found = {str(d) for d in settings.get("verifiedDigests") or []}
    path = settings.get("verifiedDigestsFile")
    if path:
        found.update(_digests_file(Path(str(path))))
    entries = set()
    for entry in found:
        if is_digest(entry):
            entries.add(entry)
            continue
        ref = parse_image(entry)
        entries.add(f"{ref.repository}@{ref.digest}" if ref.digest else entry)
    return entries


def is_verified(ref: ImageRef, trusted: set[str]) -> bool:
    """A bare digest is trusted in any repository; `repository@digest` only in its own.

    cosign keeps a signature in the image's repository: the same digest pushed
    elsewhere was not verified there.
    """
    return ref.digest in trusted or f"{ref.repository}@{ref.digest}" in trusted


def image_problems(image: Any, settings: Mapping[str, Any], production: bool) -> list[str]:
    """What rule 19 finds wrong with one image reference (empty when it passes)."""
    if not isinstance(image, str):
        return []  # unknown during preview: judged again at up
    if not image:
        return ["has an empty image"]
    ref = parse_image(image)
    problems = []
    if ref.tag is None and ref.digest is None:
        problems.append(f"image {image} has no tag (it means latest)")
    elif ref.tag is not None and ref.tag.lower() == "latest":
        problems.append(f"image {image} uses the mutable tag latest")
    require_digest = settings.get("requireDigest")
    if require_digest is None:
        require_digest = production
    if require_digest and not ref.pinned:
        problems.append(f"image {image} is not pinned by digest (@sha256:...)")
    if settings.get("requireSignedImages") and ref.pinned:
        try:
            trusted = verified_digests(settings)
        except DigestsFileError as error:
            return [*problems, str(error)]
        if not is_verified(ref, trusted):
            problems.append(f"image {image} has no verified signature for its digest")
    elif settings.get("requireSignedImages"):
        problems.append(f"image {image} cannot be matched to a verified signature without a digest")
    return problems


IMAGE_SCHEMA: dict[str, dict[str, Any]] = {
    "requireDigest": {
        "type": "boolean",
        "description": "Require @sha256 digests; unset means: only in production.",
    },
    "requireSignedImages": {
        "type": "boolean",
        "default": False,
        "description": "Require every digest to appear in the verified-signatures list.",
    },
    "verifiedDigests": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "Digests whose signatures were verified (image@digest: in that "
        "repository only).",
    },
    "verifiedDigestsFile": {
        "type": "string",
        "description": "File with verified digests, one a line or a JSON list.",
    },
}
