"""Command line: ``kgot-rollout <status|shift|promote|rollback|watch|release|...>``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType
from typing import TextIO

from components.settings import PlatformSettings
from kgot_rollout._clock import Clock, SystemClock
from kgot_rollout._console import Console
from kgot_rollout._engine import Engine
from kgot_rollout._exceptions import RefusedError, RolloutError, StackLockedError
from kgot_rollout._gate import Gate
from kgot_rollout._hold import HoldPolicy
from kgot_rollout._journal import Journal, exclusive
from kgot_rollout._metrics import build_registry, push, write_textfile
from kgot_rollout._notify import PAGERDUTY_EVENTS_URL, Notifier
from kgot_rollout._parser import build_parser as build_parser
from kgot_rollout._paths import log_dir, open_journal
from kgot_rollout._preflight import sync_traffic_config
from kgot_rollout._prometheus import MetricsSource, PrometheusClient, check_url
from kgot_rollout._queries import QuerySet
from kgot_rollout._registry import ImageRegistry
from kgot_rollout._release_command import release_counts, release_from_cli
from kgot_rollout._release_phases import HealthCheck
from kgot_rollout._rollout import Rollouts, parse_steps
from kgot_rollout._route_status import RouteReader, read_routes
from kgot_rollout._types import GATED_KINDS, ExitCode, Outcome, parse_colour


@dataclass
class Dependencies:
    """What the commands are built from; tests replace the engine, metrics and clock."""

    engine: Callable[[argparse.Namespace], Engine] | None = None
    metrics: Callable[[argparse.Namespace], MetricsSource] | None = None
    # The live routes (rollback.dataPlane); default: kubectl.
    routes: RouteReader | None = None
    clock: Clock = field(default_factory=SystemClock)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    # A release's image registry and post-deploy health check (None: cosign/crane, kubectl).
    registry: ImageRegistry | None = None
    health_check: HealthCheck | None = None


def _default_engine(
    args: argparse.Namespace, deps: Dependencies, pack_config: Path | None = None
) -> Engine:
    from pulumi.automation.events import EngineEvent

    from kgot_rollout._automation import AutomationEngine
    from kgot_rollout._engine_events import describe_event

    journal = Journal(log_dir(args), args.stack, deps.clock)

    def log_event(event: EngineEvent) -> None:
        line = describe_event(event)
        if line is not None:
            journal.log(f"engine: {line}")

    configs = None
    if pack_config is not None:
        configs = [pack_config]
    elif args.policy_pack_config is not None:
        if not args.policy_pack_config.is_file():
            raise RefusedError(
                f"--policy-pack-config {args.policy_pack_config}: no such file; "
                "allowed: a JSON file (python -m kgot_policies.stack_config <stack> -o FILE)"
            )
        configs = [args.policy_pack_config]
    return AutomationEngine(
        args.stack, args.project_dir.resolve(), policy_pack_configs=configs, on_event=log_event
    )


def _metrics_factory(deps: Dependencies) -> Callable[[argparse.Namespace], MetricsSource]:
    if deps.metrics is not None:
        return deps.metrics

    def client(args: argparse.Namespace) -> MetricsSource:
        url = check_url(args.prometheus)
        return PrometheusClient(url, timeout=args.query_timeout, clock=deps.clock)

    return client


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: returns the exit code (see ``--help``)."""
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return run(list(sys.argv[1:] if argv is None else argv), Dependencies())
    finally:
        signal.signal(signal.SIGTERM, previous)


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
        journal = open_journal(args, deps.clock)
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
        if args.command == "release":
            parts = partial(
                _rollouts, args, deps, journal=journal, console=console, queries=queries
            )
            made, metrics = partial(_default_engine, args, deps), _metrics_factory(deps)
            outcome = release_from_cli(args, deps, journal, console, parts, made, metrics)
            deps.stdout.write(outcome.message + "\n")
            return outcome.code
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
        releases = release_counts(journal.log_dir, settings.stack)
        registry = build_registry(settings.environment, journal.rollouts(), samples, releases)
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
        read_routes=deps.routes or read_routes,
        allow_unavailable=getattr(args, "allow_unavailable", False),
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
    if args.command == "sync-config":
        # What a fresh checkout (CI) needs before a preview: the truth, not the committed file.
        out.write(sync_traffic_config(rollouts.engine) + "\n")
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
