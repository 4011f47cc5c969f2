"""RBAC escalation paths (rule 29, CIS 5.1): on the role itself and on what binds it."""

from __future__ import annotations

from typing import Any

import pytest
from kgot_policies import access_control as ac
from kgot_policies import access_review as ar
from policy_fixtures import NS, baseline_objects, obj, platform_objects, pod_spec, violations
from policy_fixtures import workload as deployment

pytestmark = pytest.mark.policies

RBAC = "rbac.authorization.k8s.io"
SA = {"kind": "ServiceAccount", "name": "controller", "namespace": NS}


def _rule(groups: str, resources: str, verbs: str, **extra: Any) -> dict[str, Any]:
    return {
        "apiGroups": groups.split(","),
        "resources": resources.split(),
        "verbs": verbs.split(),
        **extra,
    }


def _role(kind: str, *rules: dict[str, Any], name: str = "r") -> dict[str, Any]:
    return obj(kind, name, None if kind == "ClusterRole" else NS, rules=list(rules))


def _binding(
    role_kind: str, role: str, *subjects: dict[str, Any], cluster: bool = False
) -> dict[str, Any]:
    kind = "ClusterRoleBinding" if cluster else "RoleBinding"
    return obj(
        kind,
        f"{role}-binding",
        None if cluster else NS,
        roleRef={"apiGroup": RBAC, "kind": role_kind, "name": role},
        subjects=list(subjects),
    )


def _group(name: str) -> dict[str, Any]:
    return {"apiGroup": RBAC, "kind": "Group", "name": name}


def _app() -> dict[str, Any]:
    body: dict[str, Any] = deployment("Deployment", pod_spec())
    return body


# ---- rbac-privilege-escalation: the role itself -------------------------------------------

ESCALATIONS = [
    (_rule(RBAC, "roles", "get escalate"), "roles escalate"),
    (_rule(RBAC, "clusterroles", "bind"), "clusterroles bind"),
    (_rule("", "users groups", "impersonate"), "groups/users impersonate"),
    (_rule("authentication.k8s.io", "userextras/scopes", "impersonate"), "impersonate"),
    (_rule("", "serviceaccounts", "impersonate"), "serviceaccounts impersonate"),
    (_rule("", "serviceaccounts/token", "create"), "serviceaccounts/token create"),
    (_rule("", "nodes/proxy", "get"), "nodes/proxy get"),
    (_rule("certificates.k8s.io", "certificatesigningrequests/approval", "update"), "approval"),
    (_rule("certificates.k8s.io", "signers", "approve"), "signers approve"),
    (
        _rule("admissionregistration.k8s.io", "validatingwebhookconfigurations", "get delete"),
        "validatingwebhookconfigurations delete",
    ),
    (
        _rule("admissionregistration.k8s.io", "mutatingwebhookconfigurations", "patch"),
        "mutatingwebhookconfigurations patch",
    ),
    (_rule("", "persistentvolumes", "create"), "persistentvolumes create"),
    (_rule("", "namespaces", "get patch"), "namespaces patch"),
    (_rule("", "*/proxy", "get"), "nodes/proxy get"),
    (_rule("*", "*", "*"), "clusterroles/roles escalate"),
]


@pytest.mark.parametrize("kind", ["Role", "ClusterRole"])
@pytest.mark.parametrize(("rule", "words"), ESCALATIONS)
def test_escalation_paths_in_a_role_are_refused(
    kind: str, rule: dict[str, Any], words: str
) -> None:
    found = violations(ac.privilege_escalation, _role(kind, rule))
    assert found and any(words in m for m in found), found


@pytest.mark.parametrize(
    "rule",
    [
        _rule(RBAC, "roles rolebindings", "get list watch create update"),
        _rule("", "serviceaccounts", "get list create"),
        _rule("", "nodes", "get list watch"),
        _rule("certificates.k8s.io", "certificatesigningrequests", "get create"),
        _rule("admissionregistration.k8s.io", "validatingwebhookconfigurations", "get list"),
        _rule("", "persistentvolumes persistentvolumeclaims", "get list watch"),
        _rule("", "persistentvolumeclaims", "create"),
        _rule("", "namespaces", "get list watch"),
        _rule("apps", "deployments", "get list watch create update patch delete"),
        _rule("", "secrets", "get list watch create update"),
    ],
)
def test_roles_without_escalation_paths_pass(rule: dict[str, Any]) -> None:
    assert violations(ac.privilege_escalation, _role("ClusterRole", rule)) == []
    assert violations(ac.privilege_escalation, baseline_objects()) == []


def test_a_reviewed_role_may_hold_escalation_paths() -> None:
    role = _role("ClusterRole", _rule(RBAC, "clusterroles", "bind"), name="rbac-manager")
    config = {"allowedRoles": ["rbac-manager"]}
    assert violations(ac.privilege_escalation, role, config) == []
    scoped = _role("Role", _rule(RBAC, "roles", "escalate"), name="tenant-admin")
    assert (
        violations(ac.privilege_escalation, scoped, {"allowedRoles": [f"{NS}/tenant-admin"]}) == []
    )
    assert violations(ac.privilege_escalation, scoped, config)


