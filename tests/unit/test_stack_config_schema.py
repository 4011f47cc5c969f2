"""The committed JSON Schema and the README's reference are the models', and editors can use it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from components.settings import schema
from tests.committed_stacks import committed_text

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_is_generated_from_the_models() -> None:
    committed = (ROOT / "schema" / "stack-config.schema.json").read_text(encoding="utf-8")
    assert committed == schema.schema_text(), "python -m components.settings.schema --write"


def test_readme_reference_is_generated_from_the_schema() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert schema.reference_text() in readme, "python -m components.settings.schema --write"


def test_readme_reference_names_every_key_of_the_schema() -> None:
    reference = schema.reference_text()
    properties = json.loads(schema.schema_text())["properties"]["config"]["properties"]
    for key in properties:
        assert f"`{key.removeprefix('kgot-platform:')}" in reference, key
    assert "`rollback.errorRate.windowSeconds` | an integer from 10 to 86400, default `120`" in (
        reference
    )


def _stack(name: str) -> dict[str, Any]:
    document = yaml.safe_load(committed_text(f"Pulumi.{name}.yaml"))
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_committed_stacks_are_valid_for_editors(stack: str) -> None:
    jsonschema.validate(_stack(stack), json.loads(schema.schema_text()))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("kgot-platform:namespace", "kube-foo"),
        ("kgot-platform:activeColour", "blue"),
        ("kgot-platform:slackWebhookUrl", "https://hooks.slack.com/in/plain/text"),
        ("kgot-platform:monitoring", {"scrapeInterval": "0s"}),
        ("kgot-platform:services", {"Graph-Store": {}}),
    ],
)
def test_editors_refuse_what_the_program_refuses(key: str, value: object) -> None:
    document = copy.deepcopy(_stack("staging"))
    document["config"][key] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, json.loads(schema.schema_text()))


def test_editors_take_secrets_as_pulumi_writes_them() -> None:
    document = copy.deepcopy(_stack("staging"))
    document["config"]["kgot-platform:slackWebhookUrl"] = {"secure": "v1:abc"}
    document["config"]["kubernetes:context"] = "kwok"
    jsonschema.validate(document, json.loads(schema.schema_text()))


def test_editors_take_numbers_as_pulumi_config_set_writes_them() -> None:
    """`pulumi config set standbyWeight 25` (and every kgot-rollout step) writes "25"."""
    document = copy.deepcopy(_stack("staging"))
    document["config"]["kgot-platform:standbyWeight"] = "25"
    document["config"]["kgot-platform:standbyReplicas"] = "1"
    jsonschema.validate(document, json.loads(schema.schema_text()))
    document["config"]["kgot-platform:standbyWeight"] = "half"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, json.loads(schema.schema_text()))
