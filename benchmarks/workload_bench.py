"""Real workloads on the local cluster's real node: what a flip costs the
clients, how fast a rollback restores the data plane, how fast pods start.

Runs against the dev stack that `make run` deployed (the local cluster up,
`KUBECONFIG` from toolchain/env.sh), and leaves it as it found it:

  source toolchain/env.sh
  .venv/bin/python benchmarks/workload_bench.py [--flips 3] [--rate 20]

Prints, in one run on one machine (so the figures compare):
- pod start: scheduled to Ready, for every pod of the stack (from the API's
  condition times, 1 s resolution);
- flips under load: requests sent to Service `controller` during each
  `pulumi up` of a colour flip, how many failed, and how long the `up` took;
- rollback at the data plane: `kgot-rollout rollback` from its start to the
  last response from the colour it rolls back from.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from kgot_contract import COLOR_LABEL

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from traffic import LoadRun, service_targets, summary  # noqa: E402

STACK = "dev"


def sh(*args: str) -> str:
    return subprocess.run(args, cwd=ROOT, check=True, capture_output=True, text=True).stdout


def kubectl_json(namespace: str, *args: str) -> Any:
    return json.loads(sh("kubectl", "-n", namespace, *args, "-o", "json"))


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def pod_start_seconds(namespace: str) -> list[float]:
    seconds = []
    for pod in kubectl_json(namespace, "get", "pods")["items"]:
        conditions = {c["type"]: c for c in pod["status"].get("conditions", [])}
        if conditions.get("Ready", {}).get("status") == "True":
            ready = parse_time(conditions["Ready"]["lastTransitionTime"])
            scheduled = parse_time(conditions["PodScheduled"]["lastTransitionTime"])
            seconds.append(ready - scheduled)
    return seconds


def load_on(namespace: str, rate: float, seconds: float) -> LoadRun:
    targets, networks = service_targets(namespace, ("controller",))
    return LoadRun(
        targets=targets,
        networks=networks,
        rate=rate,
        max_requests=int(rate * seconds) + 1,
        max_seconds=seconds,
    )


def colour(namespace: str) -> str:
    service = kubectl_json(namespace, "get", "service", "controller")
    return str(service["spec"]["selector"][COLOR_LABEL])


def flip(namespace: str, rate: float) -> tuple[float, int, int]:
    to = "green" if colour(namespace) == "blue" else "blue"
    with load_on(namespace, rate, 300) as load:
        time.sleep(2)
        start = time.monotonic()
        sh("pulumi", "config", "set", "activeColor", to, "--stack", STACK)
        sh("pulumi", "up", "--yes", "--stack", STACK, "--non-interactive")
        took = time.monotonic() - start
        time.sleep(3)
        answers = load.stop()
    print(f"  flip to {to}: {summary(answers)}")
    return took, len(answers), sum(not a.ok for a in answers)


def rollback(namespace: str, rate: float) -> float:
    """Flip (as a shift that completed would), then roll back; the restore time
    is from the rollback's start to the last answer of the colour it leaves."""
    before = colour(namespace)
    flip(namespace, rate)
    failed_colour = colour(namespace)
    with load_on(namespace, rate, 300) as load:
        time.sleep(2)
        start = time.time()
        sh(
            str(ROOT / ".venv/bin/kgot-rollout"),
            "rollback",
            "--stack",
            STACK,
            "--to",
            before,
            "--reason",
            "benchmark",
            "--quiet",
        )
        time.sleep(3)
        answers = load.stop()
    last = max((a.started for a in answers if a.colour == failed_colour), default=start)
    print(f"  rollback to {before}: {summary(answers)}")
    return last - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flips", type=int, default=3)
    parser.add_argument("--rate", type=float, default=20.0, help="requests a second")
    args = parser.parse_args(argv)
    if "KUBECONFIG" not in os.environ:
        parser.error("KUBECONFIG is not set: source toolchain/env.sh first (after make run)")
    namespace = sh("pulumi", "stack", "output", "namespace", "--stack", STACK).strip()
    start_colour = colour(namespace)

    starts = pod_start_seconds(namespace)
    print(f"pods: {len(starts)} Ready")
    flips = [flip(namespace, args.rate) for _ in range(args.flips)]
    restore = rollback(namespace, args.rate)
    if colour(namespace) != start_colour:
        flip(namespace, args.rate)

    sent = sum(n for _, n, _ in flips)
    failed = sum(f for _, _, f in flips)
    ups = [t for t, _, _ in flips]
    print()
    print("| measure | value |")
    print("| --- | --- |")
    print(
        f"| pod scheduled to Ready (median / max, {len(starts)} pods) | "
        f"{statistics.median(starts):.0f} s / {max(starts):.0f} s |"
    )
    print(
        f"| requests failed during {len(flips)} flips (`pulumi up` under load) | "
        f"{failed} of {sent} |"
    )
    print(f"| flip `pulumi up` (median) | {statistics.median(ups):.1f} s |")
    print(f"| rollback start to last response of the failed colour | {restore:.1f} s |")
    print(f"| restore / flip up | {restore / statistics.median(ups):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
