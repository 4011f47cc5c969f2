"""Traffic only moves to a colour whose Deployments are Available at the stack's size.

Routing skips the provider's await, so the tool reads the Deployments live
before every step and refuses (exit 2, config restored) when they are not.
"""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from kgot_contract import COLOR_LABEL
from pulumi.automation.events import OpType
from rollout_fakes import available, healthy
from rollout_harness import Harness, make_harness

from kgot_rollout._cluster import DeploymentStatus, read_deployments
from kgot_rollout._engine import ResourceStep
from kgot_rollout._exceptions import RefusedError
from kgot_rollout._types import ExitCode

pytestmark = pytest.mark.rollout

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


def test_shift_to_a_colour_scaled_to_zero_is_refused_and_routing_unchanged(
    harness: Harness,
) -> None:
    healthy(harness.metrics, "blue", "green")
    # Scaled to zero by hand: the Deployment reports Available at its own size.
    harness.engine.live["graph-store-green"] = available("graph-store-green", 0)
    code = harness.run("shift", "--to", "green", "--steps", "100", "--hold", "5")
    assert code == ExitCode.REFUSED
    assert "graph-store-green (available 0/1, scaled to 0, updated 0/1)" in harness.stderr
    assert "controller-green" not in harness.stderr
    assert harness.engine.traffic == ("blue", 0)
    assert not harness.engine.ups()
    assert "refused: green is not Available" in harness.log()


def test_a_colour_that_lost_its_pods_after_a_step_is_rolled_back(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    crashed = replace(available("controller-green", 1), available=0, available_condition=False)

    def lose_pods(applied: object) -> None:
        harness.engine.live["controller-green"] = crashed

    harness.engine.on_up = lose_pods
    code = harness.run("shift", "--to", "green", "--steps", "10,100", "--hold", "5")
    # The hold watches the colour's Deployments (issue 19): traffic that moved to
    # a colour with no ready pods is rolled back, never left there.
    assert code == ExitCode.ROLLED_BACK
    assert "controller-green (available 0/1, condition Available is not True)" in harness.stdout
    assert harness.engine.traffic == ("blue", 0)


def test_a_missing_deployment_is_refused(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    harness.engine.live["web-agent-green"] = None
    assert harness.run("shift", "--to", "green", "--steps", "100", "--hold", "5") == 2
    assert "web-agent-green (not found)" in harness.stderr


def test_a_standby_the_same_up_scales_up_is_left_to_the_provider_await(
    tmp_path: Path,
) -> None:
    harness = make_harness(tmp_path)
    harness.engine.config["standbyReplicas"] = "0"
    harness.engine.applied["standbyReplicas"] = "0"
    healthy(harness.metrics, "blue", "green")
    for name in ("controller", "graph-store", "manager-agent", "web-agent", "mcp-tools"):
        harness.engine.live[f"{name}-green"] = available(f"{name}-green", 0)
        harness.engine.extra_changes.append(
            ResourceStep(
                f"urn:pulumi:dev::kgot-platform::{DEPLOYMENT}::{name}-green",
                DEPLOYMENT,
                OpType.UPDATE,
                ("spec.replicas",),
            )
        )
    # The update awaited them at full size (the provider's await), so the hold
    # that follows sees them Available.
    harness.engine.on_up = lambda applied: harness.engine.live.clear()
    assert harness.run("shift", "--to", "green", "--steps", "100", "--hold", "5") == 0
    assert harness.engine.traffic == ("green", 0)


def test_only_the_colour_gaining_traffic_is_read(harness: Harness) -> None:
    healthy(harness.metrics, "blue", "green")
    assert harness.run("shift", "--to", "green", "--steps", "50,100", "--hold", "5") == 0
    # Before each step and at each evaluation of its hold: only green.
    assert {c[1] for c in harness.engine.calls if c[0] == "deployments"} == {"green"}


def test_status_from_kubectl_json() -> None:
    obj = {
        "metadata": {"name": "controller-green", "generation": 3},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 3,
            "replicas": 2,
            "updatedReplicas": 2,
            "availableReplicas": 2,
            "conditions": [{"type": "Available", "status": "True"}],
        },
    }
    status = DeploymentStatus.from_object(obj)
    assert status.shortfall(2) is None
    assert status.shortfall(3) == "available 2/3, scaled to 2, updated 2/3"
    stale = DeploymentStatus.from_object({**obj, "metadata": {"name": "x", "generation": 4}})
    assert stale.shortfall(2) == "available 2/2, rollout not observed yet"
    # A Deployment at zero replicas has no availableReplicas at all.
    empty = DeploymentStatus.from_object({"metadata": {"name": "y"}, "spec": {"replicas": 0}})
    assert empty.shortfall(1) == (
        "available 0/1, scaled to 0, updated 0/1, condition Available is not True"
    )


def _fake_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    kubectl = tmp_path / "kubectl"
    kubectl.write_text("#!/bin/sh\n" + script)
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")


def test_read_deployments_asks_for_the_colour_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_kubectl(
        tmp_path,
        monkeypatch,
        'echo "$@" > "$(dirname "$0")/args"\n'
        'echo \'{"items": [{"metadata": {"name": "controller-blue"}}]}\'\n',
    )
    found = read_deployments("kgot-dev", "blue")
    assert list(found) == ["controller-blue"]
    args = (tmp_path / "args").read_text().split()
    assert args[args.index("-n") + 1] == "kgot-dev"
    assert (
        args[args.index("-l") + 1] == f"{COLOR_LABEL}=blue,app.kubernetes.io/part-of=kgot-platform"
    )


def test_an_unreachable_api_server_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_kubectl(tmp_path, monkeypatch, 'echo "connection refused" >&2\nexit 1\n')
    with pytest.raises(RefusedError) as refused:
        read_deployments("kgot-dev", "green")
    assert "Deployments of green in namespace kgot-dev: kubectl exited 1" in str(refused.value)
