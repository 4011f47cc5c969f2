"""The dev stack deployed on the local cluster's real node, as the e2e modules share it.

Each module deploys its own copy (one stack per module) from the committed
stack file, green on release 1.1.0, with short trigger windows, through the
policy pack; `deployed_dev` yields a `Cluster` view and destroys it after.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kgot_contract import COLOR_LABEL
from traffic import route_weights

from tests.toolchain_support import REPO, run

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

    def up(self, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.pulumi(
            "up",
            "--yes",
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


def deployed_dev(project_dir: Path, toolchain_env: dict[str, str]) -> Iterator[Cluster]:
    """The dev stack from a copy of the committed stack file, green on release
    1.1.0, with short trigger windows; deployed with the policy pack."""
    stack_file = project_dir / f"Pulumi.{STACK}.yaml"
    document = yaml.safe_load(stack_file.read_text())
    config = document["config"]
    config["kgot-platform:greenVersion"] = "1.1.0"
    rollback = config["kgot-platform:rollback"]
    for trigger in ("errorRate", "latency", "cpu"):
        rollback[trigger]["windowSeconds"] = WINDOW
    rollback["monitoringWindowSeconds"] = 60
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    env = toolchain_env
    run(["pulumi", "stack", "select", STACK, "--create"], cwd=project_dir, env=env)
    run(
        [
            str(REPO / ".venv/bin/python"),
            "-m",
            "kgot_policies.stack_config",
            STACK,
            "-o",
            str(project_dir / "pack-config.json"),
        ],
        cwd=project_dir,
        env={**env, "PYTHONPATH": str(REPO / "policies")},
    )
    namespace = str(config["kgot-platform:namespace"])
    view = Cluster(project_dir, env, namespace)
    view.up()
    view.wait_pods_ready()
    yield view
    view.pulumi("destroy", "--yes", check=False)
