"""The Prometheus client against small loopback servers: deadlines, online check, redaction."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kgot_rollout._exceptions import MetricsUnavailableError
from kgot_rollout._prometheus import PrometheusClient, redact_url

pytestmark = pytest.mark.rollout

Respond = Callable[[BaseHTTPRequestHandler], None]


@contextmanager
def server(respond: Respond) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            # The client may give up first, as it should.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                respond(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def answer(body: object, status: int = 200) -> Respond:
    data = json.dumps(body).encode()

    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return respond


def vector(value: str) -> dict[str, object]:
    return {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1.0, value]}]},
    }


def trickle(stop: threading.Event) -> Respond:
    """Headers at once, then one byte of a valid answer every 50 ms: never a read timeout."""
    data = json.dumps(vector("1")).encode() + b" " * 10_000

    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        for byte in data:
            if stop.is_set():
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.05)

    return respond


def test_a_trickling_server_cannot_stretch_a_query_past_its_deadline() -> None:
    stop = threading.Event()
    with server(trickle(stop)) as url:
        client = PrometheusClient(url, timeout=1.0)
        started = time.monotonic()
        with pytest.raises(MetricsUnavailableError, match=r"did not answer within 1s"):
            client.query("up")
        took = time.monotonic() - started
        stop.set()
    # One second, not one second per byte (a per-read timeout would wait
    # minutes); the margin is for a loaded CI machine.
    assert took < 5.0


def test_a_server_that_never_answers_fails_within_the_deadline() -> None:
    release = threading.Event()

    def silent(handler: BaseHTTPRequestHandler) -> None:
        release.wait(10)

    with server(silent) as url:
        started = time.monotonic()
        with pytest.raises(MetricsUnavailableError, match=r"did not answer within 0\.5s"):
            PrometheusClient(url, timeout=0.5).query_range("up", 0, 10, 1)
        # Well before the server's 10 s of silence end, with room for a loaded machine.
        assert time.monotonic() - started < 5.0
        release.set()


def test_online_check_asks_for_vector_1() -> None:
    with server(answer(vector("1"))) as url:
        PrometheusClient(url).check_online()
    with server(answer(vector("0"))) as url, pytest.raises(MetricsUnavailableError, match="not"):
        PrometheusClient(url).check_online()
    with (
        server(answer({"status": "error", "error": "bad"}, 503)) as url,
        pytest.raises(MetricsUnavailableError, match="HTTP 503: bad"),
    ):
        PrometheusClient(url).check_online()


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>proxy error</html>", b"[" * 50_000, b"\xff\xfe", b'{"status": "success"}'],
)
def test_answers_that_are_not_prometheus_json_are_one_clear_error(body: bytes) -> None:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    with server(respond) as url:
        client = PrometheusClient(url)
        if body == b'{"status": "success"}':
            assert client.query("up") == []  # no data: the gate calls it inconclusive
        else:
            with pytest.raises(MetricsUnavailableError, match="answered HTTP 200"):
                client.query("up")


def test_an_unreachable_server_is_named_without_its_credentials() -> None:
    client = PrometheusClient("http://admin:hunter2@127.0.0.1:9/prom", timeout=2)
    with pytest.raises(MetricsUnavailableError) as caught:
        client.query("up")
    message = str(caught.value)
    assert "http://127.0.0.1:9/prom unreachable" in message
    assert "hunter2" not in message and "admin" not in message


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:p@host:9090/x?token=abc", "http://host:9090/x"),
        ("https://host", "https://host"),
        ("http://user@[::1]:9090", "http://[::1]:9090"),
        ("http://a:b@c@host:1", "http://host:1"),
    ],
)
def test_redacted_urls_keep_host_and_path_only(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), 0.0, -1.0])
def test_the_deadline_itself_is_finite_and_positive(timeout: float) -> None:
    with pytest.raises(ValueError, match="finite number of seconds > 0"):
        PrometheusClient("http://127.0.0.1:9", timeout=timeout)
