"""Finds the commands a workflow step or a runbook block runs, and checks each exists here.

A small reader of the shell the workflows and the runbook are written in
(simple commands joined by `&&`, `||`, `;`, `|`, with `if`/`for`, bash arrays
and redirections), not a full bash parser: anything it cannot place is
reported as unknown, never passed over.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shlex
import subprocess
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from kgot_rollout._parser import build_parser
from tests.toolchain_support import toolchain_environment

ROOT = Path(__file__).resolve().parents[2]
TOOLCHAIN = ROOT / "toolchain"

# Stand-ins for values only known at run time; numeric, so typed options parse.
PLACEHOLDER = "1"
_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
_ARRAY = re.compile(r"(\w+)\+?=")
_SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", "!", "{", "}"}
_KEYWORDS = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "time"}

# Ordinary tools of a runner (and of this machine); everything else must be
# the project's own (make targets, scripts, the virtualenv's tools) or one of
# the CLIs whose subcommands and flags are checked against their --help.
SYSTEM_COMMANDS = frozenset(
    {
        "[",
        "[[",
        "test",
        "echo",
        "printf",
        "cat",
        "tee",
        "grep",
        "tail",
        "sleep",
        "seq",
        "exit",
        "set",
        "source",
        "umask",
        "cd",
        "export",
        "true",
        "false",
        "curl",
        "python3",
        "nohup",
        "git",
        "mkdir",
        "ls",
        "date",
        "read",
    }
)
CHECKED_CLIS = ("pulumi", "kubectl")


@dataclass
class Command:
    """One simple command: its words, with run-time values replaced by placeholders."""

    words: list[str]
    where: str

    def __str__(self) -> str:
        return f"{self.where}: {shlex.join(self.words)}"


def logical_lines(script: str) -> Iterator[str]:
    """Lines with backslash continuations joined and comments dropped."""
    pending = ""
    for raw in script.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        if line.strip() and not line.strip().startswith("#"):
            yield line.strip()
    if pending.strip():
        yield pending.strip()


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(_EXPRESSION.sub(PLACEHOLDER, line), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def _is_redirection(token: str) -> bool:
    return bool(token) and set(token) <= set("<>&") and token not in ("&", "&&")


def simple_commands(script: str, where: str) -> Iterator[Command]:
    arrays: dict[str, list[str]] = {}
    for line in logical_lines(script):
        words: list[str] = []
        tokens = _tokens(line)
        index = 0
        while index <= len(tokens):
            token = tokens[index] if index < len(tokens) else ";"
            index += 1
            array = _ARRAY.fullmatch(token)
            if array and index < len(tokens) and tokens[index] == "(":
                # `args=(...)` / `args+=(...)`: kept, so `"${args[@]}"` can be expanded.
                end = tokens.index(")", index)
                arrays.setdefault(array.group(1), []).extend(tokens[index + 1 : end])
                index = end + 1
                continue
            if token in _SEPARATORS:
                if words:
                    yield Command(words, where)
                words = []
                continue
            if _is_redirection(token):
                if words and words[-1].isdigit():
                    words.pop()  # the fd of `2>&1`
                index += 1  # the redirection's target
                continue
            expanded = re.fullmatch(r"\$\{(\w+)\[@\]\}", token)
            if expanded:
                words.extend(arrays.get(expanded.group(1), []))
                continue
            words.append(token)
    return


def _placeholders(words: Sequence[str]) -> list[str]:
    return [PLACEHOLDER if "$" in w else w for w in words]


@cache
def make_targets() -> frozenset[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return frozenset(
        name
        for match in re.finditer(r"^([A-Za-z0-9_.-][A-Za-z0-9_. -]*):(?!=)", text, re.MULTILINE)
        for name in match.group(1).split()
    )


@cache
def pytest_markers() -> frozenset[str]:
    document = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    markers = document["tool"]["pytest"]["ini_options"]["markers"]
    return frozenset(m.split(":", 1)[0].strip() for m in markers)


def check_rollout(words: Sequence[str]) -> str | None:
    """The kgot-rollout subcommand and flags, through the tool's own argparse parser."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(_placeholders(words))
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            return stderr.getvalue().strip().splitlines()[-1]
    except argparse.ArgumentError as error:
        return str(error)
    return None


def check_pytest(words: Sequence[str]) -> str | None:
    for index, word in enumerate(words):
        if word == "-m" and index + 1 < len(words):
            names = set(re.findall(r"[A-Za-z_]\w*", words[index + 1])) - {"and", "or", "not"}
            unknown = names - pytest_markers()
            if unknown:
                return f"pytest marker(s) {sorted(unknown)} not declared in pyproject.toml"
    return None


