"""``AutomationEngine`` on the real Pulumi CLI (no cluster needed).

A small project named like the platform registers components typed as the
platform's resources (Services, an HTTPRoute, Deployments) from the same
config keys, so preview steps, targeted updates, history and the stack lock
come from the real engine and a file backend.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kgot_policies.stack_config import pack_config, reviewed_roles
from pulumi.automation.events import EngineEvent, OpType

from components.settings import parse_settings, read_stack_file
from kgot_rollout._automation import AutomationEngine
from kgot_rollout._engine import unsafe_changes
from kgot_rollout._engine_events import describe_event
from kgot_rollout._exceptions import RefusedError, StackLockedError
from kgot_rollout._pack_config import bridge_pack_config
from kgot_rollout._types import ExitCode
from kgot_rollout.cli import Dependencies, run
from tests.committed_stacks import stack_file
from tests.toolchain_support import require_tools, toolchain_environment

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]

PROGRAM = """
import os
import time

import pulumi

config = pulumi.Config()
active = config.require("activeColor")
weight = config.get_int("standbyWeight") or 0
standby = "green" if active == "blue" else "blue"


class Fake(pulumi.ComponentResource):
    def __init__(self, type_: str, name: str, props: dict) -> None:
        super().__init__(type_, name, props)
        self.register_outputs({})


for colour in ("blue", "green"):
    Fake("kubernetes:apps/v1:Deployment", f"controller-{colour}",
         {"image": "controller:" + config.require(f"{colour}Version")})
Fake("kubernetes:core/v1:Service", "controller", {"selector": active})
Fake("kubernetes:core/v1:Service", "controller-preview", {"selector": standby})
Fake("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "controller",
     {"weights": [100 - weight, weight]})
# Whether the engine ran with its per-step checkpoints off (the program
# inherits the CLI's environment).
pulumi.export("skipCheckpoints", os.environ.get("PULUMI_SKIP_CHECKPOINTS", ""))
if os.environ.get("KGOT_TEST_SLOW_PROGRAM"):
    time.sleep(float(os.environ["KGOT_TEST_SLOW_PROGRAM"]))
"""

# A pack with one stack policy that fails only when its config says so: whether
# it fails tells whether the engine handed the pack its config.
PROBE_PACK = """
from pulumi_policy import (
    EnforcementLevel, PolicyConfigSchema, PolicyPack, StackValidationPolicy,
)


def probe(args, report_violation):
    if args.get_config().get("refuse"):
        report_violation("refused because the pack config says refuse")


