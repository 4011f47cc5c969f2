"""Gradual traffic through a real gateway: Traefik on the real node serves the
HTTPRoute weights (trafficRouting gateway) and the ingress-nginx canary
weights (trafficRouting ingress) that `kgot-rollout shift` sets.

The load goes from this host to Traefik's Service (its cluster IP, port 443)
with the Host header of the service and TLS checked against the stack's own
self-signed certificate; nothing in the load generator knows the weights. The
split each step's `up` asked for is compared with the split the clients saw
(a binomial tolerance), after the last step every answer must come from the
target colour, and no request may fail. The tests run in file order on one
deployment of the dev stack.
"""

from __future__ import annotations

import base64
import json
import math
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dev_cluster import STACK, Cluster, Prometheus, deployed_dev
from traffic import Answer, LoadRun, Target, gateway_target, request_once, summary

from kgot_rollout._types import other_colour, parse_colour
from tests.toolchain_support import REPO

pytestmark = pytest.mark.e2e

EDGE = "kgot-edge"
DOMAIN = "kgot.dev.localhost"
STEPS = (10, 25, 50, 100)
HOLD = 20
RATE = 25.0
# Traefik applies a changed route within its providers' throttle (2 s) plus
# the watch; answers that started this soon after a step's `up` finished
# belong to neither step and are left out of its split.
SETTLE = 4.0
FAULTY = "1.2.0"


@dataclass(frozen=True)
class Gateway:
    cafile: str
    # The test cluster's kubeconfig (the tests' env, not the caller's).
    env: dict[str, str]

    def target(self, host: str, service: str = "traefik") -> Target:
        target, _ = gateway_target(host, self.cafile, EDGE, service, env=self.env)
        return target


@pytest.fixture(scope="module")
def cluster(project_dir: Path, toolchain_env: dict[str, str]) -> Cluster:
    return deployed_dev(project_dir, toolchain_env)


@pytest.fixture(scope="module")
def prometheus(cluster: Cluster) -> Prometheus:
    return Prometheus(f"http://{cluster.cluster_ip('prometheus')}:9090")


