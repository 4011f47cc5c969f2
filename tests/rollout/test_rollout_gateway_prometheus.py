"""The gateway as a trigger source, against a real Prometheus scraping Traefik's metrics.

A release that fails below the application (its pods never ready behind the
proxy, or connections refused) leaves no 5xx in the application's metrics:
with ``errorRate.source: application`` the gate has no data and holds; with
the gateway as a source it breaches ``error_rate`` and rolls back. The split
check reads the same counters.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from rollout_fakes import FakeEngine, dev_config
from rollout_prometheus import (
    ColourService,
    PrometheusServer,
    prometheus_binary,
    running_prometheus,
)
from rollout_traefik import Failure, TraefikMetrics

from components.settings import parse_settings
from kgot_rollout._types import ExitCode
from kgot_rollout.cli import Dependencies, run

pytestmark = pytest.mark.prometheus

WINDOW = 10


@dataclass
class GatewayBench:
    prometheus: PrometheusServer
    colours: dict[str, ColourService]
    traefik: TraefikMetrics
    engine: FakeEngine
    log_dir: Path
    stdout: str = ""
    stderr: str = ""

    def route(self, applied: Mapping[str, str]) -> None:
        active, weight = applied["activeColor"], int(applied["standbyWeight"])
        for colour, service in self.colours.items():
            service.set(weight=100 - weight if colour == active else weight)
        self.traefik.route(applied)

    def run(self, *argv: str) -> int:
        out, err = io.StringIO(), io.StringIO()
        deps = Dependencies(engine=lambda args: self.engine, stdout=out, stderr=err)
        command, *rest = argv
        code = run(
            [
                command,
                "--prometheus",
                self.prometheus.url,
                "--log-dir",
                str(self.log_dir),
                "--rate-window",
                "5s",
                "--interval",
                "1",
                "--health-window",
                "3",
                "--missing-data-timeout",
                "15",
                *rest,
            ],
            deps,
        )
        self.stdout, self.stderr = out.getvalue(), err.getvalue()
        return code

    def events(self, name: str) -> list[dict[str, object]]:
        lines = (self.log_dir / "history-dev.jsonl").read_text().splitlines()
        return [e for e in map(json.loads, lines) if e["event"] == name]


def _config(source: str, **data_plane: object) -> dict[str, object]:
    return dev_config(
        rollback={
            "errorRate": {"threshold": 0.05, "windowSeconds": WINDOW, "source": source},
            "latency": {"ratio": 2.0, "windowSeconds": WINDOW, "source": source},
            "cpu": {"threshold": 0.85, "windowSeconds": WINDOW},
            "monitoringWindowSeconds": 30,
            "onMissingData": "hold",
            "onBreach": "rollback",
            "customTriggers": [],
            "dataPlane": data_plane,
        }
    )


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[GatewayBench]:
    if prometheus_binary() is None:
        reason = "prometheus binary not installed (make debian installs the Debian package)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    engine = FakeEngine.for_config(_config("both"))
    names = tuple(s.name for s in parse_settings(engine.get_config(), "dev").services)
    colours = {c: ColourService(c) for c in ("blue", "green")}
    traefik = TraefikMetrics(names)
    endpoints: list[ColourService | TraefikMetrics] = [*colours.values(), traefik]
    for endpoint in endpoints:
        endpoint.start()
    try:
        with running_prometheus(
            list(colours.values()), scrape_seconds=1.0, gateway_port=traefik.port
        ) as prometheus:
            bench = GatewayBench(prometheus, colours, traefik, engine, tmp_path / "logs")
            engine.on_up = bench.route
            bench.route(engine.applied)
            prometheus.wait_for("sum(rate(traefik_service_requests_total[5s]))")
            prometheus.wait_for('sum(rate(http_requests_total{color="blue"}[5s]))')
            yield bench
    finally:
        for endpoint in endpoints:
            endpoint.stop()


def _never_ready(bench: GatewayBench, failure: Failure) -> None:
    """Green's pods drop out of the proxy once it gets traffic: the app sees no request."""

    def route_and_fail(applied: Mapping[str, str]) -> None:
        bench.route(applied)
        if applied["standbyWeight"] != "0" or applied["activeColor"] == "green":
            bench.colours["green"].set(total_rps=0.0)
            bench.traefik.fail("green", failure)

    bench.engine.on_up = route_and_fail


@pytest.mark.parametrize("failure", [Failure.NO_SERVER, Failure.BAD_GATEWAY])
def test_failing_below_the_application_breaches_error_rate_at_the_gateway(
    bench: GatewayBench, failure: Failure
) -> None:
    _never_ready(bench, failure)
    code = bench.run("shift", "--to", "green", "--steps", "25,100", "--hold", "40")
    assert code == ExitCode.ROLLED_BACK, bench.stderr
    assert bench.engine.applied_traffic == ("blue", 0)
    breach = bench.events("breach")[0]
    assert breach["trigger"] == "error_rate"
    assert breach["weight"] == 25  # never promoted
    assert "at the application and gateway" in str(breach["reason"])


def test_the_application_alone_only_holds_on_missing_data(bench: GatewayBench) -> None:
    bench.engine = FakeEngine.for_config(_config("application"))
    _never_ready(bench, Failure.NO_SERVER)
    code = bench.run("shift", "--to", "green", "--steps", "25,100", "--hold", "40")
    assert code == ExitCode.HELD, bench.stderr
    assert bench.events("missing-data") and not bench.events("breach")


def test_the_split_served_is_read_from_traefiks_counters(bench: GatewayBench) -> None:
    bench.engine = FakeEngine.for_config(
        _config("both", split={"enabled": True, "minRequests": 100, "windowSeconds": 5})
    )
    bench.engine.on_up = bench.route
    code = bench.run("shift", "--to", "green", "--steps", "25,100", "--hold", "8")
    assert code == ExitCode.DONE, bench.stderr
    log = (bench.log_dir / "rollout.log").read_text()
    shares = [float(s) for s in re.findall(r"observed split: green ([0-9.]+)% of", log)]
    # 25% of the gateway's requests at the first step (give or take a scrape), then all.
    assert shares and 20 <= shares[0] <= 30
    assert shares[-1] == 100.0
