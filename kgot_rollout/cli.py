"""Command line: ``kgot-rollout <status|shift|promote|rollback|watch|history|report>``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TextIO

from components.settings import BUILTIN_TRIGGERS, PlatformSettings
from kgot_rollout import __version__
from kgot_rollout._clock import Clock, SystemClock
from kgot_rollout._console import Console
from kgot_rollout._engine import Engine
from kgot_rollout._exceptions import RefusedError, RolloutError, StackLockedError
from kgot_rollout._gate import Gate
from kgot_rollout._hold import HoldPolicy
from kgot_rollout._journal import Journal, check_stack_name, exclusive
from kgot_rollout._metrics import build_registry, push, write_textfile
from kgot_rollout._notify import PAGERDUTY_EVENTS_URL, Notifier
from kgot_rollout._prometheus import MetricsSource, PrometheusClient, check_url
from kgot_rollout._queries import QuerySet
from kgot_rollout._rollout import Rollouts, parse_steps
from kgot_rollout._types import GATED_KINDS, ExitCode, Outcome, parse_colour

EXIT_CODES = """\
exit codes:
  0  done (shifted, promoted, healthy, or nothing to do)
  1  error (the engine or a tool failed; see logs/deployment/rollout.log)
  2  refused (bad input, unknown stack, an unsafe preview, the stack lock is
     held, or Prometheus not answering before the first step): nothing was
     changed
  3  rolled back (a trigger was breached, or, with onMissingData=rollback, the
     gate stayed inconclusive or Prometheus failing past its limit): routing
     is back on the previous colour
  4  held (the gate inconclusive or Prometheus failing past its limit:
     rollback.missingDataTimeoutSeconds / rollback.metricsErrorTimeoutSeconds
     or their options; freeze mode on a breach; or interrupted): traffic was
     left where it is, never promoted
"""


@dataclass
class Dependencies:
    """What the commands are built from; tests replace the engine, metrics and clock."""

    engine: Callable[[argparse.Namespace], Engine] | None = None
    metrics: Callable[[argparse.Namespace], MetricsSource] | None = None
    clock: Clock = field(default_factory=SystemClock)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)


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


def _default_engine(args: argparse.Namespace, deps: Dependencies) -> Engine:
    from pulumi.automation.events import EngineEvent

    from kgot_rollout._automation import AutomationEngine, describe_event

    journal = Journal(_log_dir(args), args.stack, deps.clock)

    def log_event(event: EngineEvent) -> None:
        line = describe_event(event)
        if line is not None:
            journal.log(f"engine: {line}")

    configs = None
    if args.policy_pack_config is not None:
        if not args.policy_pack_config.is_file():
            raise RefusedError(
                f"--policy-pack-config {args.policy_pack_config}: no such file; "
                "allowed: a JSON file (python -m kgot_policies.stack_config <stack> -o FILE)"
            )
        configs = [args.policy_pack_config]
    return AutomationEngine(
        args.stack, args.project_dir.resolve(), policy_pack_configs=configs, on_event=log_event
    )


def _log_dir(args: argparse.Namespace) -> Path:
    return Path(args.log_dir or args.project_dir / "logs" / "deployment")


def _metrics_factory(deps: Dependencies) -> Callable[[argparse.Namespace], MetricsSource]:
    if deps.metrics is not None:
        return deps.metrics

    def client(args: argparse.Namespace) -> MetricsSource:
        url = check_url(args.prometheus)
        return PrometheusClient(url, timeout=args.query_timeout, clock=deps.clock)

    return client


def _check_paths(args: argparse.Namespace) -> None:
    """The project and log folders, before anything is written: RefusedError if unusable."""
    project: Path = args.project_dir
    if not project.is_dir():
        what = "is not a folder" if project.exists() else "does not exist"
        raise RefusedError(
            f"--project-dir {project}: {what}; allowed: the kgot-platform project folder "
            "(where Pulumi.yaml is)"
        )
    log_dir = _log_dir(args)
    for folder in (log_dir, *log_dir.parents):
        if folder.exists():
            if not folder.is_dir():
                raise RefusedError(
                    f"--log-dir {log_dir}: {folder} is a file; allowed: a folder "
                    "(created when missing)"
                )
            break


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: returns the exit code (see ``--help``)."""
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return run(list(sys.argv[1:] if argv is None else argv), Dependencies())
    finally:
        signal.signal(signal.SIGTERM, previous)


def _open_journal(args: argparse.Namespace, deps: Dependencies) -> Journal:
    check_stack_name(args.stack)
    _check_paths(args)
    try:
        return Journal(_log_dir(args), args.stack, deps.clock)
    except OSError as exc:
        raise RefusedError(
            f"--log-dir {_log_dir(args)}: cannot be created ({exc.strerror}); "
            "allowed: a folder this user may write"
        ) from exc


