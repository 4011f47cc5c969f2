"""``report``: a PNG of one rollout from its recorded gate samples.

Top: the target colour's weight over time. Below: each trigger's value (error
rate, latency, ...) against its threshold, per colour, with the moment a
trigger fired marked.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from kgot_rollout._exceptions import RefusedError
from kgot_rollout._journal import Journal

_COLOURS = {"blue": "tab:blue", "green": "tab:green"}


def write_report(journal: Journal, rollout_id: str | None, output: Path | None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rollouts = journal.rollouts()
    chosen = [r for r in rollouts if rollout_id is None or r.id == rollout_id]
    chosen = [r for r in chosen if journal.samples(r.id)]
    if not chosen:
        raise RefusedError(
            f"--rollout {rollout_id or '(last)'}: no recorded gate samples; allowed: "
            + (", ".join(r.id for r in rollouts if journal.samples(r.id)) or "none recorded")
        )
    rollout = chosen[-1]
    samples = journal.samples(rollout.id)
    start = rollout.started
    triggers = sorted({name for s in samples for name in _values(s)})
    fig, axes = plt.subplots(1 + len(triggers), 1, figsize=(10, 2.4 * (1 + len(triggers))))
    axes = list(axes) if len(triggers) else [axes]
    times = [float(str(s["time"])) - start for s in samples]
    weights = [int(str(s.get("weight", 0))) for s in samples]
    target = str(samples[-1].get("colour", "green"))
    axes[0].step(times, weights, where="post", color=_COLOURS.get(target, "black"))
    axes[0].set_ylabel(f"{target} weight %")
    axes[0].set_ylim(-5, 105)
    axes[0].set_title(f"{rollout.id} ({rollout.kind}): {rollout.status}")
    fired_at: float | None = None
    fired_name = ""
    for event in rollout.events:
        if event.get("event") == "breach":
            fired_at = float(str(event["time"])) - start
            fired_name = str(event.get("trigger", ""))
    for axis, name in zip(axes[1:], triggers, strict=True):
        for colour in sorted({str(s.get("colour")) for s in samples}):
            points = [
                (t, _values(s).get(name))
                for t, s in zip(times, samples, strict=True)
                if s.get("colour") == colour
            ]
            xs = [t for t, v in points if v is not None]
            ys = [v for _, v in points if v is not None]
            axis.plot(xs, ys, color=_COLOURS.get(colour, "black"), label=colour)
        thresholds = [_values({"values": s.get("thresholds")}).get(name) for s in samples]
        thresholds = [t for t in thresholds if t is not None]
        if thresholds:
            axis.axhline(thresholds[-1], color="tab:red", linestyle="--", label="threshold")
        axis.set_ylabel(name)
        axis.legend(loc="upper left", fontsize="small")
    for axis in axes:
        if fired_at is not None:
            axis.axvline(fired_at, color="tab:red", linewidth=2)
    if fired_at is not None:
        axes[0].annotate(f"trigger fired: {fired_name}", (fired_at, 90), color="tab:red")
    axes[-1].set_xlabel("seconds since start")
    fig.tight_layout()
    path = output or journal.log_dir / f"{rollout.id}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _values(sample: Mapping[str, object]) -> dict[str, float]:
    values = sample.get("values")
    if not isinstance(values, dict):
        return {}
    return {str(k): float(v) for k, v in values.items() if isinstance(v, int | float)}
