"""Runs the Pulumi program under mocks and records every resource it registers."""

from __future__ import annotations

import json
import runpy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pulumi

from tests.committed_stacks import stack_config

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Recorded:
    typ: str
    name: str
    inputs: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.typ.rsplit(":", 1)[-1]

    @property
    def k8s_name(self) -> str | None:
        metadata = self.inputs.get("metadata") or {}
        name = metadata.get("name")
        return name if isinstance(name, str) else None


class RecordingMocks(pulumi.runtime.Mocks):
    """Echoes inputs back as state and keeps a list of what was created."""

    def __init__(self) -> None:
        self.resources: list[Recorded] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(Recorded(args.typ, args.name, dict(args.inputs)))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []


@dataclass
class Program:
    """What one run of the program registered and exported."""

    resources: list[Recorded]
    exports: dict[str, Any] = field(default_factory=dict)

    def kubernetes(self) -> list[Recorded]:
        return [r for r in self.resources if r.typ.startswith("kubernetes:")]

    def of_kind(self, kind: str) -> list[Recorded]:
        return [r for r in self.kubernetes() if r.kind == kind]

    def one(self, kind: str, name: str) -> Recorded:
        found = [r for r in self.of_kind(kind) if r.k8s_name == name]
        assert len(found) == 1, f"{kind} {name}: found {len(found)}"
        return found[0]

    def names(self, kind: str) -> set[str]:
        return {r.k8s_name for r in self.of_kind(kind) if r.k8s_name}


def _config_value(value: object) -> str:
    # The language host hands every config value over as a string.
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ProgramRunner:
    """Runs `__main__.py` with a stack file's config plus overrides.

    `last` keeps the run's record even when the program raises, so a test can
    check that bad config registered nothing.
    """

    def __init__(self) -> None:
        self.last: Program | None = None

    def __call__(
        self,
        stack: str = "staging",
        overrides: Mapping[str, object] | None = None,
        secrets: Mapping[str, str] | None = None,
        plain: Mapping[str, str] | None = None,
    ) -> Program:
        raw: dict[str, object] = stack_config(stack)
        raw.update(overrides or {})
        config = {f"kgot-platform:{k}": _config_value(v) for k, v in raw.items() if v is not None}
        for key, value in {**(secrets or {}), **(plain or {})}.items():
            config[f"kgot-platform:{key}"] = value
        mocks = RecordingMocks()
        pulumi.runtime.set_mocks(mocks, project="kgot-platform", stack=stack, preview=False)
        pulumi.runtime.set_all_config(config, [f"kgot-platform:{k}" for k in (secrets or {})])
        program = self.last = Program(mocks.resources)

        def execute() -> pulumi.Output[None]:
            runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
            root = pulumi.runtime.get_root_resource()
            exported = dict(getattr(root, "outputs", {}) or {})
            # Resolved here, inside the runtime, so tests see plain values.
            return pulumi.Output.from_input(exported).apply(program.exports.update)

        # `pulumi.runtime.test` runs it inside the runtime and waits for every
        # registration; the SDK leaves the decorator unannotated.
        run_once = cast(Callable[[], None], pulumi.runtime.test(execute))  # type: ignore[no-untyped-call]
        run_once()
        return program


def plain(value: Any) -> Any:
    """Inputs as the engine shows them to a policy: secrets unwrapped."""
    from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

    if is_rpc_secret(value):
        return plain(unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
