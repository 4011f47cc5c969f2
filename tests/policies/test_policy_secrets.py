"""Secret detection (rule 30): env values, ConfigMap data, annotations; never printed."""

from __future__ import annotations

from typing import Any

import pytest
from kgot_policies import secrets as sec
from policy_fixtures import (
    POD_KINDS,
    SECTIONS,
    full_pod_spec,
    monitoring_objects,
    obj,
    pod_spec_of,
    violations,
    workload,
)

pytestmark = pytest.mark.policies

# Built at run time so no scanner flags this file itself.
SECRETS = {
    "aws key": ("AKIA" + "IOSFODNN7EXAMPLE", ""),
    "github token": ("ghp_" + "1234567890abcdefghijABCDEFGHIJ123456", ""),
    "slack webhook": ("https://hooks.slack.com/services/T00000000/B00000000/" + "X" * 24, ""),
    "private key": (
        "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
        "",
    ),
    "connection string": ("postgres://kgot:" + "s3cr3tP4ss" + "@graph-store:5432/kgot", ""),
    "high entropy": ("Zx8Kq2Lm9Pv4" + "Rt7Wb1Nc6Yd3Hf5Jg0Qs", ""),
    "secret-named variable": ("hunter2" + "horse", "DB_PASSWORD"),
}


@pytest.mark.parametrize("section", SECTIONS)
@pytest.mark.parametrize("kind", POD_KINDS)
@pytest.mark.parametrize("label", list(SECRETS))
def test_secrets_in_env_values_are_found_and_not_printed(
    label: str, kind: str, section: str
) -> None:
    value, name = SECRETS[label]
    body = workload(kind, full_pod_spec())
    pod_spec_of(body)[section][0]["env"] = [{"name": name or "SETTING", "value": value}]
    found = violations(sec.plaintext_secrets, body)
    assert len(found) == 1, found
    assert f"env {name or 'SETTING'}" in found[0]
    assert value not in found[0] and value.splitlines()[0] not in found[0]


@pytest.mark.parametrize("label", list(SECRETS))
def test_secrets_in_config_map_data_are_found(label: str) -> None:
    value, _ = SECRETS[label]
    config_map = obj("ConfigMap", "app", data={"app.yaml": f"log: info\ntoken: {value}\n"})
    found = violations(sec.plaintext_secrets, config_map)
    assert found and "data key app.yaml" in found[0] and value not in found[0]


def test_keyword_assignments_in_config_files_are_found() -> None:
    config_map = obj("ConfigMap", "app", data={"app.yaml": "db:\n  password: " + "hunter2horse\n"})
    found = violations(sec.plaintext_secrets, config_map)
    assert found and "Secret Keyword" in found[0]
    by_file = obj("ConfigMap", "app", data={"app.yaml": "db:\n  password_file: /etc/kgot/db\n"})
    assert violations(sec.plaintext_secrets, by_file) == []


@pytest.mark.parametrize("label", list(SECRETS))
@pytest.mark.parametrize("where", ["object", "pod template"])
def test_secrets_in_annotations_are_found(label: str, where: str) -> None:
    value, name = SECRETS[label]
    body = workload("Deployment", full_pod_spec())
    target = body["metadata"] if where == "object" else body["spec"]["template"]["metadata"]
    target["annotations"] = {name or "kgot.io/note": value}
    found = violations(sec.plaintext_secrets, body)
    assert found and "annotation" in found[0] and value not in found[0]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOG_LEVEL", "info"),
        ("PROMETHEUS_URL", "http://prometheus:9090"),
        ("GF_SECURITY_ADMIN_PASSWORD__FILE", "/etc/grafana/secrets/admin-password"),
        ("GF_AUTH_ANONYMOUS_ENABLED", "false"),
        ("GF_AUTH_ANONYMOUS_ORG_ROLE", "Viewer"),
        ("API_TOKEN", "$(TOKEN_FROM_SECRET)"),
        ("IMAGE", "ghcr.io/kgot-platform/controller:1.0.0@sha256:" + "ab" * 32),
        ("KGOT_VERSION", "1.0.0"),
        ("TOKEN_TTL", "3600"),
    ],
)
def test_ordinary_settings_are_not_secrets(name: str, value: str) -> None:
    body = workload("Deployment", full_pod_spec())
    pod_spec_of(body)["containers"][0]["env"] = [{"name": name, "value": value}]
    assert violations(sec.plaintext_secrets, body) == []


def test_secret_references_and_platform_monitoring_config_pass() -> None:
    body = workload("Deployment", full_pod_spec())  # DATABASE_PASSWORD comes from secretKeyRef
    assert violations(sec.plaintext_secrets, [body, *monitoring_objects()]) == []


def test_checksum_annotations_are_not_secrets() -> None:
    body: dict[str, Any] = workload("Deployment", full_pod_spec())
    body["spec"]["template"]["metadata"]["annotations"] = {"kgot.io/config-checksum": "9f" * 32}
    assert violations(sec.plaintext_secrets, body) == []
