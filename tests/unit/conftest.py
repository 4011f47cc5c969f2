"""Fixtures of the unit suite: the program under Pulumi mocks."""

from __future__ import annotations

from collections.abc import Iterator

import pulumi
import pytest
from mocked_program import ProgramRunner


@pytest.fixture
def run_program() -> Iterator[ProgramRunner]:
    yield ProgramRunner()
    pulumi.runtime.set_all_config({}, [])
