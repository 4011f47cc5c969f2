"""``report``: a PNG of one rollout.

Top: the target colour's share of traffic over time, and below it the gate's
outcome at each evaluation (pass, breach, inconclusive, or error when
Prometheus could not be asked). Then error rate and p95 latency of both
colours (queried from Prometheus with the queries the rollout recorded, or,
when Prometheus no longer has them, the gate's own samples of the target
colour), then the other triggers the gate evaluated, each with its threshold.
A red line marks the moment a trigger fired.

``report_data`` gathers what the picture is made of; ``_report_picture`` only draws it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from components.settings import BuiltinTrigger
from kgot_rollout._exceptions import RefusedError, RolloutError
from kgot_rollout._journal import Journal, Rollout
from kgot_rollout._prometheus import MetricsSource
from kgot_rollout._triggers import Status, worst_of
from kgot_rollout._types import GATED_KINDS, Event, GateOutcome

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Points = list[tuple[float, float]]


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _values(sample: Mapping[str, object], key: str = "values") -> dict[str, float]:
    values = sample.get(key)
    if not isinstance(values, dict):
        return {}
    return {str(k): float(v) for k, v in values.items() if isinstance(v, int | float)}


def weight_timeline(rollout: Rollout) -> Points:
    """(time, share of the target colour) from the rollout's events."""
    points: Points = []
    source = rollout.value("source")
    for event in rollout.events:
        at = _float(event.get("time"))
        if at is None:
            continue
        name = event.get("event")
        if name in (Event.STARTED, Event.RESUMED):
            points.append((at, _float(event.get("from_weight")) or 0.0))
        elif name == Event.STEP_APPLIED:
            points.append((at, _float(event.get("weight")) or 0.0))
        elif name == Event.ROLLED_BACK and event.get("success") and event.get("to") == source:
            points.append((at, 0.0))
        elif name == Event.FINISHED:
            points.append((at, points[-1][1] if points else 0.0))
    return points


def _from_prometheus(
    rollout: Rollout, metrics: MetricsSource | None, start: float, end: float
) -> dict[str, dict[str, Points]]:
    """trigger -> colour -> points, for error rate and latency of both colours."""
    queries = rollout.value("queries")
    if metrics is None or not isinstance(queries, dict):
        return {}
    step = max(1.0, (end - start) / 300)
    found: dict[str, dict[str, Points]] = {}
    try:
        for colour, by_trigger in queries.items():
            if not isinstance(by_trigger, dict):
                continue
            for trigger, query in by_trigger.items():
                series = metrics.query_range(str(query), start, end, step)
                points = worst_of(series, ">")
                if points:
                    found.setdefault(str(trigger), {})[str(colour)] = points
    except RolloutError:
        return {}
    return found


@dataclass
class ReportData:
    """Everything the picture shows, in seconds since the rollout started."""

    rollout: Rollout
    target: str
    start: float
    # (time, target's share of traffic in %)
    timeline: Points
    # (time, outcome) of each gate evaluation
    outcomes: list[tuple[float, GateOutcome]]
    # when the gate passed with a trigger over its threshold for less than its window
    pending: list[float]
    # trigger -> colour -> (time, value)
    series: dict[str, dict[str, Points]]
    thresholds: dict[str, float]
    # (time, trigger) where a trigger fired
    fired: list[tuple[float, str]] = field(default_factory=list)
    unreadable_samples: int = 0
    # The colour that had the traffic before (a watch: none) and its p95 then.
    source: str | None = None
    baseline_p95: float | None = None

    @property
    def triggers(self) -> list[str]:
        """The trigger rows, error rate and latency first."""
        first = [BuiltinTrigger.ERROR_RATE.value, BuiltinTrigger.LATENCY.value]
        names = [n for n in first if n in self.series]
        return names + sorted(n for n in self.series if n not in first)


