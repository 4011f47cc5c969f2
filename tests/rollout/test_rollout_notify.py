"""Slack and PagerDuty notifications against a local HTTP receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rollout_fakes import FakeEngine, dev_config, healthy
from rollout_harness import Harness, make_harness

from components.settings import Secret
from kgot_rollout._types import ExitCode

pytestmark = pytest.mark.rollout


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


ROUTING_KEY = "R0UT1NGKEY-secret-0123456789"


@dataclass
class Receiver:
    url: str
    status: int = 202
    received: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    pushed: list[tuple[str, str]] = field(default_factory=list)

    def bodies(self, path: str) -> list[dict[str, object]]:
        return [body for p, body in self.received if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            state.received.append((self.path, json.loads(self.rfile.read(length))))
            self.send_response(state.status)
            self.end_headers()

        def do_PUT(self) -> None:
            # A Pushgateway: the exposition text of one group.
            length = int(self.headers.get("Content-Length", "0"))
            state.pushed.append((self.path, self.rfile.read(length).decode()))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def notifying(harness: Harness, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.setenv("KGOT_PAGERDUTY_EVENTS_URL", f"{receiver.url}/v2/enqueue")
    harness.engine = FakeEngine.for_config(dev_config())
    harness.engine.secure.update(
        slackWebhookUrl=Secret(f"{receiver.url}/services/T000/B000/slack-secret-token"),
        pagerdutyIntegrationKey=Secret(ROUTING_KEY),
    )
    healthy(harness.metrics, "blue", "green")
    return harness


def test_rollback_notifies_slack_and_pages(notifying: Harness, receiver: Receiver) -> None:
    notifying.metrics.set("error_rate", "green", lambda t: 0.9)
    code = notifying.run("shift", "--to", "green", "--steps", "10,100", "--hold", "30")
    assert code == ExitCode.ROLLED_BACK
    slack = receiver.bodies("/services/T000/B000/slack-secret-token")
    assert len(slack) == 1 and "rolled back to blue" in str(slack[0]["text"])
    page = receiver.bodies("/v2/enqueue")[0]
    assert page["routing_key"] == ROUTING_KEY
    assert page["event_action"] == "trigger"
    payload = page["payload"]
    assert isinstance(payload, dict)
    assert payload["severity"] == "critical"
    assert "error_rate" in str(payload["summary"])


def test_finished_rollout_notifies_and_resolves(notifying: Harness, receiver: Receiver) -> None:
    code = notifying.run("shift", "--to", "green", "--steps", "100", "--hold", "5")
    assert code == ExitCode.DONE
    slack = receiver.bodies("/services/T000/B000/slack-secret-token")
    assert "green promoted" in str(slack[0]["text"])
    page = receiver.bodies("/v2/enqueue")[0]
    assert page["event_action"] == "resolve"
    assert str(page["dedup_key"]).startswith("kgot-rollout/dev/shift-")


def test_secrets_never_reach_logs_even_when_a_receiver_fails(
    notifying: Harness, receiver: Receiver
) -> None:
    receiver.status = 500
    notifying.metrics.set("error_rate", "green", lambda t: 0.9)
    notifying.run("shift", "--to", "green", "--steps", "100", "--hold", "30")
    logs = notifying.log() + notifying.log("rollback.log") + notifying.stderr + notifying.stdout
    logs += (notifying.log_dir / "history-dev.jsonl").read_text()
    assert "Slack notification failed: HTTP 500" in logs
    assert "slack-secret-token" not in logs
    assert ROUTING_KEY not in logs


def test_unreachable_receiver_does_not_fail_the_rollout(
    notifying: Harness, receiver: Receiver
) -> None:
    notifying.engine.secure["slackWebhookUrl"] = Secret("http://127.0.0.1:9/slack-secret-token")
    assert notifying.run("shift", "--to", "green", "--steps", "100", "--hold", "5") == 0
    assert "Slack notification failed: ConnectionError" in notifying.log()
    assert "slack-secret-token" not in notifying.log()


def test_metrics_are_pushed_when_a_pushgateway_is_given(
    notifying: Harness, receiver: Receiver
) -> None:
    args = ("shift", "--to", "green", "--steps", "100", "--hold", "5")
    assert notifying.run(*args, "--pushgateway", receiver.url) == ExitCode.DONE
    path, body = receiver.pushed[-1]
    assert path == "/metrics/job/kgot-rollout/stack/dev"
    assert 'kgot_deployments_total{environment="dev",status="promoted"} 1.0' in body


def test_an_unreachable_pushgateway_does_not_change_the_outcome(notifying: Harness) -> None:
    args = ("shift", "--to", "green", "--steps", "100", "--hold", "5")
    assert notifying.run(*args, "--pushgateway", "http://127.0.0.1:9") == ExitCode.DONE
    assert "writing deployment metrics failed" in notifying.log()
    assert (notifying.log_dir / "kgot_rollout.prom").exists()
