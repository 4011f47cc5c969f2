"""Faults on the live system (issue 19), on the real node under bounded load.

One dev stack deployed for the module (as in test_real_workloads.py: pods on
the real node, load through the Services' cluster IPs standing in for the
gateway, the stack's own Prometheus deciding). Each test injects one fault
at a chosen phase of a running `kgot-rollout` (read from its history as it
goes) and prints what it measured: time to detect, time to restore, requests
failed. Short holds and windows keep the module's time down.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from dev_cluster import Cluster, Prometheus, deploy_dev, short_windows
from kgot_contract import COLOR_LABEL
from test_real_workloads import controller_load
from traffic import Answer, LoadRun, Target, allowed_networks, check_targets, summary

from kgot_rollout._types import Colour, other_colour, parse_colour
from tests.toolchain_support import REPO

pytestmark = pytest.mark.e2e

STACK = "dev"
# Trigger windows and the health window: a breach decided in seconds.
WINDOW = 10
HEALTH_WINDOW = 6
INTERVAL = 2


@pytest.fixture(scope="module")
def live(project_dir: Path, toolchain_env: dict[str, str]) -> Cluster:
    """The dev stack from a copy of the committed stack file, short windows."""
    return deploy_dev(project_dir, toolchain_env, short_windows(WINDOW))


@pytest.fixture(scope="module")
def prometheus(live: Cluster) -> Prometheus:
    return Prometheus(f"http://{live.cluster_ip('prometheus')}:9090")


# -- driving the tool ----------------------------------------------------------------


def tool_args(live: Cluster, prometheus: Prometheus, *argv: str) -> list[str]:
    command, *rest = argv
    return [
        str(REPO / ".venv/bin/kgot-rollout"),
        command,
        "--stack",
        STACK,
        "--project-dir",
        str(live.project),
        "--prometheus",
        prometheus.url,
        "--policy-pack-config",
        str(live.project / "pack-config.json"),
        "--rate-window",
        "15s",
        "--interval",
        str(INTERVAL),
        "--health-window",
        str(HEALTH_WINDOW),
        "--missing-data-timeout",
        "90",
        "--metrics-error-timeout",
        "90",
        "--quiet",
        *rest,
    ]


def kgot(
    live: Cluster, prometheus: Prometheus, *argv: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        tool_args(live, prometheus, *argv),
        cwd=live.project,
        env=live.env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_kgot(live: Cluster, prometheus: Prometheus, *argv: str) -> subprocess.Popen[str]:
    """The tool in the background, in its own process group (kill -9 takes its
    pulumi CLI too, as a killed CI runner or terminal would)."""
    return subprocess.Popen(
        tool_args(live, prometheus, *argv),
        cwd=live.project,
        env=live.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def history(live: Cluster) -> list[dict[str, Any]]:
    path = live.project / "logs" / "deployment" / f"history-{STACK}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_event(
    live: Cluster,
    proc: subprocess.Popen[str],
    match: Callable[[dict[str, Any]], bool],
    after: int,
    timeout: float = 240,
) -> dict[str, Any]:
    """The first history event past index ``after`` that ``match``es."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in history(live)[after:]:
            if match(event):
                return event
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"kgot-rollout exited {proc.returncode} first\n{out}\n{err}")
        time.sleep(0.5)
    pytest.fail(f"no matching event within {timeout}s: {history(live)[after:]}")


def step_applied(weight: int) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e.get("event") == "step-applied" and e.get("weight") == weight


# -- faults ----------------------------------------------------------------------------


def readiness(live: Cluster, colour: Colour, switch: str) -> None:
    """The stand-in's readiness switch on the controller pods of ``colour``: the pods
    keep running and stay scraped; only their readiness changes."""
    pods = live.json(
        "get", "pods", "-l", f"app.kubernetes.io/name=controller,{COLOR_LABEL}={colour}"
    )
    for pod in pods["items"]:
        ip = pod["status"]["podIP"]
        check_targets([Target("pod", ip, 8080)], allowed_networks([]))
        request = urllib.request.Request(f"http://{ip}:8080/health/ready/{switch}", method="POST")
        urllib.request.urlopen(request, timeout=5).read()


