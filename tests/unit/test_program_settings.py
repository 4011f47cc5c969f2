"""The program on bad stack config: a SettingsError before any resource, never a secret shown."""

from __future__ import annotations

import pulumi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mocked_program import ProgramRunner

from components.settings import SettingsError

pytestmark = pytest.mark.unit

SECRET = "https://hooks.slack.com/services/T000/B000/S3CR3T-token"


def refused(run_program: ProgramRunner, **kw: object) -> str:
    with pytest.raises(pulumi.RunError) as caught:
        run_program("staging", **kw)  # type: ignore[arg-type]
    assert isinstance(caught.value.__cause__, SettingsError)
    assert run_program.last is not None and run_program.last.resources == []
    return str(caught.value)


def test_an_empty_secret_webhook_is_refused(run_program: ProgramRunner) -> None:
    message = refused(run_program, secrets={"slackWebhookUrl": ""})
    assert "kgot-platform:slackWebhookUrl = [secret] is not allowed" in message
    assert "https://" in message


@pytest.mark.parametrize("key", ["slackWebhookURL", "grafanaPassword", "namespace"])
def test_a_secure_value_is_never_shown(run_program: ProgramRunner, key: str) -> None:
    message = refused(run_program, secrets={key: SECRET})
    assert f"kgot-platform:{key} = [secret]" in message
    assert "S3CR3T" not in message


@pytest.fixture(scope="module")
def runner() -> ProgramRunner:
    return ProgramRunner()


JUNK = st.one_of(
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
KEYS = st.sampled_from(
    ["activeColor", "standbyWeight", "namespace", "services", "rollback", "edge", "monitoring"]
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=KEYS, value=JUNK)
def test_bad_values_never_register_a_resource(
    runner: ProgramRunner, key: str, value: object
) -> None:
    try:
        runner("staging", {key: value})
    except pulumi.RunError as error:
        assert isinstance(error.__cause__, SettingsError), repr(error.__cause__)
        assert runner.last is not None and runner.last.resources == []
    finally:
        pulumi.runtime.set_all_config({}, [])