@pytest.fixture(scope="module")
def gateway(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Gateway:
    """Traefik Ready, and the certificate clients trust (the Secret's own)."""
    cluster.kubectl(
        "-n", EDGE, "rollout", "status", "deployment/traefik", "--timeout=180s"
    )  # fmt: skip
    secret = cluster.json("get", "secret", "kgot-platform-tls")
    cafile = tmp_path_factory.mktemp("gateway") / "ca.crt"
    cafile.write_bytes(base64.b64decode(secret["data"]["tls.crt"]))
    gateway = Gateway(str(cafile), cluster.env)
    # The module's deploy moved traffic back from wherever the previous module's
    # shift left it; Traefik serves that a moment after it accepts the routes.
    target, active = gateway.target(f"controller.{DOMAIN}"), cluster.selector("controller")
    wait_for(
        f"Traefik serving {active} alone",
        lambda: all(request_once_ok_or_none(target) == active for _ in range(10)),
    )
    return gateway


def load(gateway: Gateway, host: str, seconds: float, rate: float = RATE) -> LoadRun:
    target = gateway.target(host)
    networks = gateway_target(host, gateway.cafile, EDGE, env=gateway.env)[1]
    return LoadRun(
        targets={"gateway": target},
        networks=networks,
        rate=rate,
        max_requests=int(rate * seconds) + 1,
        max_seconds=seconds,
    )


def condition(obj: dict[str, Any], kind: str, generation: int | None = None) -> bool:
    """Whether condition `kind` is True (for `generation`, if given): of an
    object (under status) or of a route's parent status (at its top)."""
    items = obj.get("conditions") or obj.get("status", {}).get("conditions", [])
    for item in items:
        if item["type"] == kind and item["status"] == "True":
            return generation is None or item.get("observedGeneration") == generation
    return False


def conditions(obj: dict[str, Any]) -> str:
    """A route's parent conditions, short: type=status(reason) for each."""
    return "; ".join(
        f"{c['type']}={c['status']}({c.get('reason')}, gen {c.get('observedGeneration')})"
        for parent in obj.get("status", {}).get("parents", [])
        for c in parent.get("conditions", [])
    )


def wait_for(what: str, check: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(1)
    pytest.fail(f"{what}: not within {timeout}s (last: {last})")


def within_binomial(seen: int, total: int, weight: int) -> tuple[bool, float]:
    """Whether `seen` of `total` is within 4 standard deviations of weight %."""
    p = weight / 100
    share = seen / total
    tolerance = 4 * math.sqrt(p * (1 - p) / total) + 0.01
    return abs(share - p) <= tolerance, tolerance


def rollout(cluster: Cluster, prometheus: Prometheus, to: str, steps: str) -> Any:
    return subprocess.run(
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
            str(HOLD),
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
        timeout=900,
    )


def wait_for_baseline(prometheus: Prometheus, colour: str) -> None:
    buckets = f'http_request_duration_seconds_bucket{{service="controller",color="{colour}"}}'
    prometheus.wait(
        f"a p95 latency of the live colour {colour}",
        lambda: prometheus.query(
            f"histogram_quantile(0.95, sum by (le) (rate({buckets}[15s]))) > 0"
        ),
    )


def history(cluster: Cluster, since: float) -> list[dict[str, Any]]:
    path = cluster.project / "logs" / "deployment" / f"history-{STACK}.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()]
    return [e for e in events if float(e["time"]) >= since]


def gated_shift_through_the_gateway(
    cluster: Cluster, prometheus: Prometheus, gateway: Gateway, mode: str
) -> None:
    source = parse_colour(cluster.selector("controller"))
    target = other_colour(source)
    started = time.time()
    with load(gateway, f"controller.{DOMAIN}", seconds=len(STEPS) * (HOLD + 40) + 60) as run:
        # The latency trigger compares with the live colour's p95: traffic
        # through the gateway first, until the stack's Prometheus has it.
        wait_for_baseline(prometheus, source)
        shift = rollout(cluster, prometheus, target, ",".join(map(str, STEPS)))
        time.sleep(8)
        answers = run.stop()
    assert shift.returncode == 0, f"exit {shift.returncode}\n{shift.stdout}\n{shift.stderr}"
    events = history(cluster, started)
    applied = [e for e in events if e["event"] == "step-applied"]
    passed = [e for e in events if e["event"] == "step-passed"]
    assert [int(e["weight"]) for e in applied] == list(STEPS)
    assert [int(e["weight"]) for e in passed] == list(STEPS)
    lines = [f"\ngated shift {source} -> {target} through Traefik ({mode}): {summary(answers)}"]
    # A step's split: from its `up`'s end (plus the proxy's settling) to its
    # gate passing, after which the next step's `up` starts.
    for step, done in zip(applied, passed, strict=True):
        weight, begin, end = int(step["weight"]), float(step["time"]) + SETTLE, float(done["time"])
        window = [a for a in answers if begin <= a.started < end and a.ok]
        seen = sum(a.colour == target for a in window)
        ok, tolerance = within_binomial(seen, max(len(window), 1), weight)
        lines.append(
            f"  step {weight:3d}%: {seen}/{len(window)} from {target} "
            f"({seen / max(len(window), 1):.3f}, tolerance {tolerance:.3f})"
        )
        assert window and ok, "\n".join(lines)
    last_up = float(applied[-1]["time"])
    after = [a for a in answers if a.started >= last_up]
    burst = [a for a in after if a.colour == source]
    settled = [a for a in after if a.started >= last_up + SETTLE]
    lines.append(
        f"  after the last step's up finished: {len(burst)} of {len(after)} answers from "
        f"{source} (the colour being left); last at "
        f"{max((a.started for a in burst), default=last_up) - last_up:+.2f}s"
    )
    print("\n".join(lines))
    failed = [a for a in answers if not a.ok]
    assert not failed, f"requests failed during the shift: {failed[:5]}"
    assert settled and all(a.colour == target for a in settled), summary(settled)


def test_the_gateway_is_programmed_and_serves_public_and_internal_hosts_over_tls(
    cluster: Cluster, gateway: Gateway, prometheus: Prometheus
) -> None:
    def programmed() -> dict[str, Any] | None:
        found: dict[str, Any] = cluster.json("get", "gateway", "kgot-platform")
        return found if condition(found, "Programmed") else None

    gw = wait_for("Gateway kgot-platform Programmed", programmed)
    assert {listener["name"] for listener in gw["status"]["listeners"]} == {"https", "internal"}
    for name in ("controller", "graph-store"):
        deadline = time.monotonic() + 30
        while True:
            route = cluster.json("get", "httproute", name)
            generation = route["metadata"]["generation"]
            parents = route.get("status", {}).get("parents", [])
            if parents and all(
                condition(p, "Accepted", generation) and condition(p, "ResolvedRefs", generation)
                for p in parents
            ):
                break
            assert time.monotonic() < deadline, f"HTTPRoute {name}: {conditions(route)}"
            time.sleep(1)
        # What a gate waiting for "the generation just applied" meets: the
        # generation Traefik last wrote its conditions for.
        managers = [
            (f.get("manager"), f.get("operation"), f.get("subresource", ""), f.get("time"))
            for f in route["metadata"].get("managedFields", [])
        ]
        print(
            f"\nHTTPRoute {name}: generation {route['metadata']['generation']}, "
            f"{conditions(route)}; managed by {managers}"
        )
    active = cluster.selector("controller")
    with load(gateway, f"controller.{DOMAIN}", seconds=4, rate=10) as run:
        time.sleep(4.5)
    answers = run.stop()
    print(f"\nthrough Traefik (https, Host controller.{DOMAIN}): {summary(answers)}")
    assert answers and all(a.ok and a.colour == active for a in answers)
    internal = gateway.target(f"graph-store.{cluster.namespace}.internal", "traefik-internal")
    answer = request_once_ok(internal)
    assert answer.colour == cluster.selector("graph-store")
    # The stack's Prometheus scrapes Traefik (job gateway): the per-backend
    # series the rollout gate reads, by their `service` label.
    series = prometheus.wait(
        "Traefik's per-backend request counts in the stack's Prometheus",
        lambda: prometheus.query(
            'sum by (service) (traefik_service_requests_total{job="gateway"})'
        ),
    )
    services = sorted(s["metric"].get("service", "") for s in series)
    print("\ntraefik_service_requests_total services:\n  " + "\n  ".join(services))
    assert any("controller" in name for name in services), services


def request_once_ok(target: Target) -> Answer:
    answer = request_once(target)
    assert answer.ok, answer
    return answer


def test_gated_shift_through_the_gateway_follows_every_step(
    cluster: Cluster, prometheus: Prometheus, gateway: Gateway
) -> None:
    gated_shift_through_the_gateway(cluster, prometheus, gateway, "gateway")


def test_gated_shift_through_ingress_canaries_follows_every_step(
    cluster: Cluster, prometheus: Prometheus, gateway: Gateway
) -> None:
    cluster.set_config(trafficRouting="ingress")
    cluster.up()
    active = cluster.selector("controller")
    target = gateway.target(f"controller.{DOMAIN}")

    def served_by_the_ingress() -> bool:
        # The HTTPRoute is gone: an answer now comes through the Ingress.
        gone = cluster.kubectl("get", "httproute", "controller", check=False).returncode != 0
        return gone and request_once_ok_or_none(target) == active

    wait_for("the Ingress served by Traefik's ingress-nginx provider", served_by_the_ingress)
    gated_shift_through_the_gateway(cluster, prometheus, gateway, "ingress")


def request_once_ok_or_none(target: Target) -> str | None:
    answer = request_once(target)
    return answer.colour if answer.ok else None


def test_faulty_release_is_rolled_back_through_the_gateway(
    cluster: Cluster, prometheus: Prometheus, gateway: Gateway
) -> None:
    cluster.set_config(trafficRouting="gateway")
    active = parse_colour(cluster.selector("controller"))
    standby = other_colour(active)
    cluster.set_config(**{f"{standby}Version": FAULTY})
    cluster.up()
    cluster.wait_pods_ready()
    started = time.time()
    with load(gateway, f"controller.{DOMAIN}", seconds=400, rate=20) as run:
        wait_for_baseline(prometheus, active)
        shift = rollout(cluster, prometheus, standby, "25,50,100")
        time.sleep(8)
        answers = run.stop()
    assert shift.returncode == 3, f"exit {shift.returncode}\n{shift.stdout}\n{shift.stderr}"
    assert cluster.selector("controller") == active
    breach = [e for e in history(cluster, started) if e["event"] == "breach"][-1]
    bad = [a for a in answers if not a.ok or a.release == FAULTY]
    assert bad, "the faulty release never answered through the gateway"
    first_bad, last_bad = min(a.started for a in bad), max(a.started for a in bad)
    decided = float(breach["decided"])
    print(
        f"\nfaulty release {FAULTY} on {standby} through Traefik: detection "
        f"{decided - first_bad:.1f}s (first bad answer to decision), restore at the gateway "
        f"{last_bad - decided:.1f}s (decision to last bad answer); {summary(answers)}"
    )
    after = [a for a in answers if a.started > last_bad]
    assert after and all(a.ok and a.colour == active for a in after)
