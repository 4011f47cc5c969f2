"""Network rules (26-28) and RBAC (29)."""

from __future__ import annotations

from typing import Any

import pytest
from kgot_policies import access_control as ac
from kgot_policies import network as net
from policy_fixtures import (
    baseline_objects,
    labels,
    obj,
    platform_objects,
    pod_spec,
    violations,
    workload,
)

pytestmark = pytest.mark.policies


def _deny(**spec: Any) -> dict[str, Any]:
    return obj(
        "NetworkPolicy",
        "default-deny",
        spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"], **spec},
    )


def test_platform_network_is_covered() -> None:
    assert violations(net.network_policy_coverage, platform_objects()) == []
    assert (
        violations(net.network_policy_coverage, platform_objects(), {"requireEgressDeny": True})
        == []
    )


def test_namespace_without_default_deny_is_found() -> None:
    app = workload("Deployment", pod_spec())
    allow = obj(
        "NetworkPolicy",
        "allow",
        spec={
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "controller"}},
            "ingress": [{}],
        },
    )
    found = violations(net.network_policy_coverage, [app, allow])
    assert found == [
        "Namespace kgot-dev has no default-deny Ingress NetworkPolicy "
        "(podSelector {} with no rules)."
    ]
    # An "allow all" with an empty selector is not a deny.
    found = violations(net.network_policy_coverage, [app, _deny(ingress=[{}])])
    assert any("no default-deny Ingress" in m for m in found)
    assert violations(net.network_policy_coverage, [app, _deny()]) == []


def test_workload_outside_every_policy_is_found() -> None:
    other = workload("Deployment", pod_spec(), "batch", labels("batch"), namespace="kgot-jobs")
    deny_elsewhere = {**_deny(), "metadata": {"name": "default-deny", "namespace": "kgot-dev"}}
    found = violations(net.network_policy_coverage, [other, deny_elsewhere])
    assert any("Namespace kgot-jobs" in m for m in found)
    assert any("no NetworkPolicy selects" in m for m in found)


def test_egress_deny_is_configurable() -> None:
    app = workload("Deployment", pod_spec())
    ingress_only = obj("NetworkPolicy", "deny", spec={"podSelector": {}})
    assert violations(net.network_policy_coverage, [app, ingress_only]) == []
    found = violations(
        net.network_policy_coverage, [app, ingress_only], {"requireEgressDeny": True}
    )
    assert any("leaves its pods' egress open" in m for m in found)
    # An explicit false wins over the environment's default.
    staging = {"environment": "staging", "requireEgressDeny": False}
    assert violations(net.network_policy_coverage, [app, ingress_only], staging) == []


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_egress_isolation_is_the_default_in_staging_and_production(environment: str) -> None:
    app = workload("Deployment", pod_spec())
    ingress_only = obj("NetworkPolicy", "deny", spec={"podSelector": {}})
    found = violations(
        net.network_policy_coverage, [app, ingress_only], {"environment": environment}
    )
    assert found == [
        "Namespace kgot-dev leaves its pods' egress open: no NetworkPolicy with podSelector {} "
        "lists Egress in policyTypes, so every pod may call anything (required in staging and "
        "production)."
    ]
    assert (
        violations(net.network_policy_coverage, [app, ingress_only], {"environment": "dev"}) == []
    )


def _egress_isolated_namespace() -> list[dict[str, Any]]:
    """What a team writes: deny both ways, then allow DNS, its calls and the scrape."""
    services = {"matchLabels": {"kgot.io/tier": "service"}}
    return [
        workload("Deployment", pod_spec()),
        obj(
            "NetworkPolicy",
            "default-deny",
            spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        ),
        obj(
            "NetworkPolicy",
            "allow-dns",
            spec={
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                                },
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        ),
        obj(
            "NetworkPolicy",
            "allow-services",
            spec={
                "podSelector": services,
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": services}], "ports": [{"port": 8080}]}],
                "egress": [{"to": [{"podSelector": services}], "ports": [{"port": 8080}]}],
            },
        ),
    ]


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_an_egress_isolated_namespace_with_allow_rules_passes(environment: str) -> None:
    stack = _egress_isolated_namespace()
    assert violations(net.network_policy_coverage, stack, {"environment": environment}) == []


