"""The baseline's NetworkPolicies under mocks: egress denied, then what each pod may call."""

from __future__ import annotations

from typing import Any

import pytest
from mocked_program import Program, ProgramRunner

from components.settings import SettingsError, parse_settings
from tests.committed_stacks import stack_config

pytestmark = pytest.mark.unit

TEAM_EGRESS = {
    "egress": [
        {
            "name": "llm-api",
            "services": ["controller", "web_agent"],
            "cidrs": ["203.0.113.0/24"],
            "ports": [{"port": 443}],
        },
        {
            "name": "gateway",
            "namespace": "kgot-edge",
            "podLabels": {"app.kubernetes.io/name": "traefik"},
            "ports": [{"port": 8443}, {"port": 8443, "protocol": "UDP"}],
        },
    ],
    "apiServer": {"cidrs": ["10.96.0.1/32", "192.0.2.10/32"], "ports": [443, 6443]},
    "alertReceivers": {"cidrs": ["198.51.100.0/24"]},
}


def _spec(program: Program, name: str) -> dict[str, Any]:
    # The baseline's policy in the platform namespace: the dev stack's gateway
    # namespace (kgot-edge) has a default-deny of its own.
    found = [
        r
        for r in program.of_kind("NetworkPolicy")
        if r.k8s_name == name and r.inputs["metadata"].get("namespace") != "kgot-edge"
    ]
    assert len(found) == 1, f"NetworkPolicy {name}: found {len(found)}"
    spec: dict[str, Any] = found[0].inputs["spec"]
    return spec


def _ports(rule: dict[str, Any]) -> list[tuple[str, int]]:
    return sorted((p["protocol"], p["port"]) for p in rule["ports"])


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_every_pod_egress_is_denied_then_dns_allowed(
    run_program: ProgramRunner, stack: str
) -> None:
    program = run_program(stack)
    deny = _spec(program, "default-deny")
    assert deny["podSelector"] == {} and sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert "egress" not in deny or deny["egress"] == []
    dns = _spec(program, "allow-dns")
    assert dns["podSelector"] == {} and dns["policyTypes"] == ["Egress"]
    (rule,) = dns["egress"]
    (peer,) = rule["to"]
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kube-system"
    }
    assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    assert _ports(rule) == [("TCP", 53), ("UDP", 53)]


def test_services_and_prometheus_reach_only_the_service_ports(run_program: ProgramRunner) -> None:
    program = run_program("staging")
    service_ports = [("TCP", p) for p in (7474, 8080, 8081, 8082, 8083)]
    services = _spec(program, "allow-services")
    (calls,) = services["egress"]
    assert calls["to"] == [{"podSelector": {"matchLabels": {"kgot.io/tier": "service"}}}]
    assert _ports(calls) == service_ports
    prometheus = _spec(program, "allow-prometheus")
    scrape, alerts, api_server = prometheus["egress"]
    assert _ports(scrape) == service_ports
    assert _ports(alerts) == [("TCP", 9093)]
    # No address given: the API server's ports, any address (the stack file says how to narrow).
    assert "to" not in api_server and _ports(api_server) == [("TCP", 443), ("TCP", 6443)]
    alertmanager = _spec(program, "allow-alertmanager")
    receivers = alertmanager["egress"][0]
    assert "to" not in receivers and _ports(receivers) == [("TCP", 443)]


def test_addresses_from_config_narrow_the_api_server_and_receivers(
    run_program: ProgramRunner,
) -> None:
    program = run_program("production", {"network": TEAM_EGRESS})
    api_server = _spec(program, "allow-prometheus")["egress"][2]
    assert [p["ipBlock"]["cidr"] for p in api_server["to"]] == ["10.96.0.1/32", "192.0.2.10/32"]
    receivers = _spec(program, "allow-alertmanager")["egress"][0]
    assert [p["ipBlock"]["cidr"] for p in receivers["to"]] == ["198.51.100.0/24"]


def test_team_destinations_are_config_not_code(run_program: ProgramRunner) -> None:
    program = run_program("production", {"network": TEAM_EGRESS})
    llm = _spec(program, "allow-egress-llm-api")
    assert llm["policyTypes"] == ["Egress"]
    callers = llm["podSelector"]
    assert callers["matchLabels"] == {"kgot.io/tier": "service"}
    assert callers["matchExpressions"] == [
        {"key": "app.kubernetes.io/name", "operator": "In", "values": ["controller", "web-agent"]}
    ]
    (rule,) = llm["egress"]
    assert rule["to"] == [{"ipBlock": {"cidr": "203.0.113.0/24"}}] and _ports(rule) == [
        ("TCP", 443)
    ]
    gateway = _spec(program, "allow-egress-gateway")
    # No services named: every service may call it.
    assert gateway["podSelector"] == {"matchLabels": {"kgot.io/tier": "service"}}
    (peer,) = gateway["egress"][0]["to"]
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kgot-edge"}
    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "traefik"}
    assert _ports(gateway["egress"][0]) == [("TCP", 8443), ("UDP", 8443)]
    # Without config, no team policy exists.
    assert not {n for n in run_program("production").names("NetworkPolicy") if "egress" in n}


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        (
            {"egress": [{"name": "x", "cidrs": ["10.0.0.1/8"], "ports": [{"port": 443}]}]},
            ["network.egress[0].cidrs[0]", '"10.0.0.1/8"', "no host bits set"],
        ),
        (
            {
                "egress": [
                    {
                        "name": "x",
                        "services": ["nope"],
                        "cidrs": ["10.0.0.0/8"],
                        "ports": [{"port": 1}],
                    }
                ]
            },
            ["network.egress[0].services", '"nope"', "a service key (controller, graph_store"],
        ),
        (
            {"egress": [{"name": "x", "ports": [{"port": 443}]}]},
            ["network.egress[0].cidrs", "either cidrs (addresses) or namespace"],
        ),
        (
            {
                "egress": [
                    {"name": "x", "cidrs": ["10.0.0.0/8"], "namespace": "a", "ports": [{"port": 1}]}
                ]
            },
            ["network.egress[0].cidrs", "not both or neither"],
        ),
        (
            {"egress": [{"name": "x", "cidrs": ["10.0.0.0/8"], "ports": []}]},
            ["network.egress[0].ports", "at least one"],
        ),
        (
            {
                "egress": [
                    {"name": "x", "cidrs": ["10.0.0.0/8"], "ports": [{"port": 1}]},
                    {"name": "x", "cidrs": ["10.1.0.0/16"], "ports": [{"port": 1}]},
                ]
            },
            ["network.egress[1].name", '"x"', "a name no other egress destination has"],
        ),
        (
            {"apiServer": {"ports": [70000]}},
            ["network.apiServer.ports[0]", "70000", "from 1 to 65535"],
        ),
    ],
    ids=[
        "host-bits",
        "unknown-service",
        "no-destination",
        "two-destinations",
        "no-port",
        "same-name",
        "bad-port",
    ],
)
def test_bad_network_config_names_key_value_and_what_is_allowed(
    network: dict[str, Any], expected: list[str]
) -> None:
    raw = stack_config("staging")
    raw["network"] = network
    with pytest.raises(SettingsError) as caught:
        parse_settings(raw, "staging")
    message = str(caught.value)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in {message!r}"
