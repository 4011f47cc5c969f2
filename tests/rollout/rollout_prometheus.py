"""A real Prometheus on loopback scraping one small service per colour.

Each ``ColourService`` serves ``/metrics`` for one colour. Its request counters,
latency histogram and CPU counter advance with time at the rate, error ratio
and latency the test sets; its share of traffic follows the weight the
(fake) engine last applied. Prometheus adds the ``namespace`` and ``color``
target labels the platform's scrape config adds, so the tool's default PromQL
runs unchanged (docs/architecture.md, "Metrics and rules").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from components.settings import kubernetes_name
from tests.toolchain_support import free_port

BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

SERVICES = ("controller", "graph_store")
NAMESPACE = "kgot-dev"


def short_rollback(window: int) -> dict[str, object]:
    """The stack's `rollback` key for a gate on this Prometheus: every trigger
    window `window` seconds, so a breach is decided within a test."""
    return {
        "errorRate": {"threshold": 0.05, "windowSeconds": window},
        "latency": {"ratio": 2.0, "windowSeconds": window},
        "cpu": {"threshold": 0.85, "windowSeconds": window},
        "monitoringWindowSeconds": 30,
        "onMissingData": "hold",
        "onBreach": "rollback",
        "customTriggers": [],
    }


@dataclass
class ColourService:
    """Synthetic metrics of one colour: the test sets error ratio, latency and CPU."""

    colour: str
    total_rps: float = 200.0
    weight: int = 0
    error_ratio: float = 0.0
    latency_seconds: float = 0.08
    cpu_ratio: float = 0.2
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last: float = field(default_factory=time.monotonic)
    _ok: float = 0.0
    _errors: float = 0.0
    _buckets: list[float] = field(default_factory=lambda: [0.0] * len(BUCKETS))
    _sum: float = 0.0
    _cpu_seconds: float = 0.0
    _server: ThreadingHTTPServer | None = None

    def _advance(self) -> None:
        now = time.monotonic()
        dt, self._last = now - self._last, now
        requests_ = self.total_rps * self.weight / 100.0 * dt
        self._errors += requests_ * self.error_ratio
        self._ok += requests_ * (1.0 - self.error_ratio)
        for i, le in enumerate(BUCKETS):
            if self.latency_seconds <= le:
                self._buckets[i] += requests_
        self._sum += requests_ * self.latency_seconds
        self._cpu_seconds += dt * self.cpu_ratio * 0.5  # limit: 500m

    def set(self, **values: float) -> None:
        with self._lock:
            self._advance()
            for key, value in values.items():
                setattr(self, key, value)

    def exposition(self) -> str:
        with self._lock:
            self._advance()
            total = self._ok + self._errors
            lines = [
                "# TYPE http_requests_total counter",
                f'http_requests_total{{code="200"}} {self._ok}',
                f'http_requests_total{{code="500"}} {self._errors}',
                "# TYPE http_request_duration_seconds histogram",
            ]
            lines += [
                f'http_request_duration_seconds_bucket{{le="{le}"}} {count}'
                for le, count in zip(BUCKETS, self._buckets, strict=True)
            ]
            lines += [
                f'http_request_duration_seconds_bucket{{le="+Inf"}} {total}',
                f"http_request_duration_seconds_sum {self._sum}",
                f"http_request_duration_seconds_count {total}",
                "# TYPE process_cpu_seconds_total counter",
            ]
            # CPU seconds at `cpu_ratio` of each service's 500m limit (the dev stack's).
            lines += [
                f'process_cpu_seconds_total{{service="{kubernetes_name(svc)}"}} {self._cpu_seconds}'
                for svc in SERVICES
            ]
            return "\n".join(lines) + "\n"

    def start(self) -> None:
        self._server = serve(self.exposition, self.port)
        self.port = int(self._server.server_address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@dataclass
class StateMetrics:
    """Like kube-state-metrics: desired and ready replicas of each Deployment."""

    desired: int = 1
    ready: dict[str, int] = field(default_factory=dict)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    def exposition(self) -> str:
        lines = [
            "# TYPE kube_deployment_spec_replicas gauge",
            "# TYPE kube_deployment_status_replicas_ready gauge",
        ]
        for colour in ("blue", "green"):
            for svc in SERVICES:
                name = f"{kubernetes_name(svc)}-{colour}"
                labels = f'namespace="{NAMESPACE}",deployment="{name}"'
                lines.append(f"kube_deployment_spec_replicas{{{labels}}} {self.desired}")
                ready = self.ready.get(name, self.desired)
                lines.append(f"kube_deployment_status_replicas_ready{{{labels}}} {ready}")
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        self._server = serve(self.exposition, self.port)
        self.port = int(self._server.server_address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def serve(exposition: Callable[[], str], port: int = 0) -> ThreadingHTTPServer:
    """Serve ``exposition()`` as /metrics on loopback, in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = exposition().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def prometheus_binary() -> str | None:
    return shutil.which("prometheus") or (
        "/usr/bin/prometheus" if os.path.exists("/usr/bin/prometheus") else None
    )


@dataclass
class PrometheusServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def wait_for(self, query: str, timeout: float = 20.0) -> None:
        """Until ``query`` returns a finite sample (the scrapes have data)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                body = requests.get(
                    f"{self.url}/api/v1/query", params={"query": query}, timeout=2
                ).json()
                result = body["data"]["result"]
                if result and result[0]["value"][1] not in ("NaN", "+Inf", "-Inf"):
                    return
            except (requests.RequestException, KeyError, ValueError):
                pass
            time.sleep(0.25)
        raise TimeoutError(f"Prometheus never had data for {query}; log: {self.log.read_text()}")


@contextmanager
def running_prometheus(
    services: list[ColourService],
    *,
    scrape_seconds: float = 1.0,
    state: StateMetrics | None = None,
    gateway_port: int | None = None,
) -> Iterator[PrometheusServer]:
    binary = prometheus_binary()
    if binary is None:
        raise FileNotFoundError("prometheus")
    with tempfile.TemporaryDirectory(prefix="kgot-rollout-prom-") as tmp:
        port = free_port()
        scrape = f"{scrape_seconds:g}s"
        jobs = "\n".join(
            f"""  - job_name: kgot-{s.colour}
    scrape_interval: {scrape}
    static_configs:
      - targets: ["127.0.0.1:{s.port}"]
        labels: {{namespace: {NAMESPACE}, color: {s.colour}}}"""
            for s in services
        )
        if state is not None:
            # kube-state-metrics' own labels (namespace, deployment) are kept.
            jobs += f"""
  - job_name: kube-state-metrics
    honor_labels: true
    scrape_interval: {scrape}
    static_configs:
      - targets: ["127.0.0.1:{state.port}"]"""
        if gateway_port is not None:
            # The gateway's own labels (service, router, code) are kept, as for Traefik.
            jobs += f"""
  - job_name: traefik
    honor_labels: true
    scrape_interval: {scrape}
    static_configs:
      - targets: ["127.0.0.1:{gateway_port}"]"""
        config = Path(tmp, "prometheus.yml")
        config.write_text(
            f"global:\n  scrape_interval: {scrape}\n  evaluation_interval: {scrape}\n"
            f"scrape_configs:\n{jobs}\n"
        )
        log = Path(tmp, "prometheus.log")
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp}/data",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--storage.tsdb.retention.time=1h",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = PrometheusServer(f"http://127.0.0.1:{port}", process, log)
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"prometheus exited: {log.read_text()}")
                try:
                    if requests.get(f"{server.url}/-/ready", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"prometheus not ready: {log.read_text()}")
                time.sleep(0.2)
            yield server
        finally:
            server.stop()
