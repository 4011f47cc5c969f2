"""The report picture as a new user reads it: units, both colours, the label inside."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rollout_fakes import healthy
from rollout_harness import Harness, make_harness

from kgot_rollout._journal import Journal
from kgot_rollout._report import ReportData, choose_rollout, draw, report_data

pytestmark = pytest.mark.rollout


@pytest.fixture
def rolled_back(tmp_path: Path) -> Iterator[tuple[Harness, Journal]]:
    """A shift whose error rate breaches late, at the right edge of the picture."""
    harness = make_harness(tmp_path)
    healthy(harness.metrics, "blue", "green")
    start = harness.clock.now()
    harness.metrics.set("error_rate", "green", lambda t: 0.4 if t > start + 35 else 0.01)
    harness.run("shift", "--to", "green", "--steps", "25,50,100", "--hold", "20")
    yield harness, Journal(harness.log_dir, "dev")


def _legend(data: ReportData, trigger: str, figure: object) -> list[str]:
    axes = figure.axes  # type: ignore[attr-defined]
    axis = axes[1 + data.triggers.index(trigger)]
    return [text.get_text() for text in axis.get_legend().get_texts()]


@pytest.mark.parametrize("prometheus", [True, False])
def test_every_axis_has_a_unit_and_the_active_colour_is_drawn(
    rolled_back: tuple[Harness, Journal], prometheus: bool
) -> None:
    harness, journal = rolled_back
    rollout = choose_rollout(journal, None)
    data = report_data(journal, rollout, harness.metrics if prometheus else None)
    figure = draw(data)
    try:
        labels = [axis.get_ylabel() for axis in figure.axes]
        assert labels[0] == "green share of traffic (%)"
        assert "error rate (share of requests, 0-1)" in labels
        assert "p95 latency (s)" in labels
        assert all("(" in label for label in labels), labels
        assert figure.axes[-1].get_xlabel() == "time since the rollout started (s)"
        latency = _legend(data, "latency", figure)
        # The baseline the latency trigger compared with: the active colour's p95 before.
        assert "blue p95 before the shift (baseline)" in latency
        errors = _legend(data, "error_rate", figure)
        if prometheus:
            assert "blue (active before)" in errors
        else:
            # Without Prometheus the gate's own samples hold only the release's colour.
            assert "blue (active before): no data from Prometheus" in errors
        assert "green (release, taking traffic)" in errors
    finally:
        from matplotlib import pyplot as plt

        plt.close(figure)


def test_the_trigger_fired_label_stays_inside_the_picture(
    rolled_back: tuple[Harness, Journal],
) -> None:
    _, journal = rolled_back
    data = report_data(journal, choose_rollout(journal, None), None)
    figure = draw(data)
    try:
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
        width = figure.bbox.width
        labels = [t for t in figure.axes[0].texts if t.get_text().startswith("trigger fired")]
        assert labels
        for label in labels:
            box = label.get_window_extent(renderer)
            assert box.x0 >= 0 and box.x1 <= width, (box, width)
    finally:
        from matplotlib import pyplot as plt

        plt.close(figure)
