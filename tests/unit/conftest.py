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


@pytest.fixture(autouse=True)
def _tls_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dev stack makes its gateway certificate under $KGOT_CACHE: never the machine's."""
    monkeypatch.setenv("KGOT_CACHE", str(tmp_path_factory.getbasetemp() / "kgot-cache"))
