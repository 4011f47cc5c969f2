"""The policy pack against Checkov: what each catches, what each wrongly refuses, how fast.

For every defect in benchmarks/policy_corpus.py (the platform's hardened
manifests with one thing broken; a first round and a second one on RBAC
escalation paths, hidden secrets and exposure) and policy_corpus_round3.py
(autoscalers, egress isolation, any workload identity, cloud credential
names), a tool catches it when it
reports something new compared with the hardened manifests. For every sane
case (public key material, names that only look secret, secrets where they
belong), anything new it reports is a false alarm. Prints a table side by side
with Checkov's Kubernetes and secrets checks on the same manifests (written as
YAML files), what each reports on the hardened platform itself, and the
evaluation time per resource.

  .venv/bin/python benchmarks/policy_bench.py [--repeat 20] [--checkov PATH]

Checkov pins many packages, so it lives in a venv of its own:
  python3 -m venv ~/.cache/kgot-platform/checkov-venv
  ~/.cache/kgot-platform/checkov-venv/bin/pip install checkov
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "policies")]

from kgot_policies import evaluate  # noqa: E402
from kgot_policies._meta import REVIEW_TAG  # noqa: E402
from kgot_policies.registry import POLICIES  # noqa: E402
from policy_corpus import DEFECTS, ROUND_2, SANE, Body, Defect, baselines, copied  # noqa: E402
from policy_corpus_round3 import BASELINES_3, ROUND_3, SANE_3  # noqa: E402

# Advisory findings for a reviewer (people's exec grants): shown, never a refusal.
REVIEW_ONLY = frozenset(p.name for p in POLICIES if REVIEW_TAG in (p.tags or []))

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


def pack_findings(bodies: list[Body], config: evaluate.PackConfig | None = None) -> Counter[str]:
    found = evaluate.run(POLICIES, _resources(copied(bodies)), config)
    return Counter(v.policy for v in found)


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


@dataclass
class Tally:
    """How many cases of a kind a tool reported something new on."""

    ours: int = 0
    theirs: int = 0
    total: int = 0

    def shown(self, checkov: bool) -> str:
        text = f"kgot pack {self.ours}/{self.total}"
        return text + (f", Checkov {self.theirs}/{self.total}" if checkov else "")


def _print_cases(
    title: str,
    cases: dict[str, Defect],
    ours: Callable[[str, Defect], list[str]],
    theirs: dict[str, Counter[str]] | None,
    refusals_only: bool = False,
) -> Tally:
    print(f"{title}:")
    tally = Tally(total=len(cases))
    for name, case in cases.items():
        base = f"base-{case.baseline.lower()}"
        new_ours = ours(name, case)
        counted = [f for f in new_ours if not (refusals_only and f in REVIEW_ONLY)]
        tally.ours += bool(counted)
        new_theirs: list[str] = []
        if theirs is not None:
            new_theirs = _new(theirs.get(name, Counter()), theirs.get(base, Counter()))
            tally.theirs += bool(new_theirs)
        print(
            f"{case.rule:>4}  {case.label:<46} {_cell(new_ours, 46):<46} "
            f"{_cell(new_theirs, 40) if theirs is not None else 'n/a'}"
        )
    print()
    return tally


def _listed(found: Counter[str]) -> str:
    return ", ".join(f"{k} x{n}" for k, n in sorted(found.items()))


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
    bases.update({name: build() for name, build in BASELINES_3.items()})
    groups = {f"base-{k.lower()}": v for k, v in bases.items()}
    if options.program:
        groups["program"] = program_manifests(options.program)
    rounds = {
        "round 1 defects": {f"{i:02d}-{_slug(d.label)}": d for i, d in enumerate(DEFECTS, 1)},
        "round 2 defects": {
            f"{i:02d}-{_slug(d.label)}": d for i, d in enumerate(ROUND_2, len(DEFECTS) + 1)
        },
        "round 3 defects": {
            f"{i:02d}-{_slug(d.label)}": d
            for i, d in enumerate(ROUND_3, len(DEFECTS) + len(ROUND_2) + 1)
        },
        "sane manifests (anything new but a review note is a false alarm)": {
            f"ok-{i:02d}-{_slug(d.label)}": d for i, d in enumerate([*SANE, *SANE_3], 1)
        },
    }
    for cases in rounds.values():
        groups.update({name: case.build() for name, case in cases.items()})

    @functools.cache
    def findings(name: str, config: str) -> Counter[str]:
        return pack_findings(groups[name], json.loads(config))

    def ours(name: str, case: Defect) -> list[str]:
        config = json.dumps(case.config, sort_keys=True)
        return _new(findings(name, config), findings(f"base-{case.baseline.lower()}", config))

    per_resource, count = time_pack(list(groups.values()), options.repeat)

    theirs: dict[str, Counter[str]] | None = None
    checkov_note = ""
    checkov_time = 0.0
    if options.checkov.exists():
        with tempfile.TemporaryDirectory() as tmp:
            write_manifests(Path(tmp), groups)
            theirs, checkov_time = checkov_findings(options.checkov, Path(tmp))
    else:
        checkov_note = f" (Checkov not found at {options.checkov}; see the module docstring)"

    header = f"{'rule':>4}  {'case':<46} {'kgot pack: new findings':<46} Checkov: new failed checks"
    print(header)
    print("-" * len(header))
    tallies = {
        title: _print_cases(title, cases, ours, theirs, refusals_only=title.startswith("sane"))
        for title, cases in rounds.items()
    }
    checkov = theirs is not None
    first, second, third, sane = tallies.values()
    caught = Tally(
        first.ours + second.ours + third.ours,
        first.theirs + second.theirs + third.theirs,
        first.total + second.total + third.total,
    )
    print(f"defects caught: {caught.shown(checkov)}{checkov_note}")
    print(
        f"  round 1: {first.shown(checkov)}; round 2: {second.shown(checkov)}; "
        f"round 3: {third.shown(checkov)}"
    )
    print(f"sane manifests wrongly refused: {sane.shown(checkov)}")
    # The whole platform stack (baseline, services, routing, monitoring): what
    # a scanner reports there is noise the team would have to wade through.
    ours_on_platform = findings("base-stack", "{}")
    print(
        f"findings on the hardened platform ({len(groups['base-stack'])} manifests): "
        f"kgot pack {sum(ours_on_platform.values())}",
        end="",
    )
    if theirs is not None:
        on_platform = theirs.get("base-stack", Counter())
        print(f", Checkov {sum(on_platform.values())} ({_listed(on_platform)})")
    else:
        print()
    if "program" in groups:
        ours_program = findings("program", "{}")
        print(
            f"findings on the program's own {options.program} manifests "
            f"({len(groups['program'])}, Pulumi mocks): kgot pack {sum(ours_program.values())}",
            end="",
        )
        if theirs is not None:
            on_program = theirs.get("program", Counter())
            print(f", Checkov {sum(on_program.values())} ({_listed(on_program)})")
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
