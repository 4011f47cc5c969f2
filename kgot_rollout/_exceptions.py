"""Errors the rollout tool raises; each maps to one exit code in the CLI."""

from __future__ import annotations


class RolloutError(Exception):
    """An operation failed; the message says what and what to do next."""


class RefusedError(RolloutError):
    """Bad input or an unsafe change: nothing was changed."""


class StackLockedError(RefusedError):
    """Another update holds the stack lock: nothing was changed."""


class EngineError(RolloutError):
    """The Pulumi engine failed while running a command."""


class MetricsUnavailableError(RolloutError):
    """Prometheus could not be queried (unreachable, HTTP or query error)."""
