"""The rollout gate reads the real gateway: Traefik on the real node reports the routes
a step applied, its per-backend counters give the split it served, and a release
whose pods drop out from behind the proxy breaches `error_rate` at the gateway.

The stack's copy turns the data-plane checks on (rollback.dataPlane) and reads
`error_rate` and `latency` at the application and the gateway. Load goes from
this host to Traefik's Service (cluster IP, 443, Host and TLS), bounded in
count and time. The tests run in file order on one deployment of the dev stack.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from dev_cluster import STACK, Cluster, Prometheus, deployed_dev
from traffic import LoadRun, gateway_target, summary

from kgot_rollout._types import other_colour, parse_colour
from tests.toolchain_support import REPO

pytestmark = pytest.mark.e2e

EDGE = "kgot-edge"
DOMAIN = "kgot.dev.localhost"
RATE = 25.0
PORT = 8080  # the controller's container port (Pulumi.dev.yaml)


@pytest.fixture(scope="module")
def cluster(project_dir: Path, toolchain_env: dict[str, str]) -> Cluster:
    view = deployed_dev(project_dir, toolchain_env)
    gate_reads_the_gateway(project_dir)
    return view


def gate_reads_the_gateway(project_dir: Path) -> None:
    """The stack copy's rollback config: the data-plane checks on, both sources.

    Only the rollout tool reads these keys, so the deployed resources are unchanged.
    """
    stack_file = project_dir / f"Pulumi.{STACK}.yaml"
    document = yaml.safe_load(stack_file.read_text())
    rollback = document["config"]["kgot-platform:rollback"]
    rollback["errorRate"]["source"] = "both"
    rollback["latency"]["source"] = "both"
    rollback["dataPlane"] = {
        "routeStatus": {"enabled": True, "timeoutSeconds": 60},
        # Longer than error_rate's window: a colour whose pods drop out also gets no
        # share, and the test below wants the trigger to be the one that says so.
        "split": {"enabled": True, "minRequests": 50, "windowSeconds": 60},
    }
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))


@pytest.fixture(scope="module")
def prometheus(cluster: Cluster) -> Prometheus:
    return Prometheus(f"http://{cluster.cluster_ip('prometheus')}:9090")


@pytest.fixture(scope="module")
def cafile(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    cluster.kubectl("-n", EDGE, "rollout", "status", "deployment/traefik", "--timeout=180s")
    secret = cluster.json("get", "secret", "kgot-platform-tls")
    path = tmp_path_factory.mktemp("gateway") / "ca.crt"
    path.write_bytes(base64.b64decode(secret["data"]["tls.crt"]))
    return str(path)


def load(cluster: Cluster, cafile: str, seconds: float) -> LoadRun:
    # The test's own cluster (its kubeconfig), not whatever the shell points at.
    target, networks = gateway_target(f"controller.{DOMAIN}", cafile, EDGE, env=cluster.env)
    return LoadRun(
        targets={"gateway": target},
        networks=networks,
        rate=RATE,
        max_requests=int(RATE * seconds) + 1,
        max_seconds=seconds,
    )


def shift(
    cluster: Cluster,
    prometheus: Prometheus,
    to: str,
    steps: str,
    hold: int,
    health_window: int = 10,
) -> subprocess.Popen[str]:
    return subprocess.Popen(
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
            to,
            "--steps",
            steps,
            "--hold",
            str(hold),
            "--rate-window",
            "15s",
            "--interval",
            "2",
            "--health-window",
            str(health_window),
            "--missing-data-timeout",
            "90",
            "--quiet",
        ],
        cwd=cluster.project,
        env=cluster.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def history(cluster: Cluster, since: float) -> list[dict[str, Any]]:
    path = cluster.project / "logs" / "deployment" / f"history-{STACK}.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [e for e in events if float(e["time"]) >= since]


def log_since(cluster: Cluster, offset: int) -> str:
    return (cluster.project / "logs" / "deployment" / "rollout.log").read_text()[offset:]


def log_size(cluster: Cluster) -> int:
    path = cluster.project / "logs" / "deployment" / "rollout.log"
    return len(path.read_text()) if path.exists() else 0


def finish(process: subprocess.Popen[str], timeout: float = 900) -> tuple[int, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, f"{out}\n{err}"


def baseline_traffic(prometheus: Prometheus, colour: str) -> None:
    prometheus.wait(
        f"traffic on {colour} at the application and at the gateway",
        lambda: (
            prometheus.query(
                f'sum(rate(http_requests_total{{service="controller",color="{colour}"}}[15s])) > 0'
            )
            and prometheus.query("sum(rate(traefik_service_requests_total[15s])) > 0")
        ),
    )


def test_a_shift_waits_for_the_routes_and_checks_the_split_traefik_served(
    cluster: Cluster, prometheus: Prometheus, cafile: str
) -> None:
    source = parse_colour(cluster.selector("controller"))
    target = other_colour(source)
    started, offset = time.time(), log_size(cluster)
    with load(cluster, cafile, seconds=240) as run:
        baseline_traffic(prometheus, source)
        code, output = finish(shift(cluster, prometheus, target, "25,100", hold=40))
        answers = run.stop()
    assert code == 0, output
    log = log_since(cluster, offset)
    waits = [float(w) for w in re.findall(r"routes served after ([0-9.]+)s", log)]
    events = history(cluster, started)
    samples = cluster.project / "logs" / "deployment" / f"{events[0]['rollout']}.samples.jsonl"
    # The split of each step at its last evaluation (the most requests behind it).
    split = {
        int(e["weight"]): e["values"].get("split")
        for e in map(json.loads, samples.read_text().splitlines())
    }
    print(
        f"\nshift {source} -> {target} through Traefik, gate on its status and counters: "
        f"route waits {waits} s; split served per step (share of {target}) {split}; "
        f"load {summary(answers)}"
    )
    assert len(waits) == 2, log
    assert split[25] is not None and 0.20 <= split[25] <= 0.30, split
    assert split[100] is not None and split[100] >= 0.95, split
    passed = [e for e in events if e["event"] == "step-passed"]
    assert [int(e["weight"]) for e in passed] == [25, 100]


def set_readiness(cluster: Cluster, colour: str, ready: bool) -> list[str]:
    """POST the stand-in's /health/ready/{enable,disable} on the colour's controller pods."""
    pods = cluster.json("get", "pods", "-l", f"app.kubernetes.io/instance=controller-{colour}")
    ips = [p["status"]["podIP"] for p in pods["items"] if p.get("status", {}).get("podIP")]
    for ip in ips:
        request = urllib.request.Request(
            f"http://{ip}:{PORT}/health/ready/{'enable' if ready else 'disable'}",
            method="POST",
            data=b"",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
    return ips


def test_pods_never_ready_behind_the_proxy_breach_error_rate_at_the_gateway(
    cluster: Cluster, prometheus: Prometheus, cafile: str
) -> None:
    source = parse_colour(cluster.selector("controller"))
    target = other_colour(source)
    started = time.time()
    with load(cluster, cafile, seconds=300) as run:
        baseline_traffic(prometheus, source)
        # The hold's availability watch reads the same fault from the API
        # server after --health-window; a window longer than the hold leaves
        # the gateway's metrics as the only thing that can catch it here.
        process = shift(cluster, prometheus, target, "25,100", hold=150, health_window=600)
        deadline = time.monotonic() + 300
        while not [
            e
            for e in history(cluster, started)
            if e["event"] == "step-applied" and int(e["weight"]) == 25
        ]:
            assert process.poll() is None, finish(process)[1]
            assert time.monotonic() < deadline, "the first step was never applied"
            time.sleep(0.5)
        # The step is applied: the target's pods now fail readiness, so the
        # proxy has no server for its share and answers 503 itself; the
        # application sees none of those requests.
        disabled = time.time()
        pods = set_readiness(cluster, target, ready=False)
        try:
            code, output = finish(process)
        finally:
            set_readiness(cluster, target, ready=True)
        answers = run.stop()
    assert code == 3, output
    events = history(cluster, started)
    breach = next(e for e in events if e["event"] == "breach")
    assert breach["trigger"] == "error_rate", breach
    assert int(breach["weight"]) == 25
    assert not [e for e in events if e["event"] == "step-passed"]
    assert cluster.selector("controller") == source
    failed = [a for a in answers if not a.ok]
    print(
        f"\n{target}'s controller pods {pods} not ready behind Traefik at 25%: "
        f"error_rate breach {float(breach['decided']) - disabled:.1f}s after readiness "
        f"was disabled ({breach['reason']}); {len(failed)} failed answers of {len(answers)}; "
        f"{summary(answers)}"
    )
    assert failed, "the proxy never answered for the pods that were not ready"
