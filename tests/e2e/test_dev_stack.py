"""The dev stack for real: the Pulumi CLI and Kubernetes provider built by the
toolchain, against the local kube-apiserver. The tests run in file order and
share one deployment, as an operator's session would."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from kgot_contract import COLOR_LABEL, ROUTING_TYPES

from tests.toolchain_support import run

pytestmark = pytest.mark.e2e

NAMESPACE = "kgot-dev"
SERVICES = ("controller", "graph-store", "manager-agent", "web-agent", "mcp-tools")
STACK = ("--stack", "dev", "--non-interactive")


def kubectl_json(env: dict[str, str], *args: str) -> Any:
    out = run(["kubectl", "-n", NAMESPACE, *args, "-o", "json"], cwd=Path("."), env=env)
    return json.loads(out.stdout)


def preview_steps(project: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """The resource steps of a preview that would change something."""
    out = run(["pulumi", "preview", "--json", *STACK], cwd=project, env=env)
    steps: list[dict[str, Any]] = json.loads(out.stdout).get("steps", [])
    return [s for s in steps if s.get("op") != "same"]


def step_type(step: dict[str, Any]) -> str:
    state = step.get("newState") or step.get("oldState") or {}
    return str(state.get("type", step.get("urn", "").split("::")[-2]))


def selectors(env: dict[str, str]) -> dict[str, str]:
    services = kubectl_json(env, "get", "services")["items"]
    return {s["metadata"]["name"]: s["spec"].get("selector", {}).get(COLOR_LABEL) for s in services}


def deployment_identity(env: dict[str, str]) -> dict[str, tuple[str, int]]:
    items = kubectl_json(env, "get", "deployments")["items"]
    return {
        d["metadata"]["name"]: (d["metadata"]["uid"], d["metadata"]["generation"]) for d in items
    }


@pytest.fixture(scope="module")
def dev(project_dir: Path, toolchain_env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    run(
        ["pulumi", "stack", "select", "dev", "--create", "--non-interactive"],
        cwd=project_dir,
        env=toolchain_env,
    )
    return project_dir, toolchain_env


def test_preview_then_up_deploys_every_service(dev: tuple[Path, dict[str, str]]) -> None:
    project, env = dev
    planned = preview_steps(project, env)
    assert planned and all(s["op"] == "create" for s in planned)

    run(["pulumi", "up", "--yes", *STACK], cwd=project, env=env)

    deployments = {
        d["metadata"]["name"]: d for d in kubectl_json(env, "get", "deployments")["items"]
    }
    for svc in SERVICES:
        for colour in ("blue", "green"):
            conditions = {
                c["type"]: c["status"]
                for c in deployments[f"{svc}-{colour}"]["status"]["conditions"]
            }
            assert conditions.get("Available") == "True", f"{svc}-{colour}: {conditions}"
    # No Grafana in dev (none builds offline): its dashboards are a ConfigMap.
    assert {"prometheus", "alertmanager"} <= set(deployments)
    assert "grafana" not in deployments

    assert all(selectors(env)[svc] == "blue" for svc in SERVICES)
    assert all(selectors(env)[f"{svc}-preview"] == "green" for svc in SERVICES)
    routes = {r["metadata"]["name"]: r for r in kubectl_json(env, "get", "httproutes")["items"]}
    for svc in SERVICES:
        weights = {
            ref["name"]: ref["weight"] for ref in routes[svc]["spec"]["rules"][0]["backendRefs"]
        }
        assert weights == {svc: 100, f"{svc}-preview": 0}


def test_second_up_reports_no_changes(dev: tuple[Path, dict[str, str]]) -> None:
    project, env = dev
    assert preview_steps(project, env) == []
    run(["pulumi", "up", "--yes", *STACK], cwd=project, env=env)
    history = run(["pulumi", "stack", "history", "--json", *STACK], cwd=project, env=env)
    last = json.loads(history.stdout)[0]
    assert last["result"] == "succeeded"
    assert set(last["resourceChanges"]) == {"same"}, last["resourceChanges"]


def test_colour_flip_touches_only_routing(dev: tuple[Path, dict[str, str]]) -> None:
    project, env = dev
    before = deployment_identity(env)

    run(["pulumi", "config", "set", "activeColor", "green", *STACK], cwd=project, env=env)
    planned = preview_steps(project, env)
    assert planned, "flipping the colour should change the routing"
    assert {s["op"] for s in planned} == {"update"}
    assert {step_type(s) for s in planned} <= set(ROUTING_TYPES)
    run(["pulumi", "up", "--yes", *STACK], cwd=project, env=env)

    assert all(selectors(env)[svc] == "green" for svc in SERVICES)
    assert all(selectors(env)[f"{svc}-preview"] == "blue" for svc in SERVICES)
    assert deployment_identity(env) == before, "a colour flip must not touch a Deployment"

    run(["pulumi", "config", "set", "activeColor", "blue", *STACK], cwd=project, env=env)
    run(["pulumi", "up", "--yes", *STACK], cwd=project, env=env)
    assert all(selectors(env)[svc] == "blue" for svc in SERVICES)
    assert deployment_identity(env) == before


def test_concurrent_up_fails_on_the_stack_lock(dev: tuple[Path, dict[str, str]]) -> None:
    project, env = dev
    locks = Path(env["PULUMI_BACKEND_URL"].removeprefix("file://")) / ".pulumi" / "locks"
    first = subprocess.Popen(
        ["pulumi", "up", "--yes", "--refresh", *STACK],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(locks.rglob("*.json")):
            assert first.poll() is None, (
                "the first update ended before it was seen holding the lock"
            )
            assert time.monotonic() < deadline, "the first update never took the stack lock"
            time.sleep(0.05)
        second = run(["pulumi", "up", "--yes", *STACK], cwd=project, env=env, check=False)
    finally:
        _, first_err = first.communicate(timeout=600)
    assert second.returncode != 0
    assert "locked" in (second.stdout + second.stderr)
    assert first.returncode == 0, first_err
    # The state survived: nothing left to do.
    assert preview_steps(project, env) == []


def test_destroy_removes_the_namespace(dev: tuple[Path, dict[str, str]]) -> None:
    project, env = dev
    run(["pulumi", "destroy", "--yes", *STACK], cwd=project, env=env)
    gone = run(["kubectl", "get", "namespace", NAMESPACE], cwd=project, env=env, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
