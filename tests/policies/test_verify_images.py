"""The verifier's choices that need no cosign: whom it trusts, what it checks.

The real signing and verification run in tests/unit/test_image_signatures.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kgot_policies.verify_images import VerifyError, main, trust_arguments

from components.settings import SigningSettings, parse_settings
from tests.committed_stacks import stack_config

pytestmark = pytest.mark.policies

PEM = "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----"


def signing(**raw: object) -> SigningSettings:
    """As a stack file spells it (camelCase keys)."""
    return SigningSettings.model_validate(raw)


def test_keyless_trust_checks_the_identity_and_the_transparency_log(tmp_path: Path) -> None:
    keyless = {"identityRegexp": "^https://x$", "oidcIssuer": "https://issuer"}
    args = trust_arguments(signing(keyless=keyless), tmp_path, tmp_path)
    assert args == [
        *("--certificate-identity-regexp", "^https://x$"),
        *("--certificate-oidc-issuer", "https://issuer"),
    ]


def test_a_pem_or_a_project_file_is_the_key_and_the_log_is_checked(tmp_path: Path) -> None:
    args = trust_arguments(signing(publicKey=PEM), tmp_path, tmp_path)
    assert args == ["--key", str(tmp_path / "trusted.pub")]
    assert (tmp_path / "trusted.pub").read_text() == PEM + "\n"
    (tmp_path / "team.pub").write_text(PEM)
    args = trust_arguments(signing(publicKey="team.pub"), tmp_path, tmp_path)
    assert args == ["--key", str(tmp_path / "team.pub")]
    with pytest.raises(VerifyError, match=r"'absent\.pub': no such file"):
        trust_arguments(signing(publicKey="absent.pub"), tmp_path, tmp_path)


def test_the_local_key_is_the_caches_and_signs_without_a_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KGOT_CACHE", str(tmp_path))
    local = signing(publicKey="local")
    with pytest.raises(VerifyError, match=r"toolchain/images\.sh push generates it"):
        trust_arguments(local, tmp_path, tmp_path)
    (tmp_path / "cosign").mkdir()
    (tmp_path / "cosign" / "cosign.pub").write_text(PEM)
    key = str(tmp_path / "cosign" / "cosign.pub")
    assert trust_arguments(local, tmp_path, tmp_path) == ["--key", key, "--insecure-ignore-tlog"]


def test_every_image_the_dev_stack_deploys_is_checked() -> None:
    settings = parse_settings(stack_config("dev"), "dev")
    images = settings.deployed_images
    services = {f"{s.image_ref('1.0.0')}" for s in settings.services}
    assert services <= set(images)
    assert settings.monitoring.prometheus_image in images
    assert settings.monitoring.alertmanager_image in images
    assert settings.monitoring.grafana_image not in images  # no Grafana in dev


def test_a_stale_list_is_removed_when_the_stack_cannot_be_read(tmp_path: Path) -> None:
    out = tmp_path / "verified.txt"
    out.write_text("sha256:" + "0" * 64 + "\n")
    assert main(["nosuch", "--project-dir", str(tmp_path), "-o", str(out)]) == 2
    assert not out.exists()
