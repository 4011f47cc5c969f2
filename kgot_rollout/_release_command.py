"""``kgot-rollout release``: wires the release from the command line's options.

The shift and watch inside a release neither notify nor count on their own:
the release ends with one record, one picture, one notification (Slack; a
PagerDuty incident when a production release fails) and one count in the
deployment metrics.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from components.settings import PlatformSettings
from kgot_rollout._clock import Clock
from kgot_rollout._console import Console
from kgot_rollout._engine import Engine
from kgot_rollout._exceptions import RefusedError
from kgot_rollout._journal import Journal
from kgot_rollout._metrics import ReleaseCount
from kgot_rollout._notify import Notification
from kgot_rollout._preflight import write_pack_config
from kgot_rollout._prometheus import MetricsSource
from kgot_rollout._registry import CosignRegistry, ImageRegistry
from kgot_rollout._release import Release
from kgot_rollout._release_parts import ReleaseOptions, ReleaseParts
from kgot_rollout._release_phases import HealthCheck, run_health_check
from kgot_rollout._release_record import (
    ReleasePhase,
    ReleaseRecord,
    ReleaseStatus,
    releases,
    side_file,
)
from kgot_rollout._rollout import Rollouts, parse_steps
from kgot_rollout._types import Outcome

_NOTIFICATION = {
    ReleaseStatus.RELEASED: Notification.FINISHED,
    ReleaseStatus.UNCHANGED: Notification.FINISHED,
    ReleaseStatus.ROLLED_BACK: Notification.ROLLBACK,
    ReleaseStatus.HELD: Notification.HELD,
    ReleaseStatus.INTERRUPTED: Notification.HELD,
    ReleaseStatus.REFUSED: Notification.FAILED,
    ReleaseStatus.FAILED: Notification.FAILED,
}
_SUCCEEDED = (ReleaseStatus.RELEASED, ReleaseStatus.UNCHANGED)


def release_counts(log_dir: Path, stack: str) -> list[ReleaseCount]:
    """Every release that got past running, for the deployment metrics."""
    return [
        ReleaseCount(record.status, record.duration or 0.0, tuple(record.rollouts.values()))
        for record in releases(log_dir, stack)
        if record.status != ReleaseStatus.RUNNING and record.finished is not None
    ]


def options_from(args: argparse.Namespace) -> ReleaseOptions:
    steps = parse_steps(args.steps)
    if steps[-1] != 100:
        raise RefusedError(
            f"--steps {args.steps!r}: a release ends with all traffic on the new version; "
            "allowed: steps ending at 100, e.g. 10,25,50,100"
        )
    return ReleaseOptions(
        version=args.version or None,
        steps=tuple(steps),
        force=args.force,
        trivy_reports=tuple(args.trivy_report),
        policy_pack_config=args.policy_pack_config,
        watch_window=args.window,
    )


def release_from_cli(
    args: argparse.Namespace,
    deps: Any,
    journal: Journal,
    console: Console,
    rollouts_for: Callable[[Engine], Rollouts],
    default_engine: Callable[[Path | None], Engine],
    metrics: Callable[[argparse.Namespace], MetricsSource],
) -> Outcome:
    """From cli.run: ``deps`` is its Dependencies (a test's engine, metrics, registry, checks)."""

    def engine_for(pack_config: Path | None) -> Engine:
        return deps.engine(args) if deps.engine is not None else default_engine(pack_config)

    return release_command(
        args,
        journal,
        console,
        deps.clock,
        engine_for=engine_for,
        rollouts_for=rollouts_for,
        metrics=lambda: metrics(args),
        registry=deps.registry,
        health_check=deps.health_check,
    )


def release_command(
    args: argparse.Namespace,
    journal: Journal,
    console: Console,
    clock: Clock,
    *,
    engine_for: Callable[[Path | None], Engine],
    rollouts_for: Callable[[Engine], Rollouts],
    metrics: Callable[[], MetricsSource],
    registry: ImageRegistry | None = None,
    health_check: HealthCheck | None = None,
) -> Outcome:
    options = options_from(args)
    project_dir: Path = args.project_dir.resolve()
    # As force_deploy always did: a forced release's shift may change more than routing.
    args.allow_non_routing = args.force

    def quiet(engine: Engine) -> Rollouts:
        return dataclasses.replace(rollouts_for(engine), notifier_factory=None, after_rollout=None)

    def pack_config(
        settings: PlatformSettings, digests: Path | None, reports: tuple[Path, ...], output: Path
    ) -> Path:
        return write_pack_config(
            settings, project_dir, output, verified_digests=digests, trivy_reports=reports
        )

    @contextmanager
    def open_prometheus(settings: PlatformSettings) -> Iterator[None]:
        if not args.prometheus_port_forward:
            yield
            return
        from kgot_rollout._port_forward import prometheus_forward

        with prometheus_forward(settings.namespace) as url:
            # The gate's metrics source reads args.prometheus when it is made.
            args.prometheus = url
            journal.log(f"release: Prometheus of {settings.namespace} at {url}")
            yield

    def on_end(settings: PlatformSettings | None, record: ReleaseRecord) -> None:
        _picture(record, journal, metrics, console)
        if settings is None:
            return
        full = rollouts_for(release.engine)
        status = ReleaseStatus(record.status)
        if full.notifier_factory is not None:
            page = settings.environment == "production" and status not in _SUCCEEDED
            full.notifier_factory(settings).notify(
                _NOTIFICATION[status],
                f"[{settings.stack}] {record.message}",
                dedup_key=f"kgot-rollout/{settings.stack}/release-{record.id}",
                details={"stack": settings.stack, "release": record.id, "status": status},
                page=page,
            )
        if full.after_rollout is not None:
            try:
                full.after_rollout(settings)
            except Exception as exc:  # metrics never change a release's outcome
                journal.log(f"writing deployment metrics failed: {exc}", level="WARNING")

    parts = ReleaseParts(
        engine_for=engine_for,
        rollouts_for=quiet,
        registry=registry or CosignRegistry(project_dir),
        health_check=health_check or run_health_check,
        write_pack_config=pack_config,
        on_end=on_end,
        open_prometheus=open_prometheus,
    )
    release = Release(parts, journal, console, clock, options)
    return release.run()


def _picture(
    record: ReleaseRecord,
    journal: Journal,
    metrics: Callable[[], MetricsSource],
    console: Console,
) -> None:
    """The rollout report of the release's shift, beside its record."""
    shift = record.rollouts.get(ReleasePhase.SHIFT)
    if not shift:
        return
    from kgot_rollout._report import write_report

    output = side_file(journal.log_dir, record.id, "png")
    try:
        source: MetricsSource | None = metrics()
    except RefusedError:
        source = None
    try:
        record.files["report"] = str(
            write_report(journal, shift, output, metrics=source, warn=console.line)
        )
    except Exception as exc:  # the picture never changes a release's outcome
        journal.log(f"release report picture failed: {exc}", level="WARNING", release=record.id)
