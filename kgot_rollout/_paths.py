"""Where a command logs: the project and log folders, checked before anything is written."""

from __future__ import annotations

import argparse
from pathlib import Path

from kgot_rollout._clock import Clock
from kgot_rollout._exceptions import RefusedError
from kgot_rollout._journal import Journal, check_stack_name


def log_dir(args: argparse.Namespace) -> Path:
    return Path(args.log_dir or args.project_dir / "logs" / "deployment")


def check_paths(args: argparse.Namespace) -> None:
    """The project and log folders, before anything is written: RefusedError if unusable."""
    project: Path = args.project_dir
    if not project.is_dir():
        what = "is not a folder" if project.exists() else "does not exist"
        raise RefusedError(
            f"--project-dir {project}: {what}; allowed: the kgot-platform project folder "
            "(where Pulumi.yaml is)"
        )
    logs = log_dir(args)
    for folder in (logs, *logs.parents):
        if folder.exists():
            if not folder.is_dir():
                raise RefusedError(
                    f"--log-dir {logs}: {folder} is a file; allowed: a folder "
                    "(created when missing)"
                )
            break


def open_journal(args: argparse.Namespace, clock: Clock) -> Journal:
    check_stack_name(args.stack)
    check_paths(args)
    try:
        return Journal(log_dir(args), args.stack, clock)
    except OSError as exc:
        raise RefusedError(
            f"--log-dir {log_dir(args)}: cannot be created ({exc.strerror}); "
            "allowed: a folder this user may write"
        ) from exc
