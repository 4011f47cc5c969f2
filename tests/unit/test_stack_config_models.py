"""The stack config models: documented defaults, accepted values, secrets, many errors at once."""

from __future__ import annotations

import copy
import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.settings import (
    PlatformSettings,
    Secret,
    SettingsError,
    parse_settings,
    parse_traffic,
    read_stack_file,
)
from components.settings._reading import model_schema
from tests.committed_stacks import stack_config

pytestmark = pytest.mark.unit

STAGING = stack_config("staging")
SLACK_URL = "https://hooks.slack.com/services/T000/B000/S3CR3T-WEBHOOK"


def staging(**overrides: object) -> dict[str, object]:
    raw = copy.deepcopy(STAGING)
    raw.update(overrides)
    return raw


def refusal(raw: dict[str, object]) -> str:
    with pytest.raises(SettingsError) as caught:
        parse_settings(raw, "staging")
    return str(caught.value)


# -- defaults --------------------------------------------------------------------------
def _defaults(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Every key of an object with a default, as the schema (and so the README) says."""
    if "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    found: dict[str, Any] = {}
    for key, child in node.get("properties", {}).items():
        target = defs[child["$ref"].rsplit("/", 1)[-1]] if "$ref" in child else child
        if target.get("properties"):
            found[key] = _defaults(target, defs)
        elif "default" in child:
            found[key] = child["default"]
    return found


OBJECTS = ("rollback", "security", "edge", "alerting", "monitoring", "images", "checks")


@pytest.mark.parametrize("name", OBJECTS)
def test_an_empty_object_takes_every_documented_default(name: str) -> None:
    schema = model_schema()
    expected = _defaults(schema["properties"][name], schema["$defs"])
    assert expected, name
    raw = staging()
    raw[name] = {}
    if name == "security":
        # Staging must name whom it trusts (security.signing); dev need not.
        raw["environment"] = "dev"
    section = getattr(parse_settings(raw, "staging"), name)
    dumped = section.model_dump(by_alias=True, mode="json")
    for key, value in expected.items():
        if isinstance(value, dict):
            for inner, default in value.items():
                assert dumped[key][inner] == default, f"{name}.{key}.{inner}"
        else:
            assert dumped[key] == value, f"{name}.{key}"


def test_one_rollback_key_keeps_the_other_defaults() -> None:
    rollback = parse_settings(staging(rollback={"onBreach": "freeze"}), "staging").rollback
    assert rollback.on_breach == "freeze"
    assert (rollback.error_rate.threshold, rollback.error_rate.window_seconds) == (0.05, 120)
    assert (rollback.latency.ratio, rollback.latency.window_seconds) == (2.0, 180)
    assert (rollback.cpu.threshold, rollback.cpu.window_seconds) == (0.85, 300)
    assert rollback.monitoring_window_seconds == 300
    assert rollback.on_missing_data == "hold"


def test_one_trigger_key_keeps_its_window() -> None:
    raw = staging(rollback={"errorRate": {"threshold": 0.02}})
    error_rate = parse_settings(raw, "staging").rollback.error_rate
    assert (error_rate.threshold, error_rate.window_seconds) == (0.02, 120)


def test_a_service_without_optional_keys() -> None:
    controller = parse_settings(staging(), "staging").service("controller")
    assert controller.component == "controller"
    graph = parse_settings(staging(), "staging").service("graph_store")
    assert (graph.metrics_path, graph.public, graph.digests) == ("/metrics", False, {})


# -- values the old validator refused -----------------------------------------------------
@pytest.mark.parametrize(
    "image",
    [
        "localhost:5000/kgot/controller",
        "registry.example.com:443/team/controller",
        "ghcr.io/kgot-platform/graph__store",
        "controller",
    ],
)
def test_image_repositories_of_the_oci_grammar_are_accepted(image: str) -> None:
    raw = staging()
    services: Any = raw["services"]
    services["controller"]["image"] = image
    assert parse_settings(raw, "staging").service("controller").image_ref("1.0.0") == (
        f"{image}:1.0.0"
    )


def test_every_bad_value_is_listed_in_one_error() -> None:
    raw = staging(activeColor="purple", standbyWeight=101, namespace="kube-x")
    message = refusal(raw)
    assert message.startswith("stack 'staging': 3 config errors:")
    for line in ('activeColor = "purple"', "standbyWeight = 101", 'namespace = "kube-x"'):
        assert line in message


# -- secrets -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"slackWebhookURL": Secret(SLACK_URL)}, "kgot-platform:slackWebhookURL"),
        (
            {"alerting": Secret(json.dumps({"slackWebhookUrl": SLACK_URL}))},
            "kgot-platform:alerting.slackWebhookUrl",
        ),
        ({"edge": {"webhookUrl": SLACK_URL}}, "kgot-platform:edge.webhookUrl"),
        ({"apiToken": SLACK_URL}, "kgot-platform:apiToken"),
        ({"namespace": Secret(SLACK_URL)}, "kgot-platform:namespace"),
        ({"slackWebhookUrl": Secret("ftp://" + SLACK_URL[8:])}, "kgot-platform:slackWebhookUrl"),
    ],
    ids=["misspelt", "wrong-level", "secret-named", "secret-named-top", "secure-plain", "not-url"],
)
def test_secrets_are_never_shown(overrides: dict[str, object], key: str) -> None:
    message = refusal(staging(**overrides))
    assert f"{key} = [secret]" in message
    assert "S3CR3T" not in message


def test_a_secret_key_in_plain_text_is_refused() -> None:
    """As `pulumi config set slackWebhookUrl ...` without --secret leaves it."""
    message = refusal(staging(slackWebhookUrl=SLACK_URL))
    assert "kgot-platform:slackWebhookUrl = [secret] is not allowed" in message
    assert "plain text" in message and "--secret" in message and "S3CR3T" not in message


def test_an_empty_secret_is_refused() -> None:
    message = refusal(staging(slackWebhookUrl=Secret("")))
    assert "kgot-platform:slackWebhookUrl = [secret] is not allowed" in message
    assert "https://" in message


def test_secure_values_in_a_stack_file_stay_secret(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(
        "config:\n"
        "  kgot-platform:slackWebhookUrl:\n    secure: v1:known-key\n"
        "  kgot-platform:slackWebhookURL:\n    secure: v1:misspelt-key\n",
        encoding="utf-8",
    )
    raw = read_stack_file(path)
    assert raw == {"slackWebhookURL": Secret("v1:misspelt-key")}
    assert "misspelt-key" not in refusal({**staging(), **raw})


def test_secret_values_never_show_in_a_repr() -> None:
    settings = parse_settings(staging(slackWebhookUrl=Secret(SLACK_URL)), "staging")
    assert "S3CR3T" not in repr(settings) and "S3CR3T" not in str(settings.slack_webhook_url)


# -- traffic of an applied update -------------------------------------------------------------
def test_traffic_alone_is_read_from_an_applied_config() -> None:
    traffic = parse_traffic({"activeColor": "green", "standbyWeight": "30", **_versions()}, "s")
    assert (traffic.active_color, traffic.standby_weight) == ("green", 30)
    with pytest.raises(SettingsError, match=r"activeColor = \"purple\""):
        parse_traffic({"activeColor": "purple", **_versions()}, "s")


def _versions() -> dict[str, str]:
    return {"blueVersion": "1.0.0", "greenVersion": "1.1.0"}


# -- any value anywhere -----------------------------------------------------------------------
def _paths(node: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            paths += _paths(value, (*prefix, str(key)))
    return paths


PATHS = [*_paths(STAGING), ("unknownKey",), ("services", "controller", "slackWebhookURL")]
SECRET_TEXT = st.text(string.ascii_letters, min_size=6, max_size=12).map(lambda t: f"S3CR3T{t}")
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | SECRET_TEXT.map(Secret),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


def _put(raw: dict[str, object], path: tuple[str, ...], value: object) -> None:
    node: Any = raw
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[path[-1]] = value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=VALUES)
def test_any_value_anywhere_is_settings_or_a_settings_error(
    path: tuple[str, ...], value: object
) -> None:
    raw = staging()
    _put(raw, path, value)
    try:
        settings_ = parse_settings(raw, "staging")
    except SettingsError as error:
        message = str(error)
        assert "kgot-platform:" in message and ("allowed" in message or "missing" in message)
        assert "S3CR3T" not in message
    else:
        assert isinstance(settings_, PlatformSettings)


# -- image signatures --------------------------------------------------------------


def test_staging_and_production_require_signed_images_and_cannot_turn_it_off() -> None:
    assert parse_settings(staging(), "staging").require_signed_images
    signing = {"required": False, "publicKey": "local"}
    message = refusal(staging(security={"signing": signing}))
    assert "security.signing.required" in message
    assert "signed images are required there" in message


def test_a_stack_that_requires_signatures_names_whom_it_trusts() -> None:
    message = refusal(staging(security={"signing": {}}))
    assert "security.signing.publicKey is missing" in message
    dev = parse_settings(staging(environment="dev", security={}), "staging")
    assert not dev.require_signed_images
    required = staging(environment="dev", security={"signing": {"required": True}})
    assert "security.signing.publicKey is missing" in refusal(required)


@pytest.mark.parametrize(
    ("signing", "words"),
    [
        (
            {"publicKey": "local", "keyless": {"identityRegexp": "x", "oidcIssuer": "y"}},
            "publicKey or keyless, not both",
        ),
        ({"publicKey": "-----BEGIN EC PRIVATE KEY-----\nabc"}, "a PEM starting"),
        ({"keyless": {"identityRegexp": "x"}}, "oidcIssuer is missing"),
    ],
)
def test_a_signing_trust_root_is_one_key_or_one_identity(
    signing: dict[str, object], words: str
) -> None:
    message = refusal(staging(security={"signing": signing}))
    assert words in message
    assert "abc" not in message
