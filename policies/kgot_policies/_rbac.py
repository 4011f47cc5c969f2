"""What an RBAC rule grants, and who a binding's subjects really are.

The escalation paths are the ones the CIS Kubernetes Benchmark (section 5.1)
and the Kubernetes "RBAC good practices" page name. Rules are matched as the
API server matches them: ``*`` stands for every verb, resource or API group,
and ``*/<sub>`` for that subresource of every resource.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ._kube import UNKNOWN, as_dict, as_list

RBAC_GROUP = "rbac.authorization.k8s.io"
WRITE = frozenset({"create", "update", "patch", "delete", "deletecollection"})
READ_ALL = frozenset({"list", "watch"})


@dataclass(frozen=True)
class Rule:
    """A PolicyRule's lists as sets of strings (unknown values left out)."""

    groups: frozenset[str]
    resources: frozenset[str]
    verbs: frozenset[str]

    @classmethod
    def of(cls, body: Any) -> Rule:
        rule = as_dict(body)

        def strings(field: str) -> frozenset[str]:
            return frozenset(str(v) for v in as_list(rule.get(field)) if v is not UNKNOWN)

        return cls(strings("apiGroups"), strings("resources"), strings("verbs"))

    def groups_of(self, wanted: frozenset[str]) -> bool:
        return "*" in self.groups or not self.groups.isdisjoint(wanted)

    def verbs_of(self, wanted: frozenset[str]) -> list[str]:
        """The wanted verbs this rule grants (all of them under *)."""
        return sorted(wanted if "*" in self.verbs else wanted & self.verbs)

    def resources_of(self, wanted: frozenset[str]) -> list[str]:
        """The wanted resources this rule grants (all of them under *)."""
        if "*" in self.resources:
            return sorted(wanted)
        found = []
        for resource in sorted(wanted):
            base, _, sub = resource.partition("/")
            if sub == "*":  # any subresource, e.g. userextras/<key>
                granted = any(r.startswith(f"{base}/") for r in self.resources)
            else:
                # "*/exec" is every resource's exec; "pods/*" is not valid
                # RBAC, but whoever wrote it meant every subresource of pods.
                granted = resource in self.resources or bool(
                    sub and {f"*/{sub}", f"{base}/*"} & self.resources
                )
            if granted:
                found.append(resource)
        return found


@dataclass(frozen=True)
class Path:
    """One way a grant escalates: the access that opens it and why it matters."""

    groups: frozenset[str]
    resources: frozenset[str]
    verbs: frozenset[str]  # any one of them opens the path
    why: str

    def opened_by(self, rule: Rule) -> str | None:
        """How a message names what the rule grants on this path; None when nothing."""
        if not rule.groups_of(self.groups):
            return None
        resources, verbs = rule.resources_of(self.resources), rule.verbs_of(self.verbs)
        if not resources or not verbs:
            return None
        return f"{'/'.join(resources)} {'/'.join(verbs)} ({self.why})"


def _path(groups: str, resources: str, verbs: Iterable[str], why: str) -> Path:
    return Path(frozenset(groups.split(",")), frozenset(resources.split()), frozenset(verbs), why)


# Judged on the Role itself: a subject holding any of these can make itself
# (or anything it runs) more powerful than the role says.
ESCALATION_PATHS: tuple[Path, ...] = (
    _path(RBAC_GROUP, "roles clusterroles", ["escalate"], "grants itself any permission"),
    _path(RBAC_GROUP, "roles clusterroles", ["bind"], "binds itself to any role"),
    _path(
        ",authentication.k8s.io",
        "users groups serviceaccounts uids userextras/*",
        ["impersonate"],
        "acts as another user, group or service account",
    ),
    _path("", "serviceaccounts/token", ["create"], "mints tokens for any service account"),
    _path(
        "",
        "nodes/proxy",
        ["get", "create", "update", "patch", "delete"],
        "the kubelet API: exec in every pod of the node",
    ),
    _path(
        "certificates.k8s.io",
        "certificatesigningrequests/approval signers",
        ["update", "patch", "approve"],
        "issues itself client certificates",
    ),
    _path(
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations mutatingwebhookconfigurations "
        "mutatingadmissionpolicies mutatingadmissionpolicybindings",
        WRITE,
        "sees or rewrites every object admitted, or switches the checks off",
    ),
    _path("", "persistentvolumes", ["create"], "a hostPath volume onto any node"),
    _path("", "namespaces", ["update", "patch"], "relabels away Pod Security admission"),
)