PolicyPack(
    name="kgot-config-probe",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        StackValidationPolicy(
            name="config-probe",
            description="Fails when its config says refuse.",
            validate=probe,
            config_schema=PolicyConfigSchema(properties={"refuse": {"type": "boolean"}}),
        )
    ],
)
"""


def _toolchain_env(state: Path) -> dict[str, str]:
    env = toolchain_environment(state)
    # A backend and passphrase of this module's own.
    env["PULUMI_BACKEND_URL"] = f"file://{state / 'backend'}"
    env["PULUMI_CONFIG_PASSPHRASE"] = "kgot-rollout-test"
    (state / "backend").mkdir(parents=True, exist_ok=True)
    return env


def pulumi(env: dict[str, str], cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"pulumi {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    state = tmp_path_factory.mktemp("engine-state")
    env = _toolchain_env(state)
    require_tools(env, ("pulumi", "pulumi-language-python"))
    project = tmp_path_factory.mktemp("engine-project")
    (project / "Pulumi.yaml").write_text(
        "name: kgot-platform\nruntime:\n  name: python\n  options:\n    virtualenv: .venv\n"
    )
    (project / "__main__.py").write_text(PROGRAM)
    (project / ".venv").symlink_to(REPO / ".venv")
    # The project's pack, whose package holds the policy-config bridge.
    (project / "policies").symlink_to(REPO / "policies")
    # The dev stack's real config, so the tool's settings check passes.
    # (Its secrets salt belongs to another passphrase: this stack gets its own.)
    document = yaml.safe_load(stack_file("dev").read_text())
    document.pop("encryptionsalt", None)
    (project / "Pulumi.dev.yaml").write_text(yaml.safe_dump(document))
    pulumi(env, project, "stack", "init", "dev")
    pulumi(env, project, "config", "set", "greenVersion", "1.1.0")
    pulumi(env, project, "up", "--yes", "--skip-preview")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield project, env


def engine(project: tuple[Path, dict[str, str]]) -> AutomationEngine:
    return AutomationEngine("dev", project[0], env_vars=project[1], policy_packs=())


def test_unknown_stack_is_refused(project: tuple[Path, dict[str, str]]) -> None:
    with pytest.raises(RefusedError, match="'nope' does not exist"):
        AutomationEngine("nope", project[0], policy_packs=())


def test_a_weight_change_previews_as_routing_only(project: tuple[Path, dict[str, str]]) -> None:
    stack = engine(project)
    stack.set_config({"standbyWeight": "25"})
    try:
        report = stack.preview()
        changed = {(s.type, s.name) for s in report.changes}
        assert changed == {("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "controller")}
        assert not unsafe_changes(report)
        assert report.change_summary.get(OpType.UPDATE) == 1
    finally:
        stack.set_config({"standbyWeight": "0"})


def test_update_events_become_log_lines(project: tuple[Path, dict[str, str]]) -> None:
    lines: list[str] = []

    def collect(event: EngineEvent) -> None:
        line = describe_event(event)
        if line is not None:
            lines.append(line)

    stack = AutomationEngine(
        "dev", project[0], env_vars=project[1], policy_packs=(), on_event=collect
    )
    stack.set_config({"standbyWeight": "10"})
    try:
        stack.up(message="test: events")
        assert "update kubernetes:gateway.networking.k8s.io/v1:HTTPRoute controller" in lines
    finally:
        stack.set_config({"standbyWeight": "0"})
        stack.up(message="test: events back")


def test_a_version_change_is_not_routing(project: tuple[Path, dict[str, str]]) -> None:
    stack = engine(project)
    stack.set_config({"greenVersion": "2.0.0"})
    try:
        unsafe = unsafe_changes(stack.preview())
        assert [(s.type, s.name) for s in unsafe] == [
            ("kubernetes:apps/v1:Deployment", "controller-green")
        ]
    finally:
        stack.set_config({"greenVersion": "1.1.0"})


def test_rollback_targets_routing_resources_only(project: tuple[Path, dict[str, str]]) -> None:
    path, env = project
    stack = engine(project)
    stack.set_config({"standbyWeight": "50"})
    stack.up(message="test: half to green")
    # A version change sits in config but must not ride along with a rollback.
    stack.set_config({"greenVersion": "9.9.9"})
    out = io.StringIO()
    code = run(
        # No cluster here (the Deployments are components): nothing to find Available.
        [
            "rollback",
            "--stack",
            "dev",
            "--project-dir",
            str(path),
            "--reason",
            "test",
            "--allow-unavailable",
        ],
        Dependencies(engine=lambda args: stack, stdout=out, stderr=io.StringIO()),
    )
    try:
        assert code == ExitCode.DONE
        applied = stack.last_update()
        assert applied is not None and applied.result == "succeeded"
        assert applied.config["standbyWeight"] == "0"
        assert "rollback (manual): test" in applied.message
        urns = stack.routing_urns()
        assert sorted(u.rsplit("::", 1)[1] for u in urns) == [
            "controller",
            "controller",
            "controller-preview",
        ]
        state = pulumi(env, path, "stack", "export")
        assert "9.9.9" not in state  # the Deployment was not in the target
    finally:
        stack.set_config({"greenVersion": "1.1.0"})


def test_a_held_stack_lock_is_a_clear_refusal(project: tuple[Path, dict[str, str]]) -> None:
    path, env = project
    slow = subprocess.Popen(
        ["pulumi", "up", "--yes", "--skip-preview", "--non-interactive"],
        cwd=path,
        env={**env, "KGOT_TEST_SLOW_PROGRAM": "15"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        stack = engine(project)
        deadline = time.monotonic() + 10
        while not list((path.parent).glob("**/locks/**/*.json")) and time.monotonic() < deadline:
            time.sleep(0.2)
        with pytest.raises(StackLockedError, match="another update holds the stack lock"):
            stack.up(message="test: must not run", target=stack.routing_urns())
        # status names who holds it (a killed update would leave it there).
        holder = stack.lock_holder()
        assert holder is not None and f"pid {slow.pid}" in holder
    finally:
        slow.wait(timeout=120)
    assert engine(project).lock_holder() is None


def test_the_default_pack_config_is_the_bridges(project: tuple[Path, dict[str, str]]) -> None:
    stack = AutomationEngine("dev", project[0], env_vars=project[1])
    configs = stack.policy_pack_configs
    assert len(configs) == 1
    settings = parse_settings(read_stack_file(project[0] / "Pulumi.dev.yaml"), "dev")
    expected = pack_config(
        settings.environment, settings.security, reviewed_roles=reviewed_roles(settings)
    )
    assert json.loads(Path(configs[0]).read_text()) == expected


def test_a_stack_file_the_program_refuses_gets_no_pack_config(tmp_path: Path) -> None:
    (tmp_path / "policies").symlink_to(REPO / "policies")
    (tmp_path / "Pulumi.broken.yaml").write_text(
        "config:\n  kgot-platform:environment: qa\n  kgot-platform:namespace: kgot-qa\n"
    )
    with pytest.raises(RefusedError, match=r"Pulumi\.broken\.yaml"):
        bridge_pack_config("broken", tmp_path, tmp_path / "pack.json")
    assert not (tmp_path / "pack.json").exists()


def test_the_pack_gets_its_config(project: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    pack = tmp_path / "probe-pack"
    pack.mkdir()
    (pack / "PulumiPolicy.yaml").write_text(
        f"runtime:\n  name: python\n  options:\n    virtualenv: {REPO / '.venv'}\n"
    )
    (pack / "__main__.py").write_text(PROBE_PACK)
    configs = {}
    for refuse in (False, True):
        configs[refuse] = tmp_path / f"probe-{refuse}.json"
        configs[refuse].write_text(json.dumps({"config-probe": {"refuse": refuse}}))

    def engine_with(config: Path) -> AutomationEngine:
        return AutomationEngine(
            "dev",
            project[0],
            env_vars=project[1],
            policy_packs=(str(pack),),
            policy_pack_configs=(config,),
        )

    engine_with(configs[False]).preview()
    with pytest.raises(RefusedError, match=r"policy pack refused.*config-probe"):
        engine_with(configs[True]).preview()


def test_an_in_place_update_skips_checkpoints_and_still_saves_the_state(
    project: tuple[Path, dict[str, str]],
) -> None:
    path, env = project
    stack = engine(project)
    stack.set_config({"standbyWeight": "30"})
    try:
        stack.up(message="test: in place", in_place=True)
        # The final state is saved: the engine's setting and the update's config are in it.
        assert pulumi(env, path, "stack", "output", "skipCheckpoints").strip() == "true"
        assert stack.last_update() is not None
        assert stack.last_update().config["standbyWeight"] == "30"  # type: ignore[union-attr]
    finally:
        stack.set_config({"standbyWeight": "0"})
        # Only that update: the next one writes its checkpoints again.
        stack.up(message="test: back")
    assert pulumi(env, path, "stack", "output", "skipCheckpoints").strip() == ""