@cache
def module_help(module: str, pythonpath: str) -> str | None:
    """`python -m <module> --help` in the project's virtualenv, or None if that fails."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(ROOT / p) for p in pythonpath.split(":"))
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", module, "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout if result.returncode == 0 else None


def check_python(words: Sequence[str], environment: Sequence[str]) -> str | None:
    """`python -m <module> ...`: the module runs here and knows every flag given.

    `environment` holds the command's leading `NAME=value` words (PYTHONPATH).
    Scripts and `-c` code are not followed.
    """
    if len(words) < 2 or words[0] != "-m":
        return None
    module = words[1]
    pythonpath = ""
    for assignment in environment:
        name, _, value = assignment.partition("=")
        if name == "PYTHONPATH":
            pythonpath = value
    text = module_help(module, pythonpath)
    if text is None:
        return f"`python -m {module} --help` fails here (PYTHONPATH={pythonpath or 'unset'})"
    for word in words[2:]:
        flag = word.split("=", 1)[0]
        if re.fullmatch(r"--?[a-z][a-z0-9-]*", flag) and not re.search(
            rf"(^|[\s,\[]){re.escape(flag)}([\s=,\]]|$)", text, re.MULTILINE
        ):
            return f"`python -m {module}` has no flag {flag}"
    return None


def toolchain_path(state: Path) -> str:
    """PATH as toolchain/env.sh sets it (the hermetic pulumi, kubectl, actionlint)."""
    return toolchain_environment(state)["PATH"]


class CliHelp:
    """Checks `pulumi ...` / `kubectl ...` words against the real binaries' --help."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._help: dict[tuple[str, ...], str | None] = {}

    def binary(self, name: str) -> str | None:
        for folder in self.path.split(os.pathsep):
            candidate = Path(folder) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
        return None

    def help_text(self, cli: str, subcommand: tuple[str, ...]) -> str | None:
        key = (cli, *subcommand)
        if key not in self._help:
            binary = self.binary(cli)
            assert binary is not None
            # `kubectl options` prints the global flags; its --help prints nothing useful.
            asked = [*subcommand] if subcommand == ("options",) else [*subcommand, "--help"]
            result = subprocess.run(
                [binary, *asked],
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "PATH": self.path, "PULUMI_SKIP_UPDATE_CHECK": "true"},
            )
            self._help[key] = result.stdout + result.stderr if result.returncode == 0 else None
        return self._help[key]

    def check(self, words: Sequence[str]) -> str | None:
        cli, *rest = words
        # Subcommand words: leading words that are not flags, as far as --help knows them.
        subcommand: list[str] = []
        for word in rest:
            if word.startswith("-") or "$" in word or word == PLACEHOLDER:
                break
            candidate = self.help_text(cli, (*subcommand, word))
            if candidate is None or candidate == self.help_text(cli, tuple(subcommand)):
                break
            subcommand.append(word)
        if not subcommand:
            return f"{cli}: no subcommand that `{cli} --help` knows in {shlex.join(words)}"
        text = self.help_text(cli, tuple(subcommand)) or ""
        following = rest[len(subcommand)] if len(rest) > len(subcommand) else ""
        if (
            following
            and not following.startswith("-")
            and "Available Commands:" in text
            and not re.search(rf"^\s+{re.escape(following)}\s", text, re.MULTILINE)
        ):
            return f"`{cli} {' '.join(subcommand)}` has no subcommand {following}"
        if cli == "kubectl":
            # Global flags (--namespace, --context, ...) are listed by `kubectl options` only.
            text += self.help_text(cli, ("options",)) or ""
        for word in rest:
            flag = word.split("=", 1)[0]
            if re.fullmatch(r"--[a-z][a-z0-9-]*", flag) and not re.search(
                rf"(^|[\s,]){re.escape(flag)}([\s=,\[]|$)", text, re.MULTILINE
            ):
                return f"`{cli} {' '.join(subcommand)}` has no flag {flag}"
        return None


def check_commands(commands: Sequence[Command], cli: CliHelp | None) -> list[str]:
    """Problems with the commands: each must exist in the project or be an ordinary tool."""
    problems: list[str] = []
    for command in commands:
        # Leading `NAME=value` words are assignments (alone, or the command's environment).
        words = list(command.words)
        environment: list[str] = []
        while words and re.fullmatch(r"\w+=.*", words[0]):
            environment.append(words.pop(0))
        while words and words[0] in _KEYWORDS:
            words = words[1:]
        if not words or words[0] in ("for", "case", "esac", "in"):
            continue
        head = words[0]
        problem: str | None = None
        if head == "make":
            missing = [t for t in words[1:] if not t.startswith("-") and t not in make_targets()]
            if missing:
                problem = f"no make target {missing} in the Makefile"
        elif head.startswith((".github/", "./", "toolchain/")):
            script = ROOT / head
            if not (script.is_file() and os.access(script, os.X_OK)):
                problem = f"{head} is not an executable file of the project"
        elif head.startswith(".venv/bin/") or head == "kgot-rollout":
            tool = head.rsplit("/", 1)[-1]
            if tool == "kgot-rollout":
                problem = check_rollout(words[1:])
            elif tool == "pytest":
                problem = check_pytest(words[1:])
            elif tool == "python":
                problem = check_python(words[1:], environment)
            elif tool not in ("ruff", "mypy", "pip"):
                problem = f"{tool} is not a tool the project's virtualenv provides"
        elif head in CHECKED_CLIS:
            if cli is None or cli.binary(head) is None:
                problem = None if cli is None else f"{head} not found to check against"
            else:
                problem = cli.check(words)
        elif head not in SYSTEM_COMMANDS:
            problem = f"{head} is neither the project's nor an ordinary tool"
        if problem:
            problems.append(f"{command}: {problem}")
    return problems
