"""Secret detection (rule 30): env values, ConfigMap data, annotations; never printed."""

from __future__ import annotations

import base64
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


# ---- everything a pod is started with -------------------------------------------------------

PASSWORD = "hunter2" + "horse"
BEARER = "eyJhbGciOiJIUzI1NiJ9" + ".c2VydmljZQ.Z2l2ZW5zZWNyZXQ0Mg"

COMMANDS = {
    "flag=value": ["/controller", f"--db-password={PASSWORD}"],
    "flag value": ["/controller", "--api-token", "Zq8Wn3kZpX41" + "mTr7Lb"],
    "shell assignment": ["sh", "-c", f"PGPASSWORD={PASSWORD} psql -h graph-store -U kgot"],
    "curl -u": ["curl", "-u", f"admin:{PASSWORD}", "http://graph-store:8080"],
    "curl header": ["curl", "-H", f"Authorization: Bearer {BEARER}", "http://x"],
    "mysql -p": ["mysql", "-uroot", f"-p{PASSWORD}"],
    "redis-cli -a": ["redis-cli", "-a", PASSWORD, "ping"],
    "jdbc url": [f"--jdbc=jdbc:postgresql://db/kgot?user=kgot&password={PASSWORD}"],
    "connection string": ["--db", "postgres://kgot:" + PASSWORD + "@graph-store:5432/kgot"],
}


@pytest.mark.parametrize("section", SECTIONS)
@pytest.mark.parametrize("field", ["command", "args"])
@pytest.mark.parametrize("label", list(COMMANDS))
def test_secrets_in_command_and_args_are_found(label: str, field: str, section: str) -> None:
    body = workload("Deployment", full_pod_spec())
    pod_spec_of(body)[section][0][field] = COMMANDS[label]
    found = violations(sec.plaintext_secrets, body)
    assert len(found) == 1 and f"{field.removesuffix('s')}" in found[0], found
    assert PASSWORD not in found[0] and BEARER not in found[0]


@pytest.mark.parametrize(
    "words",
    [
        ["/controller", "--db-password-file=/etc/kgot/db", "--token-ttl", "15m"],
        ["/controller", "--api-key", "$(API_KEY)", "--secret-name", "graph-store"],
        ["--db=postgres://kgot:$(DATABASE_PASSWORD)@graph-store:5432/kgot"],
        ["--config.file=/etc/prometheus/prometheus.yml", "--web.enable-lifecycle"],
        ["sh", "-c", "echo token authentication is on; exec /controller"],
        ["docker", "login", "--password-stdin", "registry.kgot.dev"],
        ["curl", "-u", "$(USER):$(PASSWORD)", "http://graph-store:8080"],
    ],
)
def test_ordinary_commands_pass(words: list[str]) -> None:
    body = workload("Deployment", full_pod_spec())
    pod_spec_of(body)["containers"][0]["args"] = words
    assert violations(sec.plaintext_secrets, body) == []


@pytest.mark.parametrize("probe", ["livenessProbe", "readinessProbe", "startupProbe"])
def test_probe_commands_and_headers_are_found(probe: str) -> None:
    body = workload("Deployment", full_pod_spec())
    container = pod_spec_of(body)["containers"][0]
    container[probe] = {"exec": {"command": ["redis-cli", "-a", PASSWORD, "ping"]}}
    found = violations(sec.plaintext_secrets, body)
    assert found and f"{probe} command" in found[0]
    container[probe] = {
        "httpGet": {
            "path": "/",
            "port": 80,
            "httpHeaders": [{"name": "Authorization", "value": f"Bearer {BEARER}"}],
        }
    }
    found = violations(sec.plaintext_secrets, body)
    assert found and f"{probe} header Authorization" in found[0] and BEARER not in found[0]
    container[probe]["httpGet"]["httpHeaders"] = [{"name": "X-Kgot-Probe", "value": "ready"}]
    assert violations(sec.plaintext_secrets, body) == []


def test_lifecycle_hook_commands_are_found() -> None:
    body = workload("Deployment", full_pod_spec())
    pod_spec_of(body)["containers"][0]["lifecycle"] = {
        "preStop": {"exec": {"command": ["curl", "-u", f"admin:{PASSWORD}", "http://x/drain"]}}
    }
    found = violations(sec.plaintext_secrets, body)
    assert found and "lifecycle.preStop command" in found[0]


