"""Traefik's metrics, played: per-backend and per-router request counters on loopback.

``TraefikMetrics`` serves ``/metrics`` as Traefik v3.7 does with
``addServicesLabels`` and ``addRoutersLabels``: ``traefik_service_requests_total``
and ``traefik_service_request_duration_seconds`` per backend (the label values
of tests/traefik_support.py), ``traefik_router_requests_total`` per route (its
``service`` label the weighted service). The split follows the weights last
applied. A colour can fail below the application: its backend answers 502 (a
connection refused or reset: counted on the backend), or has no ready server
(the proxy's own 503: counted only on the router, as Traefik's metrics are per
server).
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer

from rollout_prometheus import BUCKETS, serve

from tests import traefik_support as traefik

NAMESPACE = "kgot-dev"


class Failure(enum.Enum):
    NONE = "none"
    # The backend's connections fail: Traefik's proxy answers 502, on the backend.
    BAD_GATEWAY = "502"
    # No ready endpoint: the load balancer has no server, Traefik answers 503 itself.
    NO_SERVER = "no-server"


@dataclass
class TraefikMetrics:
    services: tuple[str, ...]
    total_rps: float = 200.0
    latency_seconds: float = 0.05
    active: str = "blue"
    standby_weight: int = 0
    failing: dict[str, Failure] = field(default_factory=dict)
    port: int = 0
    # (label, code) -> count; router (route label, code) -> count; buckets per label.
    _service: dict[tuple[str, str], float] = field(default_factory=dict)
    _router: dict[tuple[str, str], float] = field(default_factory=dict)
    _buckets: dict[str, list[float]] = field(default_factory=dict)
    _sum: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last: float = field(default_factory=time.monotonic)
    _server: ThreadingHTTPServer | None = None

    def route(self, applied: Mapping[str, str]) -> None:
        """The gateway serves the weights just applied."""
        with self._lock:
            self._advance()
            self.active = applied["activeColor"]
            self.standby_weight = int(applied["standbyWeight"])

    def fail(self, colour: str, failure: Failure) -> None:
        with self._lock:
            self._advance()
            self.failing[colour] = failure

    def _advance(self) -> None:
        now = time.monotonic()
        dt, self._last = now - self._last, now
        standby = "green" if self.active == "blue" else "blue"
        for svc in self.services:
            labels = traefik.backends("gateway", NAMESPACE, svc)
            route = traefik.route("gateway", NAMESPACE, svc)
            shares = (
                (labels[0], self.active, 100 - self.standby_weight),
                (labels[1], standby, self.standby_weight),
            )
            for label, colour, weight in shares:
                served = self.total_rps * weight / 100 * dt
                failure = self.failing.get(colour, Failure.NONE)
                code = {Failure.NONE: "200", Failure.BAD_GATEWAY: "502"}.get(failure)
                self._router[(route, code or "503")] = (
                    self._router.get((route, code or "503"), 0.0) + served
                )
                if code is None:
                    continue  # the proxy's own 503: no server, no backend counter
                self._service[(label, code)] = self._service.get((label, code), 0.0) + served
                buckets = self._buckets.setdefault(label, [0.0] * len(BUCKETS))
                for i, le in enumerate(BUCKETS):
                    if self.latency_seconds <= le:
                        buckets[i] += served
                self._sum[label] = self._sum.get(label, 0.0) + served * self.latency_seconds

    def exposition(self) -> str:
        with self._lock:
            self._advance()
            base = 'method="GET",protocol="http"'
            lines = ["# TYPE traefik_service_requests_total counter"]
            lines += [
                f'traefik_service_requests_total{{code="{code}",{base},service="{label}"}} {n}'
                for (label, code), n in sorted(self._service.items())
            ]
            lines.append("# TYPE traefik_service_request_duration_seconds histogram")
            for label, buckets in sorted(self._buckets.items()):
                sel = f'code="200",{base},service="{label}"'
                total = sum(n for (lab, _), n in self._service.items() if lab == label)
                lines += [
                    f'traefik_service_request_duration_seconds_bucket{{{sel},le="{le}"}} {n}'
                    for le, n in zip(BUCKETS, buckets, strict=True)
                ]
                lines += [
                    f'traefik_service_request_duration_seconds_bucket{{{sel},le="+Inf"}} {total}',
                    f"traefik_service_request_duration_seconds_sum{{{sel}}} {self._sum[label]}",
                    f"traefik_service_request_duration_seconds_count{{{sel}}} {total}",
                ]
            lines.append("# TYPE traefik_router_requests_total counter")
            lines += [
                f'traefik_router_requests_total{{code="{code}",{base},'
                f'router="{route.replace("-wrr@", "@")}",service="{route}"}} {n}'
                for (route, code), n in sorted(self._router.items())
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
