"""RBAC: who may do what in the cluster (rule 29)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from ._kube import UNKNOWN, KubeObject, as_dict, as_list, present, service_account_of
from ._meta import MANDATORY, Controls, kube, mapped, stack_objects

_RBAC_CONTROLS = Controls(
    29,
    cis=("5.1.1", "5.1.2", "5.1.3", "5.1.4"),
    nist=("AC-2", "AC-3", "AC-6"),
    soc2=("CC6.1", "CC6.3"),
)
_BINDINGS = ("RoleBinding", "ClusterRoleBinding")
_ROLES = ("Role", "ClusterRole")
# Built-in ClusterRoles that grant exec and secret reads.
_BUILTIN_SENSITIVE = {"cluster-admin", "admin", "edit"}

# ---- cluster-admin ------------------------------------------------------------------------


def cluster_admin_validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    obj = kube(args)
    if obj is None or obj.kind not in _BINDINGS:
        return
    role_ref = as_dict(obj.body.get("roleRef"))
    if role_ref.get("kind") == "ClusterRole" and role_ref.get("name") == "cluster-admin":
        subjects = ", ".join(
            f"{as_dict(s).get('kind')} {as_dict(s).get('name')}"
            for s in as_list(obj.body.get("subjects"))
        )
        report_violation(f"{obj.ref}: binds cluster-admin to {subjects or 'its subjects'}.", None)


no_cluster_admin = ResourceValidationPolicy(
    name="rbac-no-cluster-admin",
    description="Nothing is bound to cluster-admin.",
    validate=cluster_admin_validate,
    enforcement_level=MANDATORY,
    severity=Severity.CRITICAL,
    **mapped(_RBAC_CONTROLS, "rbac"),
    remediation_steps="Bind a namespaced Role that lists the exact verbs and resources needed.",
)

# ---- wildcards ----------------------------------------------------------------------------


def _wildcards(rule: dict[str, Any]) -> list[str]:
    return [
        field
        for field in ("verbs", "resources", "apiGroups", "nonResourceURLs")
        if any(isinstance(v, str) and "*" in v for v in as_list(rule.get(field)))
    ]


def wildcards_validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    obj = kube(args)
    if obj is None or obj.kind not in _ROLES:
        return
    for index, rule in enumerate(as_list(obj.body.get("rules"))):
        fields = _wildcards(as_dict(rule))
        if fields:
            report_violation(f"{obj.ref}: rule {index} uses * in {', '.join(fields)}.", None)


no_wildcards = ResourceValidationPolicy(
    name="rbac-no-wildcards",
    description="Roles list their verbs, resources and API groups; no wildcards.",
    validate=wildcards_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(_RBAC_CONTROLS, "rbac"),
    remediation_steps="Replace * with the explicit verbs, resources and apiGroups the subject "
    "uses.",
)

# ---- exec / attach / secrets for workload service accounts --------------------------------


def sensitive_grants(rules: list[Any]) -> list[str]:
    """What in these rules lets a pod's token exec, attach, or read all secrets."""
    found = []
    for rule in rules:
        rule = as_dict(rule)
        resources = {str(r) for r in as_list(rule.get("resources")) if r is not UNKNOWN}
        verbs = {str(v) for v in as_list(rule.get("verbs")) if v is not UNKNOWN}
        for sub in ("pods/exec", "pods/attach"):
            if sub in resources or "*" in resources or "pods/*" in resources:
                found.append(sub)
        if ("secrets" in resources or "*" in resources) and verbs & {"list", "watch", "*"}:
            found.append("secrets " + "/".join(sorted(verbs & {"list", "watch", "*"})))
    return sorted(set(found))


def workload_grants_validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    objects = stack_objects(args)
    used: dict[tuple[str | None, str], KubeObject] = {}
    for obj in objects:
        pod = obj.pod_spec()
        if pod is not None:
            account = service_account_of(pod)
            if isinstance(account, str):
                used.setdefault((obj.namespace, account), obj)
    roles = {
        (o.kind, o.namespace if o.kind == "Role" else None, o.name): o
        for o in objects
        if o.kind in _ROLES
    }
    for binding in (o for o in objects if o.kind in _BINDINGS):
        role_ref = as_dict(binding.body.get("roleRef"))
        kind, name = role_ref.get("kind"), role_ref.get("name")
        role = roles.get((str(kind), binding.namespace if kind == "Role" else None, str(name)))
        if role is not None:
            grants = sensitive_grants(as_list(role.body.get("rules")))
        elif kind == "ClusterRole" and name in _BUILTIN_SENSITIVE:
            grants = [f"built-in ClusterRole {name}"]
        else:
            grants = []
        if not grants:
            continue
        for subject in as_list(binding.body.get("subjects")):
            subject = as_dict(subject)
            if subject.get("kind") != "ServiceAccount":
                continue
            namespace = present(subject.get("namespace"), binding.namespace)
            workload = used.get((namespace, str(subject.get("name"))))
            if workload is not None:
                report_violation(
                    f"{binding.ref}: gives service account {subject.get('name')} (used by "
                    f"{workload.ref}) {', '.join(grants)} via {kind} {name}.",
                    binding.urn,
                )


workload_sensitive_grants = StackValidationPolicy(
    name="rbac-workload-sensitive-grants",
    description="Workload service accounts get no pods/exec, pods/attach, or secrets list/watch.",
    validate=workload_grants_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(_RBAC_CONTROLS, "rbac"),
    remediation_steps="Remove exec/attach and secrets list/watch from roles bound to workload "
    "service accounts; read single secrets by name (get) or mount them instead.",
)

POLICIES = [no_cluster_admin, no_wildcards, workload_sensitive_grants]