def test_secret_named_variables_from_a_config_map_are_found() -> None:
    body = workload("Deployment", full_pod_spec())
    from_config_map = {"configMapKeyRef": {"name": "mail", "key": "smtp"}}
    pod_spec_of(body)["containers"][0]["env"] = [
        {"name": "SMTP_PASSWORD", "valueFrom": from_config_map}
    ]
    found = violations(sec.plaintext_secrets, body)
    assert found and "from ConfigMap mail" in found[0]
    pod_spec_of(body)["containers"][0]["env"] = [
        {"name": "SMTP_HOST", "valueFrom": from_config_map}
    ]
    assert violations(sec.plaintext_secrets, body) == []


# ---- connection strings in every common form ------------------------------------------------

CONNECTIONS = {
    "url": "postgres://kgot:" + PASSWORD + "@graph-store:5432/kgot",
    "url, empty user": "redis://:" + PASSWORD + "@redis:6379/0",
    "mongodb+srv": "mongodb+srv://kgot:" + PASSWORD + "@cluster0.example.net/kgot",
    "query parameter": "jdbc:mysql://db:3306/kgot?user=kgot&password=" + PASSWORD,
    "libpq keywords": "host=graph-store user=kgot password=" + PASSWORD + " dbname=kgot",
    "ADO.NET": "Server=sql;Database=kgot;User Id=kgot;Password=" + PASSWORD + ";",
    "ODBC Pwd": "Driver={ODBC Driver 18};Server=sql;Uid=kgot;Pwd=" + PASSWORD + ";",
    "Go MySQL DSN": "kgot:" + PASSWORD + "@tcp(db:3306)/kgot",
    "Oracle thin": "jdbc:oracle:thin:kgot/" + PASSWORD + "@db:1521:orcl",
    "Kafka JAAS": 'PlainLoginModule required username="kgot" password="' + PASSWORD + '";',
}


@pytest.mark.parametrize("label", list(CONNECTIONS))
def test_connection_strings_in_every_form_are_found(label: str) -> None:
    body = workload("Deployment", full_pod_spec())
    pod_spec_of(body)["containers"][0]["env"] = [{"name": "CONN", "value": CONNECTIONS[label]}]
    found = violations(sec.plaintext_secrets, body)
    assert found and PASSWORD not in found[0], found
    config_map = obj("ConfigMap", "app", data={"CONN": CONNECTIONS[label]})
    assert violations(sec.plaintext_secrets, config_map)


@pytest.mark.parametrize(
    "value",
    [
        "postgres://graph-store:5432/kgot?sslmode=verify-full",
        "mysql://root:@db:3306/kgot",
        "redis://redis:6379/0",
        "postgres://kgot:$(DATABASE_PASSWORD)@graph-store:5432/kgot",
        "host=graph-store user=kgot password=${PGPASSWORD} dbname=kgot",
        "Server=sql;Database=kgot;Trusted_Connection=True;",
        "kgot:%s@tcp(db:3306)/kgot",
        "ghcr.io/kgot-platform/controller:1.0.0@sha256:" + "5e" * 32,
    ],
)
def test_connection_strings_without_a_password_pass(value: str) -> None:
    body = workload("Deployment", full_pod_spec())
    pod_spec_of(body)["containers"][0]["env"] = [{"name": "DATABASE_URL", "value": value}]
    assert violations(sec.plaintext_secrets, body) == []


# ---- ConfigMaps: envFrom sources, binaryData -----------------------------------------------


def test_config_map_keys_loaded_with_env_from_are_judged_by_name() -> None:
    config_map = obj("ConfigMap", "db", data={"DB_HOST": "graph-store", "DB_PASS": PASSWORD})
    found = violations(sec.plaintext_secrets, config_map)
    assert found and "data key DB_PASS" in found[0]
    dotenv = obj("ConfigMap", "app", data={"app.env": f"export API_TOKEN={PASSWORD}\n"})
    assert violations(sec.plaintext_secrets, dotenv)


def test_binary_data_is_decoded_and_key_stores_are_found() -> None:
    encoded = base64.b64encode(f"DB_PASSWORD={PASSWORD}\n".encode()).decode()
    found = violations(
        sec.plaintext_secrets, obj("ConfigMap", "app", binaryData={"app.env": encoded})
    )
    assert found and "binaryData key app.env" in found[0]
    store = obj(
        "ConfigMap", "tls", binaryData={"client.p12": base64.b64encode(b"\x30\x82").decode()}
    )
    assert any("Key store" in m for m in violations(sec.plaintext_secrets, store))
    image = obj(
        "ConfigMap", "logo", binaryData={"logo.png": base64.b64encode(b"\x89PNG\r\n\xff").decode()}
    )
    assert violations(sec.plaintext_secrets, image) == []


# ---- public material and look-alike names pass -----------------------------------------------

