"""How a release ends: its status and message, the gate's decisions and any rollback.

The gate's decisions come from the history of the shift and watch the
release ran (steps applied and passed, breaches, holds, rollbacks) and the
count of each evaluation outcome from their samples.
"""

from __future__ import annotations

from collections import Counter

from kgot_rollout._journal import Journal
from kgot_rollout._release_record import (
    DONE_OUTCOMES,
    EXIT_CODES,
    STATUS_OF,
    PhaseOutcome,
    ReleasePhase,
    ReleaseRecord,
    ReleaseStatus,
    record_path,
)
from kgot_rollout._types import Event, RolloutKind

# The events of a gated rollout that are the gate's decisions.
_DECISIONS = (
    Event.STEP_APPLIED,
    Event.STEP_PASSED,
    Event.BREACH,
    Event.MISSING_DATA,
    Event.METRICS_ERROR,
    Event.ROLLED_BACK,
    Event.FINISHED,
)
_KEPT = ("weight", "colour", "trigger", "reason", "status", "to", "decided", "breaching_since")


def find_rollouts(record: ReleaseRecord, journal: Journal) -> None:
    """The shift and watch the release started (also when it was killed inside one)."""
    for rollout in journal.rollouts():
        if rollout.started < record.started:
            continue
        if rollout.kind == RolloutKind.SHIFT:
            record.rollouts.setdefault(ReleasePhase.SHIFT, rollout.id)
        elif rollout.kind == RolloutKind.WATCH:
            record.rollouts[ReleasePhase.WATCH] = rollout.id


def gate_decisions(record: ReleaseRecord, journal: Journal) -> None:
    ids = set(record.rollouts.values())
    decisions: list[dict[str, object]] = []
    counts: Counter[str] = Counter()
    for rollout in journal.rollouts():
        if rollout.id not in ids:
            continue
        for event in rollout.events:
            if event.get("event") not in _DECISIONS:
                continue
            entry: dict[str, object] = {
                "rollout": rollout.id,
                "event": event.get("event"),
                "time": event.get("time"),
            }
            entry.update({k: event[k] for k in _KEPT if k in event})
            decisions.append(entry)
            if event.get("event") == Event.BREACH and record.rollback is None:
                record.rollback = {
                    "trigger": event.get("trigger"),
                    "reason": event.get("reason"),
                    "breachingSince": event.get("breaching_since"),
                    "decided": event.get("decided"),
                    "rollout": rollout.id,
                }
            if event.get("event") == Event.ROLLED_BACK and record.rollback is not None:
                record.rollback["restored"] = event.get("time")
                record.rollback["to"] = event.get("to")
                record.rollback["success"] = event.get("success")
        for sample in journal.samples(rollout.id):
            counts[str(sample.get("outcome", "?"))] += 1
    record.gate = decisions
    record.gate_evaluations = dict(counts)


def conclude(record: ReleaseRecord, journal: Journal, *, unchanged: bool, now: float) -> None:
    """Status, exit code and message of the release, from its phases."""
    find_rollouts(record, journal)
    gate_decisions(record, journal)
    stopped = next((p for p in record.phases if p.outcome not in DONE_OUTCOMES), None)
    what = record.version or "the platform's changes"
    path = record_path(journal.log_dir, record.id)
    if stopped is None:
        record.status = ReleaseStatus.UNCHANGED if unchanged else ReleaseStatus.RELEASED
    elif stopped.outcome == PhaseOutcome.RUNNING:
        record.status = ReleaseStatus.INTERRUPTED
    else:
        record.status = STATUS_OF[PhaseOutcome(stopped.outcome)]
    if record.status == ReleaseStatus.UNCHANGED:
        record.message = f"{what} already serves on {record.source}: nothing released"
    elif record.status == ReleaseStatus.RELEASED:
        colour = record.target if record.version else record.source
        record.message = (
            f"released {what} on {colour} of stack {record.stack} in "
            f"{now - record.started:.0f}s; record {path}"
        )
    else:
        assert stopped is not None
        record.message = (
            f"release {what} {record.status} in phase {stopped.phase}: {stopped.detail}"
        )
        if record.status in (ReleaseStatus.INTERRUPTED, ReleaseStatus.HELD):
            record.message += (
                f". Run `kgot-rollout release --version {record.version}` again to resume at "
                f"{stopped.phase}, or `kgot-rollout rollback`"
            )
        record.message += f"; record {path}"
    record.exit_code = int(EXIT_CODES[ReleaseStatus(record.status)])
    record.updated = now
    # A resumable release is not over: its next run finishes it.
    record.finished = None if record.status == ReleaseStatus.INTERRUPTED else now
