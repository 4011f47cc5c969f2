"""kgot-rollout: gradual blue/green traffic shifts on the Pulumi Automation API.

A shift moves the share of traffic sent to the standby colour in steps, holds
at each step while the rollback triggers are evaluated on Prometheus, and flips
routing back (routing resources only) when a trigger is breached.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
