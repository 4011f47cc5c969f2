"""The runbook's read-only commands, run for real against a deployed dev stack.

The static checks (test_runbook.py) prove each command's subcommand and flags
exist; this proves the commands work as written on a stack of this program:
right object names, labels and outputs. Of the commands that change a stack,
the release-by-hand and undo path runs too (`pulumi config set`, `pulumi up`,
`kubectl scale`); shifts, rollbacks and lock handling need Prometheus or a
running update and are left to the static checks and to the suites that
exercise them (tests/e2e, tests/rollout).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from shell_commands import ROOT, Command, simple_commands

from tests.toolchain_support import cluster, copy_project, require_tools, run, toolchain_environment

pytestmark = pytest.mark.e2e

RUNBOOK = ROOT / "docs" / "runbook.md"
VARIABLES = {"STACK": "dev", "NS": "kgot-dev", "SVC": "controller"}
# Command forms that only read; each runs and must exit 0.
READ_ONLY = (
    ("kubectl", "get"),
    ("kubectl", "describe"),
    ("kubectl", "rollout", "status"),
    ("pulumi", "stack", "output"),
    ("pulumi", "stack", "history"),
    ("pulumi", "stack", "--stack"),
    ("pulumi", "preview"),
    ("pulumi", "refresh"),
    (".venv/bin/kgot-rollout", "status"),
    (".venv/bin/kgot-rollout", "history"),
)
# Changes the runbook makes by hand, safe on a throwaway dev stack.
CHANGES = (("pulumi", "config", "set"), ("pulumi", "up"), ("kubectl", "scale"))
# Writes the policy pack's config from the stack's security settings.
PREPARES = ((".venv/bin/python", "-m", "kgot_policies.stack_config"),)
# Read-only, but they need what a simulated node has not got: a process
# answering HTTP in the pod (the Service proxy) or container logs.
NEEDS_REAL_PODS = (("kubectl", "get", "--raw"), ("kubectl", "logs"))


@pytest.fixture(scope="module")
def deployed_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A control plane of its own, a copy of the project, the dev stack deployed."""
    env = toolchain_environment(tmp_path_factory.mktemp("kgot-state"))
    # The machine's one real node belongs to the e2e suite's cluster, which is
    # still up; this one runs the stack on simulated nodes.
    env["KGOT_NODE"] = "none"
    require_tools(env)
    project = copy_project(tmp_path_factory.mktemp("project"))
    cluster("up", env)
    try:
        for args in (["pulumi", "stack", "select", "dev", "--create"], ["pulumi", "up", "--yes"]):
            run(args, cwd=project, env=env)
        yield project, env
    finally:
        cluster("down", env)


def _runbook_commands() -> list[Command]:
    text = RUNBOOK.read_text(encoding="utf-8")
    for name, value in VARIABLES.items():
        text = re.sub(rf"\${name}\b", value, text)
    commands: list[Command] = []
    for match in re.finditer(r"^( *)```bash\n(.*?)^\1```", text, re.MULTILINE | re.DOTALL):
        commands += simple_commands(textwrap.dedent(match.group(2)), "runbook")
    return commands


def _assignments(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """Leading `NAME=value` words (the command's environment) and the rest."""
    env: dict[str, str] = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        name, value = words[0].split("=", 1)
        env[name] = value
        words = words[1:]
    return env, words


def _starts_with(words: list[str], forms: tuple[tuple[str, ...], ...]) -> bool:
    words = _assignments(words)[1]
    return any(tuple(words[: len(form)]) == form for form in forms)


def test_runbook_commands_work_on_a_deployed_stack(
    deployed_dev: tuple[Path, dict[str, str]],
) -> None:
    project, env = deployed_dev
    commands = [
        c
        for c in _runbook_commands()
        if _starts_with(c.words, READ_ONLY + CHANGES + PREPARES)
        and not _starts_with(c.words, NEEDS_REAL_PODS)
        # Secrets come from the operator's shell; the test has none to set.
        and "--secret" not in c.words
    ]
    # The runbook's validation and diagnosis steps are mostly read-only: most must run here.
    assert len(commands) >= 20, [str(c) for c in commands]
    failures = []
    for command in commands:
        assigned, words = _assignments(list(command.words))
        if words[:2] == ["pulumi", "up"]:
            words.append("--yes")  # an operator confirms at the prompt
        if words[0] == "pulumi" and "--policy-pack" in words:
            # The language host does not follow the copy's symlink to the pack.
            words[words.index("--policy-pack") + 1] = str((project / "policies").resolve())
        result = run(words, cwd=project, env={**env, **assigned}, check=False, timeout=600)
        if result.returncode != 0:
            # Pulumi prints policy violations on stdout, the engine's errors on stderr.
            failures.append(
                f"{' '.join(words)} exited {result.returncode}: "
                f"{result.stdout[-1500:]}{result.stderr[-800:]}"
            )
    assert failures == []
