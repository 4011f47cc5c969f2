"""The command line's grammar: subcommands, their options and the exit codes they document."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from components.settings import BUILTIN_TRIGGERS
from kgot_rollout import __version__

EXIT_CODES = """\
exit codes:
  0  done (shifted, promoted, healthy, released, or nothing to do)
  1  error (the engine or a tool failed, or a release's standby failed its
     deploy or health check; see logs/deployment/rollout.log)
  2  refused (bad input, unknown stack, an unsafe preview, the stack lock is
     held, Prometheus not answering before the first step, or a release's
     pre-flight gate): nothing was changed
  3  rolled back (a trigger was breached, or, with onMissingData=rollback, the
     gate stayed inconclusive or Prometheus failing past its limit): routing
     is back on the previous colour
  4  held (the gate inconclusive or Prometheus failing past its limit:
     rollback.missingDataTimeoutSeconds / rollback.metricsErrorTimeoutSeconds
     or their options; freeze mode on a breach; or interrupted): traffic was
     left where it is, never promoted
"""


def _seconds(text: str) -> float:
    """A duration: finite and positive (nan and inf would never elapse)."""
    allowed = "allowed: a finite number of seconds > 0"
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds; {allowed}") from exc
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: {allowed}")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-s",
        "--stack",
        default=os.environ.get("PULUMI_STACK", "dev"),
        help="stack to drive (default: $PULUMI_STACK or dev)",
    )
    common.add_argument(
        "--project-dir",
        type=Path,
        default=Path(os.environ.get("KGOT_PROJECT_DIR", ".")),
        help="the kgot-platform Pulumi project (default: current directory)",
    )
    common.add_argument(
        "--log-dir",
        type=Path,
        default=None,
        help="where logs, history and metrics go (default: <project>/logs/deployment)",
    )
    common.add_argument(
        "--prometheus",
        default=os.environ.get("KGOT_PROMETHEUS_URL", "http://127.0.0.1:9090"),
        help="Prometheus base URL (default: $KGOT_PROMETHEUS_URL or http://127.0.0.1:9090)",
    )
    common.add_argument(
        "--pushgateway",
        default=os.environ.get("KGOT_PUSHGATEWAY_URL"),
        help="push deployment metrics here too (default: $KGOT_PUSHGATEWAY_URL, off)",
    )
    common.add_argument(
        "--policy-pack-config",
        type=Path,
        help="config of the policy pack for every preview and update (default: made from "
        "the stack file by python -m kgot_policies.stack_config)",
    )
    common.add_argument("--queries", type=Path, help="JSON file replacing trigger PromQL")
    common.add_argument("--rate-window", help="PromQL rate window (default 1m)")
    common.add_argument(
        "--interval",
        type=_seconds,
        default=15.0,
        help="seconds between trigger evaluations (default 15)",
    )
    common.add_argument(
        "--missing-data-timeout",
        type=_seconds,
        help="seconds the gate may stay inconclusive (a trigger without data) before "
        "onMissingData applies (default: rollback.missingDataTimeoutSeconds, 120)",
    )
    common.add_argument(
        "--metrics-error-timeout",
        type=_seconds,
        help="seconds Prometheus may stay unreachable or answer errors during a hold "
        "before onMissingData applies (default: rollback.metricsErrorTimeoutSeconds, 60)",
    )
    common.add_argument(
        "--query-timeout",
        type=_seconds,
        default=5.0,
        help="total seconds one Prometheus query may take, answer included (default 5)",
    )
    common.add_argument(
        "--health-window",
        type=_seconds,
        default=30.0,
        help="seconds the health trigger (targets down) may fail before a breach (default 30)",
    )
    common.add_argument(
        "--skip-trigger",
        action="append",
        default=[],
        choices=BUILTIN_TRIGGERS,
        help="leave out a built-in trigger (repeatable), e.g. latency with no baseline traffic",
    )
    common.add_argument(
        "--scale-failed",
        action="store_true",
        help="after a rollback, scale the failed colour to standbyReplicas "
        "(default: leave it running for inspection)",
    )
    common.add_argument("-q", "--quiet", action="store_true", help="no progress view")

    parser = argparse.ArgumentParser(
        prog="kgot-rollout",
        description="Gradual blue/green traffic shifts with metric gates and automatic "
        "rollback, on the Pulumi Automation API.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            parents=[common],
            help=help_text,
            description=help_text,
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    status = command("status", "active/standby colour, versions, weights and the last rollout")
    status.add_argument("--json", action="store_true", help="print JSON")

    shift = command("shift", "shift traffic to a colour in steps, holding at each on the gate")
    shift.add_argument("--to", required=True, help="colour to shift to: blue or green")
    shift.add_argument(
        "--steps", default="10,25,50,100", help="weights for --to in %% (default 10,25,50,100)"
    )
    _hold_options(shift)

    promote = command("promote", "finish a shift in progress: all traffic to the standby")
    _hold_options(promote)

    rollback = command("rollback", "flip routing back now (routing resources only)")
    rollback.add_argument("--to", help="colour to roll back to (default: the previous one)")
    rollback.add_argument("--reason", default="manual rollback", help="recorded in history")
    rollback.add_argument(
        "--fast",
        action="store_true",
        help="restore routing through the Kubernetes API first (server-side apply as the "
        "provider's field manager), then reconcile the stack with the targeted update; "
        "a breach always does",
    )
    rollback.add_argument(
        "--allow-unavailable",
        action="store_true",
        help="roll back even to a colour whose Deployments are not Available "
        "(default: refused, naming them)",
    )

    watch = command("watch", "monitor the active colour after a release; roll back on breach")
    watch.add_argument(
        "--window",
        type=_seconds,
        help="seconds to watch (default: rollback.monitoringWindowSeconds)",
    )
    watch.add_argument("--freeze", action="store_true", help="on a breach alert, do not roll back")

    history = command("history", "past rollouts and rollbacks of the stack")
    history.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    history.add_argument("--json", action="store_true", help="print JSON events")

    command(
        "sync-config",
        "write the traffic config its last update applied (colours, weight, versions) into "
        "the stack config; a stack with no update keeps the committed one",
    )

    release = command(
        "release",
        "the whole release: pre-flight gates, deploy to the standby, validate, gated "
        "shift, watch; one record (logs/deployment/release-<id>.json)",
    )
    release.add_argument(
        "--version",
        help="version (image tag) to release on the standby colour; none: the platform's "
        "own changes (deploy, validate both colours, watch)",
    )
    release.add_argument(
        "--steps", default="10,25,50,100", help="weights of the shift in %% (default 10,25,50,100)"
    )
    release.add_argument(
        "--hold", type=_seconds, default=60.0, help="seconds to hold at each step (default 60)"
    )
    release.add_argument(
        "--window",
        type=_seconds,
        help="seconds to watch the new active colour (default: rollback.monitoringWindowSeconds)",
    )
    release.add_argument(
        "--trivy-report",
        action="append",
        default=[],
        type=Path,
        help="Trivy JSON report (file or folder; repeatable): the pack's vulnerability gate "
        "with the stack's thresholds",
    )
    release.add_argument(
        "--force",
        action="store_true",
        help="release a version that already serves, or with a shift in progress, and let "
        "the preview and the shift change more than the standby and routing",
    )
    release.add_argument(
        "--prometheus-port-forward",
        action="store_true",
        help="reach the stack's Prometheus through `kubectl port-forward service/prometheus` "
        "for the release (a runner outside the cluster); overrides --prometheus",
    )

    report = command("report", "a PNG of a rollout: weights, error rate, latency, trigger")
    report.add_argument("--rollout", help="rollout id (default: the last one)")
    report.add_argument("-o", "--output", type=Path, help="PNG path (default: <log-dir>/<id>.png)")
    return parser


def _hold_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hold", type=_seconds, default=60.0, help="seconds to hold at each step (default 60)"
    )
    parser.add_argument(
        "--allow-non-routing",
        action="store_true",
        help="apply a step even if its preview changes more than routing resources",
    )
    parser.add_argument(
        "--freeze", action="store_true", help="on a breach stop and alert, never roll back"
    )
