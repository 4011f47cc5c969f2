"""A bounded load generator for the local cluster: the clients of a real cluster.

On the real node it sends requests through the gateway Traefik (a `Target`
with a Host header and TLS: the dev stack's self-signed certificate), which
applies the HTTPRoute and canary weights itself. Its emulation of a gateway
(splitting requests between Service `<svc>` and `<svc>-preview` by the
route's weights, `WeightedPicker`) is only for clusters without a real node
(`KGOT_NODE=none`), where no proxy runs.

The end-to-end tests use it, and so can a person on the local cluster:
    .venv/bin/python tests/e2e/traffic.py --service controller --seconds 120

Every request opens a new connection, so each one is routed anew by
kube-proxy: a flip shows up on the next request, as it would for clients
behind a gateway. Targets are checked against the addresses this machine
owns for the local cluster (loopback, the pod range, the Services' cluster
IPs); anything else is refused before a byte is sent. Runs are bounded in
request count and in time, and stop by themselves.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The real node's pod range (toolchain/node.sh).
POD_NETWORK = ipaddress.IPv4Network("10.244.0.0/24")
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


@dataclass(frozen=True)
class Target:
    """One Service as the host reaches it: cluster IP and port. Through a
    gateway: the Host (and TLS server name) to ask for, and the CA to trust."""

    name: str
    host: str
    port: int
    host_header: str | None = None
    cafile: str | None = None


class _GatewayConnection(http.client.HTTPSConnection):
    """HTTPS to an address, with the server name (SNI, certificate check) of a host."""

    def __init__(self, target: Target, timeout: float) -> None:
        context = ssl.create_default_context(cafile=target.cafile)
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._server_name = target.host_header
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self._server_name)


@dataclass(frozen=True)
class Answer:
    """What one request got: the colour and release that answered, or why none did."""

    started: float
    finished: float
    target: str
    status: int  # 0: no HTTP answer at all
    colour: str | None
    version: str | None
    release: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def allowed_networks(cluster_ips: Iterable[str]) -> list[ipaddress.IPv4Network]:
    return [LOOPBACK, POD_NETWORK, *(ipaddress.IPv4Network(f"{ip}/32") for ip in cluster_ips)]


def check_targets(targets: Iterable[Target], networks: Sequence[ipaddress.IPv4Network]) -> None:
    for target in targets:
        address = ipaddress.ip_address(target.host)
        if not any(address in net for net in networks):
            raise ValueError(
                f"load target {target.name} at {target.host} is not an address of the local "
                f"cluster (allowed: {', '.join(map(str, networks))})"
            )


def request_once(target: Target, path: str = "/", timeout: float = 5.0) -> Answer:
    # Wall-clock times: they are compared with the rollout tool's history.
    started = time.time()
    conn: http.client.HTTPConnection
    headers = {"Connection": "close"}
    if target.host_header is not None:
        conn = _GatewayConnection(target, timeout)
        headers["Host"] = target.host_header
    else:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return Answer(
            started,
            time.time(),
            target.name,
            response.status,
            response.getheader("X-Kgot-Color"),
            response.getheader("X-Kgot-Version"),
            response.getheader("X-Kgot-Release"),
        )
    except (OSError, http.client.HTTPException) as error:
        return Answer(
            started, time.time(), target.name, 0, None, None, None, f"{type(error).__name__}"
        )
    finally:
        conn.close()


class WeightedPicker:
    """Smooth weighted round robin (as nginx balances upstreams): over any
    window the shares follow the weights, with no randomness to blur a test.
    The emulation of a gateway, for clusters without a real node only."""

    def __init__(self, weights: Mapping[str, int]) -> None:
        self.set(weights)

    def set(self, weights: Mapping[str, int]) -> None:
        if not weights or sum(weights.values()) <= 0:
            raise ValueError(f"weights must have a positive total, got {dict(weights)}")
        self._weights = dict(weights)
        self._current = dict.fromkeys(weights, 0)

    def next(self) -> str:
        total = sum(self._weights.values())
        for name, weight in self._weights.items():
            self._current[name] += weight
        best = max(self._current, key=lambda name: self._current[name])
        self._current[best] -= total
        return best


@dataclass
class LoadRun:
    """Sends requests at a steady rate until stopped, `max_requests` is reached
    or `max_seconds` have passed, whichever comes first."""

    targets: Mapping[str, Target]
    networks: Sequence[ipaddress.IPv4Network]
    rate: float = 20.0
    max_requests: int = 5000
    max_seconds: float = 300.0
    # Called about once a second: the weights the route asks for right now.
    weights: Callable[[], Mapping[str, int]] | None = None
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_targets(self.targets.values(), self.networks)
        if not 0 < self.rate <= 200:
            raise ValueError(f"rate must be in (0, 200] requests a second, got {self.rate}")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="load", daemon=True)
        self._picker = WeightedPicker(dict.fromkeys(self.targets, 1))

    def __enter__(self) -> LoadRun:
        self._refresh_weights()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> list[Answer]:
        self._stop.set()
        self._thread.join(timeout=self.max_seconds + 10)
        return self.snapshot()

    def running(self) -> bool:
        return self._thread.is_alive()

    def snapshot(self) -> list[Answer]:
        with self._lock:
            return list(self.answers)

    def _refresh_weights(self) -> None:
        if self.weights is not None:
            weights = {name: w for name, w in self.weights().items() if name in self.targets}
            if sum(weights.values()) > 0:
                self._picker.set(weights)

    def _loop(self) -> None:
        begin = time.monotonic()
        deadline = begin + self.max_seconds
        last_refresh = begin
        workers: list[threading.Thread] = []
        for sent in range(self.max_requests):
            due = begin + sent / self.rate
            now = time.monotonic()
            if self._stop.is_set() or now >= deadline:
                break
            if due > now and self._stop.wait(due - now):
                break
            if time.monotonic() - last_refresh >= 1.0:
                self._refresh_weights()
                last_refresh = time.monotonic()
            target = self.targets[self._picker.next()]
            # One thread a request: a slow answer must not delay the next send.
            worker = threading.Thread(target=self._send, args=(target,), daemon=True)
            worker.start()
            workers.append(worker)
            workers = [w for w in workers if w.is_alive()]
        for worker in workers:
            worker.join(timeout=10)

    def _send(self, target: Target) -> None:
        answer = request_once(target)
        with self._lock:
            self.answers.append(answer)


def summary(answers: Sequence[Answer]) -> str:
    failed = [a for a in answers if not a.ok]
    by_colour: dict[str, int] = {}
    for a in answers:
        key = f"{a.colour}/{a.release}" if a.ok else f"failed({a.status or a.error})"
        by_colour[key] = by_colour.get(key, 0) + 1
    parts = ", ".join(f"{k}: {v}" for k, v in sorted(by_colour.items()))
    return f"{len(answers)} requests, {len(failed)} failed ({parts})"


def _kubectl_json(namespace: str, *args: str, env: Mapping[str, str] | None = None) -> Any:
    out = subprocess.run(
        ["kubectl", "-n", namespace, *args, "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
        env=env,
    ).stdout
    return json.loads(out)


def route_weights(
    namespace: str, service: str, env: Mapping[str, str] | None = None
) -> dict[str, int]:
    """The backend weights of HTTPRoute `<service>`: what a gateway would apply."""
    route = _kubectl_json(namespace, "get", "httproute", service, env=env)
    refs = route["spec"]["rules"][0]["backendRefs"]
    return {str(r["name"]): int(r.get("weight", 1)) for r in refs}


def service_targets(
    namespace: str, names: Sequence[str], env: Mapping[str, str] | None = None
) -> tuple[dict[str, Target], list[ipaddress.IPv4Network]]:
    """Services `names` as load targets (cluster IP, first port), and the networks
    a load run may reach in the namespace. LookupError names a missing Service."""
    services = _kubectl_json(namespace, "get", "services", env=env)["items"]
    by_name = {s["metadata"]["name"]: s["spec"] for s in services}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise LookupError(f"no Service {', '.join(missing)} in namespace {namespace}")
    targets = {
        n: Target(n, by_name[n]["clusterIP"], int(by_name[n]["ports"][0]["port"])) for n in names
    }
    networks = allowed_networks(
        s["clusterIP"] for s in by_name.values() if s.get("clusterIP") not in (None, "None")
    )
    return targets, networks


def gateway_target(
    host: str,
    cafile: str,
    edge_namespace: str = "kgot-edge",
    service: str = "traefik",
    env: Mapping[str, str] | None = None,
) -> tuple[Target, list[ipaddress.IPv4Network]]:
    """The gateway Traefik's Service as a load target for `host` (its cluster IP, 443)."""
    spec = _kubectl_json(edge_namespace, "get", "service", service, env=env)["spec"]
    target = Target(service, spec["clusterIP"], 443, host_header=host, cafile=cafile)
    return target, allowed_networks([spec["clusterIP"]])


