"""Verify the signature of every image a stack deploys; write the digests cosign accepted.

    python -m kgot_policies.verify_images dev -o build/verified-dev.txt
    python -m kgot_policies.stack_config dev --verified-digests build/verified-dev.txt \
        --require-signed-images -o pack.json

The images are the ones the program gives its pods (services at the blue and
green versions, the monitoring images), read from Pulumi.<stack>.yaml by the
program's own models; whom to trust is the stack's `security.signing`. Each
pinned image is checked with `cosign verify` against the registry; what
verifies is written as `image@digest`, one a line (the pack's
verifiedDigestsFile), and what does not is left out with cosign's reason on
stderr, so the pack refuses it. A registry that cannot be reached fails the
whole run (exit 3) and removes the output file: a stale list must never admit
what was not checked now. Like the bridge, this runs in the project's venv.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kgot_contract import parse_image

from components.settings import (
    LOCAL_SIGNING_KEY,
    SettingsError,
    SigningSettings,
    parse_settings,
    read_stack_file,
)

# cosign verify's exit codes (pkg/cosign/errors.go) for the two ways an image
# fails that are about the image, not about reaching it.
NO_SIGNATURES = 10
NO_MATCHING_SIGNATURE = 12
# Words of Go's network errors: the registry itself is not there.
UNREACHABLE = ("connection refused", "no such host", "i/o timeout", "network is unreachable")
LOOPBACK = ("localhost", "127.0.0.1", "[::1]")
COSIGN_TIMEOUT_SECONDS = 120
EXIT_CONFIG = 2
EXIT_UNVERIFIABLE = 3


class VerifyError(Exception):
    """Verification cannot run: nothing is written and nothing may deploy."""


@dataclass(frozen=True)
class Outcome:
    image: str
    verified: bool
    reason: str


def local_public_key() -> Path:
    """The public half of the key pair toolchain/images.sh generates on first use."""
    cache = Path(os.environ.get("KGOT_CACHE") or Path.home() / ".cache" / "kgot-platform")
    return cache / "cosign" / "cosign.pub"


def trust_arguments(signing: SigningSettings, project: Path, scratch: Path) -> list[str]:
    """cosign verify's options for whom the stack trusts."""
    if signing.keyless is not None:
        # Keyless signatures are only as good as their transparency-log entry: checked.
        return [
            *("--certificate-identity-regexp", signing.keyless.identity_regexp),
            *("--certificate-oidc-issuer", signing.keyless.oidc_issuer),
        ]
    key = signing.public_key
    if key is None:
        raise VerifyError(
            "security.signing names no public key and no keyless identity; allowed: "
            f"publicKey ({LOCAL_SIGNING_KEY}, a PEM or a file) or keyless"
        )
    if key == LOCAL_SIGNING_KEY:
        path = local_public_key()
        if not path.is_file():
            raise VerifyError(
                f"no local signing key {path}: toolchain/images.sh push generates it "
                "and signs the images with it"
            )
        # The local key signs offline, without a transparency-log entry.
        return ["--key", str(path), "--insecure-ignore-tlog"]
    if key.startswith("-----BEGIN"):
        path = scratch / "trusted.pub"
        path.write_text(key if key.endswith("\n") else key + "\n", encoding="utf-8")
        return ["--key", str(path)]
    path = project / key
    if not path.is_file():
        raise VerifyError(
            f"security.signing.publicKey {key!r}: no such file in {project}; "
            f"allowed: {LOCAL_SIGNING_KEY}, a PEM, or a file path relative to the project"
        )
    return ["--key", str(path)]


