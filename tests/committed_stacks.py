"""The committed stack files: tests never read a user's edits of the working tree.

`pulumi config set activeColor green` (as the README shows) rewrites
`Pulumi.dev.yaml` in place; tests that read a stack file read the version of
the last commit (`git show HEAD:Pulumi.<stack>.yaml`) from a copy of their own.
Outside a git checkout (a source archive, where nobody ran `pulumi config
set`), the files on disk are the committed ones.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from components.settings import read_stack_file

REPO = Path(__file__).resolve().parents[1]


@cache
def committed_text(name: str, repo: Path = REPO) -> str:
    """The text of a file at HEAD; the file on disk when there is no git checkout."""
    try:
        shown = subprocess.run(
            ["git", "-C", str(repo), "show", f"HEAD:{name}"],
            capture_output=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        shown = None
    if shown is not None and shown.returncode == 0:
        return shown.stdout.decode("utf-8")
    return (repo / name).read_text(encoding="utf-8")


@cache
def _copies() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="kgot-committed-stacks-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def stack_file(stack: str) -> Path:
    """A read-only copy of the committed ``Pulumi.<stack>.yaml``."""
    path = _copies() / f"Pulumi.{stack}.yaml"
    if not path.exists():
        path.write_text(committed_text(path.name), encoding="utf-8")
        path.chmod(0o444)
    return path


def stack_config(stack: str) -> dict[str, object]:
    """The committed stack's config, as ``components.settings.read_stack_file`` reads it."""
    return read_stack_file(stack_file(stack))


def copy_stack_file(stack: str, dest: Path) -> Path:
    """The committed ``Pulumi.<stack>.yaml`` written into ``dest`` (a project copy)."""
    path = dest / f"Pulumi.{stack}.yaml"
    path.write_text(committed_text(path.name), encoding="utf-8")
    return path