def wait_unavailable(live: Cluster, deployment: str, timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = live.json("get", "deployment", deployment)["status"]
        if not status.get("availableReplicas"):
            return time.time()
        time.sleep(0.5)
    pytest.fail(f"{deployment} still Available after {timeout}s")


@contextmanager
def readiness_off(live: Cluster, colour: Colour) -> Iterator[None]:
    readiness(live, colour, "disable")
    try:
        yield
    finally:
        readiness(live, colour, "enable")
        live.wait_pods_ready()


def weights_or_last(live: Cluster) -> Callable[[], Mapping[str, int]]:
    """The route's weights for the load, keeping the last answer while the API
    server cannot be asked (the load goes on, as users' requests would)."""
    last: dict[str, int] = {"controller": 1}

    def read() -> Mapping[str, int]:
        # A short timeout: the load loop waits on this call.
        with suppress(subprocess.SubprocessError, OSError, ValueError, KeyError):
            route = json.loads(
                subprocess.run(
                    [
                        "kubectl",
                        "-n",
                        live.namespace,
                        "get",
                        "httproute",
                        "controller",
                        "-o",
                        "json",
                    ],
                    env=live.env,
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=3,
                ).stdout
            )
            refs = route["spec"]["rules"][0]["backendRefs"]
            last.clear()
            last.update({str(r["name"]): int(r.get("weight", 1)) for r in refs})
        return dict(last)

    return read


def load(live: Cluster) -> LoadRun:
    return controller_load(
        live, rate=20, max_requests=9000, max_seconds=420, weights=weights_or_last(live)
    )


def wait_for_traffic(prometheus: Prometheus, colour: Colour) -> None:
    """Requests of the load seen on ``colour`` (the latency trigger's baseline)."""
    prometheus.wait(
        f"traffic on {colour}",
        lambda: prometheus.query(
            f'sum(rate(http_requests_total{{service="controller",color="{colour}"}}[15s])) > 0'
        ),
    )


def failed(answers: list[Answer], since: float = 0.0, until: float = float("inf")) -> int:
    return sum(1 for a in answers if not a.ok and since <= a.started <= until)


def report(fault: str, detect: float | None, restore: float | None, answers: list[Answer]) -> None:
    def shown(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}s"

    print(
        f"\n[fault] {fault}: time to detect {shown(detect)}, time to restore "
        f"{shown(restore)}, requests failed {failed(answers)}/{len(answers)} ({summary(answers)})"
    )


def active_colour(live: Cluster) -> Colour:
    return parse_colour(live.selector("controller"))


# -- the tests, in file order on one deployment ---------------------------------------------


def test_a_standby_losing_readiness_during_a_hold_is_rolled_back(
    live: Cluster, prometheus: Prometheus
) -> None:
    """Fault 1: traffic never stays on a colour with no ready pods."""
    active = active_colour(live)
    target = other_colour(active)
    seen = len(history(live))
    with load(live) as traffic:
        wait_for_traffic(prometheus, active)
        shift = start_kgot(
            live, prometheus, "shift", "--to", target, "--steps", "25,100", "--hold", "90"
        )
        wait_event(live, shift, step_applied(25), seen)
        with readiness_off(live, target):
            lost = wait_unavailable(live, f"controller-{target}")
            code, output = finish(shift)
            time.sleep(3)
            answers = traffic.stop()
    assert code == 3, output
    assert live.selector("controller") == active
    assert live.route_weights("controller") == {"controller": 100, "controller-preview": 0}
    events = history(live)[seen:]
    breach = next(e for e in events if e["event"] == "breach")
    rolled = next(e for e in events if e["event"] == "rolled-back")
    assert breach["trigger"] == "availability"
    decided = float(breach["decided"])
    # Restored: the last refused request after the decision (the data plane), or,
    # when none failed after it, the rollback's own end.
    after = [a.started for a in answers if not a.ok and a.started >= decided]
    report(
        "standby lost readiness at 25%",
        decided - lost,
        (max(after) if after else float(rolled["time"])) - decided,
        answers,
    )
    # Nothing fails once the rollback is in the API server (kube-proxy, a second or two).
    assert failed(answers, since=float(rolled["time"]) + 3) == 0


def test_a_rollback_to_a_standby_with_no_ready_pods_is_refused(
    live: Cluster, prometheus: Prometheus
) -> None:
    """Fault 2: `rollback` never flips users to a colour with no ready pods."""
    active = active_colour(live)
    standby = other_colour(active)
    with load(live) as traffic, readiness_off(live, standby):
        wait_unavailable(live, f"controller-{standby}")
        started = time.time()
        done = kgot(live, prometheus, "rollback", "--to", standby, "--reason", "test")
        refused_after = time.time() - started
        answers = traffic.stop()
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"controller-{standby} (available 0/1" in done.stderr
    assert live.selector("controller") == active
    report("rollback to a standby with no ready pods", refused_after, None, answers)
    assert failed(answers) == 0


def test_a_hand_flip_during_the_last_hold_is_exit_4(live: Cluster, prometheus: Prometheus) -> None:
    """Fault 3: a hand `pulumi config set activeColor` + `pulumi up` while 100 % holds."""
    active = active_colour(live)
    target = other_colour(active)
    seen = len(history(live))
    with load(live) as traffic:
        wait_for_traffic(prometheus, active)
        shift = start_kgot(
            live, prometheus, "shift", "--to", target, "--steps", "100", "--hold", "45"
        )
        wait_event(live, shift, step_applied(100), seen)
        # Two shifts at once: the second is refused at once, nothing changed.
        second = kgot(live, prometheus, "shift", "--to", target, "--steps", "100")
        assert second.returncode == 2, second.stdout + second.stderr
        assert "is running" in second.stderr
        live.set_config(activeColor=active)
        by_hand = time.time()
        live.up()
        code, output = finish(shift)
        stopped = float(next(e for e in history(live)[seen:] if e["event"] == "finished")["time"])
        answers = traffic.stop()
    assert code == 4, output
    assert "traffic changed under this shift" in output
    assert live.selector("controller") == active
    finished = [e for e in history(live)[seen:] if e["event"] == "finished"]
    assert finished[-1]["status"] == "held"
    report("hand flip during the last hold", stopped - by_hand, None, answers)


def test_a_kill_during_the_up_then_rollback_through_the_lock(
    live: Cluster, prometheus: Prometheus
) -> None:
    """kill -9 of the tool (and its pulumi CLI) during a step's `up`: the lock stays;
    status names it, rollback restores users' traffic anyway, `pulumi cancel`
    clears the lock and the next rollback reconciles the state."""
    active = active_colour(live)
    target = other_colour(active)
    log = live.project / "logs" / "deployment" / "rollout.log"
    lines = len(log.read_text().splitlines()) if log.exists() else 0
    with load(live) as traffic:
        wait_for_traffic(prometheus, active)
        shift = start_kgot(
            live, prometheus, "shift", "--to", target, "--steps", "50", "--hold", "60"
        )
        deadline = time.monotonic() + 180
        while not any("applying" in line for line in log.read_text().splitlines()[lines:]):
            assert time.monotonic() < deadline and shift.poll() is None, "no step was applied"
            time.sleep(0.2)
        # Until the update holds the stack lock (a file of the file backend).
        backend = Path(live.env["PULUMI_BACKEND_URL"].removeprefix("file://"))
        while not list(backend.glob(".pulumi/locks/**/*.json")):
            assert time.monotonic() < deadline and shift.poll() is None, "the up never locked"
            time.sleep(0.1)
        time.sleep(1.0)  # well into the update
        os.killpg(shift.pid, signal.SIGKILL)
        shift.communicate(timeout=30)
        killed = time.time()
        status = kgot(live, prometheus, "status")
        assert "lock:     the stack's update lock is held" in status.stdout, status.stdout
        rollback = kgot(live, prometheus, "rollback", "--reason", "killed shift")
        restored = time.time()
        time.sleep(3)
        answers = traffic.stop()
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert "pulumi cancel" in (live.project / "logs" / "deployment" / "rollback.log").read_text()
    assert live.route_weights("controller") == {"controller": 100, "controller-preview": 0}
    assert live.selector("controller") == active
    report("kill -9 during the up, then rollback", None, restored - killed, answers)
    # The lock is cleared as the runbook says; the next rollback reconciles.
    live.pulumi("cancel", "--yes")
    reconcile = kgot(live, prometheus, "rollback", "--reason", "reconcile")
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
    status = kgot(live, prometheus, "status", "--json")
    data = json.loads(status.stdout)
    assert (data["activeColor"], data["standbyWeight"], data["inSync"]) == (active, 0, True)
    assert data["lockHolder"] is None


# Control-plane processes this module started again; they outlive the tests.
_STARTED: list[subprocess.Popen[bytes]] = []


@dataclass(frozen=True)
class Component:
    """A control-plane process kwokctl started: enough to start it again."""

    pidfile: Path
    command: list[bytes]
    environ: dict[bytes, bytes]
    cwd: str

    @classmethod
    def of(cls, pidfile: Path) -> Component:
        proc = Path(f"/proc/{int(pidfile.read_text().strip())}")
        return cls(
            pidfile,
            proc.joinpath("cmdline").read_bytes().split(b"\0")[:-1],
            dict(
                item.split(b"=", 1)
                for item in proc.joinpath("environ").read_bytes().split(b"\0")
                if b"=" in item
            ),
            os.readlink(proc / "cwd"),
        )

    @property
    def name(self) -> str:
        return self.pidfile.name.removesuffix(".pid")

    def alive(self) -> bool:
        return Path(f"/proc/{int(self.pidfile.read_text().strip())}").exists()

    def start(self) -> None:
        log = self.pidfile.parent.parent / "logs" / f"{self.name}.log"
        with log.open("ab") as out:
            started = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.environ,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # kwokctl stops the cluster's processes by these files (cluster.sh down);
        # the handle is kept so it is not collected (and warned about) mid-session.
        self.pidfile.write_text(f"{started.pid}\n")
        _STARTED.append(started)


@dataclass
class Outage:
    """When the API server came back, and what had to be started again after it."""

    ended: float = 0.0
    restarted: list[str] = field(default_factory=list)


@contextmanager
def apiserver_stopped(live: Cluster) -> Iterator[Outage]:
    """The cluster's kube-apiserver process stopped (SIGTERM), then started again
    with the same command line, environment and log, as a restart would; yields
    the names of the control-plane processes that had to be started again after it.

    Not SIGSTOP: a frozen server keeps its clients' watch connections open and
    silent. An outage past the leader-election renew deadline (10 s) makes
    kube-controller-manager and kube-scheduler exit, as they do on any cluster;
    there the kubelet or systemd starts them again, here this does (kwokctl does
    not supervise them).
    """
    pids = next(Path(live.env["KGOT_STATE"]).glob("kwok/clusters/*/pids"))
    running = [
        p for p in sorted(pids.glob("*.pid")) if Path(f"/proc/{p.read_text().strip()}").is_dir()
    ]
    components = {c.name: c for c in map(Component.of, running)}
    apiserver = components["kube-apiserver"]
    pid = int(apiserver.pidfile.read_text().strip())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    outage = Outage()
    try:
        yield outage
    finally:
        outage.ended = time.time()
        apiserver.start()
        deadline = time.monotonic() + 60
        while live.kubectl("get", "--raw", "/readyz", check=False).returncode != 0:
            assert time.monotonic() < deadline, "kube-apiserver did not come back"
            time.sleep(0.5)
        time.sleep(2)
        for component in components.values():
            if component is not apiserver and not component.alive():
                component.start()
                outage.restarted.append(component.name)


def test_the_api_server_stopped_during_a_hold_never_promotes_blind(
    live: Cluster, prometheus: Prometheus
) -> None:
    """The API server process stopped for 20 s during a hold, then started again:
    the availability watch cannot read the colour, which is missing data (no pass
    counts); once it answers again the shift goes on and completes."""
    active = active_colour(live)
    target = other_colour(active)
    seen = len(history(live))
    with load(live) as traffic:
        wait_for_traffic(prometheus, active)
        shift = start_kgot(
            live, prometheus, "shift", "--to", target, "--steps", "50,100", "--hold", "20"
        )
        wait_event(live, shift, step_applied(50), seen)
        stopped = time.time()
        with apiserver_stopped(live) as outage:
            time.sleep(20)
        print(f"\nstarted again after the outage: {', '.join(outage.restarted) or 'none'}")
        code, output = finish(shift)
        answers = traffic.stop()
    passed = [e for e in history(live)[seen:] if e["event"] == "step-passed"]
    if passed:
        report(
            "API server stopped 20 s during a hold",
            None,
            float(passed[0]["time"]) - outage.ended,
            answers,
        )
    assert code == 0, output
    assert live.selector("controller") == target
    # No pass of the 50 % step counted while the API server could not be asked.
    assert passed and float(passed[0]["weight"]) == 50
    assert float(passed[0]["time"]) > outage.ended
    assert failed(answers, since=stopped) == 0


def test_prometheus_recreated_without_history_holds_until_its_windows_are_covered(
    live: Cluster, prometheus: Prometheus
) -> None:
    """The Prometheus pod deleted during a hold comes back with no history: the
    step passes only once the trigger windows are covered by new data."""
    active = active_colour(live)
    target = other_colour(active)
    seen = len(history(live))
    with load(live) as traffic:
        wait_for_traffic(prometheus, active)
        shift = start_kgot(
            live, prometheus, "shift", "--to", target, "--steps", "100", "--hold", "20"
        )
        wait_event(live, shift, step_applied(100), seen)
        live.kubectl("delete", "pod", "-l", "app.kubernetes.io/name=prometheus", "--wait=false")
        deleted = time.time()
        code, output = finish(shift)
        answers = traffic.stop()
    assert code == 0, output
    passed = next(e for e in history(live)[seen:] if e["event"] == "step-passed")
    log = (live.project / "logs" / "deployment" / "rollout.log").read_text()
    # Whether the gate met the outage itself ("gate error") depends on when its
    # poll fell: the new pod can answer within one interval. What must hold is
    # that the first evaluations on the new Prometheus's few seconds of data held on.
    print(f"\ngate saw the outage: {'gate error' in log}")
    assert "data covers" in log
    report("Prometheus pod deleted during the hold", None, float(passed["time"]) - deleted, answers)
    # Not on a few seconds of new data: at least one window after the deletion.
    assert float(passed["time"]) - deleted >= WINDOW
    assert failed(answers) == 0