def _cosign_error(stderr: str) -> str:
    """cosign's own error line, without its warnings (tlog, TUF) and prefixes."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("Error: ") for line in lines if line.startswith("Error: ")]
    return errors[-1] if errors else (lines[-1] if lines else "no output")


def verify_image(cosign: str, image: str, trust: Sequence[str]) -> Outcome:
    """One image: verified, or why not. Raises VerifyError when its registry is unreachable."""
    ref = parse_image(image)
    if not ref.pinned or ref.digest is None:
        return Outcome(image, False, "not pinned by digest: a signature is checked for a digest")
    pinned = f"{ref.repository}@{ref.digest}"
    command = [cosign, "verify", *trust, "--output", "json"]
    if ref.registry_host in LOOPBACK:
        # The local registry speaks plain HTTP on loopback; nowhere else is that allowed.
        command += ["--allow-http-registry", "--allow-insecure-registry"]
    try:
        done = subprocess.run(
            [*command, pinned],
            capture_output=True,
            text=True,
            timeout=COSIGN_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise VerifyError(
            f"cosign verify {pinned} took over {COSIGN_TIMEOUT_SECONDS} s: "
            "is the registry reachable?"
        ) from error
    reason = _cosign_error(done.stderr)
    if done.returncode == 0:
        return _accepted(image, ref.digest, done.stdout)
    if any(words in reason for words in UNREACHABLE):
        # Either the registry (its /v2/ API) or, for keyless trust, Sigstore's
        # trust root and transparency log: both fail the run, named apart.
        if "/v2/" in reason:
            registry = ref.repository.split("/", 1)[0]
            raise VerifyError(f"registry {registry} cannot be reached ({reason})")
        raise VerifyError(f"cosign verify {pinned} cannot reach what it checks against ({reason})")
    if done.returncode == NO_SIGNATURES:
        return Outcome(image, False, "no signature in the registry (unsigned)")
    if done.returncode == NO_MATCHING_SIGNATURE:
        return Outcome(image, False, f"no signature by the trusted key or identity ({reason})")
    return Outcome(image, False, f"cosign verify failed (exit {done.returncode}): {reason}")


def _accepted(image: str, digest: str, stdout: str) -> Outcome:
    """cosign's payloads must all name the digest asked for (it checks; so do we)."""
    try:
        payloads = json.loads(stdout)
        digests = {p["critical"]["image"]["docker-manifest-digest"] for p in payloads}
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        return Outcome(image, False, f"cosign verify answered no signature payloads ({error})")
    if digests != {digest}:
        return Outcome(image, False, f"signatures are for {sorted(digests)}, not {digest}")
    return Outcome(image, True, "verified")


def write_verified(path: Path, outcomes: Sequence[Outcome]) -> None:
    """Replace the file at once, so a reader never sees a half-written list."""
    # repository@digest: the pack admits the digest in that repository only.
    refs = [parse_image(o.image) for o in outcomes if o.verified]
    lines = "".join(f"{ref.repository}@{ref.digest}\n" for ref in refs)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", delete=False, encoding="utf-8"
    ) as handle:
        handle.write(lines)
    os.replace(handle.name, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kgot_policies.verify_images", description=__doc__.splitlines()[0]
    )
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--project-dir", default=".", help="where Pulumi.<stack>.yaml lives")
    parser.add_argument("-o", "--output", required=True, help="the verified-digests file to write")
    options = parser.parse_args(argv)
    output = Path(options.output)
    # Whatever happens next, an earlier run's list must not outlive this one.
    output.unlink(missing_ok=True)
    project = Path(options.project_dir)
    try:
        path = project / f"Pulumi.{options.stack}.yaml"
        settings = parse_settings(read_stack_file(path), options.stack)
    except SettingsError as error:
        return _refuse(str(error), EXIT_CONFIG)
    cosign = shutil.which("cosign")
    if cosign is None:
        return _refuse(
            "cosign is not on PATH: toolchain/build.sh cosign, then source toolchain/env.sh",
            EXIT_CONFIG,
        )
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="kgot-verify-") as scratch:
        try:
            trust = trust_arguments(settings.security.signing, project, Path(scratch))
            for image in settings.deployed_images:
                outcome = verify_image(cosign, image, trust)
                outcomes.append(outcome)
                word = "verified" if outcome.verified else "NOT VERIFIED"
                tail = "" if outcome.verified else f": {outcome.reason}"
                print(f"verify_images: {word} {image}{tail}", file=sys.stderr)
        except VerifyError as error:
            return _refuse(f"{error}; nothing verified, nothing may deploy", EXIT_UNVERIFIABLE)
    try:
        write_verified(output, outcomes)
    except OSError as error:
        return _refuse(f"-o {output}: cannot write it ({error.strerror or error})", EXIT_CONFIG)
    good = sum(o.verified for o in outcomes)
    print(
        f"verify_images: {good} of {len(outcomes)} images verified; written to {output}",
        file=sys.stderr,
    )
    return 0


def _refuse(message: str, code: int) -> int:
    print(f"verify_images: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