CERT = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBnjCCAUOgAwIBAgIUAWkuaiJu9nLyGRdhDHfIb/QINkYwCgYIKoZIzj0EAwIw\n"
    "JDEiMCAGA1UEAwwZa2dvdC1wbGF0Zm9ybSBpbnRlcm5hbCBDQTAeFw0yNjEyMDEy\n"
    "hkjOPQQDAgNJADBGAiEAjH5Vz180IddvNH9UTXyNtcaFgSXFpnYkGrUiKnnVkrkC\n"
    "-----END CERTIFICATE-----\n"
)
PUBLIC_KEY = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeDC3Tjt4tdoA0j72jRnRoQt3A3Ne\n"
    "ZuVdTbz9Fcpesq9IMmzc72n7SLXodbkjjRoXkBQ99YA0gs4ap3MF8X0/AQ==\n"
    "-----END PUBLIC KEY-----\n"
)
SSH_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJbf/YVw7m45KAjb+qpg9NeZJo8WpsmkGazg72W/szZ7 ops@kgot"
)
KNOWN_HOSTS = (
    "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    "|1|kk9uXgSH/iZehpC5tpMOPK4mCc8=|ZyMwErmaoKTnJ46fxGoyBkmJ9f4= ecdsa-sha2-nistp256 "
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBLEKeiYnVpkzuanW9RSuAozXghXtJv3H\n"
)
JWKS = (
    '{"keys":[{"kty":"EC","crv":"P-256","kid":"kgot","x":"eDC3Tjt4tdoA0j72jRnRoQt3A3NeZuVdTbz9Fcpe'
    'sq8","y":"SDJs3O9p-0i16HW5I40aF5AUPfWANILOGqdzBfF9PwE"}]}'
)
PUBLIC = {
    "certificate": ("SSL_CA_CERT", CERT),
    "CA bundle": ("CA_BUNDLE", CERT + CERT),
    "base64 certificate": ("CA_BUNDLE_B64", base64.b64encode(CERT.encode()).decode()),
    "public key": ("JWT_PUBLIC_KEY", PUBLIC_KEY),
    "public key, secret-sounding name": ("TOKEN_SIGNING_KEY", PUBLIC_KEY),
    "ssh public key": ("SSH_AUTHORIZED_KEY", SSH_KEY),
    "known_hosts": ("SSH_KNOWN_HOSTS", KNOWN_HOSTS),
    "jwks": ("JWKS", JWKS),
    "audience": ("TOKEN_AUDIENCE", "https://kubernetes.default.svc"),
    "issuer": ("OIDC_TOKEN_ISSUER", "https://token.actions.githubusercontent.com"),
    "bare audience": ("AWS_TOKEN_AUDIENCE", "sts.amazonaws.com"),
    "key id": ("SIGNING_KEY_ID", "kgot-2026-01"),
    "header name": ("API_KEY_HEADER", "X-Api-Key"),
    "publishable key": ("STRIPE_PUBLISHABLE_KEY", "pk_live_" + "51HxY2" + "kgot"),
    "length": ("MIN_PASSWORD_LENGTH", "12"),
}


@pytest.mark.parametrize("label", list(PUBLIC))
def test_public_material_and_look_alike_names_pass(label: str) -> None:
    name, value = PUBLIC[label]
    body = workload("Deployment", full_pod_spec())
    pod_spec_of(body)["containers"][0]["env"] = [{"name": name, "value": value}]
    body["spec"]["template"]["metadata"]["annotations"] = {f"kgot.io/{name.lower()}": value}
    config_map = obj("ConfigMap", "public", data={name: value, f"{name.lower()}.pem": value})
    assert violations(sec.plaintext_secrets, [body, config_map]) == []


