"""Detection delay and rollback time of the rollout tool, against a real Prometheus.

Detection delay: from the moment the standby colour starts failing (and from
the first breaching sample Prometheus recorded) to the rollback decision.
Rollback time: from the decision to routing restored (the targeted ``up``
returned). Both are printed next to the trigger window they should be
compared with.

  .venv/bin/python benchmarks/rollout_bench.py [--runs 3] [--window 10] [--interval 1]

The engine is the tests' in-memory fake by default (routing restored = config
applied), or the real one with ``--project-dir DIR --stack dev`` after
``source toolchain/env.sh`` on a deployed stack.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "rollout")]

from rollout_fakes import FakeEngine, dev_config  # noqa: E402
from rollout_prometheus import ColourService, running_prometheus  # noqa: E402

from kgot_rollout._engine import Engine  # noqa: E402
from kgot_rollout.cli import Dependencies, run  # noqa: E402


class Routed:
    """Any engine; after each ``up`` the colour services get the applied weights."""

    def __init__(self, engine: Engine, colours: Mapping[str, ColourService]) -> None:
        self.engine = engine
        self.colours = colours
        self.on_route: list[float] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.engine, name)

    def up(
        self, *, message: str, target: Sequence[str] | None = None, in_place: bool = False
    ) -> None:
        self.engine.up(message=message, target=target, in_place=in_place)
        config = self.engine.get_config()
        active, weight = config["activeColor"], int(str(config["standbyWeight"]))
        for colour, service in self.colours.items():
            service.set(weight=100 - weight if colour == active else weight)


def one_run(args: argparse.Namespace, log_dir: Path) -> dict[str, float]:
    colours = {c: ColourService(c) for c in ("blue", "green")}
    for service in colours.values():
        service.start()
    try:
        with running_prometheus(list(colours.values()), scrape_seconds=args.scrape) as prom:
            engine: Engine
            if args.project_dir:
                from kgot_rollout._automation import AutomationEngine

                engine = AutomationEngine(args.stack, Path(args.project_dir))
            else:
                engine = FakeEngine.for_config(
                    dev_config(
                        rollback={
                            "errorRate": {"threshold": 0.05, "windowSeconds": args.window},
                            "latency": {"ratio": 2.0, "windowSeconds": args.window},
                            "cpu": {"threshold": 0.85, "windowSeconds": args.window},
                            "monitoringWindowSeconds": 60,
                            "onMissingData": "hold",
                            "onBreach": "rollback",
                            "customTriggers": [],
                        }
                    )
                )
            config = engine.get_config()
            source = str(config["activeColor"])
            target = "green" if source == "blue" else "blue"
            routed = Routed(engine, colours)
            colours[source].set(weight=100)
            prom.wait_for(f'sum(rate(http_requests_total{{color="{source}"}}[5s]))')
            # The release is bad from its first request.
            colours[target].set(error_ratio=0.5)
            injected = time.time()
            code = run(
                [
                    "shift",
                    "--to",
                    target,
                    "--steps",
                    "50,100",
                    "--hold",
                    "120",
                    "--prometheus",
                    prom.url,
                    "--log-dir",
                    str(log_dir),
                    "--rate-window",
                    "5s",
                    "--interval",
                    str(args.interval),
                    "--skip-trigger",
                    "cpu",
                    "-q",
                ],
                Dependencies(
                    engine=lambda a: routed,  # type: ignore[arg-type,return-value]
                    stdout=io.StringIO(),
                    stderr=io.StringIO(),
                ),
            )
            if code != 3:
                raise SystemExit(f"expected a rollback (exit 3), got {code}")
            events = [
                json.loads(line)
                for line in (log_dir / "history-dev.jsonl").read_text().splitlines()
            ]
            breach = [e for e in events if e["event"] == "breach"][-1]
            rolled = [e for e in events if e["event"] == "rolled-back"][-1]
            step = [e for e in events if e["event"] == "step-applied"][-1]
            return {
                "from_failure": breach["decided"] - max(injected, step["time"]),
                "from_first_breaching_sample": breach["decided"] - breach["breaching_since"],
                "rollback_time": rolled["time"] - breach["decided"],
            }
    finally:
        for service in colours.values():
            service.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=int, default=10, help="error-rate window (s, >= 10)")
    parser.add_argument("--interval", type=float, default=1.0, help="evaluation interval (s)")
    parser.add_argument("--scrape", type=float, default=1.0, help="scrape interval (s)")
    parser.add_argument("--project-dir", help="use the real engine on this project")
    parser.add_argument("--stack", default="dev")
    args = parser.parse_args(argv)
    results = []
    for index in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="kgot-rollout-bench-") as tmp:
            result = one_run(args, Path(tmp))
        results.append(result)
        print(
            f"run {index + 1}: detection {result['from_failure']:.2f}s after the failure, "
            f"{result['from_first_breaching_sample']:.2f}s after the first breaching sample; "
            f"rollback {result['rollback_time']:.3f}s"
        )
    engine = "real engine" if args.project_dir else "fake engine"
    print(
        f"\nwindow {args.window}s, evaluation interval {args.interval:g}s, scrape "
        f"{args.scrape:g}s, {engine}, {args.runs} runs (median, max):"
    )
    for key, label in (
        ("from_failure", "detection delay from the failure"),
        ("from_first_breaching_sample", "detection delay from the first breaching sample"),
        ("rollback_time", "rollback time (decision -> routing restored)"),
    ):
        values = [r[key] for r in results]
        print(f"  {label:<50} {statistics.median(values):7.2f}s {max(values):7.2f}s")
    print(f"  {'bound: window + one evaluation interval':<50} {args.window + args.interval:7.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
