"""pyproject.toml declares what the packages it installs import at run time."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ("requirements.txt", "requirements-dev.txt", "policies/requirements.txt")


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


def _local_projects(requirements: Path) -> list[Path]:
    """The folders a requirements file installs editable (`-e ./path`), as pip reads
    them: against the repository root, where `make venv` runs."""
    lines = requirements.read_text(encoding="utf-8").splitlines()
    return [ROOT / line.removeprefix("-e ").strip() for line in lines if line.startswith("-e ")]


def _project(folder: Path) -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads(
        (folder / "pyproject.toml").read_text(encoding="utf-8")
    )["project"]
    return project


def test_the_declared_versions_admit_the_pinned_ones() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pinned: dict[str, str] = {}
    for name in REQUIREMENTS:
        for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
            if "==" in line and not line.startswith("#"):
                package, _, version = line.partition("==")
                pinned[_name(package)] = version.strip()
        # A project of this repository is pinned by its folder: its own version.
        for folder in _local_projects(ROOT / name):
            pinned[_name(_project(folder)["name"])] = _project(folder)["version"]
    for requirement in project["project"]["dependencies"]:
        name = _name(requirement)
        low = re.search(r">=([0-9.]+)", requirement)
        high = re.search(r"<([0-9.]+)", requirement)
        assert low and high and name in pinned, requirement
        pin = tuple(int(p) for p in pinned[name].split("."))
        assert tuple(int(p) for p in low.group(1).split(".")) <= pin, requirement
        assert pin < tuple(int(p) for p in high.group(1).split(".")), requirement


def test_the_program_and_the_pack_both_install_the_contract() -> None:
    # The pack may not import components or kgot_rollout, so what they share
    # with it is a distribution of its own that both declare.
    contract = _project(ROOT / "contract")
    assert contract["dependencies"] == [], "the contract stays standard library only"
    assert _imports("contract/kgot_contract") <= set(sys.stdlib_module_names) | {"kgot_contract"}
    assert _local_projects(ROOT / "policies" / "requirements.txt") == [ROOT / "contract"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = {_name(r) for r in project["project"]["dependencies"]}
    assert _name(contract["name"]) in declared
    # requirements-dev.txt, which `make venv` installs, brings the pack's requirements.
    dev = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()
    assert "-r policies/requirements.txt" in dev
