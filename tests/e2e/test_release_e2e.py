"""``kgot-rollout release`` on the real node: one command from pre-flight to watch.

The dev stack (dev_cluster.deploy_dev) is set for the module (both colours on 1.0.0, short
trigger windows) and shared by the tests, in file order, as an operator's
releases follow each other: a version whose image was never pushed and one
whose image is unsigned are refused in pre-flight with nothing changed; the
healthy 1.1.0 is released under load with no failed request (the per-phase
wall times are printed); the faulty 1.2.0 is rolled back by itself; a release
killed during its shift finishes when run again. The gate reads the stack's
own Prometheus; the load generator stands in for the gateway (no Gateway API
implementation runs here), splitting requests by the HTTPRoute's weights.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from dev_cluster import Cluster, Prometheus, deploy_dev, short_windows
from kgot_contract import parse_image
from traffic import LoadRun, route_weights, service_targets, summary

from tests.toolchain_support import REPO, run

pytestmark = pytest.mark.e2e

STACK = "dev"
SERVICES = ("controller", "graph-store", "manager-agent", "web-agent", "mcp-tools")
KEYS = ("controller", "graph_store", "manager_agent", "web_agent", "mcp_tools")
HEALTHY, FAULTY, BACK = "1.1.0", "1.2.0", "1.0.0"
# A version with a digest in the stack file that was never pushed.
NEVER_PUSHED = "9.9.9"
# A version whose controller image is in the registry but nobody signed it.
UNSIGNED = "1.3.0"
WINDOW = 15
PHASES = ("preflight", "deploy", "validate", "shift", "watch")


class Stack(Cluster):
    """The deployed dev stack as the release tests look at it."""

    def __init__(self, cluster: Cluster, prometheus: str) -> None:
        super().__init__(cluster.project, cluster.env, cluster.namespace)
        self.prometheus = prometheus
        self.log_dir = cluster.project / "logs" / "deployment"

    def selector(self, service: str = "controller") -> str:
        return super().selector(service)

    def updates(self) -> int:
        out = run(
            ["pulumi", "stack", "history", "--stack", STACK, "--json"],
            cwd=self.project,
            env=self.env,
        ).stdout
        return len(json.loads(out))

    def command(self, version: str, *extra: str) -> list[str]:
        # The health trigger at the tool's default window (30 s): the pods a
        # deploy replaced stay scrape targets, down, for 10 to 20 s on this
        # machine once they exit, and a 10 s window read that as a breach.
        return [
            str(REPO / ".venv/bin/kgot-rollout"),
            *("release", "--stack", STACK, "--project-dir", str(self.project)),
            *("--version", version, "--steps", "50,100", "--hold", "20", "--window", "30"),
            *("--prometheus", self.prometheus, "--rate-window", "15s", "--interval", "2"),
            *("--health-window", "30", "--missing-data-timeout", "60", "--quiet"),
            *extra,
        ]

    def release(self, version: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(version, *extra),
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
        )

    def record(self) -> dict[str, Any]:
        paths = [p for p in self.log_dir.glob("release-*.json") if p.name.count(".") == 1]
        found = [json.loads(p.read_text()) for p in paths]
        return max(found, key=lambda r: float(r["started"]))

    def history(self) -> list[dict[str, Any]]:
        path = self.log_dir / f"history-{STACK}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def scrape_trouble(self, colour: str) -> str:
        """What a health breach of ``colour`` was about: the scrape targets down
        in the last three minutes, and the namespace's pods with their restarts."""
        series = Prometheus(self.prometheus).query(
            f'min_over_time(up{{namespace="{self.namespace}",color="{colour}"}}[3m]) == 0'
        )
        labels = [s["metric"] for s in series]
        down = [f"{m.get('pod')} ({m.get('version')}, {m.get('instance')})" for m in labels]
        pods = self.kubectl(
            "get",
            "pods",
            "-o",
            "custom-columns=NAME:.metadata.name,PHASE:.status.phase,"
            "RESTARTS:.status.containerStatuses[*].restartCount,"
            "DELETING:.metadata.deletionTimestamp,IP:.status.podIP",
            check=False,
        ).stdout
        return f"targets of {colour} down in the last 3 min: {down or 'none'}\n{pods}"

    def load(self, seconds: float) -> LoadRun:
        targets, networks = service_targets(
            self.namespace, ("controller", "controller-preview"), self.env
        )
        return LoadRun(
            targets=targets,
            networks=networks,
            rate=10,
            max_requests=int(seconds * 10) + 100,
            max_seconds=seconds,
            weights=lambda: route_weights(self.namespace, "controller", self.env),
        )


def _unsigned_copy(image: str, project: Path, env: dict[str, str]) -> str:
    """A new digest of ``image`` (a label added) pushed beside it, never signed."""
    ref = parse_image(image)
    tagged = f"{ref.repository}:{UNSIGNED}"
    run(
        [
            *("crane", "mutate", f"{ref.repository}@{ref.digest}", "--insecure"),
            *("--label", "kgot.test/unsigned=true", "-t", tagged),
        ],
        cwd=project,
        env=env,
    )
    digest = run(["crane", "digest", "--insecure", tagged], cwd=project, env=env).stdout.strip()
    assert digest.startswith("sha256:") and digest != ref.digest, digest
    return digest


