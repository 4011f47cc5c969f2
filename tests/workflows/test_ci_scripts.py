"""The scripts the workflows call, against stand-ins for pulumi and the receivers."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from shell_commands import ROOT, CliHelp, check_commands, simple_commands, toolchain_path

pytestmark = pytest.mark.workflows

SCRIPTS = ROOT / ".github" / "scripts"

# Keeps stack config in a JSON file. `stack history --output json` lists one update when
# $FAKE_DEPLOYED is set (the config of the last update), which `config refresh`
# then writes to --config-file; with none, both behave as for a stack never
# updated. $FAKE_FAIL names a subcommand that fails like a backend error.
FAKE_PULUMI = """#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(" ".join(args) + "\\n")
options, words, index = {}, [], 0
while index < len(args):
    if args[index] in ("--stack", "--config-file", "--page-size", "--output"):
        options[args[index]] = args[index + 1]
        index += 2
    elif args[index] == "--force":
        index += 1
    else:
        words.append(args[index])
        index += 1
store = options.get("--config-file", os.environ["FAKE_CONFIG"])
deployed = os.environ.get("FAKE_DEPLOYED")
if " ".join(words[:2]) == os.environ.get("FAKE_FAIL"):
    sys.exit("error: failed to get stack: 503 Service Unavailable (backend token=xyz)")
if words[:2] == ["stack", "select"]:
    sys.exit(0)
if words[:2] == ["stack", "history"]:
    print(json.dumps([{"kind": "update", "result": "succeeded"}] if deployed else []))
elif words[:2] == ["config", "refresh"]:
    if not deployed:
        sys.exit("error: no previous deployment")
    open(store, "w").write(deployed)
elif words[:2] == ["config", "get"]:
    config = json.load(open(store))
    if words[2] not in config:
        sys.exit(f"configuration key {words[2]!r} not found")
    print(config[words[2]])
elif words[:2] == ["config", "set"]:
    config = json.load(open(store))
    config[words[2]] = words[3]
    json.dump(config, open(store, "w"))
else:
    sys.exit(f"fake pulumi: unexpected {args}")
"""


def prepare(
    tmp_path: Path, *args: str, outputs: dict[str, object] | None = None, fail: str = ""
) -> tuple[subprocess.CompletedProcess[str], dict[str, str], dict[str, str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "pulumi").write_text(FAKE_PULUMI)
    (bin_dir / "pulumi").chmod(0o755)
    config = tmp_path / "config.json"
    committed = {"activeColor": "blue", "blueVersion": "1.0.0", "greenVersion": "1.0.0"}
    config.write_text(json.dumps({**committed, "standbyWeight": "0"}))
    github_output = tmp_path / "github-output"
    github_output.write_text("")
    log = tmp_path / "pulumi.log"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_CONFIG": str(config),
        "FAKE_LOG": str(log),
        "FAKE_DEPLOYED": json.dumps(outputs) if outputs else "",
        "FAKE_FAIL": fail,
        "GITHUB_OUTPUT": str(github_output),
    }
    result = subprocess.run(
        [str(SCRIPTS / "prepare-release.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    step_outputs = dict(
        line.split("=", 1) for line in github_output.read_text().splitlines() if line
    )
    return result, json.loads(config.read_text()), step_outputs, log.read_text().splitlines()


def deployed(active: str, weight: int, blue: str, green: str) -> dict[str, object]:
    """Config of the stack's last update."""
    return {
        "activeColor": active,
        "standbyWeight": str(weight),
        "blueVersion": blue,
        "greenVersion": green,
        "namespace": "kgot-production",
    }


def test_new_stack_keeps_committed_traffic_and_releases_to_the_standby(tmp_path: Path) -> None:
    result, config, outputs, calls = prepare(tmp_path, "production", "1.5.0")
    assert result.returncode == 0, result.stderr
    assert calls[0] == "stack select --create production"
    assert config["greenVersion"] == "1.5.0"
    assert config["blueVersion"] == "1.0.0"
    assert outputs == {"standby": "green", "deploy": "true"}


def test_traffic_state_comes_from_the_last_update(tmp_path: Path) -> None:
    # A shift made green active; the committed file still says blue.
    result, config, outputs, _ = prepare(
        tmp_path, "production", "1.6.0", outputs=deployed("green", 0, "1.4.0", "1.5.0")
    )
    assert result.returncode == 0, result.stderr
    assert config["activeColor"] == "green"
    assert config["greenVersion"] == "1.5.0"
    assert config["blueVersion"] == "1.6.0"
    assert outputs == {"standby": "blue", "deploy": "true"}
    # Only the traffic keys come from the last update; the rest stays as committed.
    assert "namespace" not in config


