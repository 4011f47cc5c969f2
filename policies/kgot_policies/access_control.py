"""RBAC: who may do what in the cluster (rule 29, CIS Kubernetes Benchmark 5.1)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from ._kube import UNKNOWN, KubeObject, as_dict, as_list, service_account_of
from ._meta import MANDATORY, Controls, config, kube, mapped, stack_objects
from ._rbac import (
    ACCESS_PATHS,
    BROAD_ROLES,
    BUILTIN_GRANTS,
    ESCALATION_PATHS,
    WORKLOAD_PATHS,
    Path,
    Workloads,
    describe,
    opened_paths,
    role_ref,
    workloads_of,
)

_RBAC_CONTROLS = Controls(
    29,
    cis=("5.1.1", "5.1.2", "5.1.3", "5.1.4"),
    nist=("AC-2", "AC-3", "AC-6"),
    soc2=("CC6.1", "CC6.3"),
)
_ESCALATION_CONTROLS = Controls(
    29,
    cis=("5.1.8", "5.1.9", "5.1.10", "5.1.11", "5.1.12", "5.1.13"),
    nist=("AC-3", "AC-6", "AC-6(10)"),
    soc2=("CC6.1", "CC6.3"),
)
_BINDINGS = ("RoleBinding", "ClusterRoleBinding")
_ROLES = ("Role", "ClusterRole")

# ---- cluster-admin, and admin/edit for workloads ------------------------------------------


def _role_ref(binding: KubeObject) -> tuple[Any, Any]:
    return role_ref(binding.body)


def cluster_admin_validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    obj = kube(args, _BINDINGS)
    if obj is None or obj.kind not in _BINDINGS:
        return
    kind, name = _role_ref(obj)
    if kind != "ClusterRole" or name not in BROAD_ROLES:
        return
    subjects = as_list(obj.body.get("subjects"))
    if name == "cluster-admin":
        listed = ", ".join(describe(s) for s in subjects)
        report_violation(f"{obj.ref}: binds cluster-admin to {listed or 'its subjects'}.", None)
        return
    # admin and edit are for people: a workload holding them can exec into
    # its neighbours, read every secret and start pods as any account.
    workloads = [s for s in subjects if workloads_of(s, obj.namespace) is not None]
    if workloads:
        report_violation(
            f"{obj.ref}: binds built-in ClusterRole {name} to workload identities "
            f"{', '.join(describe(s) for s in workloads)}.",
            None,
        )


no_cluster_admin = ResourceValidationPolicy(
    name="rbac-no-cluster-admin",
    description="Nothing is bound to cluster-admin, and no workload identity (service account, "
    "service account group, system:authenticated) to admin or edit.",
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
    obj = kube(args, _ROLES)
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

# ---- privilege escalation paths in a role -------------------------------------------------


def escalation_validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    obj = kube(args, _ROLES)
    if obj is None or obj.kind not in _ROLES:
        return
    settings = config(args, {"allowedRoles": []})
    allowed = {str(r) for r in as_list(settings["allowedRoles"])}
    if obj.name in allowed or f"{obj.namespace}/{obj.name}" in allowed:
        return
    for path in opened_paths(as_list(obj.body.get("rules")), ESCALATION_PATHS):
        report_violation(f"{obj.ref}: grants {path}.", None)


privilege_escalation = ResourceValidationPolicy(
    name="rbac-privilege-escalation",
    description="Roles grant none of the privilege escalation paths of CIS 5.1: escalate, bind, "
    "impersonate, serviceaccounts/token create, nodes/proxy, CSR approval, admission webhook "
    "configuration writes, persistentvolumes create, namespace updates.",
    validate=escalation_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(_ESCALATION_CONTROLS, "rbac"),
    remediation_steps="Remove the verb or resource from the role; leave escalation paths to the "
    "cluster's administrators (or list a reviewed role in allowedRoles).",
    config_schema=PolicyConfigSchema(
        properties={
            "allowedRoles": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Roles allowed to hold escalation paths: name or namespace/name.",
            }
        }
    ),
)

# ---- what bindings hand to workloads ------------------------------------------------------


# What no service account may hold, and what the accounts the stack's pods run as may not.
_ANY_ACCOUNT_PATHS = (*ACCESS_PATHS, *ESCALATION_PATHS)
_WORKLOAD_PATHS = (*WORKLOAD_PATHS, *ESCALATION_PATHS)


def _grants(
    binding: KubeObject,
    roles: dict[tuple[str, str | None, str], KubeObject],
    paths: tuple[Path, ...],
) -> list[str]:
    kind, name = _role_ref(binding)
    role = roles.get((str(kind), binding.namespace if kind == "Role" else None, str(name)))
    if role is not None:
        return opened_paths(as_list(role.body.get("rules")), paths)
    if kind == "ClusterRole" and name in BUILTIN_GRANTS:
        return [f"{BUILTIN_GRANTS[name]} (built-in ClusterRole {name})"]
    return []


def _who(subject: Any, workloads: Workloads, used: dict[tuple[str | None, str], KubeObject]) -> str:
    """How a message names the workloads a subject reaches."""
    if workloads.every is not None:
        return f"{describe(subject)}, that is {workloads.every},"
    assert workloads.account is not None
    namespace, account = workloads.account
    workload = used.get((namespace, account))
    if workload is not None:
        return f"service account {account} (used by {workload.ref})"
    if account == "default":
        return f"service account default of {namespace}, the identity of every pod that names none,"
    # No workload of this stack runs as it, but a service account is a
    # workload identity all the same: a pod elsewhere in the namespace, or a
    # token minted for it later, holds the grant.
    return (
        f"service account {account} of {namespace} (a workload identity, whichever pod or "
        "token uses it)"
    )


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
    settings = config(args, {"allowedRoles": []})
    allowed = {str(r) for r in as_list(settings["allowedRoles"])}
    for binding in (o for o in objects if o.kind in _BINDINGS):
        kind, name = _role_ref(binding)
        # A reviewed role (e.g. a gateway controller's Secret reads, which
        # every TLS-terminating controller needs) is let through by name.
        if name in allowed or (kind == "Role" and f"{binding.namespace}/{name}" in allowed):
            continue
        subjects = as_list(binding.body.get("subjects"))
        reached = [
            (s, w) for s in subjects if (w := workloads_of(s, binding.namespace)) is not None
        ]
        if not reached:
            continue
        for subject, workloads in reached:
            if binding.namespace is UNKNOWN:
                continue
            # Workload creation is a deployer's grant: refused for the accounts
            # the stack's pods run as (and groups of every account), not for
            # an account no pod here uses, such as an in-cluster CI runner's.
            account = workloads.account
            deployer = account is not None and account not in used and account[1] != "default"
            grants = _grants(binding, roles, _ANY_ACCOUNT_PATHS if deployer else _WORKLOAD_PATHS)
            if not grants:
                continue
            who = _who(subject, workloads, used)
            report_violation(
                f"{binding.ref}: gives {who} {'; '.join(grants)} via {kind} {name}.",
                binding.urn,
            )


workload_sensitive_grants = StackValidationPolicy(
    name="rbac-workload-sensitive-grants",
    description="No service account (whether or not a pod of the stack runs as it) and no group "
    "holding every service account gets pods/exec, pods/attach, ephemeral containers, secrets "
    "list/watch or another escalation path; the accounts the stack's pods run as get no "
    "workload creation either.",
    validate=workload_grants_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(
        Controls(
            29,
            cis=_RBAC_CONTROLS.cis + _ESCALATION_CONTROLS.cis,
            nist=_RBAC_CONTROLS.nist,
            soc2=_RBAC_CONTROLS.soc2,
        ),
        "rbac",
    ),
    remediation_steps="Bind service accounts only to roles with the reads they need (a person's "
    "access goes to a User or Group, never to a service account); "
    "read single secrets by name (get) or mount them; never bind system:serviceaccounts, "
    "system:serviceaccounts:<namespace> or system:authenticated to such a role.",
    config_schema=PolicyConfigSchema(
        properties={
            "allowedRoles": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Reviewed roles whose bindings may hand workloads such grants: "
                "name (ClusterRole) or namespace/name (Role).",
            }
        }
    ),
)

POLICIES = [no_cluster_admin, no_wildcards, privilege_escalation, workload_sensitive_grants]
