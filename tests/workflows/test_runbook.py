"""docs/runbook.md: the sections operators look for, and every command in it exists."""

from __future__ import annotations

import os
import re
import textwrap

import pytest
from shell_commands import (
    ROOT,
    CliHelp,
    Command,
    check_commands,
    simple_commands,
    toolchain_path,
)

pytestmark = pytest.mark.workflows

RUNBOOK = ROOT / "docs" / "runbook.md"
_BLOCK = re.compile(r"^( *)```bash\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`((?:pulumi|kubectl|kgot-rollout|\.venv/bin/kgot-rollout|make) [^`]+)`")


def runbook_commands() -> list[Command]:
    text = RUNBOOK.read_text(encoding="utf-8")
    commands: list[Command] = []
    for number, match in enumerate(_BLOCK.finditer(text), start=1):
        block = textwrap.dedent(match.group(2))
        commands += simple_commands(block, f"runbook block {number}")
    for match in _INLINE.finditer(text):
        commands += simple_commands(" ".join(match.group(1).split()), "runbook inline")
    return commands


def test_runbook_has_the_sections_an_operator_needs() -> None:
    headings = set(re.findall(r"^#{2,3} (.+)$", RUNBOOK.read_text(encoding="utf-8"), re.M))
    assert {
        "Pre-deployment checklist",
        "Post-deployment validation",
        "Emergency procedures",
        "Deployment failure",
        "Automated rollback triggered",
        "Security incident",
        "Troubleshooting",
    } <= headings


def test_every_runbook_command_exists(tmp_path_factory: pytest.TempPathFactory) -> None:
    cli = CliHelp(toolchain_path(tmp_path_factory.mktemp("kgot-state")))
    for name in ("pulumi", "kubectl"):
        if cli.binary(name) is None:
            reason = f"{name} not built: run `make toolchain`"
            if os.environ.get("CI"):
                pytest.fail(reason)
            pytest.skip(reason)
    commands = runbook_commands()
    heads = {c.words[0] for c in commands}
    assert {"pulumi", "kubectl", ".venv/bin/kgot-rollout", "make"} <= heads
    # Every rollout subcommand an operator needs in an emergency is in the runbook.
    rollout = {c.words[1] for c in commands if c.words[0].endswith("kgot-rollout")}
    assert {"status", "shift", "rollback", "watch", "history", "report"} <= rollout
    assert check_commands(commands, cli) == []


def test_runbook_names_the_real_objects() -> None:
    text = RUNBOOK.read_text(encoding="utf-8")
    for name in ("$SVC-preview", "$SVC-green", "kgot-platform-quota", "logs/deployment/"):
        assert name in text


def test_every_pack_run_in_the_runbook_reads_the_stacks_pack_config() -> None:
    # Without the bridge's config the pack judges an unknown stack: it refuses
    # the roles the stack's own components need (the dev gateway's Secret
    # reads), so an operator following the runbook would be refused.
    bare = [
        str(c)
        for c in runbook_commands()
        if c.words[0] == "pulumi"
        and "--policy-pack" in c.words
        and "--policy-pack-config" not in c.words
    ]
    assert bare == []