def test_private_keys_are_found_beside_public_material() -> None:
    private = (
        "-----BEGIN ENCRYPTED "
        + "PRIVATE KEY-----\nMIIE6TAbBgkqhkiG9w0BBQMw\n-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    for value in (CERT + private, base64.b64encode(private.encode()).decode()):
        found = violations(sec.plaintext_secrets, obj("ConfigMap", "tls", data={"tls.pem": value}))
        assert found and "Private Key" in found[0]


def test_look_alike_keys_in_config_files_pass() -> None:
    text = (
        "tls:\n  secretName: kgot-tls\n  existingSecret: graph-store\noidc:\n"
        "  issuer: https://id.kgot.dev\n  tokenAudience: kgot-controller\n"
        '  jwks: {"keys": []}\npasswordPolicy:\n  minLength: 12\n'
    )
    assert violations(sec.plaintext_secrets, obj("ConfigMap", "app", data={"app.yaml": text})) == []


def test_annotations_that_only_name_secrets_pass() -> None:
    body: dict[str, Any] = workload("Deployment", full_pod_spec())
    body["spec"]["template"]["metadata"]["annotations"] = {
        "vault.hashicorp.com/agent-inject-secret-db": "database/creds/graph-store",
        "secret.reloader.stakater.com/reload": "graph-store",
        "checksum/secret": "9f" * 32,
    }
    assert violations(sec.plaintext_secrets, body) == []


def test_secrets_in_a_kubernetes_secret_are_never_flagged() -> None:
    secret = obj(
        "Secret",
        "graph-store",
        stringData={"password": PASSWORD, "url": CONNECTIONS["url"]},
        data={"token": base64.b64encode(SECRETS["github token"][0].encode()).decode()},
    )
    secret["metadata"]["annotations"] = {"kgot.io/token": SECRETS["github token"][0]}
    assert violations(sec.plaintext_secrets, secret) == []


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("config.json", '{"db": {"host": "graph-store", "password": "' + PASSWORD + '"}}'),
        (
            ".dockerconfigjson",
            '{"auths": {"ghcr.io": {"auth": "'
            + base64.b64encode(f"kgot:{PASSWORD}".encode()).decode()
            + '"}}}',
        ),
        ("auth-header", "Basic " + base64.b64encode(f"kgot:{PASSWORD}".encode()).decode()),
        (".netrc", f"machine github.com login kgot password {PASSWORD}\n"),
    ],
)
def test_credentials_in_config_file_formats_are_found(key: str, text: str) -> None:
    found = violations(sec.plaintext_secrets, obj("ConfigMap", "app", data={key: text}))
    assert found and PASSWORD not in found[0]


def test_openid_discovery_document_passes() -> None:
    discovery = (
        '{"issuer": "https://id.kgot.dev", "token_endpoint": "https://id.kgot.dev/token", '
        '"token_endpoint_auth_methods_supported": ["client_secret_basic"], "auth": "enabled"}'
    )
    config_map = obj("ConfigMap", "oidc", data={"openid-configuration.json": discovery})
    assert violations(sec.plaintext_secrets, config_map) == []


# ---- cloud credential names (documented by the CLIs/SDKs, detect-secrets' keywords) --------

# Values that no value detector recognises on its own (an Azure account key is
# base64 of random bytes, but these are short): the name is what tells.
CLOUD_CREDENTIALS = [
    ("AZURE_STORAGE_KEY", "c3RvcmFnZWtleQ" + "=="),
    ("AZURE_BATCH_ACCESS_KEY", "batch" + "key42"),
    ("AZURE_BATCH_ACCOUNT_KEY", "batch" + "key42"),
    ("OCI_CLI_KEY_CONTENT", "MIIEvQIB" + "ADANBgkq"),
    ("GOOGLE_CLOUD_KEYFILE_JSON", '{"type": "service_' + 'account"}'),
    ("AZURE_DEVOPS_EXT_PAT", "pat" + "value42"),
    ("OVH_CONSUMER_KEY", "consumer" + "key42"),
    ("storageAccountKey", "account" + "key42"),  # detect-secrets' account_?key
]


@pytest.mark.parametrize(("name", "value"), CLOUD_CREDENTIALS)
def test_cloud_credential_names_with_a_value_are_refused(name: str, value: str) -> None:
    body = workload("Deployment", full_pod_spec())
    pod_spec_of(body)["containers"][0]["env"] = [{"name": name, "value": value}]
    found = violations(sec.plaintext_secrets, body)
    assert len(found) == 1 and f"env {name}" in found[0] and value not in found[0]
    config_map = obj("ConfigMap", "cloud", data={name: value})
    found = violations(sec.plaintext_secrets, config_map)
    assert found and f"data key {name}" in found[0]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AZURE_STORAGE_KEY", "<storage-key>"),  # placeholders
        ("OCI_CLI_KEY_CONTENT", "$(OCI_KEY)"),
        ("AZURE_STORAGE_KEY", "changeme"),
        ("AZURE_STORAGE_ACCOUNT", "kgotstorage"),  # the account's name is not its key
        ("OCI_CLI_KEY_FILE", "/etc/oci/key.pem"),
        ("AZURE_STORAGE_AUTH_MODE", "login"),
        ("PARTITION_KEY", "tenant_id"),
        ("SIGNING_KEY_ID", "kgot-2026"),
    ],
)
def test_cloud_settings_and_placeholders_pass(name: str, value: str) -> None:
    body = workload("Deployment", full_pod_spec())
    pod_spec_of(body)["containers"][0]["env"] = [{"name": name, "value": value}]
    assert violations(sec.plaintext_secrets, body) == []
    assert violations(sec.plaintext_secrets, obj("ConfigMap", "cloud", data={name: value})) == []
