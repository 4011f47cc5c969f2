"""Public key material: certificates, public keys, SSH keys, known_hosts, JWKS.

Such text is random-looking and often sits under secret-sounding names
(``ca.crt``, ``SIGNING_PUBLIC_KEY``), but publishing it is its purpose. The
secret scan removes it first, so only what remains is judged.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

# PEM labels of material that is meant to be shared.
_PUBLIC_LABELS = frozenset(
    {
        "CERTIFICATE",
        "TRUSTED CERTIFICATE",
        "X509 CERTIFICATE",
        "X509 CRL",
        "CERTIFICATE REQUEST",
        "NEW CERTIFICATE REQUEST",
        "PUBLIC KEY",
        "RSA PUBLIC KEY",
        "DSA PUBLIC KEY",
        "EC PUBLIC KEY",
        "SSH2 PUBLIC KEY",
        "PGP PUBLIC KEY BLOCK",
        "PGP SIGNATURE",
        "PKCS7",
        "CMS",
        "DH PARAMETERS",
        "EC PARAMETERS",
    }
)
_PEM = re.compile(r"-{4,5} ?BEGIN ([A-Z0-9 ]+?) ?-{4,5}.*?(?:-{4,5} ?END \1 ?-{4,5}|\Z)", re.DOTALL)
_PEM_LABEL = re.compile(r"-{4,5} ?BEGIN ([A-Z0-9 ]+?) ?-{4,5}")
# An OpenSSH public key (authorized_keys, known_hosts, .pub): type, then base64.
_SSH_KEY = re.compile(
    r"(?:ssh-(?:rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp(?:256|384|521)"
    r"|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com"
    r"|(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp(?:256|384|521))-cert-v01@openssh\.com)"
    r"\s+AAAA[A-Za-z0-9+/]+={0,3}"
)
# A hashed known_hosts host: |1|<salt>|<hash>.
_HASHED_HOST = re.compile(r"\|1\|[A-Za-z0-9+/]+={0,2}\|[A-Za-z0-9+/]+={0,2}")
# "-----BEGIN" in base64 (a caBundle, a key in an env value).
_BASE64_PEM = re.compile(r"LS0tLS1CRUdJTi[A-Za-z0-9+/]*={0,2}")
# Members that make a JWK private.
_JWK_PRIVATE = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})


def pem_labels(text: str) -> list[str]:
    return [m.group(1) for m in _PEM_LABEL.finditer(text)]


def is_public_label(label: str) -> bool:
    return label in _PUBLIC_LABELS


def decoded_pem(token: str) -> str | None:
    """The PEM text a base64 token holds, or None."""
    try:
        text = base64.b64decode(token + "=" * (-len(token) % 4), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return text if _PEM_LABEL.search(text) else None


def _public_jwks(text: str) -> bool:
    stripped = text.strip()
    if not stripped.startswith("{"):
        return False
    try:
        document: Any = json.loads(stripped)
    except ValueError:
        return False
    keys = document.get("keys") if isinstance(document, dict) else None
    jwks = keys if isinstance(keys, list) else [document]
    return all(
        isinstance(k, dict) and "kty" in k and _JWK_PRIVATE.isdisjoint(k) for k in jwks
    ) and bool(jwks)


def _drop_public_pem(match: re.Match[str]) -> str:
    return " " if is_public_label(match.group(1)) else match.group(0)


def _drop_public_base64(match: re.Match[str]) -> str:
    pem = decoded_pem(match.group(0))
    if pem is not None and all(is_public_label(label) for label in pem_labels(pem)):
        return " "
    return match.group(0)


def without_public_material(text: str) -> str:
    """The text with every piece of public key material cut out."""
    if _public_jwks(text):
        return ""
    if "BEGIN" in text:
        text = _PEM.sub(_drop_public_pem, text)
    if "AAAA" in text:
        text = _SSH_KEY.sub(" ", text)
    if "|1|" in text:
        text = _HASHED_HOST.sub(" ", text)
    if "LS0tLS1CRUdJTi" in text:
        text = _BASE64_PEM.sub(_drop_public_base64, text)
    return text
