"""The policy pack's config for the tool's updates, made by the policy-config bridge
from the stack file, as CI makes it before every preview and update."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kgot_rollout._exceptions import EngineError, RefusedError

# The project's CrossGuard pack; its package holds the policy-config bridge.
POLICY_PACK = "policies"
BRIDGE = "kgot_policies.stack_config"


def bridge_pack_config(stack: str, project_dir: Path, output: Path) -> Path:
    """Write the pack config the bridge makes from ``Pulumi.<stack>.yaml`` to ``output``.

    The bridge (``python -m kgot_policies.stack_config``) reads the stack file
    through components.settings, as CI does before every preview and update, so
    the tool's updates see the stack's ``security`` thresholds and environment.
    """
    project = project_dir.resolve()
    pack = project / POLICY_PACK
    path = os.pathsep.join(p for p in (str(pack), os.environ.get("PYTHONPATH", "")) if p)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", BRIDGE, stack, "--project-dir", str(project), "-o", str(output)],
            cwd=project,
            env={**os.environ, "PYTHONPATH": path},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineError(f"stack {stack}: the policy-config bridge did not run: {exc}") from exc
    if proc.returncode == 2:
        # The stack file is one the program would refuse too.
        raise RefusedError(f"stack {stack}: policy pack config: {proc.stderr.strip()}")
    if proc.returncode != 0:
        raise EngineError(
            f"stack {stack}: the policy-config bridge ({BRIDGE} in {pack}) exited "
            f"{proc.returncode}: {proc.stderr.strip()[-1000:]}"
        )
    return output