def test_without_version_only_the_traffic_state_is_restored(tmp_path: Path) -> None:
    result, config, outputs, _ = prepare(
        tmp_path, "staging", outputs=deployed("green", 0, "1.4.0", "1.5.0")
    )
    assert result.returncode == 0, result.stderr
    assert (config["activeColor"], config["blueVersion"], config["greenVersion"]) == (
        "green",
        "1.4.0",
        "1.5.0",
    )
    assert outputs == {"standby": "blue", "deploy": "true"}


def test_version_already_serving_is_not_redeployed_unless_forced(tmp_path: Path) -> None:
    state = deployed("blue", 0, "1.5.0", "1.4.0")
    result, config, outputs, _ = prepare(tmp_path, "production", "1.5.0", outputs=state)
    assert result.returncode == 0, result.stderr
    assert outputs["deploy"] == "false"
    assert config["greenVersion"] == "1.4.0"
    result, config, outputs, _ = prepare(tmp_path, "production", "1.5.0", "true", outputs=state)
    assert outputs["deploy"] == "true"
    assert config["greenVersion"] == "1.5.0"


def test_release_is_refused_while_a_shift_is_in_progress(tmp_path: Path) -> None:
    result, config, _, _ = prepare(
        tmp_path, "production", "1.6.0", outputs=deployed("blue", 25, "1.4.0", "1.5.0")
    )
    assert result.returncode == 2
    assert "shift is in progress" in result.stderr
    assert "kgot-rollout promote" in result.stderr
    assert config["greenVersion"] == "1.5.0"


@pytest.mark.parametrize("fail", ["config refresh", "stack history"])
def test_a_failing_backend_stops_the_job_and_never_applies_committed_traffic(
    tmp_path: Path, fail: str
) -> None:
    # Production runs green; the committed file says blue.
    result, config, outputs, calls = prepare(
        tmp_path, "production", "1.6.0", outputs=deployed("green", 0, "1.4.0", "1.5.0"), fail=fail
    )
    assert result.returncode == 1
    assert "stopping before any change" in result.stderr
    assert "503 Service Unavailable" in result.stderr  # pulumi's own words, for the log
    assert config == {"activeColor": "blue", "blueVersion": "1.0.0", "greenVersion": "1.0.0",
                      "standbyWeight": "0"}  # fmt: skip
    assert not [c for c in calls if c.startswith("config set")]
    assert outputs == {}


def test_only_a_stack_without_updates_takes_the_committed_traffic(tmp_path: Path) -> None:
    result, _, outputs, calls = prepare(tmp_path, "production", "1.5.0")
    assert result.returncode == 0, result.stderr
    assert "has no update yet" in result.stdout
    assert not any(c.startswith("config refresh") for c in calls)
    assert outputs["standby"] == "green"


@pytest.mark.parametrize("receiver", ["slack", "pagerduty"])
def test_notify_skips_a_receiver_without_its_secret(receiver: str) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SLACK_WEBHOOK_URL", "PAGERDUTY_INTEGRATION_KEY")
    }
    result = subprocess.run(
        [str(SCRIPTS / "notify.sh"), receiver, "production release 1.5.0: failure"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "not set" in result.stdout


def test_notify_refuses_an_unknown_receiver() -> None:
    result = subprocess.run(
        [str(SCRIPTS / "notify.sh"), "email", "hello"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "slack | pagerduty" in result.stderr


def test_pulumi_and_kubectl_commands_in_the_scripts_exist(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    cli = CliHelp(toolchain_path(tmp_path_factory.mktemp("kgot-state")))
    for name in ("pulumi", "kubectl"):
        if cli.binary(name) is None:
            reason = f"{name} not built: run `make toolchain`"
            if os.environ.get("CI"):
                pytest.fail(reason)
            pytest.skip(reason)
    commands = []
    for script in sorted(SCRIPTS.glob("*.sh")):
        # Only the lines that call the checked CLIs: the scripts also hold
        # Python one-liners that this reader does not try to follow.
        lines = [
            line.strip().split("$(", 1)[-1].rstrip(")").strip()
            for line in script.read_text(encoding="utf-8").splitlines()
            if "pulumi " in line or "kubectl " in line
        ]
        lines = [line for line in lines if line.startswith(("pulumi ", "nohup kubectl "))]
        commands += list(
            simple_commands("\n".join(x.removeprefix("nohup ") for x in lines), script.name)
        )
    assert len(commands) >= 8
    assert check_commands(commands, cli) == []


@pytest.mark.parametrize("script", sorted(p.name for p in SCRIPTS.glob("*.sh")))
def test_every_ci_script_is_executable_bash_that_parses(script: str) -> None:
    path = SCRIPTS / script
    assert os.access(path, os.X_OK), f"{script} is not executable (git update-index --chmod=+x)"
    assert path.read_text(encoding="utf-8").startswith("#!/usr/bin/env bash\n")
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
