"""The dev gateway's self-signed certificate: made once per machine, kept outside the checkout.

No TLS provider plugin builds offline and the toolchain's language host has no
dynamic-provider host, so the pair is made here with the system's `openssl`
(Debian's, as on every machine the toolchain runs on) into
`$KGOT_CACHE/gateway-tls/<hosts>/`, like the local cosign key pair. The
program reads it into the Secret `edge.tlsSecretName` as a Pulumi secret (so
the key is encrypted in the stack's state); later runs read the same files, so
the Secret does not change from one `up` to the next. A client trusts it with
`curl --cacert $KGOT_CACHE/gateway-tls/<hosts>/tls.crt`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Long enough that a dev machine never meets an expired one.
VALID_DAYS = 3650


@dataclass(frozen=True)
class CertificatePair:
    certificate: str
    private_key: str
    folder: Path


def tls_root() -> Path:
    cache = os.environ.get("KGOT_CACHE") or str(Path.home() / ".cache" / "kgot-platform")
    return Path(cache) / "gateway-tls"


def self_signed_pair(hosts: list[str], root: Path | None = None) -> CertificatePair:
    """The pair for these host patterns, made on first use (one folder per set of hosts)."""
    if not hosts:
        raise ValueError("a certificate needs at least one host name")
    key = hashlib.sha256("\n".join(sorted(hosts)).encode()).hexdigest()[:16]
    folder = (root or tls_root()) / key
    if not (folder / "tls.crt").is_file():
        _make(folder, hosts)
    return CertificatePair(
        certificate=(folder / "tls.crt").read_text(),
        private_key=(folder / "tls.key").read_text(),
        folder=folder,
    )


def _make(folder: Path, hosts: list[str]) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError(
            "gateway.selfSignedTls needs the openssl command (Debian package openssl) "
            "to make the gateway's certificate"
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Made in a temp folder and renamed: a preview and an up at once never
    # see half a pair, and the first to finish wins.
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tls-"))
    try:
        os.chmod(tmp, 0o700)
        sans = ",".join(f"DNS:{h}" for h in hosts)
        subprocess.run(
            [
                openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-days", str(VALID_DAYS), "-subj", f"/CN={hosts[0]}/O=kgot-platform dev",
                "-addext", f"subjectAltName={sans}",
                "-keyout", str(tmp / "tls.key"), "-out", str(tmp / "tls.crt"),
            ],
            check=True,
            capture_output=True,
            text=True,
        )  # fmt: skip
        try:
            tmp.rename(folder)
        except OSError:
            if not (folder / "tls.crt").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