_WORKLOADS = (
    "pods deployments replicasets statefulsets daemonsets jobs cronjobs "
    "replicationcontrollers podtemplates"
)
# Judged on what binds the role: fine for people, an escalation path when
# any service account's token holds it (a workload of the stack, a pod
# elsewhere, a token minted later).
ACCESS_PATHS: tuple[Path, ...] = (
    _path("", "pods/exec", ["create", "get"], "runs commands in other pods"),
    _path("", "pods/attach", ["create", "get"], "attaches to other pods"),
    _path("", "pods/ephemeralcontainers", ["update", "patch"], "a debug container in any pod"),
    _path("", "secrets", READ_ALL, "every secret of the namespace"),
)
# Fine for the people and pipelines that deploy (an in-cluster CI runner's
# account included); an escalation path when a workload of the stack holds it.
CREATION_PATH = _path(
    ",apps,batch,extensions",
    _WORKLOADS,
    ["create", "update", "patch"],
    "workload creation: runs as any service account, mounts any secret",
)
WORKLOAD_PATHS: tuple[Path, ...] = (*ACCESS_PATHS, CREATION_PATH)


def opened_paths(rules: Iterable[Any], paths: Iterable[Path]) -> list[str]:
    """What these rules grant on each path they open, in the paths' order."""
    parsed = [Rule.of(r) for r in rules]
    found = []
    for path in paths:
        label = next((lbl for r in parsed if (lbl := path.opened_by(r)) is not None), None)
        if label is not None:
            found.append(label)
    return found


# Built-in ClusterRoles (bootstrapped by the API server, never in a stack) and
# what they hand a workload's token.
BUILTIN_GRANTS: dict[str, str] = {
    "cluster-admin": "every permission in the cluster",
    "admin": "exec, secret reads, workload creation and service account impersonation",
    "edit": "exec, secret reads, workload creation and service account impersonation",
    "system:aggregate-to-admin": "exec, secret reads and workload creation",
    "system:aggregate-to-edit": "exec, secret reads and workload creation",
    "system:node": "the kubelet's credentials",
    "system:kube-controller-manager": "secret reads and token creation for every account",
    "system:controller:clusterrole-aggregation-controller": "escalate on every ClusterRole",
}
# The built-ins flagged like cluster-admin when a workload is bound to them.
BROAD_ROLES = frozenset({"cluster-admin", "admin", "edit"})


@dataclass(frozen=True)
class Workloads:
    """The workload identities a binding subject stands for.

    ``account`` is set for one service account (namespace, name); ``every``
    describes a group that holds every service account of a namespace or of
    the cluster (always workloads, whatever the stack declares).
    """

    account: tuple[str | None, str] | None = None
    every: str | None = None


_SA_USER = "system:serviceaccount:"
_SA_GROUP = "system:serviceaccounts"
_EVERYONE = {
    "system:authenticated": "every authenticated identity, every service account included",
    "system:unauthenticated": "anonymous callers (and so every pod)",
}


def workloads_of(subject: Any, binding_namespace: str | None) -> Workloads | None:
    """Which workloads a subject stands for; None for people and other identities."""
    subject = as_dict(subject)
    kind, name = subject.get("kind"), subject.get("name")
    if not isinstance(name, str):
        return None
    if kind == "ServiceAccount":
        namespace = subject.get("namespace")
        namespace = namespace if isinstance(namespace, str) and namespace else binding_namespace
        return Workloads(account=(namespace, name))
    if kind == "User":
        if name.startswith(_SA_USER) and name.count(":") == 3:
            namespace, _, account = name.removeprefix(_SA_USER).partition(":")
            return Workloads(account=(namespace, account))
        if name == "system:anonymous":
            return Workloads(every=_EVERYONE["system:unauthenticated"])
        return None
    if kind == "Group":
        if name == _SA_GROUP:
            return Workloads(every="every service account of the cluster")
        if name.startswith(_SA_GROUP + ":"):
            namespace = name.removeprefix(_SA_GROUP + ":")
            return Workloads(every=f"every service account of namespace {namespace}")
        if name in _EVERYONE:
            return Workloads(every=_EVERYONE[name])
    return None


def describe(subject: Any) -> str:
    subject = as_dict(subject)
    return f"{subject.get('kind')} {subject.get('name')}"


def role_ref(binding_body: dict[str, Any]) -> tuple[Any, Any]:
    """The kind and name of the role a RoleBinding or ClusterRoleBinding binds."""
    ref = as_dict(binding_body.get("roleRef"))
    return ref.get("kind"), ref.get("name")