def choose_rollout(journal: Journal, rollout_id: str | None) -> Rollout:
    rollouts = [r for r in journal.rollouts() if r.kind in GATED_KINDS]
    chosen = [r for r in rollouts if rollout_id is None or r.id == rollout_id]
    if not chosen:
        raise RefusedError(
            f"--rollout {rollout_id or '(last)'}: no such rollout; allowed: "
            + (", ".join(r.id for r in rollouts) or "none recorded")
        )
    return chosen[-1]


def report_data(
    journal: Journal, rollout: Rollout, metrics: MetricsSource | None = None
) -> ReportData:
    samples, unreadable = journal.read_samples(rollout.id)
    start = rollout.started
    end = rollout.finished or (_float(samples[-1].get("time")) if samples else None) or start
    queried = _from_prometheus(rollout, metrics, start - 30, end + 30)
    series: dict[str, dict[str, Points]] = {name: dict(v) for name, v in queried.items()}
    thresholds: dict[str, float] = {}
    outcomes: list[tuple[float, GateOutcome]] = []
    pending: list[float] = []
    for sample in samples:
        at, colour = _float(sample.get("time")), str(sample.get("colour"))
        if at is None:
            continue
        for name, value in _values(sample).items():
            if colour not in queried.get(name, {}):
                series.setdefault(name, {}).setdefault(colour, []).append((at, value))
        thresholds.update(_values(sample, "thresholds"))
        outcome = sample.get("outcome")
        if isinstance(outcome, str) and outcome in set(GateOutcome):
            outcomes.append((at, GateOutcome(outcome)))
        verdicts = sample.get("verdicts")
        if (
            outcome == GateOutcome.PASS
            and isinstance(verdicts, dict)
            and Status.PENDING.value in verdicts.values()
        ):
            pending.append(at)
    for by_colour in series.values():
        for points in by_colour.values():
            points.sort()
    fired = [
        (_float(e.get("time")) or start, str(e.get("trigger")))
        for e in rollout.events
        if e.get("event") == Event.BREACH
    ]
    timeline = weight_timeline(rollout)
    last_seen = max([t for s in series.values() for p in s.values() for t, _ in p] or [end])
    if timeline:
        # Hold the last weight to the end of the picture, so a final drop shows.
        timeline.append((max(last_seen, timeline[-1][0]), timeline[-1][1]))
    return ReportData(
        rollout=rollout,
        target=str(rollout.value("target") or rollout.value("colour") or "green"),
        start=start,
        timeline=timeline,
        outcomes=outcomes,
        pending=pending,
        series=series,
        thresholds=thresholds,
        fired=fired,
        unreadable_samples=unreadable,
        source=str(rollout.value("source")) if rollout.value("source") else None,
        baseline_p95=_float(rollout.value("baseline_p95")),
    )


def draw(data: ReportData) -> Figure:
    """The picture of ``data`` (``_report_picture``)."""
    from kgot_rollout._report_picture import draw_report

    return draw_report(data)


def write_report(
    journal: Journal,
    rollout_id: str | None,
    output: Path | None,
    *,
    metrics: MetricsSource | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> Path:
    rollout = choose_rollout(journal, rollout_id)
    data = report_data(journal, rollout, metrics)
    if data.unreadable_samples:
        warn(
            f"report: {data.unreadable_samples} line(s) of "
            f"{journal.samples_path(rollout.id)} could not be read (truncated?); "
            "drawn from the others"
        )
    path = output or journal.log_dir / f"{rollout.id}.png"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RefusedError(
            f"-o {path}: its folder cannot be created ({exc.strerror}); "
            "allowed: a path in a writable folder"
        ) from exc
    fig = draw(data)
    from matplotlib import pyplot as plt

    try:
        fig.savefig(path, dpi=90, format="png")
    except OSError as exc:
        raise RefusedError(f"-o {path}: cannot be written ({exc.strerror})") from exc
    finally:
        plt.close(fig)
    return path
