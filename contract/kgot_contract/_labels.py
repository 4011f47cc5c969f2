"""The labels whose values the program writes and the others read."""

from __future__ import annotations

# The colour (blue or green) of a service's pods: the active Service selects
# the live colour by it, the preview Service the standby, the pack finds each
# colour's Deployment by it and the rollout tool flips it.
COLOR_LABEL = "kgot.io/color"
