"""The rollout report's picture: draws a ``ReportData``, nothing else.

Each axis says its unit. Both colours are drawn where their series exist, in
their own colour and named by their part (the release, the colour that had the
traffic), and the latency row carries the active colour's p95 measured before
the shift: the baseline the latency trigger compares with. The "trigger fired"
label is kept inside the picture, on the side of its line with room.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from components.settings import BuiltinTrigger
from kgot_rollout._types import GateOutcome

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from kgot_rollout._report import ReportData

COLOURS = {"blue": "tab:blue", "green": "tab:green"}
OUTCOME_COLOURS = {
    GateOutcome.PASS: "tab:green",
    GateOutcome.BREACH: "tab:red",
    GateOutcome.INCONCLUSIVE: "tab:orange",
    GateOutcome.ERROR: "tab:gray",
}
PENDING_COLOUR = "gold"
# What each built-in trigger's value is measured in (the queries' own units).
UNITS = {
    BuiltinTrigger.ERROR_RATE.value: "error rate (share of requests, 0-1)",
    BuiltinTrigger.LATENCY.value: "p95 latency (s)",
    BuiltinTrigger.CPU.value: "CPU (share of its limit, 0-1)",
    BuiltinTrigger.HEALTH.value: "health (share of targets up, 0-1)",
}
_GATE_ROW = -2.0
# The triggers drawn for both colours (the queries a rollout records for its report).
BOTH_COLOURS = (BuiltinTrigger.ERROR_RATE.value, BuiltinTrigger.LATENCY.value)


def axis_label(trigger: str) -> str:
    """The y label of a trigger's row: with its unit (a custom trigger: its query's)."""
    return UNITS.get(trigger, f"{trigger} (its query's value)")


def colour_label(data: ReportData, colour: str) -> str:
    if colour == data.target and data.source:
        return f"{colour} (release, taking traffic)"
    if colour == data.source:
        return f"{colour} (active before)"
    return colour


def draw_report(data: ReportData) -> Figure:
    """One row for traffic and the gate, one per trigger."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    names = data.triggers
    rows = 1 + len(names)
    fig, axes = plt.subplots(rows, 1, figsize=(10, 2.4 * rows), squeeze=False, sharex=True)
    column = [row[0] for row in axes]
    top = column[0]
    _traffic(top, data)
    for axis, name in zip(column[1:], names, strict=True):
        _trigger_row(axis, data, name)
    for at, _ in data.fired:
        for axis in column:
            axis.axvline(at - data.start, color="tab:red", linewidth=2)
    for at, trigger in data.fired:
        _fired_label(top, at - data.start, trigger)
    column[-1].set_xlabel("time since the rollout started (s)")
    fig.tight_layout()
    return fig


def _traffic(top: Axes, data: ReportData) -> None:
    start = data.start
    if data.timeline:
        top.step(
            [t - start for t, _ in data.timeline],
            [w for _, w in data.timeline],
            where="post",
            color=COLOURS.get(data.target, "black"),
            label=f"{data.target} share of traffic (%)",
        )
    pending = set(data.pending)
    for outcome in GateOutcome:
        times = [t - start for t, o in data.outcomes if o is outcome and t not in pending]
        if times:
            top.scatter(
                times,
                [_GATE_ROW] * len(times),
                marker="|",
                color=OUTCOME_COLOURS[outcome],
                label=f"gate {outcome}",
            )
    if data.pending:
        top.scatter(
            [t - start for t in data.pending],
            [_GATE_ROW] * len(data.pending),
            marker="|",
            color=PENDING_COLOUR,
            label="gate pass, a trigger pending",
        )
    top.set_ylabel(f"{data.target} share of traffic (%)")
    top.set_ylim(-5, 105)
    title = f"{data.rollout.id} ({data.rollout.kind}): {data.rollout.status}"
    if data.unreadable_samples:
        title += f" ({data.unreadable_samples} unreadable sample lines left out)"
    top.set_title(title)
    top.legend(loc="upper left", fontsize="small")


def _trigger_row(axis: Axes, data: ReportData, name: str) -> None:
    start = data.start
    series = data.series[name]
    for colour, points in sorted(series.items()):
        axis.plot(
            [t - start for t, _ in points],
            [v for _, v in points],
            color=COLOURS.get(colour, "black"),
            label=colour_label(data, colour),
        )
    if (
        name == BuiltinTrigger.LATENCY.value
        and data.source is not None
        and data.baseline_p95 is not None
    ):
        # What the latency trigger compares with: the active colour before the shift.
        axis.axhline(
            data.baseline_p95,
            color=COLOURS.get(data.source, "black"),
            linestyle=":",
            label=f"{data.source} p95 before the shift (baseline)",
        )
    if name in BOTH_COLOURS and data.source is not None and data.source not in series:
        # Prometheus no longer had it (or was not asked): say so, never leave it out silently.
        missing = f"{data.source} (active before): no data from Prometheus"
        axis.plot([], [], color=COLOURS.get(data.source, "black"), label=missing)
    if name in data.thresholds:
        axis.axhline(data.thresholds[name], color="tab:red", linestyle="--", label="threshold")
    axis.set_ylabel(axis_label(name), fontsize="small")
    axis.legend(loc="upper left", fontsize="small")


def _fired_label(top: Axes, x: float, trigger: str) -> None:
    """Beside its line, on the side with room, never past the picture's edge."""
    left, right = top.get_xlim()
    on_right_half = x > left + (right - left) / 2
    top.annotate(
        f"trigger fired: {trigger}",
        xy=(x, 80),
        xytext=(-6 if on_right_half else 6, 0),
        textcoords="offset points",
        ha="right" if on_right_half else "left",
        va="center",
        color="tab:red",
        annotation_clip=True,
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8},
    )
