"""The rollout tool on the real engine: the dev stack on the local control plane.

A full shift and an automatic rollback, driven through the Automation API with
a local Prometheus scraping one small service per colour (the simulated pods
serve no traffic); the result is checked in the API server with kubectl.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from dev_cluster import deploy_dev
from kgot_contract import COLOR_LABEL, ROUTING_TYPES

from kgot_rollout._automation import AutomationEngine
from kgot_rollout._cluster import DeploymentStatus, RoutingObject
from kgot_rollout._engine import AppliedUpdate, PreviewReport
from kgot_rollout._exceptions import EngineError
from kgot_rollout._types import Colour, ExitCode
from kgot_rollout.cli import Dependencies, run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rollout"))
from rollout_prometheus import (
    ColourService,
    PrometheusServer,
    prometheus_binary,
    running_prometheus,
    short_rollback,
)

pytestmark = pytest.mark.e2e


def run_command(
    args: Sequence[str], *, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


STACK = "dev"
WINDOW = 10


class RoutedEngine:
    """The real engine; after each update the colour services get the applied weights."""

    def __init__(self, engine: AutomationEngine, colours: Mapping[str, ColourService]) -> None:
        self._engine = engine
        self._colours = colours
        self.ups: list[list[str]] = []
        # Every `up` fails (a backend gone): what a fast rollback leaves then.
        self.fail_up = False

    @property
    def stack(self) -> str:
        return self._engine.stack

    def get_config(self) -> Mapping[str, object]:
        return self._engine.get_config()

    def set_config(self, values: Mapping[str, str]) -> None:
        self._engine.set_config(values)

    def preview(self) -> PreviewReport:
        return self._engine.preview()

    def up(
        self, *, message: str, target: Sequence[str] | None = None, in_place: bool = False
    ) -> None:
        if self.fail_up:
            raise EngineError(f"stack {STACK}: update failed: the backend is gone (test)")
        self._engine.up(message=message, target=target, in_place=in_place)
        self.ups.append(list(target or []))
        self._route_as_configured()

    def routing_objects(self) -> list[RoutingObject]:
        return self._engine.routing_objects()

    def apply_routing(self, objects: Sequence[RoutingObject]) -> None:
        # A fast rollback writes the config first, then applies routing.
        self._engine.apply_routing(objects)
        self._route_as_configured()

    def _route_as_configured(self) -> None:
        config = self._engine.get_config()
        active, weight = config["activeColor"], int(str(config["standbyWeight"]))
        for colour, service in self._colours.items():
            service.set(weight=100 - weight if colour == active else weight)

    def routing_urns(self) -> list[str]:
        return self._engine.routing_urns()

    def deployment_urns(self, colour: str) -> list[str]:
        return self._engine.deployment_urns(colour)

    def last_update(self) -> AppliedUpdate | None:
        return self._engine.last_update()

    def lock_holder(self) -> str | None:
        return self._engine.lock_holder()

    def deployments(self, namespace: str, colour: Colour) -> Mapping[str, DeploymentStatus]:
        return self._engine.deployments(namespace, colour)


@pytest.fixture(scope="module")
def deployed(
    toolchain_env: dict[str, str], project_dir: Path
) -> Iterator[tuple[dict[str, str], Path, str]]:
    """The dev stack deployed from a project copy, with short trigger windows."""

    def configure(config: dict[str, Any]) -> None:
        config["kgot-platform:rollback"] = short_rollback(WINDOW)

    # The gates here read the test's own Prometheus and colours, not the pods.
    cluster = deploy_dev(project_dir, toolchain_env, configure, wait_ready=False)
    env, namespace = toolchain_env, cluster.namespace
    with pytest.MonkeyPatch.context() as patch:
        # The Automation API finds the pulumi CLI and its settings in os.environ.
        for key, value in env.items():
            patch.setenv(key, value)
        yield env, project_dir, namespace


@pytest.fixture
def colours() -> Iterator[dict[str, ColourService]]:
    services = {c: ColourService(c) for c in ("blue", "green")}
    for service in services.values():
        service.start()
    yield services
    for service in services.values():
        service.stop()


@pytest.fixture
def prometheus(colours: dict[str, ColourService]) -> Iterator[PrometheusServer]:
    if prometheus_binary() is None:
        pytest.fail("prometheus binary not installed (make debian installs it)")
    with running_prometheus(list(colours.values())) as server:
        yield server


def kubectl_json(env: dict[str, str], cwd: Path, *args: str) -> Any:
    out = run_command(["kubectl", *args, "-o", "json"], cwd=cwd, env=env).stdout
    return json.loads(out)


def live_routing(env: dict[str, str], cwd: Path, namespace: str) -> tuple[str, dict[str, int]]:
    """The colour Service `controller` selects and the HTTPRoute weights, from the API server."""
    service = kubectl_json(env, cwd, "-n", namespace, "get", "service", "controller")
    selector = service["spec"]["selector"]
    colour = str(selector[COLOR_LABEL])
    route = kubectl_json(env, cwd, "-n", namespace, "get", "httproute", "controller")
    refs = route["spec"]["rules"][0]["backendRefs"]
    return colour, {str(r["name"]): int(r.get("weight", 1)) for r in refs}


def rollout(
    deployed: tuple[dict[str, str], Path, str],
    colours: dict[str, ColourService],
    prometheus: PrometheusServer,
    *argv: str,
    fail_up: bool = False,
) -> tuple[int, RoutedEngine, str]:
    env, project_dir, _ = deployed
    engine = RoutedEngine(AutomationEngine(STACK, project_dir, env_vars=env), colours)
    engine.fail_up = fail_up
    config = engine.get_config()
    for colour, service in colours.items():
        weight = int(str(config["standbyWeight"]))
        service.set(weight=100 - weight if colour == config["activeColor"] else weight)
    active = config["activeColor"]
    prometheus.wait_for(f'sum(rate(http_requests_total{{color="{active}"}}[5s]))')
    err = io.StringIO()
    command, *rest = argv
    code = run(
        [
            command,
            "--stack",
            STACK,
            "--project-dir",
            str(project_dir),
            "--prometheus",
            prometheus.url,
            "--rate-window",
            "5s",
            "--interval",
            "1",
            "--health-window",
            "3",
            "--missing-data-timeout",
            "30",
            *rest,
        ],
        Dependencies(engine=lambda args: engine, stdout=io.StringIO(), stderr=err),
    )
    return code, engine, err.getvalue()


def test_full_shift_moves_every_service(
    deployed: tuple[dict[str, str], Path, str],
    colours: dict[str, ColourService],
    prometheus: PrometheusServer,
) -> None:
    env, project_dir, namespace = deployed
    start = live_routing(env, project_dir, namespace)[0]
    target = "green" if start == "blue" else "blue"
    code, _, err = rollout(
        deployed, colours, prometheus, "shift", "--to", target, "--steps", "50,100", "--hold", "3"
    )
    assert code == ExitCode.DONE, err
    colour, weights = live_routing(env, project_dir, namespace)
    assert colour == target
    assert weights == {"controller": 100, "controller-preview": 0}
    for svc in ("graph-store", "manager-agent"):
        service = kubectl_json(env, project_dir, "-n", namespace, "get", "service", svc)
        assert service["spec"]["selector"][COLOR_LABEL] == target


def test_breach_rolls_back_routing_only(
    deployed: tuple[dict[str, str], Path, str],
    colours: dict[str, ColourService],
    prometheus: PrometheusServer,
) -> None:
    env, project_dir, namespace = deployed
    start_colour = live_routing(env, project_dir, namespace)[0]
    target = "blue" if start_colour == "green" else "green"
    deployment = f"controller-{target}"
    before = kubectl_json(env, project_dir, "-n", namespace, "get", "deployment", deployment)
    colours[target].set(error_ratio=0.5)
    started = time.monotonic()
    code, engine, err = rollout(
        deployed, colours, prometheus, "shift", "--to", target, "--steps", "50,100", "--hold", "60"
    )
    assert code == ExitCode.ROLLED_BACK, err
    assert time.monotonic() - started < 300
    colour, weights = live_routing(env, project_dir, namespace)
    assert colour == start_colour
    assert weights == {"controller": 100, "controller-preview": 0}
    # The rollback targeted only routing resources, and the failed colour still runs.
    # A URN's third part is the type chain, parent first, the resource's own type last.
    assert engine.ups[-1] and all(
        urn.split("::")[2].rsplit("$", 1)[-1] in ROUTING_TYPES for urn in engine.ups[-1]
    )
    after = kubectl_json(env, project_dir, "-n", namespace, "get", "deployment", deployment)
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    log = (project_dir / "logs" / "deployment" / "rollback.log").read_text()
    assert "Rollback triggered" in log
    history = project_dir / "logs" / "deployment" / f"history-{STACK}.jsonl"
    events = [json.loads(line) for line in history.read_text().splitlines()]
    breach = [e for e in events if e["event"] == "breach"][-1]
    rolled = [e for e in events if e["event"] == "rolled-back"][-1]
    detection = breach["decided"] - breach["breaching_since"]
    restore = rolled["time"] - breach["decided"]
    print(f"\nreal engine: detection {detection:.1f}s (window {WINDOW}s), rollback {restore:.1f}s")
    assert detection <= WINDOW + 1.5


def test_a_shift_to_a_colour_scaled_to_zero_is_refused(
    deployed: tuple[dict[str, str], Path, str],
    colours: dict[str, ColourService],
    prometheus: PrometheusServer,
) -> None:
    env, project_dir, namespace = deployed
    start = live_routing(env, project_dir, namespace)
    target = "green" if start[0] == "blue" else "blue"
    deployment = f"graph-store-{target}"
    replicas = kubectl_json(env, project_dir, "-n", namespace, "get", "deployment", deployment)[
        "spec"
    ]["replicas"]
    scale = ["kubectl", "-n", namespace, "scale", "deployment", deployment]
    run_command([*scale, "--replicas=0"], cwd=project_dir, env=env)
    try:
        code, engine, err = rollout(
            deployed, colours, prometheus, "shift", "--to", target, "--steps", "100", "--hold", "3"
        )
        assert code == ExitCode.REFUSED, err
        assert f"{deployment} (available 0/{replicas}" in err
        assert live_routing(env, project_dir, namespace) == start
        assert not engine.ups
    finally:
        run_command([*scale, f"--replicas={replicas}"], cwd=project_dir, env=env)
        run_command(
            ["kubectl", "-n", namespace, "rollout", "status", f"deployment/{deployment}"],
            cwd=project_dir,
            env=env,
        )


def test_fast_rollback_restores_routing_and_the_state_follows(
    deployed: tuple[dict[str, str], Path, str],
    colours: dict[str, ColourService],
    prometheus: PrometheusServer,
) -> None:
    env, project_dir, namespace = deployed
    start = live_routing(env, project_dir, namespace)[0]
    other = "green" if start == "blue" else "blue"
    code, engine, err = rollout(deployed, colours, prometheus, "rollback", "--to", other, "--fast")
    assert code == ExitCode.DONE, err
    assert live_routing(env, project_dir, namespace) == (
        other,
        {"controller": 100, "controller-preview": 0},
    )
    # The provider owns what the fast path applied: the next preview changes nothing.
    assert not [s for s in engine.preview().changes if s.type != "pulumi:pulumi:Stack"]
    # A reconcile that fails leaves traffic restored and status telling the truth.
    code, engine, err = rollout(
        deployed, colours, prometheus, "rollback", "--to", start, "--fast", fail_up=True
    )
    assert code == ExitCode.DONE, err
    assert live_routing(env, project_dir, namespace)[0] == start
    out = io.StringIO()
    assert (
        run(
            ["status", "--stack", STACK, "--project-dir", str(project_dir), "--json"],
            Dependencies(engine=lambda args: engine, stdout=out, stderr=io.StringIO()),
        )
        == 0
    )
    status = json.loads(out.getvalue())
    assert (status["activeColor"], status["inSync"], status["stateBehind"]) == (start, False, True)
    # The next rollback reconciles the state; the preview after it is empty.
    code, engine, err = rollout(deployed, colours, prometheus, "rollback")
    assert code == ExitCode.DONE, err
    assert live_routing(env, project_dir, namespace)[0] == start
    assert not [s for s in engine.preview().changes if s.type != "pulumi:pulumi:Stack"]
