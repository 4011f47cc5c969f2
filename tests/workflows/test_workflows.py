"""The GitHub Actions workflows: actionlint-clean, and every command they run exists here."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from shell_commands import ROOT, CliHelp, Command, check_commands, simple_commands, toolchain_path

pytestmark = pytest.mark.workflows

WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONS = ROOT / ".github" / "actions"
SECRETS = (
    "STAGING_KUBECONFIG",
    "PRODUCTION_KUBECONFIG",
    "GITHUB_TOKEN",
    "PULUMI_BACKEND_URL",
    "PULUMI_CONFIG_PASSPHRASE",
)


def missing_tool(reason: str) -> None:
    """CI must have the toolchain (`make test` builds it); elsewhere say what to run."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def tool_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return toolchain_path(tmp_path_factory.mktemp("kgot-state"))


def load(path: Path) -> dict[Any, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), path
    return document


def workflow(name: str) -> dict[Any, Any]:
    document = load(WORKFLOWS / name)
    # YAML 1.1 reads the key `on` as True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def steps_of(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    document = load(path)
    if "runs" in document:
        for step in document["runs"].get("steps", []):
            yield f"{path.relative_to(ROOT)}", step
        return
    for job_name, job in document["jobs"].items():
        for step in job.get("steps", []):
            yield f"{path.relative_to(ROOT)} job {job_name}", step


def workflow_commands() -> list[Command]:
    files = sorted(WORKFLOWS.glob("*.yml")) + sorted(ACTIONS.glob("*/action.yml"))
    commands: list[Command] = []
    for path in files:
        for where, step in steps_of(path):
            if "run" in step:
                label = f"{where} step {step.get('name', step['run'].splitlines()[0])!r}"
                commands.extend(simple_commands(step["run"], label))
    return commands


