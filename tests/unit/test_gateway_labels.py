"""kgot_contract's reading of Traefik's metric labels: each colour's backend of each
service's route, matched against the exact names Traefik v3.7 builds (computed
as its Go code does in tests/traefik_support.py, checked against a fixture of
Traefik's own tests)."""

from __future__ import annotations

import re

import pytest
from kgot_contract import Backend, any_of, backend_label, route_label

from tests import traefik_support as traefik

pytestmark = pytest.mark.unit

NS = "kgot-dev"
SERVICES = ("controller", "graph-store", "graph")


def matches(pattern: str, value: str) -> bool:
    # PromQL anchors a label regex at both ends; RE2 and Python agree on these patterns.
    return re.fullmatch(pattern, value) is not None


def test_the_router_name_is_traefiks_own() -> None:
    # From pkg/provider/kubernetes/gateway/kubernetes_test.go (v3.7.13).
    name = traefik.gateway_router(
        "default",
        "http-app-1",
        entrypoint="web",
        rule='Host("foo.com") && Path("/bar")',
        gateway_namespace="default",
        gateway="my-gateway",
    )
    assert (
        name == "httproute-default-http-app-1-gw-default-my-gateway-ep-web-0-799bcbf0c2317c5d1c93"
    )


@pytest.mark.parametrize("routing", ["gateway", "ingress"])
@pytest.mark.parametrize("service", SERVICES)
def test_each_backend_matches_its_own_label_only(routing: str, service: str) -> None:
    active, standby = traefik.backends(routing, NS, service)
    others = [label for s in SERVICES if s != service for label in traefik.backends(routing, NS, s)]
    mine = backend_label(routing, NS, service, Backend.ACTIVE)
    preview = backend_label(routing, NS, service, Backend.STANDBY)
    assert matches(mine, active)
    assert matches(preview, standby)
    assert not matches(mine, standby)
    assert not matches(preview, active)
    # `graph` is a prefix of `graph-store`: neither route's labels match the other's.
    assert not [label for label in others if matches(mine, label) or matches(preview, label)]


def test_gateway_labels_cover_every_listener_and_rule() -> None:
    pattern = backend_label("gateway", NS, "controller", Backend.STANDBY)
    for entrypoint in traefik.ENTRYPOINTS:
        for rule in ('Host("controller.kgot.example.com") && PathPrefix("/")', 'PathPrefix("/")'):
            label = traefik.gateway_backend(
                NS, "controller", "controller-preview", 1, entrypoint=entrypoint, rule=rule
            )
            assert matches(pattern, label)


@pytest.mark.parametrize("routing", ["gateway", "ingress"])
def test_route_label_matches_the_weighted_service(routing: str) -> None:
    pattern = route_label(routing, NS, "controller")
    assert matches(pattern, traefik.route(routing, NS, "controller"))
    assert not matches(pattern, traefik.route(routing, NS, "graph-store"))
    assert not any(matches(pattern, b) for b in traefik.backends(routing, NS, "controller")[1:])


def test_an_ingress_route_without_its_canary_is_the_main_backend() -> None:
    # Traefik leaves a canary without ready endpoints out: the router names the main backend.
    active, _ = traefik.backends("ingress", NS, "controller")
    assert matches(route_label("ingress", NS, "controller"), active)


def test_any_of_joins_and_refuses_nothing() -> None:
    joined = any_of(["a-[0-9]", "b"])
    assert matches(joined, "a-1") and matches(joined, "b") and not matches(joined, "c")
    with pytest.raises(ValueError, match="at least one"):
        any_of([])


def test_unknown_routing_is_refused() -> None:
    with pytest.raises(ValueError, match="allowed: gateway, ingress"):
        backend_label("selector", NS, "controller", Backend.ACTIVE)
