"""The load generator's own rules, without a cluster: where it may send, how
it splits requests by weight (the emulation for clusters without a real
node), and how it asks a gateway (Host, TLS against the stack's certificate)."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from traffic import LoadRun, Target, WeightedPicker, allowed_networks, request_once

from components.gateway_tls import self_signed_pair

pytestmark = pytest.mark.unit


def test_weighted_picker_follows_the_weights_exactly_over_a_cycle() -> None:
    picker = WeightedPicker({"controller": 75, "controller-preview": 25})
    picks = Counter(picker.next() for _ in range(100))
    assert picks == {"controller": 75, "controller-preview": 25}
    picker.set({"controller": 0, "controller-preview": 100})
    assert {picker.next() for _ in range(10)} == {"controller-preview"}


def test_weighted_picker_refuses_weights_that_send_nothing() -> None:
    with pytest.raises(ValueError, match="positive total"):
        WeightedPicker({"controller": 0, "controller-preview": 0})


@pytest.mark.parametrize("host", ["192.168.1.10", "10.96.0.99", "8.8.8.8", "10.245.0.3"])
def test_load_refuses_addresses_outside_the_local_cluster(host: str) -> None:
    networks = allowed_networks(["10.96.0.20"])
    with pytest.raises(ValueError, match="not an address of the local cluster"):
        LoadRun(targets={"x": Target("x", host, 80)}, networks=networks)


@pytest.mark.parametrize("host", ["127.0.0.1", "10.244.0.17", "10.96.0.20"])
def test_load_accepts_loopback_pods_and_known_cluster_ips(host: str) -> None:
    run = LoadRun(targets={"x": Target("x", host, 80)}, networks=allowed_networks(["10.96.0.20"]))
    assert run.answers == []


@pytest.fixture
def gateway_stand_in(tmp_path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """An HTTPS server on loopback with the dev gateway's kind of certificate;
    it answers with the Host it was asked for, as a gateway routes by it."""
    pair = self_signed_pair(["*.kgot.dev.localhost"], tmp_path)
    hosts: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hosts.append(self.headers["Host"])
            self.send_response(200)
            self.send_header("X-Kgot-Color", "green")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pair.folder / "tls.crt", pair.folder / "tls.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], str(pair.folder / "tls.crt"), hosts
    finally:
        server.shutdown()
        server.server_close()


def test_gateway_requests_carry_the_host_and_check_the_certificate_against_it(
    gateway_stand_in: tuple[int, str, list[str]],
) -> None:
    port, cafile, hosts = gateway_stand_in
    target = Target("gateway", "127.0.0.1", port, "controller.kgot.dev.localhost", cafile)
    answer = request_once(target)
    assert (answer.status, answer.colour) == (200, "green")
    assert hosts == ["controller.kgot.dev.localhost"]
    # A host the certificate does not cover: refused before any request.
    wrong = Target("gateway", "127.0.0.1", port, "controller.example.com", cafile)
    refused = request_once(wrong)
    assert refused.status == 0 and refused.error == "SSLCertVerificationError"
    assert hosts == ["controller.kgot.dev.localhost"]