@pytest.fixture(scope="module")
def stack(project_dir: Path, toolchain_env: dict[str, str]) -> Stack:
    """The dev stack from a copy of the committed file (both colours on 1.0.0), with
    short trigger windows and digests for the two versions pre-flight must refuse."""

    def configure(config: dict[str, Any]) -> None:
        short_windows(WINDOW)(config)
        services = config["kgot-platform:services"]
        for key in KEYS:
            digests = services[key]["digests"]
            digests[NEVER_PUSHED] = "sha256:" + "ab" * 32
            digests[UNSIGNED] = digests[HEALTHY]
        controller = services["controller"]
        controller_image = f"{controller['image']}:{HEALTHY}@{controller['digests'][HEALTHY]}"
        controller["digests"][UNSIGNED] = _unsigned_copy(
            controller_image, project_dir, toolchain_env
        )

    cluster = deploy_dev(project_dir, toolchain_env, configure)
    return Stack(cluster, f"http://{cluster.cluster_ip('prometheus')}:9090")


def _refused_with_nothing_changed(stack: Stack, version: str, words: Sequence[str]) -> None:
    before = (stack.deployment_identity(), stack.selector(), stack.updates())
    done = stack.release(version)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    for word in words:
        assert word in output, output
    assert (stack.deployment_identity(), stack.selector(), stack.updates()) == before
    record = stack.record()
    assert record["status"] == "refused" and record["phases"][0]["outcome"] == "refused"


def test_a_version_not_in_the_registry_is_refused_in_preflight(stack: Stack) -> None:
    _refused_with_nothing_changed(
        stack, NEVER_PUSHED, [f"controller:{NEVER_PUSHED}@sha256:abab", "not in the registry"]
    )


def test_an_unsigned_image_is_refused_in_preflight(stack: Stack) -> None:
    _refused_with_nothing_changed(
        stack, UNSIGNED, [f"controller:{UNSIGNED}@sha256:", "no signature in the registry"]
    )


def test_a_healthy_release_under_load_finishes_with_no_failed_request(stack: Stack) -> None:
    active = stack.selector()
    standby = "green" if active == "blue" else "blue"
    with stack.load(seconds=600) as load:
        time.sleep(3)
        started = time.monotonic()
        # As CI runs it: Prometheus through a port-forward the release opens itself.
        done = stack.release(HEALTHY, "--prometheus-port-forward")
        took = time.monotonic() - started
        time.sleep(3)
        answers = load.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    record = stack.record()
    timings = ", ".join(f"{p['phase']} {p['duration']:.1f}s" for p in record["phases"])
    print(f"\nrelease {HEALTHY} (healthy) in {took:.0f}s: {timings}; {summary(answers)}")
    assert [p["outcome"] for p in record["phases"]] == ["passed"] * len(PHASES)
    assert record["versions_after"][standby] == HEALTHY
    assert all(i["verified"] for i in record["images"])
    failed = [a for a in answers if not a.ok]
    assert not failed, f"{len(failed)} requests failed during the release: {failed[:5]}"
    assert stack.selector() == standby
    assert {a.release for a in answers if a.started > time.time() - 5} == {HEALTHY}
    assert (stack.log_dir / f"release-{record['id']}.png").exists()


def test_a_faulty_release_is_rolled_back_by_itself(stack: Stack) -> None:
    active = stack.selector()
    with stack.load(seconds=600) as load:
        done = stack.release(FAULTY)
        answers = load.stop()
    assert done.returncode == 3, done.stdout + done.stderr
    assert stack.selector() == active
    record = stack.record()
    rollback = record["rollback"]
    # 1.2.0 answers 30 % with 500 and 250 ms slower: whichever of its triggers
    # breaches first is a correct catch (the latency one did in a CI run).
    assert record["status"] == "rolled-back"
    assert rollback["trigger"] in ("error_rate", "latency", "health"), rollback
    assert rollback["decided"] >= rollback["breachingSince"] and rollback["to"] == active
    print(
        f"\nrelease {FAULTY} (faulty): rolled back on {rollback['trigger']} "
        f"{rollback['decided'] - rollback['breachingSince']:.1f}s after it started breaching; "
        f"{summary(answers)}"
    )


def test_a_release_killed_during_its_shift_finishes_when_run_again(stack: Stack) -> None:
    active = stack.selector()
    standby = "green" if active == "blue" else "blue"
    started = time.time()
    # Load throughout: without requests the gate has no error rate to judge (it holds).
    with stack.load(seconds=600) as load:
        process = subprocess.Popen(
            stack.command(BACK),
            cwd=stack.project,
            env=stack.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 600
            while not any(
                e["event"] == "step-applied" and e["time"] > started and e.get("weight") == 50
                for e in stack.history()
            ):
                assert process.poll() is None, (
                    f"the release ended first (exit {process.returncode})"
                )
                assert time.monotonic() < deadline, "the shift never reached 50 %"
                time.sleep(1)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        killed = stack.record()
        done = stack.release(BACK)
        answers = load.stop()
    assert killed["status"] == "running"
    assert [p["phase"] for p in killed["phases"]][-1] == "shift"
    assert done.returncode == 0, done.stdout + done.stderr + stack.scrape_trouble(standby)
    record = stack.record()
    assert record["id"] == killed["id"] and record["status"] == "released"
    shift = next(p for p in record["phases"] if p["phase"] == "shift")
    assert shift["attempts"] == 2
    assert stack.selector() == standby
    resumed = [e for e in stack.history() if e["event"] == "resumed" and e["time"] > started]
    assert resumed and resumed[0]["from_weight"] == 50
    print(f"\nrelease {BACK} killed at 50 % and run again: released; {summary(answers)}")
