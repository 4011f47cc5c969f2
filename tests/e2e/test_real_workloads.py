"""The dev stack on the real node: pods that run, traffic that moves, the
stack's own Prometheus deciding a rollout.

The local cluster has a real node (kubelet, containerd, kube-proxy, CoreDNS)
where the stand-in services, Prometheus and Alertmanager run from the images
the toolchain built and serves on loopback. Requests go from this host to the
Services' cluster IPs through kube-proxy (tests/e2e/traffic.py, bounded in
count and time, local addresses only). The tests run in file order and share
one deployment, as an operator's session would; the last one destroys it.
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
from traffic import (
    Answer,
    LoadRun,
    Target,
    allowed_networks,
    check_targets,
    route_weights,
    service_targets,
    summary,
)

from components.checks import health_check_script
from components.settings import CheckSettings, parse_settings, read_stack_file
from kgot_rollout._types import Colour, other_colour, parse_colour
from tests.toolchain_support import REPO, run

pytestmark = pytest.mark.e2e

STACK = "dev"
SERVICES = ("controller", "graph-store", "manager-agent", "web-agent", "mcp-tools")
COLOURS = ("blue", "green")
# Short trigger windows so a breach is decided in seconds (dev's own are minutes).
WINDOW = 15
FAULTY = "1.2.0"
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


@pytest.fixture(scope="module")
def cluster(project_dir: Path, toolchain_env: dict[str, str]) -> Iterator[Cluster]:
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


@pytest.fixture(scope="module")
def prometheus(cluster: Cluster) -> Prometheus:
    return Prometheus(f"http://{cluster.cluster_ip('prometheus')}:9090")


def controller_load(cluster: Cluster, **kwargs: Any) -> LoadRun:
    targets, networks = service_targets(
        cluster.namespace, ("controller", "controller-preview"), cluster.env
    )
    return LoadRun(targets=targets, networks=networks, **kwargs)


def test_every_pod_runs_on_the_real_node_and_is_scraped(
    cluster: Cluster, prometheus: Prometheus
) -> None:
    pods = cluster.json("get", "pods")["items"]
    assert {p["spec"]["nodeName"] for p in pods} == {"kgot-node"}
    names = {p["metadata"]["labels"].get("app.kubernetes.io/name") for p in pods}
    assert names == {*SERVICES, "prometheus", "alertmanager"}

    def every_service_pod_up() -> list[dict[str, Any]]:
        targets = prometheus.get("/api/v1/targets")["data"]["activeTargets"]
        up = [
            t for t in targets if t["labels"].get("job") == "kgot-services" and t["health"] == "up"
        ]
        return up if len(up) == len(SERVICES) * len(COLOURS) else []

    up = prometheus.wait("a target up for every service pod of both colours", every_service_pod_up)
    assert {(t["labels"]["service"], t["labels"]["color"]) for t in up} == {
        (s, c) for s in SERVICES for c in COLOURS
    }
    expected = {(s, c) for s in SERVICES for c in COLOURS}

    def per_colour_series() -> set[tuple[str, str]]:
        series = prometheus.query("kgot:request_rate:by_color")
        found = {(s["metric"]["service"], s["metric"]["color"]) for s in series}
        return found if found == expected else set()

    prometheus.wait("per-colour series from the recording rules for every pod", per_colour_series)

    alertmanager = f"http://{cluster.cluster_ip('alertmanager')}:9093"
    status = Prometheus(alertmanager).get("/api/v2/status")
    assert status["cluster"]["status"] == "ready"
    assert "route:" in status["config"]["original"]
    assert "receivers:" in status["config"]["original"]


def test_flip_under_load_moves_every_request(cluster: Cluster) -> None:
    before = cluster.deployment_identity()
    active = cluster.selector("controller")
    standby = "green" if active == "blue" else "blue"
    with controller_load(
        cluster, rate=20, max_seconds=240, weights=lambda: {"controller": 1}
    ) as load:
        time.sleep(3)
        cluster.set_config(activeColor=standby)
        started = time.time()
        cluster.up()
        flipped = time.time()
        # kube-proxy applies the new endpoints within a second or two.
        time.sleep(5)
        answers = load.stop()
    print(f"\nflip under load: up took {flipped - started:.1f}s; {summary(answers)}")
    failed = [a for a in answers if not a.ok]
    assert not failed, f"requests failed during the flip: {failed[:5]}"
    before_flip = [a for a in answers if a.started < started]
    after_flip = [a for a in answers if a.started > flipped + 2]
    assert before_flip and {a.colour for a in before_flip} == {active}
    assert after_flip and {a.colour for a in after_flip} == {standby}, summary(after_flip)
    assert cluster.deployment_identity() == before, "a flip must not touch a Deployment"


def test_gradual_weights_split_traffic_as_the_route_says(cluster: Cluster) -> None:
    """No Gateway implementation runs here: the HTTPRoute's weights are checked
    as objects in the API server, and the load generator splits its requests
    between Service `controller` and `controller-preview` by those weights,
    standing in for the gateway."""
    active = cluster.selector("controller")
    standby = "green" if active == "blue" else "blue"
    cluster.set_config(standbyWeight="25")
    cluster.up()
    try:
        weights = cluster.route_weights("controller")
        assert weights == {"controller": 75, "controller-preview": 25}
        with controller_load(
            cluster,
            rate=40,
            max_requests=200,
            max_seconds=60,
            weights=lambda: cluster.route_weights("controller"),
        ) as load:
            time.sleep(5.5)
            answers = load.stop()
        print(f"\nweighted 75/25: {summary(answers)}")
        assert all(a.ok for a in answers)
        share = sum(a.colour == standby for a in answers) / len(answers)
        assert 0.20 <= share <= 0.30, summary(answers)
    finally:
        cluster.set_config(standbyWeight="0")
        cluster.up()


def test_faulty_release_is_rolled_back_by_the_gate_on_the_stack_prometheus(
    cluster: Cluster, prometheus: Prometheus
) -> None:
    """The standby gets the faulty release; `kgot-rollout shift` gates on the
    in-cluster Prometheus while weighted load runs (the load generator standing
    in for the gateway, as above); the breach comes from the real pods' metrics
    and traffic goes back to the healthy colour."""
    active = cluster.selector("controller")
    standby = "green" if active == "blue" else "blue"
    cluster.set_config(**{f"{standby}Version": FAULTY})
    cluster.up()
    cluster.wait_pods_ready()
    # Baseline traffic on the live colour first, so the latency trigger has
    # something to compare with.
    log_dir = cluster.project / "logs" / "deployment"
    with controller_load(
        cluster, rate=20, max_seconds=400, weights=lambda: cluster.route_weights("controller")
    ) as load:
        prometheus.wait(
            "baseline traffic on the live colour",
            lambda: prometheus.query(
                f'sum(rate(http_requests_total{{service="controller",color="{active}"}}[15s])) > 0'
            ),
        )
        started = time.monotonic()
        rollout = subprocess.run(
            [
                str(REPO / ".venv/bin/kgot-rollout"),
                "shift",
                "--stack",
                STACK,
                "--project-dir",
                str(cluster.project),
                "--prometheus",
                prometheus.url,
                "--policy-pack-config",
                str(cluster.project / "pack-config.json"),
                "--to",
                standby,
                "--steps",
                "25,50,100",
                "--hold",
                "60",
                "--rate-window",
                "15s",
                "--interval",
                "2",
                "--health-window",
                "10",
                "--missing-data-timeout",
                "60",
                "--quiet",
            ],
            cwd=cluster.project,
            env=cluster.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        took = time.monotonic() - started
        time.sleep(5)
        answers = load.stop()
    assert rollout.returncode == 3, f"exit {rollout.returncode}\n{rollout.stdout}\n{rollout.stderr}"
    assert cluster.selector("controller") == active
    assert cluster.route_weights("controller") == {"controller": 100, "controller-preview": 0}

    events = [
        json.loads(line) for line in (log_dir / f"history-{STACK}.jsonl").read_text().splitlines()
    ]
    breach = [e for e in events if e["event"] == "breach"][-1]
    bad: list[Answer] = [a for a in answers if not a.ok or a.release == FAULTY]
    assert bad, "the faulty release never answered: the shift did not reach it"
    first_bad, last_bad = min(a.started for a in bad), max(a.started for a in bad)
    decided = float(breach["decided"])
    print(
        f"\nfaulty release {FAULTY} on {standby}: rollout exit 3 after {took:.0f}s; "
        f"detection {decided - first_bad:.1f}s (first bad response to decision), "
        f"restore {last_bad - decided:.1f}s (decision to last bad response); {summary(answers)}"
    )
    after = [a for a in answers if a.started > last_bad]
    assert after and all(a.ok and a.colour == active for a in after)
    assert last_bad - decided < 30


def test_post_deploy_health_check_runs_against_the_pods(cluster: Cluster) -> None:
    """The very script the post-deploy `Command` would run (the command
    plugin cannot be built here), on a healthy colour and a broken one."""
    settings = parse_settings(read_stack_file(cluster.project / f"Pulumi.{STACK}.yaml"), STACK)
    controller = next(s for s in settings.services if s.key == "controller")
    checks = CheckSettings.model_validate(
        {"enabled": True, "timeoutSeconds": 20, "intervalSeconds": 2}
    )
    active = parse_colour(cluster.selector("controller"))
    standby = other_colour(active)

    def check(colour: Colour) -> subprocess.CompletedProcess[str]:
        script = health_check_script(controller, colour, cluster.namespace, checks)
        return subprocess.run(
            ["bash", "-c", script], env=cluster.env, capture_output=True, text=True, timeout=120
        )

    healthy = check(active)
    assert healthy.returncode == 0, healthy.stderr
    assert f"service controller ({active}) healthy" in healthy.stdout

    # Break the standby: its pods stay up but report not ready (the stand-in's
    # readiness switch, as podinfo's), so Service `controller-preview` has no
    # endpoint to answer. Nothing the stack manages is changed.
    pods = cluster.json(
        "get", "pods", "-l", f"app.kubernetes.io/name=controller,{COLOR_LABEL}={standby}"
    )
    addresses = [p["status"]["podIP"] for p in pods["items"]]

    def readiness(switch: str) -> None:
        for ip in addresses:
            check_targets([Target("pod", ip, 8080)], allowed_networks([]))
            urllib.request.urlopen(
                urllib.request.Request(f"http://{ip}:8080/health/ready/{switch}", method="POST"),
                timeout=5,
            ).read()

    readiness("disable")
    try:
        broken = check(standby)
        assert broken.returncode == 1
        assert f"service controller ({standby}) failed its health check" in broken.stderr
    finally:
        readiness("enable")
        cluster.wait_pods_ready()


def test_missing_image_fails_the_up_within_its_deadline(cluster: Cluster) -> None:
    before = cluster.deployment_identity()
    active = cluster.selector("controller")
    standby = "green" if active == "blue" else "blue"
    selectors = {s: cluster.selector(s) for s in SERVICES}
    cluster.set_config(**{f"{standby}Version": "9.9.9"})
    started = time.monotonic()
    failed = cluster.up(check=False)
    took = time.monotonic() - started
    output = failed.stdout + failed.stderr
    print(f"\nup with a missing image failed after {took:.0f}s")
    assert failed.returncode != 0
    assert f"controller-{standby}" in output
    assert "ProgressDeadlineExceeded" in output or "ImagePull" in output or "ErrImage" in output
    # progressDeadlineSeconds of the dev stack (60) plus the provider's polling.
    assert took < 240
    # Nothing else changed: the live colour's Deployments and the routing.
    after = cluster.deployment_identity()
    for name, identity in before.items():
        if name.endswith(f"-{active}") or name in ("prometheus", "alertmanager"):
            assert after[name] == identity, name
    assert {s: cluster.selector(s) for s in SERVICES} == selectors
    # status says traffic is unaffected and names what the update failed on, not
    # "not live ... run shift or rollback" (issue 19): the release never started.
    status = run(
        [
            str(REPO / ".venv/bin/kgot-rollout"),
            "status",
            "--stack",
            STACK,
            "--project-dir",
            str(cluster.project),
        ],
        cwd=cluster.project,
        env=cluster.env,
    ).stdout
    print(status)
    assert "applied:  traffic YES, unaffected" in status
    assert "FAILED on " in status and f"-{standby}: " in status
    cluster.set_config(**{f"{standby}Version": "1.1.0"})
    cluster.up()
    cluster.wait_pods_ready()
