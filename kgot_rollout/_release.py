"""``release``: the whole pipeline as a state machine over ``ReleasePhase``.

Pre-flight (nothing changes), deploy to the standby, validate it, shift with
the gates, watch the new active colour. Each phase is recorded with its
outcome, start and duration in ``release-<id>.json`` as it ends, so a release
interrupted or killed resumes at the phase it stopped in. One record, one
notification and one count in the deployment metrics per release.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from components.settings import PlatformSettings
from kgot_rollout._clock import Clock
from kgot_rollout._console import Console
from kgot_rollout._exceptions import RefusedError, RolloutError
from kgot_rollout._journal import Journal, exclusive
from kgot_rollout._preflight import Plan, settings_with, sync_traffic_config
from kgot_rollout._release_end import conclude, find_rollouts
from kgot_rollout._release_parts import ReleaseOptions, ReleaseParts
from kgot_rollout._release_phases import deploy_standby, validate, wait_until_scraped
from kgot_rollout._release_preflight import run_preflight
from kgot_rollout._release_record import (
    DONE_OUTCOMES,
    PHASES,
    RESUMABLE,
    PhaseOutcome,
    PhaseRecord,
    ReleasePhase,
    ReleaseRecord,
    ReleaseStatus,
    last_release,
    new_release_id,
    write_record,
)
from kgot_rollout._types import ExitCode, Outcome, parse_colour

_GATED = {
    ExitCode.DONE: PhaseOutcome.PASSED,
    ExitCode.ROLLED_BACK: PhaseOutcome.ROLLED_BACK,
    ExitCode.HELD: PhaseOutcome.HELD,
    ExitCode.REFUSED: PhaseOutcome.REFUSED,
    ExitCode.ERROR: PhaseOutcome.FAILED,
}


class Release:
    def __init__(
        self,
        parts: ReleaseParts,
        journal: Journal,
        console: Console,
        clock: Clock,
        options: ReleaseOptions,
    ) -> None:
        self.parts, self.journal, self.console = parts, journal, console
        self.clock, self.options = clock, options
        self.engine = parts.engine_for(options.policy_pack_config)
        self.record: ReleaseRecord | None = None
        self.plan: Plan | None = None
        self.unchanged = False
        self.resumed = False

    @property
    def log_dir(self) -> Path:
        return self.journal.log_dir

    # -- the machine ---------------------------------------------------------------
    def run(self) -> Outcome:
        # One release, shift, promote or watch per stack on this machine at a time.
        with exclusive(self.log_dir, self.engine.stack, "release"):
            record = self._start()
            # Prometheus stays reachable to the end: the picture queries both colours.
            with self.parts.open_prometheus(self.settings()):
                try:
                    if self.resumed and record.resume_phase() is not ReleasePhase.PREFLIGHT:
                        self._reopen(record)
                    first = PHASES.index(record.resume_phase())
                    for phase in PHASES[first:]:
                        if self._phase(phase) not in DONE_OUTCOMES:
                            break
                except KeyboardInterrupt:
                    self.parts.rollouts_for(self.engine).interrupted()
                return self._end()

    def _start(self) -> ReleaseRecord:
        previous = last_release(self.log_dir, self.engine.stack)
        now = self.clock.now()
        if (
            previous is not None
            and previous.status in RESUMABLE
            and previous.version == self.options.version
            and previous.version is not None
        ):
            self.record = previous
            previous.status, previous.finished = ReleaseStatus.RUNNING, None
            if previous.source and previous.target:  # pre-flight decided them
                source, target = parse_colour(previous.source), parse_colour(previous.target)
                self.plan = Plan(source, target, previous.version)
            self.console.line(
                f"[release] resuming {previous.id} ({previous.version}) at phase "
                f"{previous.resume_phase()}"
            )
            self.journal.log(
                f"release {previous.version}: resuming at {previous.resume_phase()}",
                release=previous.id,
            )
            # Whatever stopped it, the config must say what the last update applied.
            sync_traffic_config(self.engine)
            self.resumed = True
            return previous
        record = ReleaseRecord(
            id=new_release_id(now),
            stack=self.engine.stack,
            version=self.options.version,
            started=now,
            force=self.options.force,
        )
        self.record = record
        self.journal.log(f"release {record.version or '(platform changes)'}", release=record.id)
        write_record(self.log_dir, record)
        return record

    def _reopen(self, record: ReleaseRecord) -> None:
        """A resumed release: the pack config pre-flight wrote, and Prometheus answering."""
        pack = record.files.get("packConfig")
        if pack and self.options.policy_pack_config is None:
            self.engine = self.parts.engine_for(Path(pack))
        self._check_prometheus(self.settings())

    def _phase(self, phase: ReleasePhase) -> PhaseOutcome:
        record = self.record
        assert record is not None
        index = PHASES.index(phase) + 1
        entry = record.phase(phase)
        if entry is None:
            entry = PhaseRecord(phase=phase)
            record.phases.append(entry)
        else:
            entry.attempts += 1
        entry.outcome, entry.started, entry.duration = PhaseOutcome.RUNNING, self.clock.now(), None
        write_record(self.log_dir, record)
        self.console.line(
            f"[release {index}/{len(PHASES)}] {phase} (release at "
            f"{entry.started - record.started:.0f}s)"
        )
        handler: Callable[[], tuple[PhaseOutcome, str]] = getattr(self, f"_{phase}")
        try:
            outcome, detail = handler()
        except KeyboardInterrupt:
            outcome, detail = PhaseOutcome.INTERRUPTED, "interrupted (Ctrl-C or SIGTERM)"
            self._close(entry, outcome, detail, index)
            raise
        except RefusedError as exc:
            outcome, detail = PhaseOutcome.REFUSED, f"refused: {exc}"
        except RolloutError as exc:
            outcome, detail = PhaseOutcome.FAILED, f"error: {exc}"
        except Exception as exc:  # an outcome in the record, not a traceback
            outcome, detail = PhaseOutcome.FAILED, f"error: {type(exc).__name__}: {exc}"
        self._close(entry, outcome, detail, index)
        return outcome

    def _close(self, entry: PhaseRecord, outcome: PhaseOutcome, detail: str, index: int) -> None:
        assert self.record is not None
        entry.outcome, entry.detail = outcome, detail
        entry.duration = self.clock.now() - entry.started
        write_record(self.log_dir, self.record)
        self.journal.log(
            f"release phase {entry.phase} {outcome} in {entry.duration:.1f}s: {detail}",
            level="INFO" if outcome in DONE_OUTCOMES else "ERROR",
            release=self.record.id,
        )
        self.console.line(
            f"[release {index}/{len(PHASES)}] {entry.phase} {outcome} in "
            f"{entry.duration:.1f}s" + ("" if outcome in DONE_OUTCOMES else f": {detail}")
        )

    # -- reading -------------------------------------------------------------------
    def settings(self) -> PlatformSettings:
        return settings_with(self.engine, {})

    def _check_prometheus(self, settings: PlatformSettings) -> None:
        rollouts = self.parts.rollouts_for(self.engine)
        if rollouts.gate_factory is None:
            raise RefusedError("no Prometheus configured: pass --prometheus URL")
        try:
            rollouts.gate_factory(settings).check_online()
        except RolloutError as exc:
            raise RefusedError(
                f"{exc}; nothing was changed (the gates cannot judge the release without it)"
            ) from exc

    # -- the phases ----------------------------------------------------------------
    def _preflight(self) -> tuple[PhaseOutcome, str]:
        assert self.record is not None
        done = run_preflight(
            self.engine, self.record, self.options, self.parts, self.log_dir, self._check_prometheus
        )
        self.engine, self.plan, self.unchanged = done.engine, done.plan, done.unchanged
        return PhaseOutcome.PASSED, done.detail

    def _skipped(self) -> tuple[PhaseOutcome, str] | None:
        if self.unchanged:
            return PhaseOutcome.SKIPPED, "nothing to release"
        return None

    def _deploy(self) -> tuple[PhaseOutcome, str]:
        skipped = self._skipped()
        if skipped is not None:
            return skipped
        assert self.record is not None and self.plan is not None
        detail = deploy_standby(
            self.engine, self.plan, self.clock, self.journal, release=self.record.id
        )
        settings = self.settings()
        self.record.versions_after = {
            "blue": settings.blue_version,
            "green": settings.green_version,
        }
        return PhaseOutcome.PASSED, detail

    def _validate(self) -> tuple[PhaseOutcome, str]:
        skipped = self._skipped()
        if skipped is not None:
            return skipped
        assert self.plan is not None
        settings = self.settings()
        failed, detail = validate(settings, self.plan, self.parts.health_check)
        if failed:
            return PhaseOutcome.FAILED, detail
        rollouts = self.parts.rollouts_for(self.engine)
        if self.plan.version is not None and rollouts.gate_factory is not None:
            gate = rollouts.gate_factory(settings)
            detail += "; " + wait_until_scraped(gate, self.plan.target, self.clock)
        return PhaseOutcome.PASSED, detail

    def _shift(self) -> tuple[PhaseOutcome, str]:
        skipped = self._skipped()
        if skipped is not None:
            return skipped
        assert self.plan is not None and self.record is not None
        if self.plan.version is None:
            return PhaseOutcome.SKIPPED, "no new version: no traffic to move"
        rollouts = self.parts.rollouts_for(self.engine)
        find_rollouts(self.record, self.journal)
        stopped = self._shift_stopped_before()
        if stopped is not None:
            return stopped
        outcome = rollouts.shift(self.plan.target, list(self.options.steps))
        if outcome.rollout_id:
            self.record.rollouts[ReleasePhase.SHIFT] = outcome.rollout_id
        return _GATED[outcome.code], outcome.message

    def _shift_stopped_before(self) -> tuple[PhaseOutcome, str] | None:
        """A resumed shift that had already rolled back (killed right after it): never
        shift to that release again."""
        assert self.record is not None
        shift_id = self.record.rollouts.get(ReleasePhase.SHIFT)
        for rollout in self.journal.rollouts():
            if rollout.id == shift_id and rollout.status == "rolled-back":
                return PhaseOutcome.ROLLED_BACK, str(rollout.latest("message") or "rolled back")
        return None

    def _watch(self) -> tuple[PhaseOutcome, str]:
        skipped = self._skipped()
        if skipped is not None:
            return skipped
        assert self.record is not None
        outcome = self.parts.rollouts_for(self.engine).watch(self.options.watch_window)
        if outcome.rollout_id:
            self.record.rollouts[ReleasePhase.WATCH] = outcome.rollout_id
        return _GATED[outcome.code], outcome.message

    # -- the end -------------------------------------------------------------------
    def _end(self) -> Outcome:
        assert self.record is not None
        try:
            settings: PlatformSettings | None = self.settings()
        except RolloutError:
            settings = None
        conclude(self.record, self.journal, unchanged=self.unchanged, now=self.clock.now())
        write_record(self.log_dir, self.record)
        self.parts.on_end(settings, self.record)
        write_record(self.log_dir, self.record)
        code = ExitCode(self.record.exit_code or 0)
        return Outcome(code, self.record.message, self.record.id)
