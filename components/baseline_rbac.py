"""Who may deploy and who may look: the namespace's Roles and their bindings to people."""

from __future__ import annotations

from collections.abc import Callable

import pulumi
import pulumi_kubernetes as k8s

Meta = Callable[[str], k8s.meta.v1.ObjectMetaArgs]

_READ = ["get", "list", "watch"]
_WRITE = [*_READ, "create", "update", "patch", "delete"]
# Explicit resources and verbs: wildcards would silently grant whatever a
# future API version adds.
DEPLOYER_RULES = [
    ("apps", ["deployments", "replicasets"], _WRITE),
    ("", ["services", "configmaps", "serviceaccounts"], _WRITE),
    # Secrets by name only: the provider reads and writes the ones the program
    # declares, and listing would show every secret of the namespace (the
    # pack's rbac-people-sensitive-grants).
    ("", ["secrets"], ["get", "create", "update", "patch", "delete"]),
    ("", ["pods", "endpoints", "events"], _READ),
    ("policy", ["poddisruptionbudgets"], _WRITE),
    ("networking.k8s.io", ["ingresses", "networkpolicies"], _WRITE),
    ("gateway.networking.k8s.io", ["httproutes", "gateways"], _WRITE),
    ("", ["resourcequotas", "limitranges"], _READ),
]
READER_RULES = [
    ("apps", ["deployments", "replicasets"], _READ),
    ("", ["pods", "services", "endpoints", "configmaps", "events"], _READ),
    ("policy", ["poddisruptionbudgets"], _READ),
    ("networking.k8s.io", ["ingresses", "networkpolicies"], _READ),
    ("gateway.networking.k8s.io", ["httproutes", "gateways"], _READ),
    ("", ["resourcequotas", "limitranges"], _READ),
]
# Role -> (its rules, the people's Group bound to it).
ROLES = {
    "kgot-deployer": (DEPLOYER_RULES, "kgot-platform:deployers"),
    "kgot-read-only": (READER_RULES, "kgot-platform:viewers"),
}


def roles(name: str, meta: Meta, opts: pulumi.ResourceOptions) -> None:
    for role, (rules, group) in ROLES.items():
        k8s.rbac.v1.Role(
            f"{name}-role-{role}",
            metadata=meta(role),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[g], resources=r, verbs=v)
                for g, r, v in rules
            ],
            opts=opts,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-rolebinding-{role}",
            metadata=meta(role),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=role
            ),
            subjects=[
                k8s.rbac.v1.SubjectArgs(
                    api_group="rbac.authorization.k8s.io", kind="Group", name=group
                )
            ],
            opts=opts,
        )
