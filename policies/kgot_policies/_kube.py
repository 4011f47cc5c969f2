"""Reading Kubernetes objects out of Pulumi resource inputs.

Every policy first turns the inputs into plain data with :func:`plain`
(`_plain`), where a value unknown during preview becomes :data:`UNKNOWN`;
both are re-exported here, where the policies import them from.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy.proxy import UnknownValueError

from ._plain import UNKNOWN as UNKNOWN
from ._plain import UNKNOWN_SENTINELS
from ._plain import plain as plain


def present(*values: Any) -> Any:
    """The first value that is set (not None or ""); UNKNOWN counts as set.

    `a or b` would not do: UNKNOWN is falsy, and an unknown service account
    name is not the default service account.
    """
    for value in values:
        if value is not None and value != "":
            return value
    return None


def service_account_of(pod: dict[str, Any]) -> Any:
    """The pod's service account name (Kubernetes' default when none is named)."""
    return present(pod.get("serviceAccountName"), pod.get("serviceAccount"), "default")


def dig(obj: Any, *path: str) -> Any:
    """obj[path[0]][path[1]]...; None when any step is missing or not a mapping."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# Kinds whose objects carry a pod template, and where the pod spec sits.
_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
WORKLOAD_KINDS = frozenset(_POD_SPEC_PATHS)
# Kinds that keep a replica count in spec.replicas.
REPLICATED_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"})

CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "StorageClass",
        "PriorityClass",
        "RuntimeClass",
        "IngressClass",
        "GatewayClass",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "APIService",
        "CSIDriver",
        "VolumeAttachment",
        "CertificateSigningRequest",
        "FlowSchema",
        "PriorityLevelConfiguration",
    }
)


@dataclass(frozen=True)
class KubeObject:
    """One Kubernetes object as a Pulumi resource declares it."""

    kind: str
    api_version: str
    name: str
    namespace: str | None
    body: dict[str, Any]
    urn: str = ""

    @property
    def metadata(self) -> dict[str, Any]:
        return as_dict(self.body.get("metadata"))

    @property
    def labels(self) -> dict[str, Any]:
        return as_dict(self.metadata.get("labels"))

    @property
    def annotations(self) -> dict[str, Any]:
        return as_dict(self.metadata.get("annotations"))

    @property
    def spec(self) -> dict[str, Any]:
        return as_dict(self.body.get("spec"))

    @property
    def ref(self) -> str:
        """How messages name the object: kind namespace/name."""
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    def pod_spec(self) -> dict[str, Any] | None:
        path = _POD_SPEC_PATHS.get(self.kind)
        if path is None:
            return None
        spec = dig(self.body, *path)
        return spec if isinstance(spec, dict) else None

    def pod_metadata(self) -> dict[str, Any]:
        """Metadata of the pods the object creates (the object's own for a bare Pod)."""
        path = _POD_SPEC_PATHS.get(self.kind)
        if path is None:
            return {}
        return as_dict(dig(self.body, *path[:-1], "metadata"))


def _split_type_token(type_token: str) -> tuple[str, str] | None:
    """'kubernetes:apps/v1:Deployment' -> ('apps/v1', 'Deployment'); core/v1 -> v1."""
    parts = type_token.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes":
        return None
    api_version, kind = parts[1], parts[2]
    if "/" not in api_version:
        # kubernetes:index:Provider, kubernetes:yaml:ConfigGroup, helm releases...
        return None
    if api_version.startswith("core/"):
        api_version = api_version.removeprefix("core/")
    return api_version, kind


def declared_kind(type_token: str, props: Any) -> str | None:
    """The object's kind, read without copying the inputs (None: not a Kubernetes object)."""
    split = _split_type_token(type_token)
    if split is None:
        return None
    try:
        kind = props.get("kind") if isinstance(props, Mapping) else None
    except UnknownValueError:
        kind = None
    return kind if isinstance(kind, str) and kind not in UNKNOWN_SENTINELS else split[1]


def kube_object(
    type_token: str,
    props: Any,
    resource_name: str = "",
    urn: str = "",
    provider_namespace: str | None = None,
    kinds: Collection[str] | None = None,
) -> KubeObject | None:
    """The Kubernetes object a resource declares, or None for anything else.

    Server-side-apply patches (``...Patch`` kinds) are partial by design, so the
    "must be set" rules cannot judge them; they are left out. With ``kinds``,
    objects of other kinds are None too, before their inputs are copied.
    """
    split = _split_type_token(type_token)
    if split is None:
        return None
    api_version, kind = split
    if kind.endswith("Patch") or kind.endswith("List"):
        return None
    if kinds is not None and declared_kind(type_token, props) not in kinds:
        return None
    body = plain(props)
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("kind"), str):
        kind = body["kind"]
    if isinstance(body.get("apiVersion"), str):
        api_version = body["apiVersion"]
    metadata = as_dict(body.get("metadata"))
    name = metadata.get("name")
    if name is UNKNOWN:
        name = resource_name
    elif not isinstance(name, str) or not name:
        # Pulumi auto-naming: the object is named after the resource plus a suffix.
        name = resource_name
    namespace: str | None = None
    if kind not in CLUSTER_SCOPED_KINDS:
        declared = metadata.get("namespace")
        if declared is UNKNOWN:
            # Another resource's output during preview: not "no namespace".
            namespace = UNKNOWN
        elif isinstance(declared, str) and declared:
            namespace = declared
        elif provider_namespace:
            namespace = provider_namespace
    return KubeObject(kind, api_version, name, namespace, body, urn)


@dataclass(frozen=True)
class Container:
    """A container of a pod spec, with the list it sits in."""

    section: str  # containers, initContainers, ephemeralContainers
    body: dict[str, Any]

    @property
    def name(self) -> str:
        name = self.body.get("name")
        return name if isinstance(name, str) else "?"

    @property
    def ref(self) -> str:
        singular = self.section.removesuffix("s")
        return f"{singular} '{self.name}'"

    @property
    def security_context(self) -> dict[str, Any]:
        return as_dict(self.body.get("securityContext"))

    @property
    def is_sidecar(self) -> bool:
        """An init container that keeps running beside the app (restartPolicy Always)."""
        return self.section == "initContainers" and self.body.get("restartPolicy") == "Always"


CONTAINER_SECTIONS = ("containers", "initContainers", "ephemeralContainers")


def containers(pod_spec: dict[str, Any]) -> Iterator[Container]:
    for section in CONTAINER_SECTIONS:
        for body in as_list(pod_spec.get(section)):
            if isinstance(body, dict):
                yield Container(section, body)


def labels_match(selector: Any, labels: dict[str, Any]) -> bool:
    """Whether a LabelSelector (matchLabels / matchExpressions) selects these labels.

    An empty selector selects everything; an unknown one is assumed to match,
    because a selector we cannot read is not evidence of a gap.
    """
    if selector is UNKNOWN:
        return True
    if not isinstance(selector, dict):
        return False
    match_labels = as_dict(selector.get("matchLabels"))
    for label, wanted in match_labels.items():
        if wanted is not UNKNOWN and labels.get(label) != wanted:
            return False
    for expr in as_list(selector.get("matchExpressions")):
        if not isinstance(expr, dict):
            continue
        key, operator = str(expr.get("key")), expr.get("operator")
        values = as_list(expr.get("values"))
        present = key in labels
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and present and labels.get(key) in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def stack_name() -> str | None:
    """The stack the engine analyses, when it tells the pack (PULUMI_STACK)."""
    return os.environ.get("PULUMI_STACK") or None
