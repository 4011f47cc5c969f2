"""The CLI driven against a fake engine, recorded metrics and a fake clock."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

from rollout_fakes import FAKE_QUERIES, FakeClock, FakeEngine, RecordedMetrics, dev_config

from kgot_rollout._route_status import RouteReader
from kgot_rollout.cli import Dependencies, run


@dataclasses.dataclass
class Harness:
    """Runs the CLI against a fake engine, recorded metrics and a fake clock."""

    tmp: Path
    engine: FakeEngine
    metrics: RecordedMetrics
    clock: FakeClock
    # The live routes (rollback.dataPlane); None: the command line's own (kubectl).
    routes: RouteReader | None = None
    stdout: str = ""
    stderr: str = ""
    # A release's image registry and health check (tests/rollout/release_fakes.py).
    registry: Any = None
    health_check: Any = None

    @property
    def log_dir(self) -> Path:
        return self.tmp / "logs" / "deployment"

    def run(self, *argv: str) -> int:
        out, err = io.StringIO(), io.StringIO()
        queries = self.tmp / "queries.json"
        queries.write_text(json.dumps(dataclasses.asdict(FAKE_QUERIES)))
        deps = Dependencies(
            engine=lambda args: self.engine,
            metrics=lambda args: self.metrics,
            clock=self.clock,
            routes=self.routes,
            stdout=out,
            stderr=err,
            registry=self.registry,
            health_check=self.health_check,
        )
        command, *rest = argv
        code = run(
            [
                command,
                "--stack",
                "dev",
                "--project-dir",
                str(self.tmp),
                "--queries",
                str(queries),
                "--interval",
                "5",
                "--missing-data-timeout",
                "30",
                "--health-window",
                "10",
                *rest,
            ],
            deps,
        )
        self.stdout, self.stderr = out.getvalue(), err.getvalue()
        return code

    def log(self, name: str = "rollout.log") -> str:
        path = self.log_dir / name
        return path.read_text() if path.exists() else ""

    def history(self) -> list[dict[str, object]]:
        path = self.log_dir / "history-dev.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]


def make_harness(tmp_path: Path) -> Harness:
    return Harness(
        tmp=tmp_path,
        engine=FakeEngine.for_config(dev_config()),
        metrics=RecordedMetrics(),
        clock=FakeClock(),
    )