def test_actionlint_reports_nothing(tool_path: str) -> None:
    binary = CliHelp(tool_path).binary("actionlint")
    if binary is None:
        missing_tool("actionlint not built: run `make toolchain` (toolchain/build.sh actionlint)")
    assert binary is not None
    result = subprocess.run(
        [binary, "-no-color"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_workflows_exist_and_actionlint_sees_them() -> None:
    assert {p.name for p in WORKFLOWS.glob("*.yml")} >= {"pull-request.yml", "deploy.yml"}


def test_every_command_a_workflow_runs_exists(tool_path: str) -> None:
    cli = CliHelp(tool_path)
    for name in ("pulumi", "kubectl"):
        if cli.binary(name) is None:
            missing_tool(f"{name} not built: run `make toolchain`")
    commands = workflow_commands()
    heads = {c.words[0] for c in commands}
    # The reader found the project's own commands, so it read the steps at all.
    assert {"make", "pulumi", ".venv/bin/kgot-rollout", ".venv/bin/pytest"} <= heads
    assert check_commands(commands, cli) == []


def test_pull_requests_test_then_preview_both_stacks_with_the_pack() -> None:
    pr = workflow("pull-request.yml")
    assert "pull_request" in pr["on"]
    runs = "\n".join(step.get("run", "") for step in pr["jobs"]["test"]["steps"])
    assert "make lint" in runs
    assert "pytest -m unit" in runs
    assert "pytest -m policies" in runs
    preview = pr["jobs"]["preview"]
    assert preview["needs"] == "test"
    assert preview["strategy"]["matrix"]["stack"] == ["staging", "production"]
    assert preview["permissions"]["pull-requests"] == "write"
    text = (WORKFLOWS / "pull-request.yml").read_text(encoding="utf-8")
    assert "pulumi preview --stack" in text and "--policy-pack policies" in text
    assert "createComment" in text and "updateComment" in text


def test_main_deploys_staging_and_release_branches_production() -> None:
    deploy = workflow("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main", "release/**"]
    inputs = deploy["on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"environment", "version", "force_deploy"}
    assert inputs["environment"]["options"] == ["staging", "production"]
    assert inputs["force_deploy"]["type"] == "boolean"
    jobs = deploy["jobs"]
    assert "refs/heads/main" in jobs["staging"]["if"]
    assert "refs/heads/release/" in jobs["production"]["if"]
    assert jobs["staging"]["needs"] == jobs["production"]["needs"] == "test"
    # Protected environment: reviewers and branch rules live on it in the repository.
    assert jobs["production"]["environment"] == "production"
    for name, steps in (("staging", "--steps 50,100"), ("production", "--steps 10,25,50,100")):
        job = jobs[name]["steps"]
        # Checkout, setup, the release, the record: the pipeline is the tool's, not YAML's.
        assert [s.get("uses", "run").split("@")[0] for s in job] == [
            "actions/checkout",
            "./.github/actions/setup-platform",
            "run",
            "actions/upload-artifact",
        ]
        assert ".venv/bin/kgot-rollout release" in job[2]["run"] and steps in job[2]["run"]
        assert job[3]["with"]["path"] == "logs/deployment/" and job[3]["if"] == "always()"


def _option(words: list[str], flag: str) -> str | None:
    return words[words.index(flag) + 1] if flag in words else None


def test_the_stack_security_config_reaches_every_run_of_the_pack() -> None:
    """Each preview/up with the pack, and each rollout that updates, gets the config
    the bridge wrote from the stack's `security` settings earlier in the same job,
    with the digests whose signatures cosign verified before it."""
    files = [WORKFLOWS / "pull-request.yml", WORKFLOWS / "deploy.yml"]
    checked = 0
    for path in files:
        for job_name, job in load(path)["jobs"].items():
            written: set[str] = set()
            verified: set[str] = set()
            for step in job.get("steps", []):
                for command in simple_commands(step.get("run", ""), f"{path.name} {job_name}"):
                    words = [w for w in command.words if not re.fullmatch(r"\w+=.*", w)]
                    if words[:3] == [".venv/bin/python", "-m", "kgot_policies.verify_images"]:
                        output = _option(words, "-o")
                        assert output, f"{command}: the verified digests go to a file (-o)"
                        verified.add(output)
                        continue
                    if words[:3] == [".venv/bin/python", "-m", "kgot_policies.stack_config"]:
                        output = _option(words, "-o")
                        assert output, f"{command}: the bridge's config goes to a file (-o)"
                        # Signatures: the digests cosign verified earlier in the job.
                        digests = _option(words, "--verified-digests")
                        assert digests in verified, (
                            f"{command}: --verified-digests {digests} is not a file "
                            f"verify_images wrote before it in job {job_name} ({sorted(verified)})"
                        )
                        written.add(output)
                        continue
                    pack_run = words[:2] in (["pulumi", "preview"], ["pulumi", "up"])
                    rollout = words[:2] in (
                        [".venv/bin/kgot-rollout", "shift"],
                        [".venv/bin/kgot-rollout", "watch"],
                    )
                    if words[:2] == [".venv/bin/kgot-rollout", "release"]:
                        # The release runs the bridge itself, with the digests it verified.
                        assert "--policy-pack-config" not in words, str(command)
                        checked += 1
                        continue
                    if pack_run:
                        assert _option(words, "--policy-pack") == "policies", str(command)
                    if pack_run or rollout:
                        config = _option(words, "--policy-pack-config")
                        assert config in written, (
                            f"{command}: --policy-pack-config {config} is not a file the "
                            f"bridge wrote before it in job {job_name} ({sorted(written)})"
                        )
                        checked += 1
    # PR preview, the staging release, the production release.
    assert checked == 3


def test_one_deployment_a_stack_at_a_time() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    for stack in ("staging", "production"):
        concurrency = jobs[stack]["concurrency"]
        assert concurrency["group"] == f"deploy-{stack}"
        # Cancelling a running `pulumi up` leaves the stack locked and half-applied.
        assert concurrency["cancel-in-progress"] is False


def test_workflows_use_the_secrets_a_repository_must_set() -> None:
    text = "\n".join(
        p.read_text(encoding="utf-8")
        for p in [*WORKFLOWS.glob("*.yml"), *ACTIONS.glob("*/action.yml")]
    )
    for secret in SECRETS:
        assert f"secrets.{secret}" in text, secret
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## CI/CD", 1)[1].split("\n## ", 1)[0]
    for secret in SECRETS:
        assert secret in section, f"README's CI/CD section does not name {secret}"


def test_the_command_check_catches_what_does_not_exist(tool_path: str) -> None:
    cli = CliHelp(tool_path)
    for name in ("pulumi", "kubectl"):
        if cli.binary(name) is None:
            missing_tool(f"{name} not built: run `make toolchain`")
    script = """
make lint deploy-everything
.venv/bin/kgot-rollout shift --stack "$STACK" --to green --gradually
.venv/bin/kgot-rollout promote-all --stack production
pulumi up --stack production --policy-packs policies
pulumi stack outputs --json
kubectl rollout status deployment/controller-green --wait-forever
.venv/bin/pytest -m "unit or smoke"
./deploy.sh production
terraform apply
PYTHONPATH=policies .venv/bin/python -m kgot_policies.stack_config production --trivy-reports t
.venv/bin/python -m kgot_policies.stack_config production -o pack.json
"""
    problems = check_commands(list(simple_commands(script, "bad")), cli)
    expected = (
        "deploy-everything",
        "--gradually",
        "promote-all",
        "--policy-packs",
        "stack outputs",
        "--wait-forever",
        "smoke",
        "./deploy.sh",
        "terraform",
        "--trivy-reports",
        "PYTHONPATH=unset",
    )
    assert len(problems) == len(expected), "\n".join(problems)
    for fragment, problem in zip(expected, problems, strict=True):
        assert fragment in problem, problem
