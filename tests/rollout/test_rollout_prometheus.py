"""Against a real Prometheus server scraping a small service per colour.

A healthy shift promotes; a breach during a step rolls back within the window
plus one evaluation interval; Prometheus going down holds the step.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from rollout_fakes import FakeEngine, dev_config
from rollout_prometheus import (
    ColourService,
    PrometheusServer,
    StateMetrics,
    prometheus_binary,
    running_prometheus,
    short_rollback,
)

from kgot_rollout._journal import Journal
from kgot_rollout._prometheus import PrometheusClient
from kgot_rollout._report import choose_rollout, report_data
from kgot_rollout._types import ExitCode
from kgot_rollout.cli import Dependencies, run

pytestmark = pytest.mark.prometheus

WINDOW = 10  # the shortest window stack config allows
INTERVAL = 1.0
SCRAPE = 1.0


@dataclass
class Bench:
    prometheus: PrometheusServer
    colours: dict[str, ColourService]
    state: StateMetrics
    engine: FakeEngine
    log_dir: Path
    stdout: str = ""
    stderr: str = ""

    def route(self, applied: Mapping[str, str]) -> None:
        """What the routing resources would do: weights follow the applied config."""
        active, weight = applied["activeColor"], int(applied["standbyWeight"])
        for colour, service in self.colours.items():
            service.set(weight=100 - weight if colour == active else weight)

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
                str(INTERVAL),
                "--health-window",
                "3",
                "--missing-data-timeout",
                "6",
                *rest,
            ],
            deps,
        )
        self.stdout, self.stderr = out.getvalue(), err.getvalue()
        return code

    def events(self, name: str) -> list[dict[str, object]]:
        path = self.log_dir / "history-dev.jsonl"
        lines = path.read_text().splitlines()
        return [e for e in map(json.loads, lines) if e["event"] == name]


def _window_config() -> dict[str, object]:
    return dev_config(rollback=short_rollback(WINDOW))


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    if prometheus_binary() is None:
        reason = "prometheus binary not installed (make debian installs the Debian package)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    colours = {c: ColourService(c) for c in ("blue", "green")}
    state = StateMetrics()
    endpoints: list[ColourService | StateMetrics] = [*colours.values(), state]
    for service in endpoints:
        service.start()
    try:
        with running_prometheus(
            list(colours.values()), scrape_seconds=SCRAPE, state=state
        ) as prometheus:
            bench = Bench(
                prometheus,
                colours,
                state,
                FakeEngine.for_config(_window_config()),
                tmp_path / "logs",
            )
            bench.engine.on_up = bench.route
            bench.route(bench.engine.applied)
            prometheus.wait_for('sum(rate(http_requests_total{color="blue"}[5s]))')
            yield bench
    finally:
        for service in endpoints:
            service.stop()


def test_healthy_shift_promotes(bench: Bench) -> None:
    code = bench.run("shift", "--to", "green", "--steps", "50,100", "--hold", "4")
    assert code == ExitCode.DONE, bench.stderr
    assert bench.engine.applied_traffic == ("green", 0)
    started = bench.events("started")[0]
    assert started["baseline_p95"] == pytest.approx(0.0975, rel=0.05)
    assert [e["weight"] for e in bench.events("step-passed")] == [50, 100]


def test_breach_during_a_step_rolls_back_within_window_plus_interval(bench: Bench) -> None:
    injected: list[float] = []

    def route_and_break(applied: Mapping[str, str]) -> None:
        bench.route(applied)
        if applied["standbyWeight"] == "50" and not injected:
            bench.colours["green"].set(error_ratio=0.5)
            injected.append(time.time())

    bench.engine.on_up = route_and_break
    code = bench.run("shift", "--to", "green", "--steps", "50,100", "--hold", "60")
    assert code == ExitCode.ROLLED_BACK, bench.stderr
    assert bench.engine.applied_traffic == ("blue", 0)
    breach = bench.events("breach")[0]
    assert breach["trigger"] == "error_rate"
    decided = float(str(breach["decided"]))
    since = float(str(breach["breaching_since"]))
    # From the first breaching sample Prometheus saw: window plus one evaluation interval.
    assert decided - since <= WINDOW + INTERVAL + 0.5
    # From the moment the service broke, add the scrape and rate-window lag.
    assert decided - injected[0] <= WINDOW + INTERVAL + 2 * SCRAPE + 1.0
    assert "Rollback triggered" in (bench.log_dir / "rollback.log").read_text()
    # The picture of it: both colours' error rate and latency come from Prometheus.
    png = bench.log_dir / "breach.png"
    assert bench.run("report", "-o", str(png)) == ExitCode.DONE, bench.stderr
    journal = Journal(bench.log_dir, "dev")
    data = report_data(
        journal, choose_rollout(journal, None), PrometheusClient(bench.prometheus.url)
    )
    assert set(data.series["error_rate"]) == {"blue", "green"}
    assert set(data.series["latency"]) == {"blue", "green"}
    assert (
        max(v for _, v in data.series["error_rate"]["green"])
        > 0.05
        > max(v for _, v in data.series["error_rate"]["blue"])
    )
    assert data.fired and data.fired[0][1] == "error_rate"


def test_prometheus_down_holds_never_promotes(bench: Bench) -> None:
    def route_and_stop(applied: Mapping[str, str]) -> None:
        bench.route(applied)
        bench.prometheus.stop()

    bench.engine.on_up = route_and_stop
    code = bench.run("shift", "--to", "green", "--steps", "50,100", "--hold", "2")
    assert code == ExitCode.HELD, bench.stderr
    assert bench.engine.applied_traffic == ("blue", 50)
    log = (bench.log_dir / "rollout.log").read_text()
    assert "unreachable" in log
    assert "never promoted" in bench.stdout


def test_failing_health_is_logged_and_rolls_back(bench: Bench) -> None:
    def route_and_kill(applied: Mapping[str, str]) -> None:
        bench.route(applied)
        if applied["activeColor"] == "green":
            bench.colours["green"].stop()

    bench.engine.on_up = route_and_kill
    code = bench.run("shift", "--to", "green", "--steps", "100", "--hold", "20")
    assert code == ExitCode.ROLLED_BACK, bench.stderr
    log = (bench.log_dir / "rollback.log").read_text()
    assert "Health check failed" in log
    assert "Rollback triggered" in log


def test_cpu_over_its_limit_share_rolls_back(bench: Bench) -> None:
    bench.colours["green"].set(cpu_ratio=0.95)
    code = bench.run("shift", "--to", "green", "--steps", "100", "--hold", "30")
    assert code == ExitCode.ROLLED_BACK, bench.stderr
    breach = bench.events("breach")[0]
    assert breach["trigger"] == "cpu"
    assert "cpu=0.9" in str(breach["reason"])  # 95% of the limit, give or take a scrape


def test_ready_replicas_below_desired_roll_back(bench: Bench) -> None:
    def route_and_unready(applied: Mapping[str, str]) -> None:
        bench.route(applied)
        if applied["standbyWeight"] == "50":
            bench.state.ready["graph-store-green"] = 0  # its pods fail readiness

    bench.engine.on_up = route_and_unready
    code = bench.run("shift", "--to", "green", "--steps", "50,100", "--hold", "20")
    assert code == ExitCode.ROLLED_BACK, bench.stderr
    assert bench.events("breach")[0]["trigger"] == "health"
    assert "Health check failed" in (bench.log_dir / "rollback.log").read_text()
