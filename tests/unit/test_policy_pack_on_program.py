"""The program's resources pass the CrossGuard pack, run directly on the mocked resources.

Production needs released image digests (rule 19); the test gives them the way
a release does, through the services' `digests` in stack config.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kgot_policies.evaluate import resource, run
from kgot_policies.registry import POLICIES
from kgot_policies.stack_config import pack_config, reviewed_roles
from mocked_program import ProgramRunner
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

from components.settings import parse_settings
from tests.committed_stacks import stack_config

pytestmark = pytest.mark.unit


def _plain(value: Any) -> Any:
    """Inputs as the engine shows them to a policy: secrets unwrapped."""
    if is_rpc_secret(value):
        return _plain(unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@pytest.mark.parametrize(
    ("stack", "traffic"),
    [
        ("dev", {}),
        ("staging", {"standbyWeight": 25}),
        ("production", {}),
        ("production", {"activeColor": "green", "standbyWeight": 10}),
    ],
)
def test_program_passes_the_policy_pack(
    run_program: ProgramRunner, stack: str, traffic: dict[str, object]
) -> None:
    raw = stack_config(stack)
    services = copy.deepcopy(raw["services"])
    assert isinstance(services, dict)
    for service in services.values():
        service["digests"] = {"1.0.0": "sha256:" + "5e" * 32}
    program = run_program(
        stack,
        {"services": services, **traffic},
        secrets={"slackWebhookUrl": "https://hooks.slack.com/services/T0/B0/x"},
    )
    settings = parse_settings(raw, stack)
    resources = [resource(r.typ, _plain(r.inputs), name=r.name) for r in program.kubernetes()]
    config = pack_config(
        settings.environment, settings.security, reviewed_roles=reviewed_roles(settings)
    )
    violations = run(POLICIES, resources, config)
    assert [f"{v.policy}: {v.message}" for v in violations] == []