def test_egress_isolation_with_allow_rules_in_the_same_policy_is_isolation() -> None:
    # podSelector {} listing Egress with DNS rules and no separate deny: every
    # pod's egress is still denied but for DNS, so it is no gap.
    app = workload("Deployment", pod_spec())
    ingress_deny = obj(
        "NetworkPolicy", "deny-in", spec={"podSelector": {}, "policyTypes": ["Ingress"]}
    )
    dns_only = obj(
        "NetworkPolicy",
        "egress-dns-only",
        spec={
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"ports": [{"protocol": "UDP", "port": 53}]}],
        },
    )
    production = {"environment": "production"}
    assert violations(net.network_policy_coverage, [app, ingress_deny, dns_only], production) == []
    # Egress rules on some pods only leave the others open.
    some = obj(
        "NetworkPolicy",
        "egress-some",
        spec={
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "controller"}},
            "policyTypes": ["Egress"],
        },
    )
    assert violations(net.network_policy_coverage, [app, ingress_deny, some], production)


@pytest.mark.parametrize(
    ("spec", "config", "words"),
    [
        ({"type": "NodePort"}, {}, "NodePort"),
        ({"type": "LoadBalancer"}, {}, "LoadBalancer"),
        ({"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30080}]}, {}, "nodePort 30080"),
    ],
)
def test_exposed_services_are_refused(
    spec: dict[str, Any], config: dict[str, Any], words: str
) -> None:
    found = violations(net.service_exposure, obj("Service", "controller", spec=spec), config)
    assert found and words in found[0]


def test_load_balancer_where_the_stack_allows_it() -> None:
    lb = obj("Service", "edge", spec={"type": "LoadBalancer"})
    assert violations(net.service_exposure, lb, {"allowLoadBalancer": True}) == []
    assert violations(net.service_exposure, lb, {"loadBalancerServices": ["edge"]}) == []
    assert violations(net.service_exposure, platform_objects()) == []


def _ingress(**spec: Any) -> dict[str, Any]:
    rules = [{"host": "controller.kgot.example.com", "http": {"paths": []}}]
    return obj("Ingress", "controller", spec={"rules": rules, **spec})


def test_ingress_needs_tls_for_every_host() -> None:
    found = violations(net.ingress_tls, _ingress())
    assert found and "no TLS section" in found[0]
    other = _ingress(tls=[{"hosts": ["other.kgot.example.com"], "secretName": "t"}])
    assert any("without a TLS entry" in m for m in violations(net.ingress_tls, other))
    good = _ingress(tls=[{"hosts": ["controller.kgot.example.com"], "secretName": "t"}])
    wildcard = _ingress(tls=[{"hosts": ["*.kgot.example.com"], "secretName": "t"}])
    assert violations(net.ingress_tls, [good, wildcard]) == []


def test_gateway_listeners_need_tls() -> None:
    assert violations(net.ingress_tls, baseline_objects()) == []
    http = obj(
        "Gateway", "gw", spec={"listeners": [{"name": "web", "protocol": "HTTP", "port": 80}]}
    )
    assert any("listener web uses HTTP" in m for m in violations(net.ingress_tls, http))
    no_cert = obj(
        "Gateway", "gw", spec={"listeners": [{"name": "s", "protocol": "HTTPS", "tls": {}}]}
    )
    assert any("without certificateRefs" in m for m in violations(net.ingress_tls, no_cert))


def _binding(
    kind: str, role_kind: str, role: str, subjects: list[dict[str, Any]]
) -> dict[str, Any]:
    return obj(
        kind,
        f"{role}-binding",
        None if kind == "ClusterRoleBinding" else "kgot-dev",
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        subjects=subjects,
    )


SA = [{"kind": "ServiceAccount", "name": "controller", "namespace": "kgot-dev"}]


@pytest.mark.parametrize("kind", ["RoleBinding", "ClusterRoleBinding"])
def test_cluster_admin_bindings_are_refused(kind: str) -> None:
    found = violations(ac.no_cluster_admin, _binding(kind, "ClusterRole", "cluster-admin", SA))
    assert found and "ServiceAccount controller" in found[0]
    assert violations(ac.no_cluster_admin, _binding(kind, "ClusterRole", "view", SA)) == []


@pytest.mark.parametrize("field", ["verbs", "resources", "apiGroups"])
@pytest.mark.parametrize("kind", ["Role", "ClusterRole"])
def test_wildcards_in_roles_are_refused(field: str, kind: str) -> None:
    rule = {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"], field: ["*"]}
    found = violations(ac.no_wildcards, obj(kind, "r", rules=[rule]))
    assert found and field in found[0]
    assert violations(ac.no_wildcards, baseline_objects()) == []


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ({"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}, "pods/exec"),
        ({"apiGroups": [""], "resources": ["pods/attach"], "verbs": ["create"]}, "pods/attach"),
        ({"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}, "secrets list"),
        ({"apiGroups": [""], "resources": ["secrets"], "verbs": ["watch", "get"]}, "secrets watch"),
    ],
)
def test_sensitive_grants_to_workload_accounts_are_found(rule: dict[str, Any], words: str) -> None:
    app = workload("Deployment", pod_spec())
    role = obj("Role", "debugger", rules=[rule])
    bound = _binding("RoleBinding", "Role", "debugger", SA)
    found = violations(ac.workload_sensitive_grants, [app, role, bound])
    assert found and words in found[0] and "Deployment kgot-dev/controller-blue" in found[0]
    # The same role bound to a person, not a workload, is not this rule's business.
    person = _binding("RoleBinding", "Role", "debugger", [{"kind": "User", "name": "ops"}])
    assert violations(ac.workload_sensitive_grants, [app, role, person]) == []


def test_built_in_edit_role_for_a_workload_is_found() -> None:
    app = workload("Deployment", pod_spec())
    found = violations(
        ac.workload_sensitive_grants, [app, _binding("RoleBinding", "ClusterRole", "edit", SA)]
    )
    assert found and "built-in ClusterRole edit" in found[0]


def test_reading_one_secret_by_name_is_fine() -> None:
    app = workload("Deployment", pod_spec())
    role = obj(
        "Role", "reader", rules=[{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    )
    assert (
        violations(
            ac.workload_sensitive_grants, [app, role, _binding("RoleBinding", "Role", "reader", SA)]
        )
        == []
    )
    assert violations(ac.workload_sensitive_grants, platform_objects()) == []


def _external(name: str = "edge", addresses: Any = ("203.0.113.10",)) -> dict[str, Any]:
    spec = {"type": "ClusterIP", "externalIPs": list(addresses), "ports": [{"port": 443}]}
    return obj("Service", name, spec=spec)


def test_external_ips_are_refused_by_default() -> None:
    found = violations(net.service_external_ips, _external())
    assert found and "externalIPs 203.0.113.10" in found[0] and "CVE-2020-8554" in found[0]
    assert violations(net.service_external_ips, _external(addresses=[])) == []
    assert violations(net.service_external_ips, platform_objects()) == []


def test_external_ips_where_the_stack_allows_them() -> None:
    assert violations(net.service_external_ips, _external(), {"allowExternalIPs": True}) == []
    allowed = {"externalIPServices": ["edge"]}
    assert violations(net.service_external_ips, _external(), allowed) == []
    assert violations(net.service_external_ips, _external("other"), allowed)
