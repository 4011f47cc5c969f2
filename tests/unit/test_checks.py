"""Post-deploy checks: where they sit in the program, and what their script does."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pulumi
import pytest
from dependency_recorder import record_dependencies
from mocked_program import Program, ProgramRunner

from components.checks import health_check_script
from components.settings import CheckSettings, SettingsError, parse_settings
from tests.committed_stacks import stack_config

pytestmark = pytest.mark.unit

COMMAND_TYPE = "command:local:Command"
ROOT = Path(__file__).resolve().parents[2]
ON = {"checks": {"enabled": True}}


def checks(program: Program) -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in program.resources if r.typ == COMMAND_TYPE}


def test_dev_stack_runs_no_checks(run_program: ProgramRunner) -> None:
    # No pulumi-command plugin can be built here, and dev must keep deploying.
    assert checks(run_program("dev")) == {}


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_staging_and_production_check_both_colours_of_every_service(
    run_program: ProgramRunner, stack: str
) -> None:
    program = run_program(stack)
    found = checks(program)
    services = ("controller", "graph-store", "manager-agent", "web-agent", "mcp-tools")
    assert set(found) == {f"post-deploy-{s}-{c}" for s in services for c in ("blue", "green")}
    check = found["post-deploy-controller-green"]
    assert check["interpreter"] == ["/bin/bash", "-c"]
    assert "svc=controller color=green" in check["create"]
    assert f"ns=kgot-{stack}" in check["create"]


def test_each_check_waits_for_both_colours_and_services_of_its_own_service(
    run_program: ProgramRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    dependencies = record_dependencies(monkeypatch)
    program = run_program("staging")
    assert [r.typ for r in program.resources].count("kgot:platform:PostDeployChecks") == 1
    waits_for = dependencies["post-deploy-graph-store-blue"]
    assert {
        "graph-store-blue",
        "graph-store-green",
        "graph-store-service-graph-store",
        "graph-store-service-graph-store-preview",
    } <= waits_for
    # Not held up by the other services: each service is checked once it is ready.
    assert not {name for name in waits_for if name.startswith("controller")}


def test_checks_can_be_switched_off_per_stack(run_program: ProgramRunner) -> None:
    assert checks(run_program("production", {"checks": {"enabled": False}})) == {}


@pytest.mark.parametrize(
    "change",
    [{"activeColor": "green"}, {"standbyWeight": 30}, {"standbyReplicas": 0}],
    ids=["flip", "weight", "scale-down"],
)
def test_traffic_change_does_not_rerun_a_check(
    run_program: ProgramRunner, change: dict[str, object]
) -> None:
    # A rerun is a replaced Command, which the rollout tool refuses as a
    # non-routing change in the middle of a shift.
    versions = {**ON, "blueVersion": "1.4.0", "greenVersion": "1.5.0"}
    before = checks(run_program("production", versions))
    after = checks(run_program("production", {**versions, **change}))
    assert before == after


def test_new_version_reruns_only_that_colours_checks(run_program: ProgramRunner) -> None:
    before = checks(run_program("staging", {**ON, "greenVersion": "1.0.0"}))
    after = checks(run_program("staging", {**ON, "greenVersion": "1.1.0"}))
    changed = {name for name in before if before[name]["triggers"] != after[name]["triggers"]}
    assert changed == {n for n in before if n.endswith("-green")}
    assert (
        "ghcr.io/kgot-platform/controller:1.1.0"
        in after["post-deploy-controller-green"]["triggers"]
    )


@pytest.mark.parametrize(
    ("checks_config", "expected"),
    [
        ({"enabled": "sometimes"}, ["checks.enabled", '"sometimes"', "true | false"]),
        ({"timeoutSeconds": 5}, ["checks.timeoutSeconds", "5", "from 10 to 3600"]),
        ({"intervalSeconds": 500}, ["checks.intervalSeconds", "500", "from 1 to 120"]),
        ({"retries": 3}, ["checks.retries", "not a known key"]),
    ],
)
def test_bad_check_settings_are_refused(
    checks_config: dict[str, object], expected: list[str]
) -> None:
    raw = stack_config("staging")
    raw["checks"] = checks_config
    with pytest.raises(SettingsError) as caught:
        parse_settings(raw, "staging")
    for fragment in expected:
        assert fragment in str(caught.value)


def test_bad_check_settings_register_nothing(run_program: ProgramRunner) -> None:
    with pytest.raises(pulumi.RunError):
        run_program("staging", {"checks": {"timeoutSeconds": 0}})
    assert run_program.last is not None
    assert run_program.last.resources == []


# --- the script, against a stand-in kubectl ----------------------------------------

FAKE_KUBECTL = """#!/usr/bin/env bash
echo "$*" >>"$FAKE_LOG"
case "$*" in
  *"get deployment"*) printf %s "$FAKE_REPLICAS" ;;
  *"get service"*) printf %s "$FAKE_PREVIEW_COLOR" ;;
  *"get --raw"*)
    if [ "$FAKE_HEALTH" = ok ]; then echo ok; else
      echo 'Error from server (ServiceUnavailable): no endpoints available' >&2; exit 1; fi ;;
esac
"""


def run_check(
    tmp_path: Path, color: str, *, health: str, preview: str = "green", replicas: str = "2"
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    settings = parse_settings(stack_config("staging"), "staging")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL)
    kubectl.chmod(0o755)
    log = tmp_path / "kubectl.log"
    log.write_text("")
    script = health_check_script(
        settings.service("graph_store"),
        "green" if color == "green" else "blue",
        "kgot-staging",
        # Below the 10 s a stack may set, so the failing cases end fast.
        CheckSettings.model_construct(enabled=True, timeout_seconds=2, interval_seconds=1),
    )
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_LOG": str(log),
        "FAKE_HEALTH": health,
        "FAKE_PREVIEW_COLOR": preview,
        "FAKE_REPLICAS": replicas,
    }
    result = subprocess.run(
        ["/bin/bash", "-c", script], env=env, capture_output=True, text=True, timeout=30
    )
    return result, log.read_text().splitlines()


def test_healthy_standby_is_checked_through_its_preview_service(tmp_path: Path) -> None:
    result, calls = run_check(tmp_path, "green", health="ok", preview="green")
    assert result.returncode == 0, result.stderr
    assert "graph-store (green) healthy through Service graph-store-preview" in result.stdout
    assert (
        "get --raw /api/v1/namespaces/kgot-staging/services/"
        "http:graph-store-preview:http/proxy/health/ready"
    ) in calls


def test_active_colour_is_checked_through_the_main_service(tmp_path: Path) -> None:
    result, calls = run_check(tmp_path, "blue", health="ok", preview="green")
    assert result.returncode == 0, result.stderr
    assert any("http:graph-store:http/proxy/health/ready" in call for call in calls)


def test_unhealthy_colour_fails_with_service_name_and_response(tmp_path: Path) -> None:
    result, calls = run_check(tmp_path, "green", health="fail", preview="green")
    assert result.returncode == 1
    assert "service graph-store (green) failed its health check" in result.stderr
    assert "graph-store-preview/health/ready" in result.stderr
    assert "no endpoints available" in result.stderr
    # Retried until the timeout, not given up on the first answer.
    assert sum("get --raw" in call for call in calls) >= 2


def test_colour_scaled_to_zero_is_skipped(tmp_path: Path) -> None:
    result, calls = run_check(tmp_path, "green", health="fail", replicas="0")
    assert result.returncode == 0
    assert "scaled to zero" in result.stdout
    assert not any("get --raw" in call for call in calls)
