"""Tests read the committed stack files, so `pulumi config set` in the checkout breaks none."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.committed_stacks import REPO, committed_text, stack_config

pytestmark = pytest.mark.unit


def _git(repo: Path, *args: str) -> None:
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    subprocess.run(["git", *identity, "-C", str(repo), *args], check=True, capture_output=True)


def test_a_flip_in_the_working_tree_is_not_what_tests_read(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_text("config:\n  kgot-platform:activeColor: blue\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "Pulumi.dev.yaml")
    _git(tmp_path, "commit", "-q", "-m", "stack")
    # What `pulumi config set activeColor green` does to the file.
    stack.write_text("config:\n  kgot-platform:activeColor: green\n")
    assert "blue" in committed_text("Pulumi.dev.yaml", tmp_path)


def test_outside_a_git_checkout_the_files_on_disk_are_read(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.qa.yaml").write_text("config: {}\n")
    assert committed_text("Pulumi.qa.yaml", tmp_path) == "config: {}\n"


def test_the_committed_dev_stack_is_what_the_suites_get() -> None:
    first = stack_config("dev")
    assert first["activeColor"] in ("blue", "green")
    first["activeColor"] = "changed by one test"  # each test may change its own
    assert stack_config("dev")["activeColor"] in ("blue", "green")


def test_no_test_reads_a_stack_file_of_the_working_tree() -> None:
    # A stack file read from the checkout (ROOT / "Pulumi.<stack>.yaml") sees the user's edits.
    pattern = re.compile(r"(ROOT|REPO)\s*/\s*f?[\"']Pulumi\.(\{|dev|staging|production)")
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted((REPO / "tests").rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if pattern.search(line) and ".exists()" not in line
    ]
    assert offenders == [], "read tests.committed_stacks instead"
