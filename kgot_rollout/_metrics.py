"""Deployment metrics, rebuilt from the rollout history on every run.

Counters computed from history stay right across processes, so the textfile
(always written) and the Pushgateway (when configured) agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, push_to_gateway
from prometheus_client import write_to_textfile as _write_textfile

from kgot_rollout._journal import Rollout
from kgot_rollout._types import Event, RolloutKind

DURATION_BUCKETS = (30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)


@dataclass(frozen=True)
class ReleaseCount:
    """A release as the deployment metrics count it: once, with its status."""

    status: str
    seconds: float
    # The shifts it ran, which are then not counted on their own.
    rollouts: tuple[str, ...] = ()


def build_registry(
    environment: str,
    rollouts: list[Rollout],
    last_samples: Sequence[Mapping[str, object]] = (),
    releases: Sequence[ReleaseCount] = (),
) -> CollectorRegistry:
    registry = CollectorRegistry()
    deployments = Counter(
        "kgot_deployments",
        "Rollouts by final status",
        ["environment", "status"],
        registry=registry,
    )
    duration = Histogram(
        "kgot_deployment_duration_seconds",
        "Time from the start of a rollout to its end",
        buckets=DURATION_BUCKETS,
        registry=registry,
    )
    rollbacks = Counter(
        "kgot_rollbacks",
        "Rollbacks by trigger and whether routing was restored",
        ["environment", "trigger", "success"],
        registry=registry,
    )
    violations = Counter(
        "kgot_sla_violations",
        "Trigger breaches and missing-data holds found by the gate",
        ["environment", "metric", "severity"],
        registry=registry,
    )
    # The analysis itself: the last value the gate saw for each trigger, and its limit.
    analysis = Gauge(
        "kgot_rollout_analysis_value",
        "Last value of each trigger in the latest rollout's gate",
        ["environment", "trigger", "colour"],
        registry=registry,
    )
    limits = Gauge(
        "kgot_rollout_analysis_threshold",
        "Threshold of each trigger in the latest rollout's gate",
        ["environment", "trigger"],
        registry=registry,
    )
    for sample in last_samples:
        colour = str(sample.get("colour", ""))
        for key, gauge_values in (("values", True), ("thresholds", False)):
            values = sample.get(key)
            if not isinstance(values, dict):
                continue
            for trigger, value in values.items():
                if not isinstance(value, int | float):
                    continue
                if gauge_values:
                    analysis.labels(environment, str(trigger), colour).set(value)
                else:
                    limits.labels(environment, str(trigger)).set(value)
    in_releases = {rollout_id for release in releases for rollout_id in release.rollouts}
    for rollout in rollouts:
        for event in rollout.events:
            name = event.get("event")
            if name == Event.BREACH:
                metric = str(event.get("metric") or event.get("trigger") or "unknown")
                violations.labels(environment, metric, "critical").inc()
            elif name == Event.MISSING_DATA:
                violations.labels(environment, "missing_data", "warning").inc()
            elif name == Event.METRICS_ERROR:
                violations.labels(environment, "metrics_error", "warning").inc()
            elif name == Event.ROLLED_BACK:
                success = "true" if event.get("success", True) else "false"
                rollbacks.labels(environment, str(event.get("trigger", "manual")), success).inc()
        finished = rollout.finished
        gated = rollout.kind in (RolloutKind.SHIFT, RolloutKind.PROMOTE)
        # A shift a release ran is counted once, as that release.
        if gated and finished is not None and rollout.id not in in_releases:
            deployments.labels(environment, rollout.status).inc()
            duration.observe(max(0.0, finished - rollout.started))
    for release in releases:
        deployments.labels(environment, release.status).inc()
        duration.observe(max(0.0, release.seconds))
    return registry


def write_textfile(path: Path, registry: CollectorRegistry) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_textfile(str(path), registry)


def push(gateway: str, stack: str, registry: CollectorRegistry) -> None:
    push_to_gateway(gateway, job="kgot-rollout", registry=registry, grouping_key={"stack": stack})
