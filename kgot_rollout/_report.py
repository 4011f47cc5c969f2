"""``report``: a PNG of one rollout.

Top: the target colour's share of traffic over time. Below: error rate and p95
latency of both colours (queried from Prometheus with the queries the rollout
recorded, or, when Prometheus no longer has them, the gate's own samples of
the target colour), then the other triggers the gate evaluated, each with its
threshold. A red line marks the moment a trigger fired.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from kgot_rollout._exceptions import RefusedError, RolloutError
from kgot_rollout._journal import Journal, Rollout
from kgot_rollout._prometheus import MetricsSource
from kgot_rollout._triggers import worst_of

_COLOURS = {"blue": "tab:blue", "green": "tab:green"}
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
        if name in ("started", "resumed"):
            points.append((at, _float(event.get("from_weight")) or 0.0))
        elif name == "step-applied":
            points.append((at, _float(event.get("weight")) or 0.0))
        elif name == "rolled-back" and event.get("success") and event.get("to") == source:
            points.append((at, 0.0))
        elif name == "finished":
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


def write_report(
    journal: Journal,
    rollout_id: str | None,
    output: Path | None,
    *,
    metrics: MetricsSource | None = None,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rollouts = [r for r in journal.rollouts() if r.kind in ("shift", "promote", "watch")]
    chosen = [r for r in rollouts if rollout_id is None or r.id == rollout_id]
    if not chosen:
        raise RefusedError(
            f"--rollout {rollout_id or '(last)'}: no such rollout; allowed: "
            + (", ".join(r.id for r in rollouts) or "none recorded")
        )
    rollout = chosen[-1]
    samples = journal.samples(rollout.id)
    start = rollout.started
    end = rollout.finished or (_float(samples[-1].get("time")) if samples else None) or start
    queried = _from_prometheus(rollout, metrics, start - 30, end + 30)
    per_colour: dict[str, dict[str, Points]] = {name: dict(v) for name, v in queried.items()}
    for sample in samples:
        at, colour = _float(sample.get("time")), str(sample.get("colour"))
        for name, value in _values(sample).items():
            if at is None or colour in queried.get(name, {}):
                continue
            per_colour.setdefault(name, {}).setdefault(colour, []).append((at, value))
    thresholds: dict[str, float] = {}
    for sample in samples:
        thresholds.update(_values(sample, "thresholds"))
    order = ["error_rate", "latency"]
    names = [n for n in order if n in per_colour]
    names += sorted(n for n in per_colour if n not in order)

    rows = 1 + len(names)
    fig, axes = plt.subplots(rows, 1, figsize=(10, 2.2 * rows), squeeze=False, sharex=True)
    column = [row[0] for row in axes]
    target = str(rollout.value("target") or rollout.value("colour") or "green")
    timeline = weight_timeline(rollout)
    last_seen = max(
        [t for series in per_colour.values() for p in series.values() for t, _ in p] or [end]
    )
    if timeline:
        # Hold the last weight to the end of the picture, so a final drop shows.
        timeline.append((max(last_seen, timeline[-1][0]), timeline[-1][1]))
        column[0].step(
            [t - start for t, _ in timeline],
            [w for _, w in timeline],
            where="post",
            color=_COLOURS.get(target, "black"),
        )
    column[0].set_ylabel(f"{target} %")
    column[0].set_ylim(-5, 105)
    column[0].set_title(f"{rollout.id} ({rollout.kind}): {rollout.status}")
    for axis, name in zip(column[1:], names, strict=True):
        for colour, points in sorted(per_colour[name].items()):
            points.sort()
            axis.plot(
                [t - start for t, _ in points],
                [v for _, v in points],
                color=_COLOURS.get(colour, "black"),
                label=colour,
            )
        if name in thresholds:
            axis.axhline(thresholds[name], color="tab:red", linestyle="--", label="threshold")
        axis.set_ylabel(name)
        axis.legend(loc="upper left", fontsize="small")
    for event in rollout.events:
        if event.get("event") == "breach":
            fired = (_float(event.get("time")) or start) - start
            for axis in column:
                axis.axvline(fired, color="tab:red", linewidth=2)
            column[0].annotate(
                f"trigger fired: {event.get('trigger')}", (fired, 80), color="tab:red"
            )
    column[-1].set_xlabel("seconds since the start")
    fig.tight_layout()
    path = output or journal.log_dir / f"{rollout.id}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
