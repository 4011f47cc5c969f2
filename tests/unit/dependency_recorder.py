"""Records which resources each registration waits for, as the program tells the engine."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.runtime.mocks import MockMonitor


def record_dependencies(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """Resource name -> names of what it waits for (depends_on, components
    expanded to their children, and every Output it takes as input)."""
    dependencies: dict[str, set[str]] = {}
    original = MockMonitor.RegisterResource

    def register(self: MockMonitor, request: Any) -> Any:
        dependencies[request.name] = {urn.rsplit("::", 1)[-1] for urn in request.dependencies}
        # The SDK leaves the mock monitor's methods unannotated.
        return original(self, request)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(MockMonitor, "RegisterResource", register)
    return dependencies
