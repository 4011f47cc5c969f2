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

import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from dev_cluster import STACK, Cluster, Prometheus, deployed_dev
from kgot_contract import COLOR_LABEL
from traffic import (
    LoadRun,
    Target,
    allowed_networks,
    check_targets,
    service_targets,
    summary,
)

from components.checks import health_check_script
from components.settings import CheckSettings, parse_settings, read_stack_file
from kgot_rollout._types import Colour, other_colour, parse_colour
from tests.toolchain_support import REPO, run

pytestmark = pytest.mark.e2e

SERVICES = ("controller", "graph-store", "manager-agent", "web-agent", "mcp-tools")
COLOURS = ("blue", "green")
FAULTY = "1.2.0"


@pytest.fixture(scope="module")
def cluster(project_dir: Path, toolchain_env: dict[str, str]) -> Cluster:
    return deployed_dev(project_dir, toolchain_env)


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