# ---- rbac-workload-sensitive-grants: what bindings hand to workloads ------------------------

WORKLOAD_GRANTS = [
    (_rule("", "pods", "get create"), "workload creation"),
    (_rule("apps", "deployments", "get patch"), "workload creation"),
    (_rule("batch", "cronjobs", "create"), "workload creation"),
    (_rule("", "pods/ephemeralcontainers", "patch"), "pods/ephemeralcontainers patch"),
    (_rule("", "serviceaccounts/token", "create"), "serviceaccounts/token create"),
    (_rule("", "*/exec", "create"), "pods/exec create"),
    (_rule(RBAC, "rolebindings", "create"), None),  # creating bindings alone is not a path
]


@pytest.mark.parametrize(("rule", "words"), WORKLOAD_GRANTS)
def test_escalation_paths_bound_to_a_workload_are_found(
    rule: dict[str, Any], words: str | None
) -> None:
    stack = [_app(), _role("Role", rule), _binding("Role", "r", SA)]
    found = violations(ac.workload_sensitive_grants, stack)
    if words is None:
        assert found == []
        return
    assert found and words in found[0] and "Deployment kgot-dev/controller-blue" in found[0]
    people = [_app(), _role("Role", rule), _binding("Role", "r", _group("kgot-deployers"))]
    assert violations(ac.workload_sensitive_grants, people) == []


def test_a_service_account_named_as_a_user_is_the_workload() -> None:
    user = {"kind": "User", "name": f"system:serviceaccount:{NS}:controller"}
    stack = [_app(), _role("Role", _rule("", "pods/exec", "create")), _binding("Role", "r", user)]
    found = violations(ac.workload_sensitive_grants, stack)
    assert found and "used by Deployment kgot-dev/controller-blue" in found[0]


def test_the_default_account_is_every_pod_that_names_none() -> None:
    default = {"kind": "ServiceAccount", "name": "default", "namespace": NS}
    stack = [_role("Role", _rule("", "secrets", "list")), _binding("Role", "r", default)]
    found = violations(ac.workload_sensitive_grants, stack)
    assert found and "service account default of kgot-dev" in found[0]


@pytest.mark.parametrize(
    ("group", "words"),
    [
        ("system:serviceaccounts", "every service account of the cluster"),
        (f"system:serviceaccounts:{NS}", f"every service account of namespace {NS}"),
        ("system:authenticated", "every service account included"),
        ("system:unauthenticated", "anonymous"),
    ],
)
@pytest.mark.parametrize("cluster", [False, True])
def test_groups_holding_every_service_account_count_as_the_workloads(
    group: str, words: str, cluster: bool
) -> None:
    role_kind = "ClusterRole" if cluster else "Role"
    rule = _rule("", "secrets", "get list")
    # No workload in this stack: the group's members are workloads all the same.
    stack = [_role(role_kind, rule), _binding(role_kind, "r", _group(group), cluster=cluster)]
    found = violations(ac.workload_sensitive_grants, stack)
    assert found and words in found[0] and "secrets list" in found[0]
    reads = [_role(role_kind, _rule("", "configmaps", "get list")), stack[1]]
    assert violations(ac.workload_sensitive_grants, reads) == []


def test_anonymous_user_counts_as_every_workload() -> None:
    anonymous = {"kind": "User", "name": "system:anonymous"}
    stack = [_role("Role", _rule("", "pods/exec", "create")), _binding("Role", "r", anonymous)]
    assert violations(ac.workload_sensitive_grants, stack)


@pytest.mark.parametrize("role", ["admin", "edit", "system:node"])
def test_built_in_roles_bound_to_groups_of_workloads_are_found(role: str) -> None:
    binding = _binding("ClusterRole", role, _group(f"system:serviceaccounts:{NS}"))
    found = violations(ac.workload_sensitive_grants, [binding])
    assert found and f"built-in ClusterRole {role}" in found[0]


def test_view_for_workloads_and_unused_accounts_pass() -> None:
    view = _binding("ClusterRole", "view", _group(f"system:serviceaccounts:{NS}"))
    other = {"kind": "ServiceAccount", "name": "ci-runner", "namespace": NS}
    pods = [_role("Role", _rule("", "pods", "create")), _binding("Role", "r", other)]
    assert violations(ac.workload_sensitive_grants, [_app(), view, *pods]) == []
    assert violations(ac.workload_sensitive_grants, platform_objects()) == []


# ---- rbac-no-cluster-admin: admin and edit for workloads ----------------------------------


