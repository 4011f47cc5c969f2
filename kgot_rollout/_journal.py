"""What happened: greppable log lines and the rollout history beside them.

Everything lives under ``logs/deployment/``: ``rollout.log`` (every event),
``rollback.log`` (rollbacks and health failures only, as the operations guide
greps them), ``history-<stack>.jsonl`` (one JSON event a line) and, per
rollout, ``<rollout id>.samples.jsonl`` (every gate evaluation, for reports).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from kgot_rollout._clock import Clock, SystemClock
from kgot_rollout._exceptions import RefusedError
from kgot_rollout._triggers import GateResult
from kgot_rollout._types import Colour, Event, RolloutKind, RolloutStatus

# A stack name as Pulumi allows it, optionally qualified: [org/[project/]]stack.
_STACK_NAME = re.compile(r"^(?:[A-Za-z0-9_.-]+/){0,2}[A-Za-z0-9_.-]+$")


def check_stack_name(stack: str) -> str:
    """The name, or RefusedError: letters, digits, ``_ . -``, optionally ``org/project/``."""
    segments = stack.split("/")
    if not _STACK_NAME.match(stack) or any(s in (".", "..") for s in segments):
        raise RefusedError(
            f"--stack {stack!r} is not a stack name; allowed: letters, digits, _ . - "
            "(optionally qualified as org/project/stack)"
        )
    return stack


def file_name(stack: str) -> str:
    """The stack as one file-name part: ``org/proj/dev`` -> ``org%2Fproj%2Fdev``."""
    return quote(stack, safe="")


def _timestamp(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def _logfmt(value: object) -> str:
    text = str(value)
    if text and all(c.isalnum() or c in "-_.:/%@" for c in text):
        return text
    return json.dumps(text)


@dataclass
class Rollout:
    """One rollout (a shift, promotion, watch or manual rollback) as history tells it."""

    id: str
    kind: str
    stack: str
    events: list[dict[str, object]] = field(default_factory=list)

    def _last(self, key: str) -> object:
        for event in reversed(self.events):
            if key in event:
                return event[key]
        return None

    @property
    def status(self) -> str:
        """A ``RolloutStatus`` value (as recorded; older or foreign records may differ)."""
        return str(self._last("status") or RolloutStatus.RUNNING)

    @property
    def started(self) -> float:
        return float(str(self.events[0]["time"])) if self.events else 0.0

    @property
    def finished(self) -> float | None:
        for event in reversed(self.events):
            if event.get("event") == Event.FINISHED:
                return float(str(event["time"]))
        return None

    def value(self, key: str) -> object:
        for event in self.events:
            if key in event:
                return event[key]
        return None

    def latest(self, key: str) -> object:
        return self._last(key)


class Journal:
    """Writes and reads the logs and records of one stack under ``log_dir``."""

    def __init__(self, log_dir: Path, stack: str, clock: Clock | None = None) -> None:
        self.log_dir = log_dir
        self.stack = stack
        self.clock = clock or SystemClock()
        log_dir.mkdir(parents=True, exist_ok=True)

    @property
    def history_path(self) -> Path:
        return self.log_dir / f"history-{file_name(self.stack)}.jsonl"

    def samples_path(self, rollout_id: str) -> Path:
        return self.log_dir / f"{rollout_id}.samples.jsonl"

    def log(
        self,
        message: str,
        *,
        level: str = "INFO",
        rollout: str = "-",
        rollback: bool = False,
        **fields: object,
    ) -> None:
        now = self.clock.now()
        parts = [_timestamp(now), f"level={level}", f"stack={self.stack}", f"rollout={rollout}"]
        parts.extend(f"{k}={_logfmt(v)}" for k, v in fields.items())
        line = f"{' '.join(parts)} msg={json.dumps(message)}\n"
        with (self.log_dir / "rollout.log").open("a", encoding="utf-8") as out:
            out.write(line)
        if rollback:
            with (self.log_dir / "rollback.log").open("a", encoding="utf-8") as out:
                out.write(line)

    def record(self, rollout_id: str, kind: RolloutKind, event: Event, **data: object) -> None:
        entry: dict[str, object] = {
            "time": self.clock.now(),
            "stack": self.stack,
            "rollout": rollout_id,
            "kind": kind,
            "event": event,
        }
        entry.update(data)
        with self.history_path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry, sort_keys=True) + "\n")

    def record_gate(self, rollout_id: str, colour: Colour, weight: int, result: GateResult) -> None:
        entry = {
            "time": result.at,
            "colour": colour,
            "weight": weight,
            "outcome": result.outcome.value,
            "verdicts": {v.trigger.name: v.status.value for v in result.verdicts},
            "error": result.error,
            "values": {v.trigger.name: v.value for v in result.verdicts},
            "thresholds": {v.trigger.name: v.trigger.threshold for v in result.verdicts},
        }
        with self.samples_path(rollout_id).open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry, sort_keys=True) + "\n")

    def rollouts(self) -> list[Rollout]:
        """All rollouts of this stack, oldest first."""
        if not self.history_path.exists():
            return []
        by_id: dict[str, Rollout] = {}
        text = self.history_path.read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            try:
                event = json.loads(line)
            except (ValueError, RecursionError):  # a truncated or foreign line
                continue
            if not isinstance(event, dict):
                continue
            rollout_id = str(event.get("rollout", ""))
            if rollout_id not in by_id:
                by_id[rollout_id] = Rollout(
                    rollout_id, str(event.get("kind", "")), str(event.get("stack", ""))
                )
            by_id[rollout_id].events.append(event)
        return list(by_id.values())

    def last_rollout(
        self, *, kinds: tuple[RolloutKind, ...] = (RolloutKind.SHIFT, RolloutKind.PROMOTE)
    ) -> Rollout | None:
        for rollout in reversed(self.rollouts()):
            if rollout.kind in kinds:
                return rollout
        return None

    def samples(self, rollout_id: str) -> list[Mapping[str, object]]:
        return self.read_samples(rollout_id)[0]

    def read_samples(self, rollout_id: str) -> tuple[list[Mapping[str, object]], int]:
        """The gate's evaluations of a rollout, and how many lines could not be read.

        A killed run may leave a truncated last line: it is skipped, not fatal.
        """
        path = self.samples_path(rollout_id)
        if not path.exists():
            return [], 0
        samples: list[Mapping[str, object]] = []
        unreadable = 0
        with path.open("rb") as handle:
            for raw in handle:
                try:
                    entry = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, ValueError, RecursionError):
                    entry = None
                if isinstance(entry, dict):
                    samples.append(entry)
                elif raw.strip():
                    unreadable += 1
        return samples, unreadable


@contextmanager
def exclusive(log_dir: Path, stack: str, command: str) -> Iterator[None]:
    """One shift, promote or watch per stack on this machine at a time.

    A manual ``rollback`` never takes this lock: it must work while a shift holds.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f".{file_name(stack)}.lock"
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RefusedError(
                f"stack {stack}: {holder} is running; wait for it, or use "
                "`kgot-rollout rollback` (which never waits)"
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(f"kgot-rollout {command} (pid {os.getpid()})")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def new_rollout_id(kind: RolloutKind, at: float) -> str:
    """``shift-20260101T120000-1a2b``: the kind, when it started, and a random part."""
    started = datetime.fromtimestamp(at, tz=UTC).strftime("%Y%m%dT%H%M%S")
    return f"{kind}-{started}-{secrets.token_hex(2)}"
