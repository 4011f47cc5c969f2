"""People's sensitive grants, shown for review (rule 29, advisory).

`rbac-workload-sensitive-grants` refuses exec, attach, debug containers and
secret listing for any service account. The same grants held by people (a
User or a Group that is not a service account group) are allowed: operators
need them. They are still the grants a reviewer wants to see in a pull
request, so this policy reports them as advisory: the preview shows them and
nothing is blocked. Its findings do not lower the compliance score (tag
`review`).
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from ._kube import UNKNOWN, KubeObject, as_list
from ._meta import REVIEW_TAG, Controls, mapped, stack_objects
from ._rbac import ACCESS_PATHS, BUILTIN_GRANTS, describe, opened_paths, role_ref, workloads_of

_ROLES = ("Role", "ClusterRole")
_BINDINGS = ("RoleBinding", "ClusterRoleBinding")
# Built-in ClusterRoles that hold exec and secret reads (the others in the
# table are for components, and no person should hold them either).
_PEOPLE_BUILTINS = ("admin", "edit", "system:aggregate-to-admin", "system:aggregate-to-edit")


def _role_ref(binding: KubeObject) -> tuple[Any, Any]:
    return role_ref(binding.body)


def _binds(binding: KubeObject, role: KubeObject) -> bool:
    kind, name = _role_ref(binding)
    if kind != role.kind or name != role.name:
        return False
    return role.kind == "ClusterRole" or binding.namespace == role.namespace


def _for_workloads(binding: KubeObject) -> bool:
    return any(
        workloads_of(s, binding.namespace) is not None
        for s in as_list(binding.body.get("subjects"))
    )


def _subjects(bindings: list[KubeObject]) -> str:
    named = sorted({describe(s) for b in bindings for s in as_list(b.body.get("subjects"))})
    return ", ".join(named) if named else "no subject in this stack"


def people_grants_validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    objects = stack_objects(args, (*_ROLES, *_BINDINGS))
    bindings = [o for o in objects if o.kind in _BINDINGS and o.namespace is not UNKNOWN]
    for role in (o for o in objects if o.kind in _ROLES):
        grants = opened_paths(as_list(role.body.get("rules")), ACCESS_PATHS)
        if not grants:
            continue
        holders = [b for b in bindings if _binds(b, role)]
        if any(_for_workloads(b) for b in holders):
            continue  # refused by rbac-workload-sensitive-grants
        report_violation(
            f"{role.ref}: grants {'; '.join(grants)} to {_subjects(holders)}; rule 29 allows "
            "it for people only: review who holds it.",
            role.urn,
        )
    for binding in bindings:
        kind, name = _role_ref(binding)
        if kind != "ClusterRole" or name not in _PEOPLE_BUILTINS or _for_workloads(binding):
            continue
        report_violation(
            f"{binding.ref}: gives {_subjects([binding])} built-in ClusterRole {name} "
            f"({BUILTIN_GRANTS[name]}); rule 29 allows it for people only: review who holds it.",
            binding.urn,
        )


people_sensitive_grants = StackValidationPolicy(
    name="rbac-people-sensitive-grants",
    description="Shows for review the roles that give people pods/exec, pods/attach, ephemeral "
    "containers or secrets list/watch (allowed for people; refused for service accounts).",
    validate=people_grants_validate,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.LOW,
    **mapped(
        Controls(29, cis=("5.1.2",), nist=("AC-2", "AC-6(7)"), soc2=("CC6.3",)),
        "rbac",
        REVIEW_TAG,
    ),
    remediation_steps="Keep exec, attach and secret listing to the people who operate the "
    "namespace (a break-glass Group, not every developer); read single secrets by name (get) "
    "where listing is not needed.",
)

POLICIES = [people_sensitive_grants]
