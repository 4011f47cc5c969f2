"""The release record: one JSON file per release, ``release-<id>.json`` beside the logs.

It is rewritten (atomically) at every phase boundary, so a release that was
interrupted or killed leaves the phase it stopped in, and ``release`` with the
same version resumes there. ``history`` and ``status`` read the same files.
"""

from __future__ import annotations

import enum
import json
import os
import re
import secrets
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kgot_rollout._types import ExitCode


class ReleasePhase(enum.StrEnum):
    """The phases of a release, in the order they run (as Flagger's ``CanaryPhase``)."""

    PREFLIGHT = "preflight"
    DEPLOY = "deploy"
    VALIDATE = "validate"
    SHIFT = "shift"
    WATCH = "watch"


PHASES = tuple(ReleasePhase)


class PhaseOutcome(enum.StrEnum):
    RUNNING = "running"
    PASSED = "passed"
    # Not needed by this release (no version: nothing to shift).
    SKIPPED = "skipped"
    REFUSED = "refused"
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"
    HELD = "held"
    INTERRUPTED = "interrupted"


# A phase with one of these is done; the release goes on to the next one.
DONE_OUTCOMES = (PhaseOutcome.PASSED, PhaseOutcome.SKIPPED)


class ReleaseStatus(enum.StrEnum):
    RUNNING = "running"
    RELEASED = "released"
    # The version already serves on the active colour: nothing to do.
    UNCHANGED = "unchanged"
    REFUSED = "refused"
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"
    HELD = "held"
    INTERRUPTED = "interrupted"


# A release in one of these is resumed by the next `release` of the same version.
RESUMABLE = (ReleaseStatus.RUNNING, ReleaseStatus.INTERRUPTED, ReleaseStatus.HELD)

EXIT_CODES = {
    ReleaseStatus.RELEASED: ExitCode.DONE,
    ReleaseStatus.UNCHANGED: ExitCode.DONE,
    ReleaseStatus.REFUSED: ExitCode.REFUSED,
    ReleaseStatus.FAILED: ExitCode.ERROR,
    ReleaseStatus.ROLLED_BACK: ExitCode.ROLLED_BACK,
    ReleaseStatus.HELD: ExitCode.HELD,
    ReleaseStatus.INTERRUPTED: ExitCode.HELD,
    ReleaseStatus.RUNNING: ExitCode.ERROR,
}

# How a phase that did not pass ends the release.
STATUS_OF = {
    PhaseOutcome.REFUSED: ReleaseStatus.REFUSED,
    PhaseOutcome.FAILED: ReleaseStatus.FAILED,
    PhaseOutcome.ROLLED_BACK: ReleaseStatus.ROLLED_BACK,
    PhaseOutcome.HELD: ReleaseStatus.HELD,
    PhaseOutcome.INTERRUPTED: ReleaseStatus.INTERRUPTED,
}


@dataclass
class PhaseRecord:
    phase: str
    outcome: str = PhaseOutcome.RUNNING
    started: float = 0.0
    duration: float | None = None
    detail: str = ""
    # Times this phase was started (a resumed phase counts again).
    attempts: int = 1


@dataclass
class ImageRecord:
    """One image the release deploys or keeps running, as pre-flight found it."""

    image: str
    service: str = ""
    digest: str | None = None
    # None: not checked (the stack trusts no signer and requires none).
    verified: bool | None = None
    reason: str = ""


@dataclass
class ReleaseRecord:
    id: str
    stack: str
    version: str | None
    started: float
    environment: str = ""
    force: bool = False
    source: str = ""
    target: str = ""
    status: str = ReleaseStatus.RUNNING
    exit_code: int | None = None
    message: str = ""
    finished: float | None = None
    updated: float = 0.0
    versions_before: dict[str, str] = field(default_factory=dict)
    versions_after: dict[str, str] = field(default_factory=dict)
    images: list[ImageRecord] = field(default_factory=list)
    phases: list[PhaseRecord] = field(default_factory=list)
    # The rollouts the release ran, by phase (shift, watch): their history ids.
    rollouts: dict[str, str] = field(default_factory=dict)
    # The gate's decisions of those rollouts (steps, breaches, holds) and counts.
    gate: list[dict[str, object]] = field(default_factory=list)
    gate_evaluations: dict[str, int] = field(default_factory=dict)
    rollback: dict[str, object] | None = None
    # Files beside the record: the pack config and verified digests it used, the picture.
    files: dict[str, str] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        return None if self.finished is None else self.finished - self.started

    def phase(self, phase: ReleasePhase) -> PhaseRecord | None:
        for record in self.phases:
            if record.phase == phase:
                return record
        return None

    def resume_phase(self) -> ReleasePhase:
        """The first phase not done yet (where a resumed release starts)."""
        for phase in PHASES:
            record = self.phase(phase)
            if record is None or record.outcome not in DONE_OUTCOMES:
                return phase
        return PHASES[-1]

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data["duration"] = self.duration
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ReleaseRecord:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        record = cls(**values)  # type: ignore[arg-type]
        record.phases = [PhaseRecord(**p) for p in data.get("phases") or []]  # type: ignore[attr-defined]
        record.images = [ImageRecord(**i) for i in data.get("images") or []]  # type: ignore[attr-defined]
        return record


# release-<id>.json; the files beside it have a second suffix.
RECORD_NAME = re.compile(r"^release-[^.]+\.json$")


def new_release_id(at: float) -> str:
    """``20260101T120000-1a2b``: when it started and a random part."""
    started = datetime.fromtimestamp(at, tz=UTC).strftime("%Y%m%dT%H%M%S")
    return f"{started}-{secrets.token_hex(2)}"


def record_path(log_dir: Path, release_id: str) -> Path:
    return log_dir / f"release-{release_id}.json"


def side_file(log_dir: Path, release_id: str, suffix: str) -> Path:
    """A file that belongs to one release: ``release-<id>.<suffix>``."""
    return log_dir / f"release-{release_id}.{suffix}"


def write_record(log_dir: Path, record: ReleaseRecord) -> Path:
    """Replace the record at once: a reader (or a kill) never sees half a file."""
    path = record_path(log_dir, record.id)
    log_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=log_dir, prefix=f".{path.name}.", delete=False, encoding="utf-8"
    ) as handle:
        json.dump(record.as_json(), handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(handle.name, path)
    return path


def releases(log_dir: Path, stack: str) -> list[ReleaseRecord]:
    """The stack's release records, oldest first (unreadable files are skipped)."""
    found: list[ReleaseRecord] = []
    if not log_dir.is_dir():
        return found
    for path in log_dir.glob("release-*.json"):
        if not RECORD_NAME.match(path.name):
            continue  # a file beside a record (its pack config)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            record = ReleaseRecord.from_json(data)
        except (OSError, ValueError, TypeError):
            continue
        if record.stack == stack:
            found.append(record)
    return sorted(found, key=lambda r: r.started)


def last_release(log_dir: Path, stack: str) -> ReleaseRecord | None:
    found = releases(log_dir, stack)
    return found[-1] if found else None
