"""pyproject.toml declares what the packages it installs import at run time."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    """PEP 503 normalised project name of a requirement string."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _imports(package: str) -> set[str]:
    found: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def test_every_third_party_import_of_the_installed_packages_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = project["tool"]["setuptools"]["packages"]
    declared = {_name(r) for r in project["project"]["dependencies"]}
    distributions = metadata.packages_distributions()
    imported = set().union(*(_imports(p) for p in packages)) - set(packages)
    third_party = sorted(m for m in imported if m not in sys.stdlib_module_names)
    needed = {m: {_name(d) for d in distributions.get(m, [m])} for m in third_party}
    missing = {m: sorted(names) for m, names in needed.items() if not names & declared}
    assert missing == {}, "add these to [project] dependencies in pyproject.toml"
    # And nothing declared that no installed module needs.
    unused = declared - set().union(*needed.values())
    assert unused == set()


def test_the_declared_versions_admit_the_pinned_ones() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pinned: dict[str, str] = {}
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
            if "==" in line and not line.startswith("#"):
                package, _, version = line.partition("==")
                pinned[_name(package)] = version.strip()
    for requirement in project["project"]["dependencies"]:
        name = _name(requirement)
        low = re.search(r">=([0-9.]+)", requirement)
        high = re.search(r"<([0-9.]+)", requirement)
        assert low and high and name in pinned, requirement
        pin = tuple(int(p) for p in pinned[name].split("."))
        assert tuple(int(p) for p in low.group(1).split(".")) <= pin, requirement
        assert pin < tuple(int(p) for p in high.group(1).split(".")), requirement
