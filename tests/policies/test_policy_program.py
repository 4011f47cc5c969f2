"""The whole pack over the resources the real program registers (Pulumi mocks).

Uses the unit suite's recorder (tests/unit/mocked_program.py), so this sees
what the engine would hand the pack, across the routing states a shift goes
through. (tests/unit/test_policy_pack_on_program.py checks the three stacks as
configured; this one walks the shift states.)
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from kgot_policies import evaluate
from kgot_policies.registry import POLICIES
from kgot_policies.stack_config import pack_config, reviewed_roles
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

pytestmark = pytest.mark.policies
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "unit"))

from mocked_program import ProgramRunner  # noqa: E402

from components.settings import parse_settings  # noqa: E402
from tests.committed_stacks import stack_config  # noqa: E402

# A released version's digest, as the release job records it in stack config.
RELEASED = {"1.0.0": "sha256:" + "5e" * 32, "1.1.0": "sha256:" + "6f" * 32}


@pytest.fixture
def run_program() -> Iterator[ProgramRunner]:
    yield ProgramRunner()
    pulumi.runtime.set_all_config({}, [])


def _engine_view(value: Any) -> Any:
    """Inputs as the engine shows them to a policy: Pulumi secrets unwrapped."""
    if is_rpc_secret(value):
        return _engine_view(unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: _engine_view(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_engine_view(v) for v in value]
    return value


def _evaluate(
    run_program: ProgramRunner, stack: str, overrides: dict[str, Any]
) -> list[evaluate.Violation]:
    raw = stack_config(stack)
    services = copy.deepcopy(raw["services"])
    assert isinstance(services, dict)
    for service in services.values():
        service["digests"] = RELEASED
    overrides = {"services": services, **overrides}
    program = run_program(stack, overrides)
    raw.update(overrides)
    settings = parse_settings(raw, stack)
    resources = [
        evaluate.resource(r.typ, _engine_view(r.inputs), r.name) for r in program.resources
    ]
    assert any(r.resource_type == "kubernetes:apps/v1:Deployment" for r in resources)
    config = pack_config(
        settings.environment, settings.security, reviewed_roles=reviewed_roles(settings)
    )
    return evaluate.run(POLICIES, resources, config)


SHIFT_STATES: dict[str, dict[str, Any]] = {
    "default": {},
    "green-release-at-30": {"greenVersion": "1.1.0", "standbyWeight": 30},
    "green-active": {"greenVersion": "1.1.0", "activeColor": "green"},
    "ingress-canary-50": {"trafficRouting": "ingress", "standbyWeight": 50},
    "selector": {"trafficRouting": "selector"},
    "standby-scaled-to-0": {"standbyReplicas": 0},
    "standby-scaled-to-1": {"standbyReplicas": 1},
}


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
@pytest.mark.parametrize("state", list(SHIFT_STATES))
def test_program_passes_the_whole_pack(run_program: ProgramRunner, stack: str, state: str) -> None:
    found = _evaluate(run_program, stack, SHIFT_STATES[state])
    assert found == [], "\n".join(f"{v.policy}: {v.message}" for v in found)


def _program_resources(
    run_program: ProgramRunner, stack: str, overrides: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    raw = stack_config(stack)
    services = copy.deepcopy(raw["services"])
    assert isinstance(services, dict)
    for service in services.values():
        service["digests"] = RELEASED
    overrides = {"services": services, **overrides}
    raw.update(overrides)
    program = run_program(stack, overrides)
    settings = parse_settings(raw, stack)
    bodies = [(r.typ, _engine_view(r.inputs), r.name) for r in program.resources]
    return bodies, pack_config(settings.environment, settings.security)


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_program_egress_isolation_is_what_passes_the_pack(
    run_program: ProgramRunner, stack: str
) -> None:
    # The baseline isolates egress; without the isolating policies the pack refuses the stack.
    bodies, config = _program_resources(run_program, stack, {})
    isolating = {"default-deny", "allow-dns"}
    opened = []
    for typ, body, name in bodies:
        if body.get("kind") == "NetworkPolicy" and body["metadata"]["name"] in isolating:
            body = copy.deepcopy(body)
            body["spec"]["policyTypes"] = ["Ingress"]
            body["spec"].pop("egress", None)
        opened.append(evaluate.resource(typ, body, name))
    found = evaluate.run(POLICIES, opened, config)
    assert [v.policy for v in found if v.policy != "compliance-score"] == [
        "network-policy-coverage"
    ]
    assert "leaves its pods' egress open" in found[0].message


def test_team_egress_destinations_pass_the_pack(run_program: ProgramRunner) -> None:
    network = {
        "egress": [
            {
                "name": "llm-api",
                "services": ["controller", "web_agent"],
                "cidrs": ["203.0.113.0/24"],
                "ports": [{"port": 443}],
            },
            {
                "name": "gateway",
                "namespace": "kgot-edge",
                "podLabels": {"app.kubernetes.io/name": "traefik"},
                "ports": [{"port": 8443}],
            },
        ],
        "apiServer": {"cidrs": ["10.96.0.1/32", "192.0.2.10/32"]},
    }
    bodies, config = _program_resources(run_program, "production", {"network": network})
    resources = [evaluate.resource(t, b, n) for t, b, n in bodies]
    policies = {b["metadata"]["name"] for t, b, n in bodies if b.get("kind") == "NetworkPolicy"}
    assert {"allow-egress-llm-api", "allow-egress-gateway"} <= policies
    found = evaluate.run(POLICIES, resources, config)
    assert found == [], "\n".join(f"{v.policy}: {v.message}" for v in found)
