"""The gateway Traefik on the real node: how fast the proxy follows a route, how
fast a rollback reaches it, and what it costs per request.

Runs on the local cluster with its real node and nothing else deployed (the
stack's namespaces and Traefik's are its own for the run):

  source toolchain/env.sh
  flock /tmp/kgot-realnode.lock bash -c 'toolchain/cluster.sh up &&
    .venv/bin/python benchmarks/gateway_bench.py; toolchain/cluster.sh down'

It deploys a copy of the dev stack (stack `gatewaybench`), then measures, in
one run on one machine so the figures compare:
- route change applied -> proxy serving it: the HTTPRoute `controller`'s
  weights patched between all-blue and all-green (the API server's answer is
  "applied"), then requests through Traefik until five answers in a row come
  from the new colour; the first of those is "serving" (p50/p95 over --changes);
- restore at the gateway after a fast-path rollback decision: with 50 % on
  the standby, kgot-rollout's fast path (the routing objects read before the
  decision, users' traffic first) from the decision to the gateway answering
  only from the active colour, --rollbacks times;
- requests a second through the gateway (HTTPS, keep-alive) against plain
  HTTP to the Service's cluster IP, with the same client threads: the proxy's
  overhead as a ratio (TLS included: the gateway serves HTTPS only).
Requests go only to the cluster's own addresses, bounded in count and time.
The stack is destroyed afterwards.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml
from kgot_contract import COLOR_LABEL

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from traffic import (  # noqa: E402
    Target,
    _GatewayConnection,
    allowed_networks,
    check_targets,
    gateway_target,
)

from kgot_rollout._automation import AutomationEngine  # noqa: E402
from kgot_rollout._cluster import RoutingObject, carries_live_traffic, routed_to  # noqa: E402
from kgot_rollout._types import TrafficState  # noqa: E402

PROJECT = "kgot-platform"
STACK = "gatewaybench"
NAMESPACE = "kgot-dev"
HOST = "controller.kgot.dev.localhost"
# Consecutive answers from the expected colour that count as "serving".
IN_A_ROW = 5
# Bound on one wait for the proxy (a change never served is a failure).
WAIT_LIMIT = 30.0


def kubectl(*args: str) -> str:
    return subprocess.run(
        ["kubectl", *args], check=True, capture_output=True, text=True, timeout=60
    ).stdout


def colour_of(target: Target) -> str | None:
    conn = _GatewayConnection(target, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": HOST, "Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.getheader("X-Kgot-Color") if response.status == 200 else None
    except OSError:
        return None
    finally:
        conn.close()


def served_after(target: Target, colour: str, since: float) -> float:
    """Seconds from `since` to the first of IN_A_ROW answers in a row from `colour`."""
    first: float | None = None
    streak = 0
    while time.monotonic() - since < WAIT_LIMIT:
        started = time.monotonic()
        if colour_of(target) == colour:
            first = started if streak == 0 else first
            streak += 1
            if streak >= IN_A_ROW and first is not None:
                return first - since
        else:
            streak = 0
    raise RuntimeError(f"the gateway did not serve {colour} within {WAIT_LIMIT}s")


def route_changes(target: Target, changes: int) -> list[float]:
    original = json.loads(kubectl("-n", NAMESPACE, "get", "httproute", "controller", "-o", "json"))
    refs = original["spec"]["rules"][0]["backendRefs"]
    selectors = {
        ref["name"]: json.loads(
            kubectl("-n", NAMESPACE, "get", "service", ref["name"], "-o", "json")
        )["spec"]["selector"][COLOR_LABEL]
        for ref in refs
    }
    times = []
    try:
        for index in range(changes):
            # Starts with the preview: the route begins all on `controller`.
            to = refs[(index + 1) % 2]["name"]
            weights = [100 if ref["name"] == to else 0 for ref in refs]
            patch = [
                {"op": "replace", "path": f"/spec/rules/0/backendRefs/{i}/weight", "value": w}
                for i, w in enumerate(weights)
            ]
            kubectl(
                "-n", NAMESPACE, "patch", "httproute", "controller", "--type=json",
                "-p", json.dumps(patch),
            )  # fmt: skip
            applied = time.monotonic()
            took = served_after(target, selectors[to], applied)
            times.append(took)
            print(
                f"  change {index + 1}: all to {selectors[to]} served after {took:.2f}s", flush=True
            )
    finally:
        restore = [
            {"op": "replace", "path": f"/spec/rules/0/backendRefs/{i}/weight", "value": r["weight"]}
            for i, r in enumerate(refs)
        ]
        kubectl(
            "-n", NAMESPACE, "patch", "httproute", "controller", "--type=json",
            "-p", json.dumps(restore),
        )  # fmt: skip
    return times


def rollback_restores(engine: AutomationEngine, target: Target, rollbacks: int) -> list[float]:
    shifted, restored = TrafficState("blue", 50), TrafficState("blue", 0)
    times = []
    for index in range(rollbacks):
        engine.set_config(shifted.as_config())
        engine.up(message="gateway_bench: 50% on the standby", in_place=True)
        # Both colours answer before the decision.
        deadline = time.monotonic() + WAIT_LIMIT
        while {colour_of(target) for _ in range(10)} != {"blue", "green"}:
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway never served the 50/50 split")
        objects = engine.routing_objects()
        decided = time.monotonic()
        changed = [
            RoutingObject(o.urn, o.field_manager, m)
            for o in objects
            if (m := routed_to(o.manifest, restored)) is not None and m != o.manifest
        ]
        engine.set_config(restored.as_config())
        engine.apply_routing([o for o in changed if carries_live_traffic(o.manifest, restored)])
        api = time.monotonic() - decided
        took = served_after(target, "blue", decided)
        times.append(took)
        print(
            f"  rollback {index + 1}: routing restored in the API after {api:.2f}s, "
            f"at the gateway after {took:.2f}s",
            flush=True,
        )
        engine.apply_routing([o for o in changed if not carries_live_traffic(o.manifest, restored)])
        engine.up(message="gateway_bench: reconcile", in_place=True)
    return times


def throughput(target: Target, seconds: float, threads: int) -> float:
    """Requests a second with `threads` keep-alive clients for `seconds`."""
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        conn: http.client.HTTPConnection = (
            _GatewayConnection(target, timeout=5)
            if target.host_header
            else http.client.HTTPConnection(target.host, target.port, timeout=5)
        )
        headers = {"Host": target.host_header} if target.host_header else {}
        while time.monotonic() < stop:
            conn.request("GET", "/", headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                counts[index] += 1
        conn.close()

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=seconds + 30)
    return sum(counts) / (time.monotonic() - started)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--changes", type=int, default=20, help="route changes (>= 20)")
    parser.add_argument("--rollbacks", type=int, default=5, help="fast-path rollbacks")
    parser.add_argument("--seconds", type=float, default=10.0, help="each throughput run")
    parser.add_argument("--threads", type=int, default=4, help="throughput clients")
    args = parser.parse_args()
    if "KUBECONFIG" not in os.environ:
        print("gateway_bench: KUBECONFIG is not set; source toolchain/env.sh", file=sys.stderr)
        return 2
    if args.changes < 20 or not 0 < args.seconds <= 60 or not 0 < args.threads <= 16:
        print("gateway_bench: allowed: --changes >= 20, 0 < --seconds <= 60, "
              "0 < --threads <= 16", file=sys.stderr)  # fmt: skip
        return 2
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    path = ROOT / f"Pulumi.{STACK}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    pack = ROOT / ".state" / "gateway_bench_pack.json"
    pack.parent.mkdir(exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "kgot_policies.stack_config", STACK, "-o", str(pack)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "policies")}, check=True,
    )  # fmt: skip
    subprocess.run(
        ["pulumi", "stack", "select", STACK, "--create", "--non-interactive"],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    engine = AutomationEngine(STACK, ROOT, policy_pack_configs=[pack])
    try:
        started = time.monotonic()
        engine.up(message="gateway_bench: deploy")
        print(f"deployed in {time.monotonic() - started:.1f}s", flush=True)
        kubectl("-n", "kgot-edge", "rollout", "status", "deployment/traefik", "--timeout=180s")
        secret = json.loads(
            kubectl("-n", NAMESPACE, "get", "secret", "kgot-platform-tls", "-o", "json")
        )
        with tempfile.NamedTemporaryFile("wb", suffix=".crt", delete=False) as ca:
            ca.write(base64.b64decode(secret["data"]["tls.crt"]))
        target, _ = gateway_target(HOST, ca.name)
        served_after(target, "blue", time.monotonic())

        print(f"route change -> proxy serving it ({args.changes} changes):", flush=True)
        changes = route_changes(target, args.changes)
        print(f"fast-path rollback -> gateway restored ({args.rollbacks} rollbacks):", flush=True)
        restores = rollback_restores(engine, target, args.rollbacks)

        ip = json.loads(kubectl("-n", NAMESPACE, "get", "service", "controller", "-o", "json"))
        direct = Target("controller", ip["spec"]["clusterIP"], 8080)
        check_targets([direct], allowed_networks([direct.host]))
        via_gateway = throughput(target, args.seconds, args.threads)
        to_service = throughput(direct, args.seconds, args.threads)
        print()
        print(
            f"route change applied -> served: p50 {statistics.median(changes):.2f}s, "
            f"p95 {percentile(changes, 0.95):.2f}s, max {max(changes):.2f}s (n={len(changes)})"
        )
        print(
            f"fast-path rollback decision -> gateway restored: p50 "
            f"{statistics.median(restores):.2f}s, max {max(restores):.2f}s (n={len(restores)})"
        )
        print(
            f"requests/s ({args.threads} keep-alive clients, {args.seconds:.0f}s): through "
            f"Traefik (HTTPS) {via_gateway:.0f}, direct to the Service (HTTP) {to_service:.0f}, "
            f"ratio {via_gateway / to_service:.2f}"
        )
        return 0
    finally:
        subprocess.run(
            ["pulumi", "destroy", "--stack", STACK, "--yes", "--non-interactive", "--skip-preview"],
            cwd=ROOT, check=False, capture_output=True,
        )  # fmt: skip
        subprocess.run(
            ["pulumi", "stack", "rm", STACK, "--force", "--yes", "--non-interactive"],
            cwd=ROOT, check=False, capture_output=True,
        )  # fmt: skip
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
