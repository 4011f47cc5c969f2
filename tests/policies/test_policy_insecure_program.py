"""The e2e suite's insecure program, run under mocks: the pack names every policy it expects.

Keeps tests/e2e/test_policy_pack.py honest while the real engine is not at
hand: the same program, the same pack, the same list of names.
"""

from __future__ import annotations

import importlib.util
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
from kgot_policies import evaluate
from kgot_policies.registry import POLICIES

pytestmark = pytest.mark.policies
ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "tests" / "e2e" / "insecure_program" / "insecure.py"


class _Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.created: list[tuple[str, str, dict[str, Any]]] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.created.append((args.typ, args.name, dict(args.inputs)))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []


def _expected() -> tuple[str, ...]:
    spec = importlib.util.spec_from_file_location(
        "e2e_policy_pack", ROOT / "tests" / "e2e" / "test_policy_pack.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected: tuple[str, ...] = module.EXPECTED
    return expected


def test_insecure_program_breaks_every_policy_the_e2e_test_names() -> None:
    recorder = _Recorder()
    pulumi.runtime.set_mocks(recorder, project="kgot-insecure-fixture", stack="insecure")

    def program() -> None:
        runpy.run_path(str(PROGRAM), run_name="__main__")

    pulumi.runtime.test(program)()  # type: ignore[no-untyped-call]
    resources = [evaluate.resource(t, inputs, name) for t, name, inputs in recorder.created]
    found = evaluate.run(POLICIES, resources)
    named = {v.policy for v in found}
    assert set(_expected()) <= named, sorted(set(_expected()) - named)
    assert all(v.enforcement == "mandatory" for v in found if v.policy in _expected())
    assert not any(("AKIA" + "IOSFODNN7EXAMPLE") in v.message for v in found)
