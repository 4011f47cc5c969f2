"""Flip and rollback at the speed of the API: what a colour flip and a rollback
cost next to a no-op `up`, on the dev stack and on a stack of 100 services.

Runs against a running local cluster (simulated nodes are enough; the
provider's await, not the pods, dominates these timings):

  source toolchain/env.sh
  KGOT_NODE=none toolchain/cluster.sh up
  .venv/bin/python benchmarks/flip_bench.py [--services 5,100]

For each size it deploys a copy of the dev stack's config (its own stack and
namespace, `flipbench<N>`; N > 5 adds copies of mcp-tools), then measures, in
one run on one machine so the figures compare:
- no-op `up`;
- a colour flip as a plain `pulumi up` (blue -> green), the engine writing a
  state checkpoint after every step as it does by default;
- the same flip as kgot-rollout runs it (an update whose preview showed only
  in-place routing changes: per-step checkpoints skipped, _automation.SKIP_CHECKPOINTS);
- rollback (green -> blue), fast path: decision to routing restored in the API
  server (config written, server-side apply; the routing objects read from the
  state before the decision, as a shift does after each step), then the
  targeted `up` that reconciles the state;
- rollback, targeted `up` only (the slow path): decision to the `up`'s end,
  which is when routing is restored in the API server at the latest.
The stacks and their files are removed afterwards.
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kgot_rollout._automation import SKIP_CHECKPOINTS, AutomationEngine  # noqa: E402
from kgot_rollout._cluster import RoutingObject, carries_live_traffic, routed_to  # noqa: E402
from kgot_rollout._types import TrafficState  # noqa: E402

PROJECT = "kgot-platform"
# The service each extra service of a larger stack copies.
TEMPLATE_SERVICE = "mcp_tools"


@dataclass(frozen=True)
class Figures:
    services: int
    noop: float
    cli_flip: float
    flip: float
    fast_restore: float
    fast_objects: int
    fast_reconcile: float
    slow_rollback: float


def stack_file(services: int) -> tuple[str, dict[str, object]]:
    """A copy of Pulumi.dev.yaml with its own namespace and ``services`` services."""
    stack = f"flipbench{services}"
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    config = document["config"]
    config[f"{PROJECT}:namespace"] = f"kgot-{stack}"
    config[f"{PROJECT}:activeColor"] = "blue"
    config[f"{PROJECT}:standbyWeight"] = 0
    # One gateway Traefik a cluster (its namespace and classes are cluster
    # objects): the benchmark's stacks measure the API, not the proxy.
    config[f"{PROJECT}:gateway"] = {"deploy": False}
    catalogue = config[f"{PROJECT}:services"]
    template = catalogue[TEMPLATE_SERVICE]
    for index in range(services - len(catalogue)):
        catalogue[f"bench_{index:03d}"] = copy.deepcopy(template)
    return stack, document


def timed(action: str, run: Callable[[], None]) -> float:
    started = time.monotonic()
    run()
    elapsed = time.monotonic() - started
    print(f"  {action}: {elapsed:.2f}s", flush=True)
    return elapsed


def fast_rollback(engine: AutomationEngine, after: TrafficState) -> tuple[float, int, float]:
    """Decision -> routing applied through the API, then the reconciling `up`."""
    # Read after the last update, before the decision (Rollback.prepare).
    objects = engine.routing_objects()
    started = time.monotonic()
    changed = []
    for obj in objects:
        manifest = routed_to(obj.manifest, after)
        # As FastPath.plan with objects read after an update: what moves.
        if manifest is not None and manifest != obj.manifest:
            changed.append(RoutingObject(obj.urn, obj.field_manager, manifest))
    engine.set_config(after.as_config())
    # As FastPath.restore: what carries users' traffic first.
    live = [o for o in changed if carries_live_traffic(o.manifest, after)]
    engine.apply_routing(live)
    restored = time.monotonic() - started
    engine.apply_routing([o for o in changed if not carries_live_traffic(o.manifest, after)])
    print(
        f"  fast path: {len(live)} objects carrying traffic restored in {restored:.2f}s, "
        f"all {len(changed)} in {time.monotonic() - started:.2f}s",
        flush=True,
    )
    reconcile = timed(
        "reconciling targeted up",
        lambda: engine.up(
            message="flip_bench: reconcile", target=[o.urn for o in objects], in_place=True
        ),
    )
    return restored, len(live), reconcile


def measure(services: int, pack_config: Path) -> Figures:
    stack, document = stack_file(services)
    path = ROOT / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    subprocess.run(
        ["pulumi", "stack", "select", stack, "--create", "--non-interactive"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    engine = AutomationEngine(stack, ROOT, policy_pack_configs=[pack_config])
    print(f"{stack}: {services} services", flush=True)
    try:
        timed("deploy", lambda: engine.up(message="flip_bench: deploy"))
        noop = timed("no-op up", lambda: engine.up(message="flip_bench: no-op"))
        green, blue = TrafficState("green", 0), TrafficState("blue", 0)
        engine.set_config(green.as_config())
        cli_flip = timed("flip, plain up", lambda: engine.up(message="flip_bench: flip"))
        engine.set_config(blue.as_config())
        timed("flip back, in place", lambda: engine.up(message="flip_bench: back", in_place=True))
        engine.set_config(green.as_config())
        flip = timed(
            "flip, in-place up (kgot-rollout)",
            lambda: engine.up(message="flip_bench: flip", in_place=True),
        )
        restore, count, reconcile = fast_rollback(engine, blue)
        engine.set_config(green.as_config())
        timed(
            "flip again, in-place up",
            lambda: engine.up(message="flip_bench: flip", in_place=True),
        )
        urns = engine.routing_urns()
        started = time.monotonic()
        engine.set_config(blue.as_config())
        engine.up(message="flip_bench: slow rollback", target=urns, in_place=True)
        slow = time.monotonic() - started
        print(f"  slow path (config + targeted up): {slow:.2f}s", flush=True)
        return Figures(services, noop, cli_flip, flip, restore, count, reconcile, slow)
    finally:
        # A throwaway stack: no checkpoint per deleted resource (minutes on 100 services).
        subprocess.run(
            ["pulumi", "destroy", "--stack", stack, "--yes", "--non-interactive", "--skip-preview"],
            cwd=ROOT,
            env={**os.environ, **SKIP_CHECKPOINTS},
            check=False,
            capture_output=True,
        )
        subprocess.run(
            ["pulumi", "stack", "rm", stack, "--force", "--yes", "--non-interactive"],
            cwd=ROOT,
            check=False,
            capture_output=True,
        )
        path.unlink(missing_ok=True)


def table(figures: list[Figures]) -> str:
    rows = [
        (
            "services",
            "no-op up",
            "flip: plain up",
            "/no-op",
            "flip: in place",
            "/no-op",
            "fast: restored",
            "fast: reconcile",
            "/no-op",
            "slow: targeted up",
            "/no-op",
            "in-place flip per svc",
        )
    ]
    for f in figures:
        rows.append(
            (
                str(f.services),
                f"{f.noop:.2f}s",
                f"{f.cli_flip:.2f}s",
                f"{f.cli_flip / f.noop:.2f}x",
                f"{f.flip:.2f}s",
                f"{f.flip / f.noop:.2f}x",
                f"{f.fast_restore:.2f}s ({f.fast_objects} obj)",
                f"{f.fast_reconcile:.2f}s",
                f"{f.fast_reconcile / f.noop:.2f}x",
                f"{f.slow_rollback:.2f}s",
                f"{f.slow_rollback / f.noop:.2f}x",
                f"{(f.flip - f.noop) / f.services * 1000:.0f} ms",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--services", default="5,100", help="stack sizes, e.g. 5,100")
    args = parser.parse_args()
    if "KUBECONFIG" not in os.environ:
        print("flip_bench: KUBECONFIG is not set; source toolchain/env.sh first", file=sys.stderr)
        return 2
    sizes = [int(part) for part in args.services.split(",")]
    if any(size < 5 for size in sizes):
        print(f"flip_bench: --services {args.services}: allowed: sizes >= 5", file=sys.stderr)
        return 2
    pack_config = ROOT / ".state" / "flip_bench_pack.json"
    pack_config.parent.mkdir(exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "kgot_policies.stack_config", "dev", "-o", str(pack_config)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "policies")},
        check=True,
    )
    figures = [measure(size, pack_config) for size in sizes]
    print()
    print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
