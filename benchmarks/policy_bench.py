"""The policy pack against Checkov: what each catches, and how fast.

For every defect in benchmarks/policy_corpus.py (the platform's hardened
manifests with one thing broken), a tool catches it when it reports something
new compared with the hardened manifests. Prints a table side by side with
Checkov's Kubernetes and secrets checks on the same manifests (written as YAML
files), what each reports on the hardened platform itself, and the evaluation
time per resource.

  .venv/bin/python benchmarks/policy_bench.py [--repeat 20] [--checkov PATH]

Checkov pins many packages, so it lives in a venv of its own:
  python3 -m venv ~/.cache/kgot-platform/checkov-venv
  ~/.cache/kgot-platform/checkov-venv/bin/pip install checkov
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "policies")]

from kgot_policies import evaluate  # noqa: E402
from kgot_policies.registry import POLICIES  # noqa: E402
from policy_corpus import DEFECTS, Body, baselines, copied  # noqa: E402

DEFAULT_CHECKOV = Path.home() / ".cache" / "kgot-platform" / "checkov-venv" / "bin" / "checkov"
CHECKOV_FLAGS = ("-o", "json", "--skip-download", "--compact", "--quiet")
TYPE_OF = {
    "v1": "core/v1",
}


def _type_token(body: Body) -> str:
    api = str(body["apiVersion"])
    return f"kubernetes:{TYPE_OF.get(api, api)}:{body['kind']}"


def _resources(bodies: list[Body]) -> list[Any]:
    return [evaluate.resource(_type_token(b), b, b["metadata"]["name"]) for b in bodies]


def pack_findings(bodies: list[Body]) -> Counter[str]:
    return Counter(v.policy for v in evaluate.run(POLICIES, _resources(copied(bodies))))


def time_pack(groups: list[list[Body]], repeat: int) -> tuple[float, int]:
    """Seconds per resource for the whole pack (resource and stack policies)."""
    prepared = [_resources(copied(g)) for g in groups]
    count = sum(len(g) for g in prepared)
    start = time.perf_counter()
    for _ in range(repeat):
        for resources in prepared:
            evaluate.run(POLICIES, resources)
    return (time.perf_counter() - start) / (repeat * count), count


def time_policies(groups: list[list[Body]], repeat: int) -> list[tuple[float, str]]:
    """Seconds per resource for each policy alone, slowest first."""
    prepared = [_resources(copied(g)) for g in groups]
    count = sum(len(g) for g in prepared)
    timings = []
    for policy in POLICIES:
        start = time.perf_counter()
        for _ in range(repeat):
            for resources in prepared:
                evaluate.run([policy], resources)
        timings.append(((time.perf_counter() - start) / (repeat * count), policy.name))
    return sorted(timings, reverse=True)


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def write_manifests(root: Path, groups: dict[str, list[Body]]) -> None:
    for name, bodies in groups.items():
        folder = root / name
        folder.mkdir(parents=True)
        text = yaml.safe_dump_all(bodies, sort_keys=False) if bodies else ""
        (folder / "manifest.yaml").write_text(text, encoding="utf-8")


def _reports(output: str) -> list[dict[str, Any]]:
    document = json.loads(output)
    return document if isinstance(document, list) else [document]


def checkov_findings(checkov: Path, root: Path) -> tuple[dict[str, Counter[str]], float]:
    """Failed check ids per manifest folder, and Checkov's wall time."""
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    start = time.perf_counter()
    proc = subprocess.run(
        [str(checkov), "-d", str(root), "--framework", "kubernetes", "secrets", *CHECKOV_FLAGS],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=1800,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise RuntimeError(f"checkov failed ({proc.returncode}): {proc.stderr[-2000:]}")
    found: dict[str, Counter[str]] = {}
    for report in _reports(proc.stdout):
        for check in (report.get("results") or {}).get("failed_checks") or []:
            folder = Path(str(check.get("file_path", ""))).parts
            # file_path is relative to -d, with a leading slash: /<folder>/manifest.yaml
            name = next((p for p in folder if p not in ("/", "")), "?")
            found.setdefault(name, Counter())[str(check.get("check_id"))] += 1
    return found, elapsed


def _new(found: Counter[str], baseline: Counter[str]) -> list[str]:
    return sorted(k for k in found if found[k] > baseline.get(k, 0))


def _cell(items: Sequence[str], width: int) -> str:
    text = ", ".join(items) if items else "-"
    return text if len(text) <= width else text[: width - 3] + "..."


def _engine_view(value: Any) -> Any:
    """Recorded inputs as a policy (and a manifest file) sees them: secrets unwrapped."""
    from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

    if is_rpc_secret(value):
        return _engine_view(unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: _engine_view(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_engine_view(v) for v in value]
    return value


def program_manifests(stack: str) -> list[Body]:
    """The Kubernetes objects the real program declares for a stack (Pulumi mocks)."""
    import pulumi

    sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "unit")]
    from mocked_program import ProgramRunner

    try:
        program = ProgramRunner()(stack)
    finally:
        pulumi.runtime.set_all_config({}, [])
    bodies = []
    for recorded in program.kubernetes():
        body = _engine_view(recorded.inputs)
        if isinstance(body.get("apiVersion"), str) and isinstance(body.get("kind"), str):
            bodies.append(body)
    return bodies


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="timing rounds of the pack")
    parser.add_argument("--checkov", type=Path, default=DEFAULT_CHECKOV)
    parser.add_argument("--per-policy", action="store_true", help="also time each policy alone")
    parser.add_argument(
        "--program",
        default="dev",
        help="also scan the real program's manifests for this stack (mocks); '' to skip",
    )
    options = parser.parse_args(argv)

    bases = baselines()
    groups = {f"base-{k.lower()}": v for k, v in bases.items()}
    if options.program:
        groups["program"] = program_manifests(options.program)
    defects = {f"{i:02d}-{_slug(d.label)}": d for i, d in enumerate(DEFECTS, 1)}
    groups.update({name: d.build() for name, d in defects.items()})

    ours = {name: pack_findings(bodies) for name, bodies in groups.items()}
    per_resource, count = time_pack(list(groups.values()), options.repeat)

    theirs: dict[str, Counter[str]] | None = None
    checkov_note = ""
    checkov_time = 0.0
    if options.checkov.exists():
        with tempfile.TemporaryDirectory() as tmp:
            write_manifests(Path(tmp), groups)
            theirs, checkov_time = checkov_findings(options.checkov, Path(tmp))
    else:
        checkov_note = f"(Checkov not found at {options.checkov}; see the module docstring)"

    header = (
        f"{'rule':>4}  {'defect':<44} {'kgot pack: new findings':<46} Checkov: new failed checks"
    )
    print(header)
    print("-" * len(header))
    caught_ours = caught_theirs = 0
    for name, defect in defects.items():
        base = f"base-{defect.baseline.lower()}"
        new_ours = _new(ours[name], ours[base])
        caught_ours += bool(new_ours)
        new_theirs: list[str] = []
        if theirs is not None:
            new_theirs = _new(theirs.get(name, Counter()), theirs.get(base, Counter()))
            caught_theirs += bool(new_theirs)
        print(
            f"{defect.rule:>4}  {defect.label:<44} {_cell(new_ours, 46):<46} "
            f"{_cell(new_theirs, 40) if theirs is not None else 'n/a'}"
        )
    total = len(defects)
    print()
    print(f"defects caught: kgot pack {caught_ours}/{total}", end="")
    print(f", Checkov {caught_theirs}/{total}" if theirs is not None else f" {checkov_note}")
    # The whole platform stack (baseline, services, routing, monitoring): what
    # a scanner reports there is noise the team would have to wade through.
    ours_on_platform = sum(ours["base-stack"].values())
    stack_size = len(groups["base-stack"])
    print(
        f"findings on the hardened platform ({stack_size} manifests): kgot pack {ours_on_platform}",
        end="",
    )
    if theirs is not None:
        on_platform = theirs.get("base-stack", Counter())
        listed = ", ".join(f"{k} x{n}" for k, n in sorted(on_platform.items()))
        print(f", Checkov {sum(on_platform.values())} ({listed})")
    else:
        print()
    if "program" in groups:
        ours_program = sum(ours["program"].values())
        print(
            f"findings on the program's own {options.program} manifests "
            f"({len(groups['program'])}, Pulumi mocks): kgot pack {ours_program}",
            end="",
        )
        if theirs is not None:
            on_program = theirs.get("program", Counter())
            listed = ", ".join(f"{k} x{n}" for k, n in sorted(on_program.items()))
            print(f", Checkov {sum(on_program.values())} ({listed})")
        else:
            print()
    print(
        f"evaluation time: kgot pack {per_resource * 1e3:.2f} ms/resource "
        f"({count} resources x {options.repeat} rounds, {len(POLICIES)} policies, in process)",
        end="",
    )
    if theirs is not None:
        checkov_ms = checkov_time / count * 1e3
        print(
            f"; Checkov {checkov_ms:.1f} ms/resource ({checkov_time:.1f} s, one run with start-up)"
        )
    else:
        print()
    if options.per_policy:
        print("slowest policies (ms/resource, each alone):")
        for seconds, name in time_policies(list(groups.values()), options.repeat)[:8]:
            print(f"  {seconds * 1e3:6.3f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
