"""The dev stack deployed on the local cluster's real node, as the e2e modules share it.

Stack `dev` lives on the session's backend, so every module deploys the same
stack from its own copy of the committed stack file (`deploy_dev`, with the
module's edits, through the policy pack): the first creates it, the next ones
update it in place, with a refresh first, so what a module changed by hand (a
scaled Deployment, a deleted pod, an edited route) is put back. Nothing is
destroyed between modules: on this machine a destroy and a fresh create cost
about 70 s a module, an update in place a fraction of that. The session's
control plane goes with the session.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kgot_contract import COLOR_LABEL
from traffic import route_weights

from kgot_rollout._pack_config import bridge_pack_config
from tests.toolchain_support import run

STACK = "dev"
# Short trigger windows so a breach is decided in seconds (dev's own are minutes).
WINDOW = 15
# A pod of this machine's node goes from scheduled to Ready in seconds.
READY_TIMEOUT = 180


class Cluster:
    """kubectl and the deployed stack, as the tests look at them."""

    def __init__(self, project: Path, env: dict[str, str], namespace: str) -> None:
        self.project, self.env, self.namespace = project, env, namespace

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(
            ["kubectl", "-n", self.namespace, *args], cwd=self.project, env=self.env, check=check
        )

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(
            ["pulumi", *args, "--stack", STACK, "--non-interactive"],
            cwd=self.project,
            env=self.env,
            check=check,
        )

    def up(self, check: bool = True, refresh: bool = False) -> subprocess.CompletedProcess[str]:
        return self.pulumi(
            "up",
            "--yes",
            *(["--refresh"] if refresh else []),
            "--policy-pack",
            str((self.project / "policies").resolve()),
            "--policy-pack-config",
            str(self.project / "pack-config.json"),
            check=check,
        )

    def config(self) -> dict[str, str]:
        out = self.pulumi("config", "--json").stdout
        return {k.split(":", 1)[1]: str(v.get("value")) for k, v in json.loads(out).items()}

    def set_config(self, **values: str) -> None:
        for key, value in values.items():
            self.pulumi("config", "set", key, value)

    def cluster_ip(self, service: str) -> str:
        return str(self.json("get", "service", service)["spec"]["clusterIP"])

    def route_weights(self, service: str) -> dict[str, int]:
        return route_weights(self.namespace, service, self.env)

    def selector(self, service: str) -> str:
        return str(self.json("get", "service", service)["spec"]["selector"][COLOR_LABEL])

    def wait_pods_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            pods = self.json("get", "pods")["items"]
            waiting = [
                p["metadata"]["name"]
                for p in pods
                if p.get("metadata", {}).get("deletionTimestamp")
                or not any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in p.get("status", {}).get("conditions", [])
                )
            ]
            if pods and not waiting:
                return
            if time.monotonic() > deadline:
                described = self.kubectl("describe", "pods", *waiting, check=False).stdout
                pytest.fail(
                    f"pods not Ready after {READY_TIMEOUT}s: {waiting}\n{described[-4000:]}"
                )
            time.sleep(1)

    def deployment_identity(self) -> dict[str, tuple[str, int]]:
        return {
            d["metadata"]["name"]: (d["metadata"]["uid"], d["metadata"]["generation"])
            for d in self.json("get", "deployments")["items"]
        }


class Prometheus:
    """The stack's own Prometheus, reached from the host at its Service's cluster IP."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as response:
            return json.loads(response.read())

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/query", query=expr)["data"]["result"])

    def wait(self, what: str, check: Any, timeout: float = 120) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = check()
                if last:
                    return last
            except OSError as error:
                last = error
            time.sleep(2)
        pytest.fail(f"{what}: not within {timeout}s (last: {last})")


Configure = Callable[[dict[str, Any]], None]


def short_windows(seconds: int) -> Configure:
    """Trigger windows of `seconds`, so a breach is decided in seconds (dev's own are minutes)."""

    def configure(config: dict[str, Any]) -> None:
        rollback = config["kgot-platform:rollback"]
        for trigger in ("errorRate", "latency", "cpu"):
            rollback[trigger]["windowSeconds"] = seconds

    return configure


def deploy_dev(
    project_dir: Path,
    toolchain_env: dict[str, str],
    configure: Configure,
    *,
    wait_ready: bool = True,
) -> Cluster:
    """The dev stack from the project copy's stack file, its `config` mapping
    edited by `configure`, deployed with the pack and the bridge's config
    (`pack-config.json` in the copy); every pod Ready unless `wait_ready` is off.
    """
    stack_file = project_dir / f"Pulumi.{STACK}.yaml"
    document = yaml.safe_load(stack_file.read_text())
    config = document["config"]
    configure(config)
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    env = toolchain_env
    run(["pulumi", "stack", "select", STACK, "--create"], cwd=project_dir, env=env)
    # The pack config as the rollout tool makes it for its own updates.
    bridge_pack_config(STACK, project_dir, project_dir / "pack-config.json")
    view = Cluster(project_dir, env, str(config["kgot-platform:namespace"]))
    # The previous module's stack is updated in place: refreshed first, so its
    # changes by hand are seen and put back.
    view.up(refresh=True)
    if wait_ready:
        view.wait_pods_ready()
    return view


def deployed_dev(project_dir: Path, toolchain_env: dict[str, str]) -> Cluster:
    """The dev stack with green on release 1.1.0, short trigger windows and a
    one-minute monitoring window."""

    def configure(config: dict[str, Any]) -> None:
        short_windows(WINDOW)(config)
        config["kgot-platform:greenVersion"] = "1.1.0"
        config["kgot-platform:rollback"]["monitoringWindowSeconds"] = 60

    return deploy_dev(project_dir, toolchain_env, configure)