def main(argv: Sequence[str] | None = None) -> int:
    """Bounded load on a service of the local cluster, through the gateway or emulating it."""
    parser = argparse.ArgumentParser(
        prog="traffic.py",
        description="Send bounded load to a service and print who answered: through the "
        "gateway Traefik (--gateway: HTTPS, Host <service>.<domain>), or, on a cluster without "
        "a real node, to Service <service> and <service>-preview split by the weights of "
        "HTTPRoute <service> (standing in for the gateway).",
    )
    parser.add_argument("--namespace", default="kgot-dev")
    parser.add_argument("--service", default="controller")
    parser.add_argument("--rate", type=float, default=20.0, help="requests a second (max 200)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long (max 600)")
    parser.add_argument("--gateway", action="store_true", help="through Traefik (kgot-edge)")
    parser.add_argument("--domain", default="kgot.dev.localhost", help="edge.domain")
    parser.add_argument("--cacert", help="the gateway's certificate (make run writes it)")
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 600:
        parser.error(f"--seconds {args.seconds}: allowed 0 < seconds <= 600")
    weights: Callable[[], Mapping[str, int]] | None = None
    try:
        if args.gateway:
            if not args.cacert:
                parser.error("--gateway needs --cacert (the certificate make run wrote)")
            target, networks = gateway_target(f"{args.service}.{args.domain}", args.cacert)
            targets = {"gateway": target}
        else:
            targets, networks = service_targets(
                args.namespace, (args.service, f"{args.service}-preview")
            )
            weights = lambda: route_weights(args.namespace, args.service)  # noqa: E731
    except (LookupError, subprocess.CalledProcessError) as error:
        parser.error(str(error))
    run = LoadRun(
        targets=targets,
        networks=networks,
        rate=args.rate,
        max_requests=int(args.rate * args.seconds) + 1,
        max_seconds=args.seconds,
        weights=weights,
    )
    with run:
        shown = 0
        while run.running():
            time.sleep(1)
            answers = run.snapshot()
            print(summary(answers[shown:]), flush=True)
            shown = len(answers)
    print("total:", summary(run.snapshot()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
