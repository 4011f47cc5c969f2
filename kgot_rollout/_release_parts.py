"""What a release is made of: its options and the parts tests replace."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from components.settings import PlatformSettings
from kgot_rollout._engine import Engine
from kgot_rollout._registry import ImageRegistry
from kgot_rollout._release_phases import HealthCheck
from kgot_rollout._release_record import ReleaseRecord
from kgot_rollout._rollout import Rollouts

# (settings with the release, verified-digests file, Trivy reports, output) -> pack config
PackConfigWriter = Callable[[PlatformSettings, Path | None, tuple[Path, ...], Path], Path]


@dataclass(frozen=True)
class ReleaseOptions:
    # None: no new version; the platform's own changes (the committed program and config).
    version: str | None
    steps: tuple[int, ...] = (10, 25, 50, 100)
    force: bool = False
    trivy_reports: tuple[Path, ...] = ()
    # Given: every preview and update uses it as is (no verified digests added).
    policy_pack_config: Path | None = None
    watch_window: float | None = None


@dataclass
class ReleaseParts:
    """What a release is built from; tests replace the engine, registry and checks."""

    # The engine for a pack config (None: the default, for reading before one exists).
    engine_for: Callable[[Path | None], Engine]
    # Shift and watch on an engine, without their own notifications and metrics.
    rollouts_for: Callable[[Engine], Rollouts]
    registry: ImageRegistry
    health_check: HealthCheck
    write_pack_config: PackConfigWriter
    # Called once when the release ends (record written): notify, count, draw.
    on_end: Callable[[PlatformSettings | None, ReleaseRecord], None] = lambda s, r: None
    # Makes Prometheus reachable for the release (a port-forward), if asked to.
    open_prometheus: Callable[[PlatformSettings], AbstractContextManager[None]] = field(
        default=lambda settings: nullcontext()
    )
