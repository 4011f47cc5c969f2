"""What the tool reads from an operation's engine events: planned steps, policy
refusals, the resources that failed, and one log line an event.

Structured events (``OpType``, a policy event's enforcement level, a
diagnostic's URN), never the text of the error, decide what happened; the
text only fills in the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from pulumi import automation as auto
from pulumi.automation.events import EngineEvent, OpType, PolicyEvent

from kgot_rollout._engine import UNCHANGED_OPS, ResourceStep, op_type
from kgot_rollout._exceptions import EngineError, RefusedError

# How many refusals of the policy pack, or failed resources, a message lists.
_SHOWN_REFUSALS = 5
# A line of the CLI's output that reports an error (`error: ...`, ` stderr: error: ...`).
_ERROR_LINE = re.compile(r"\berror:", re.IGNORECASE)
# How much of the CLI's own output a message keeps when no resource is named.
_SHOWN_CHARS = 2000


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _whole_lines(text: str, limit: int = _SHOWN_CHARS) -> str:
    """The error lines of ``text`` first, then its last lines, whole, within ``limit``.

    Cutting at a character count left messages such as ``update failed: TTPRoute ...``.
    """
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    errors = [line.strip() for line in lines if _ERROR_LINE.search(line)]
    rest = [line for line in lines if line.strip() not in errors]
    kept: list[str] = []
    size = 0
    for line in errors:
        if size + len(line) > limit:
            break
        kept.append(line)
        size += len(line) + 1
    tail: list[str] = []
    for line in reversed(rest):
        if size + len(line) > limit:
            break
        tail.insert(0, line)
        size += len(line) + 1
    return "\n".join(kept + tail)


def engine_error(
    stack: str,
    action: str,
    exc: auto.CommandError,
    policy_events: Sequence[PolicyEvent],
    failures: Sequence[tuple[str, str]] = (),
) -> Exception:
    """A mandatory policy violation refuses the step; anything else is an error.

    ``failures``: (resource name, first line) of each resource the engine
    reported an error on, named first in the message.
    """
    refusals = [e for e in policy_events if e.enforcement_level == "mandatory"]
    if refusals:
        shown = [
            f"{e.policy_name}"
            + (f" on {_name(e.resource_urn)}" if e.resource_urn else "")
            + f": {_first_line(e.message)}"
            for e in refusals[:_SHOWN_REFUSALS]
        ]
        more = len(refusals) - _SHOWN_REFUSALS
        return RefusedError(
            f"stack {stack}: the policy pack refused the {action}: "
            + "; ".join(shown)
            + (f"; and {more} more" if more > 0 else "")
        )
    if failures:
        named = "; ".join(f"{name}: {line}" for name, line in failures[:_SHOWN_REFUSALS])
        more = len(failures) - _SHOWN_REFUSALS
        return EngineError(
            f"stack {stack}: {action} failed on {named}"
            + (f"; and {more} more" if more > 0 else "")
        )
    return EngineError(f"stack {stack}: {action} failed: {_whole_lines(str(exc))}")


class Events:
    """Collects what the rollout reads from an operation's engine events."""

    def __init__(self, forward: Callable[[EngineEvent], None] | None = None) -> None:
        self.steps: list[ResourceStep] = []
        self.policy: list[PolicyEvent] = []
        # (resource name, first line of the error) per resource, in order.
        self.failures: list[tuple[str, str]] = []
        self._forward = forward

    def __call__(self, event: EngineEvent) -> None:
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            paths = tuple(meta.detailed_diff or ()) or tuple(meta.diffs or ())
            op = op_type(meta.op) or OpType.REPLACE  # an unknown op counts as a change
            self.steps.append(ResourceStep(meta.urn, meta.type, op, paths))
        if event.policy_event is not None:
            self.policy.append(event.policy_event)
        diagnostic = event.diagnostic_event
        if diagnostic is not None and diagnostic.severity == "error" and diagnostic.urn:
            name = _name(diagnostic.urn)
            if name not in {n for n, _ in self.failures} and not diagnostic.urn.endswith(
                "pulumi:pulumi:Stack::" + name
            ):
                self.failures.append((name, _first_line(diagnostic.message)))
        if self._forward is not None:
            self._forward(event)

    def error(self, stack: str, action: str, exc: auto.CommandError) -> Exception:
        return engine_error(stack, action, exc, self.policy, self.failures)


def describe_event(event: EngineEvent) -> str | None:
    """One line for what an update did: a resource changed, or an error/warning."""
    if event.resource_pre_event is not None:
        meta = event.resource_pre_event.metadata
        op = op_type(meta.op)
        if op in UNCHANGED_OPS:
            return None
        shown = op.value if op is not None else str(meta.op)
        return f"{shown} {meta.type} {_name(meta.urn)}"
    if event.policy_event is not None:
        policy = event.policy_event
        text = policy.message.strip()[:500]
        return f"policy {policy.enforcement_level}: {policy.policy_name}: {text}"
    diagnostic = event.diagnostic_event
    if diagnostic is not None and diagnostic.severity in ("error", "warning"):
        return f"{diagnostic.severity}: {diagnostic.message.strip()[:500]}"
    return None