@pytest.mark.parametrize("role", ["admin", "edit"])
@pytest.mark.parametrize(
    "subject",
    [
        SA,
        {"kind": "User", "name": f"system:serviceaccount:{NS}:controller"},
        _group("system:serviceaccounts"),
        _group(f"system:serviceaccounts:{NS}"),
        _group("system:authenticated"),
    ],
    ids=["account", "account-as-user", "all-accounts", "namespace-accounts", "authenticated"],
)
def test_admin_and_edit_bound_to_workloads_are_refused(role: str, subject: dict[str, Any]) -> None:
    found = violations(ac.no_cluster_admin, _binding("ClusterRole", role, subject))
    assert found and f"built-in ClusterRole {role}" in found[0]


@pytest.mark.parametrize("role", ["admin", "edit", "view"])
def test_admin_and_edit_for_people_pass(role: str) -> None:
    people = _binding("ClusterRole", role, _group("kgot-platform:developers"))
    assert violations(ac.no_cluster_admin, people) == []
    if role == "view":
        assert violations(ac.no_cluster_admin, _binding("ClusterRole", role, SA)) == []


# ---- any service account is a workload identity -------------------------------------------

ACCESS_GRANTS = [
    (_rule("", "pods/exec", "create"), "pods/exec create"),
    (_rule("", "pods/attach", "create"), "pods/attach create"),
    (_rule("", "pods/ephemeralcontainers", "patch"), "pods/ephemeralcontainers patch"),
    (_rule("", "secrets", "get list watch"), "secrets list/watch"),
    (_rule(RBAC, "roles", "escalate"), "roles escalate"),
]


@pytest.mark.parametrize(("rule", "words"), ACCESS_GRANTS)
@pytest.mark.parametrize("cluster", [False, True])
def test_sensitive_grants_to_an_account_no_pod_here_uses_are_refused(
    rule: dict[str, Any], words: str, cluster: bool
) -> None:
    # A CI runner's account, or one a pod elsewhere (or a token minted later) uses.
    ci = {"kind": "ServiceAccount", "name": "ci-runner", "namespace": NS}
    role_kind = "ClusterRole" if cluster else "Role"
    stack = [_app(), _role(role_kind, rule), _binding(role_kind, "r", ci, cluster=cluster)]
    found = violations(ac.workload_sensitive_grants, stack)
    assert len(found) == 1
    assert f"service account ci-runner of {NS} (a workload identity" in found[0]
    assert words in found[0]


def test_an_unused_account_may_still_deploy() -> None:
    # Workload creation is a deployer's grant: an in-cluster CI runner needs it.
    ci = {"kind": "ServiceAccount", "name": "ci-runner", "namespace": NS}
    deploys = _role("Role", _rule("apps", "deployments", "get create patch"))
    assert (
        violations(ac.workload_sensitive_grants, [_app(), deploys, _binding("Role", "r", ci)]) == []
    )
    # The accounts the stack's pods run as may not.
    assert violations(ac.workload_sensitive_grants, [_app(), deploys, _binding("Role", "r", SA)])


# ---- rbac-people-sensitive-grants: advisory, for review ------------------------------------


def test_a_peoples_role_with_exec_is_advisory_only() -> None:
    from kgot_policies import evaluate
    from kgot_policies.registry import POLICIES
    from policy_fixtures import as_resources

    # The whole pack over the platform plus an operators' Role: only the review shows.
    stack = [
        *platform_objects(),
        _role("Role", _rule("", "pods/exec", "create"), _rule("", "pods", "get list")),
        _binding("Role", "r", _group("kgot-platform:operators")),
    ]
    found = evaluate.run(POLICIES, as_resources(stack))
    assert [(v.policy, v.enforcement) for v in found] == [
        ("rbac-people-sensitive-grants", "advisory")
    ]
    assert found[0].message == (
        "Role kgot-dev/r: grants pods/exec create (runs commands in other pods) to Group "
        "kgot-platform:operators; rule 29 allows it for people only: review who holds it."
    )


def test_built_in_edit_for_people_is_advisory_and_roles_for_workloads_are_left_to_the_refusal() -> (
    None
):
    people = _binding("ClusterRole", "edit", _group("kgot-platform:developers"))
    found = violations(ar.people_sensitive_grants, [people])
    assert found and "built-in ClusterRole edit" in found[0]
    # Bound to a service account: the mandatory policy refuses it; no second report here.
    stack = [_app(), _role("Role", _rule("", "secrets", "list")), _binding("Role", "r", SA)]
    assert violations(ar.people_sensitive_grants, stack) == []
    assert violations(ac.workload_sensitive_grants, stack)
    # Plain reads are nothing to review.
    reads = [_role("Role", _rule("", "configmaps", "get list")), _binding("Role", "r", _group("g"))]
    assert violations(ar.people_sensitive_grants, reads) == []


def test_review_findings_do_not_lower_the_compliance_score() -> None:
    from kgot_policies import compliance

    stack = [
        _role("Role", _rule("", "pods/exec", "create")),
        _binding("Role", "r", _group("kgot-platform:operators")),
    ]
    assert violations(ar.people_sensitive_grants, stack)
    assert violations(compliance.compliance_score, stack, {"minimumScore": 1.0}) == []
