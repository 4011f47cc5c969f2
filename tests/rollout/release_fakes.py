"""Fakes for a release: the image registry (presence, signatures) and the health check."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rollout_fakes import FakeEngine, dev_config, healthy
from rollout_harness import Harness

from components.settings import CheckSettings, ServiceSettings, SigningSettings
from kgot_rollout._exceptions import RefusedError
from kgot_rollout._registry import Verification
from kgot_rollout._release_record import RECORD_NAME

RELEASE = "1.1.0"


@dataclass
class FakeRegistry:
    """Every image present and signed, except those named here."""

    absent: set[str] = field(default_factory=set)
    unsigned: set[str] = field(default_factory=set)
    unreachable: bool = False
    asked: list[str] = field(default_factory=list)
    verified_files: list[Path] = field(default_factory=list)
    # Called with each image asked about (a test interrupts here).
    on_ask: Callable[[str], None] | None = None

    def missing(self, image: str) -> str | None:
        self.asked.append(image)
        if self.on_ask is not None:
            self.on_ask(image)
        if self.unreachable:
            raise RefusedError("registry localhost:5000 cannot be reached (connection refused)")
        return "not in the registry" if any(a in image for a in self.absent) else None

    def verify(self, signing: SigningSettings, images: Sequence[str]) -> list[Verification]:
        return [
            Verification(image, False, "no signature in the registry (unsigned)")
            if any(u in image for u in self.unsigned)
            else Verification(image, True, "verified")
            for image in images
        ]

    def write_verified(self, path: Path, verified: Sequence[str]) -> None:
        self.verified_files.append(path)
        path.write_text("".join(f"{image}\n" for image in verified))


@dataclass
class FakeChecks:
    """The post-deploy health check: healthy unless the service-colour is named."""

    failing: set[str] = field(default_factory=set)
    checked: list[str] = field(default_factory=list)
    on_check: Callable[[str], None] | None = None

    def __call__(
        self, service: ServiceSettings, colour: str, namespace: str, checks: CheckSettings
    ) -> tuple[bool, str]:
        name = f"{service.name}-{colour}"
        self.checked.append(name)
        if self.on_check is not None:
            self.on_check(name)
        if name in self.failing:
            return False, f"service {service.name} ({colour}) failed its health check: 503"
        return True, f"service {service.name} ({colour}) healthy"


class Killed(BaseException):
    """SIGKILL: nothing of the tool runs after it (no handler, no record update)."""


def release_harness(harness: Harness, **config: object) -> Harness:
    harness.engine = FakeEngine.for_config(dev_config(**config))
    harness.registry = FakeRegistry()
    harness.health_check = FakeChecks()
    healthy(harness.metrics, "blue", "green")
    (harness.tmp / "pack.json").write_text("{}")
    return harness


def release(harness: Harness, *args: str, version: str = RELEASE) -> int:
    """``release`` with short holds; the pack config given (no bridge in a temp folder)."""
    pack = harness.tmp / "pack.json"
    return harness.run(
        "release",
        *(("--version", version) if version else ()),
        "--steps",
        "50,100",
        "--hold",
        "10",
        "--window",
        "20",
        "--policy-pack-config",
        str(pack),
        *args,
    )


def records(harness: Harness) -> list[dict[str, object]]:
    paths = [p for p in harness.log_dir.glob("release-*.json") if RECORD_NAME.match(p.name)]
    found = [json.loads(p.read_text()) for p in paths]
    return sorted(found, key=lambda r: float(r["started"]))


def record(harness: Harness) -> dict[str, object]:
    return records(harness)[-1]


def phases(data: dict[str, object]) -> dict[str, str]:
    listed = data["phases"]
    assert isinstance(listed, list)
    return {str(p["phase"]): str(p["outcome"]) for p in listed}


def deploy_ups(engine: FakeEngine) -> list[dict[str, object]]:
    return [u for u in engine.ups() if "deploy to" in str(u["message"])]