def run(argv: list[str], deps: Dependencies) -> int:
    parser = build_parser()
    try:
        # Usage errors and --help go where the command's own output goes.
        with contextlib.redirect_stderr(deps.stderr), contextlib.redirect_stdout(deps.stdout):
            args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and int(ExitCode.REFUSED)
    console = Console(deps.stderr, quiet=args.quiet)
    try:
        journal = _open_journal(args, deps)
    except RefusedError as exc:
        # Nowhere to log yet: the terminal only.
        console.line(f"refused: {exc}")
        return int(ExitCode.REFUSED)
    rollouts: Rollouts | None = None
    try:
        if args.command in ("history", "report"):
            # From the records alone: no engine, no Pulumi CLI needed.
            return _records(args, journal, deps, console).code
        queries = _queries(args)
        engine = deps.engine(args) if deps.engine else _default_engine(args, deps)
        rollouts = _rollouts(args, deps, engine, journal, console, queries)
        return _dispatch(args, rollouts, journal, deps).code
    except StackLockedError as exc:
        return _fail(console, journal, ExitCode.REFUSED, str(exc))
    except RefusedError as exc:
        return _fail(console, journal, ExitCode.REFUSED, f"refused: {exc}")
    except RolloutError as exc:
        return _fail(console, journal, ExitCode.ERROR, f"error: {exc}")
    except Exception as exc:  # the last line of defence: an exit code, not a traceback
        return _fail(console, journal, ExitCode.ERROR, f"error: {type(exc).__name__}: {exc}")
    except KeyboardInterrupt:
        if rollouts is not None:
            rollouts.interrupted()
        return _fail(
            console,
            journal,
            ExitCode.HELD,
            "interrupted: traffic stays where the stack says (`kgot-rollout status`); "
            "run `shift` again to resume or `rollback` to restore",
        )


def _fail(console: Console, journal: Journal, code: ExitCode, message: str) -> int:
    console.line(message)
    journal.log(message, level="ERROR", exit_code=int(code))
    return int(code)


def _queries(args: argparse.Namespace) -> QuerySet:
    queries = QuerySet.from_file(args.queries) if args.queries else QuerySet()
    if args.rate_window:
        queries = dataclasses.replace(queries, rate_window=args.rate_window)
    return queries


def _rollouts(
    args: argparse.Namespace,
    deps: Dependencies,
    engine: Engine,
    journal: Journal,
    console: Console,
    queries: QuerySet,
) -> Rollouts:
    metrics_factory = _metrics_factory(deps)

    def gate_factory(settings: PlatformSettings) -> Gate:
        return Gate(
            metrics_factory(args),
            settings,
            queries,
            step=max(args.interval, 1.0),
            skip=tuple(args.skip_trigger),
            health_window=args.health_window,
        )

    def after_rollout(settings: PlatformSettings) -> None:
        analysed = journal.last_rollout(kinds=GATED_KINDS)
        samples = journal.samples(analysed.id) if analysed else []
        registry = build_registry(settings.environment, journal.rollouts(), samples)
        write_textfile(journal.log_dir / "kgot_rollout.prom", registry)
        if args.pushgateway:
            push(args.pushgateway, settings.stack, registry)

    def notifier_for(settings: PlatformSettings) -> Notifier:
        return Notifier(
            settings,
            source=f"kgot-rollout/{settings.stack}",
            pagerduty_url=os.environ.get("KGOT_PAGERDUTY_EVENTS_URL", PAGERDUTY_EVENTS_URL),
            warn=lambda message: journal.log(message, level="WARNING"),
        )

    return Rollouts(
        engine=engine,
        journal=journal,
        console=console,
        gate_factory=gate_factory,
        clock=deps.clock,
        policy=HoldPolicy(
            hold_seconds=getattr(args, "hold", 60.0),
            interval_seconds=args.interval,
            missing_data_seconds=args.missing_data_timeout,
            metrics_error_seconds=args.metrics_error_timeout,
        ),
        allow_non_routing=getattr(args, "allow_non_routing", False),
        freeze=getattr(args, "freeze", False),
        after_rollout=after_rollout,
        notifier_factory=notifier_for,
        scale_failed=args.scale_failed,
        fast_rollback=getattr(args, "fast", False),
    )


def _records(
    args: argparse.Namespace, journal: Journal, deps: Dependencies, console: Console
) -> Outcome:
    out = deps.stdout
    if args.command == "history":
        from kgot_rollout._status import render_history

        out.write(render_history(journal, limit=args.limit, as_json=args.json))
        return Outcome(ExitCode.DONE, "")
    from kgot_rollout._report import write_report

    metrics = _metrics_factory(deps)(args)
    path = write_report(journal, args.rollout, args.output, metrics=metrics, warn=console.line)
    out.write(f"{path}\n")
    return Outcome(ExitCode.DONE, str(path))


def _dispatch(
    args: argparse.Namespace, rollouts: Rollouts, journal: Journal, deps: Dependencies
) -> Outcome:
    out = deps.stdout
    if args.command == "status":
        from kgot_rollout._status import render_status

        text = render_status(rollouts, journal, as_json=args.json)
        out.write(text)
        return Outcome(ExitCode.DONE, "")
    if args.command == "shift":
        try:
            target = parse_colour(args.to, what="--to")
        except ValueError as exc:
            raise RefusedError(str(exc)) from exc
        steps = parse_steps(args.steps)
        with exclusive(journal.log_dir, args.stack, "shift"):
            outcome = rollouts.shift(target, steps)
    elif args.command == "promote":
        with exclusive(journal.log_dir, args.stack, "promote"):
            outcome = rollouts.promote()
    elif args.command == "rollback":
        try:
            to = parse_colour(args.to, what="--to") if args.to else None
        except ValueError as exc:
            raise RefusedError(str(exc)) from exc
        outcome = rollouts.rollback(reason=args.reason, to=to)
    else:
        with exclusive(journal.log_dir, args.stack, "watch"):
            outcome = rollouts.watch(args.window)
    out.write(outcome.message + "\n")
    return outcome


if __name__ == "__main__":
    sys.exit(main())
