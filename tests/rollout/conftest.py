from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rollout_fakes import FakeClock, FakeEngine, RecordedMetrics, dev_config
from rollout_harness import Harness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    yield Harness(
        tmp=tmp_path,
        engine=FakeEngine.for_config(dev_config()),
        metrics=RecordedMetrics(),
        clock=FakeClock(),
    )
