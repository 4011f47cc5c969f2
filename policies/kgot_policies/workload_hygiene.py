"""Workload hygiene: how containers run, how objects are labelled, named and versioned.

Rules 18, 20, 21, 24 and 25; the service account (22) is `workload_identity`,
replicas and disruption budgets (23) are `availability`.
"""

from __future__ import annotations

import re

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from ._kube import (
    CLUSTER_SCOPED_KINDS,
    UNKNOWN,
    KubeObject,
    as_dict,
    as_list,
    containers,
)
from ._meta import (
    MANDATORY,
    Controls,
    PodSpec,
    config,
    kube,
    mapped,
    pod_rule,
)

# ---- 18. read-only root filesystem --------------------------------------------------------


@pod_rule
def read_only_root_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    for container in containers(pod):
        value = container.security_context.get("readOnlyRootFilesystem")
        if value is not True and value is not UNKNOWN:
            report_violation(f"{obj.ref}: {container.ref} has a writable root filesystem.", None)


read_only_root_filesystem = ResourceValidationPolicy(
    name="container-read-only-root-filesystem",
    description="Every container runs with readOnlyRootFilesystem: true.",
    validate=read_only_root_validate,
    enforcement_level=MANDATORY,
    severity=Severity.MEDIUM,
    **mapped(Controls(18, cis=("5.7.2",), nist=("CM-7", "SI-7"), soc2=("CC6.8",)), "hygiene"),
    remediation_steps="Set securityContext.readOnlyRootFilesystem: true; mount an emptyDir at "
    "the paths the process writes (e.g. /tmp).",
)

# ---- 20. requests and limits --------------------------------------------------------------

_RESOURCE_FIELDS = (
    ("requests", "cpu"),
    ("requests", "memory"),
    ("limits", "cpu"),
    ("limits", "memory"),
)


@pod_rule
def resources_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    for container in containers(pod):
        # The API refuses resources on ephemeral (debug) containers.
        if container.section == "ephemeralContainers":
            continue
        resources = container.body.get("resources")
        if resources is UNKNOWN:
            continue
        missing = [
            f"{kind}.{name}"
            for kind, name in _RESOURCE_FIELDS
            if as_dict(as_dict(resources).get(kind)).get(name) in (None, "")
        ]
        if missing:
            report_violation(f"{obj.ref}: {container.ref} sets no {', '.join(missing)}.", None)


resource_requests_limits = ResourceValidationPolicy(
    name="container-resources",
    description="Every container sets CPU and memory requests and limits.",
    validate=resources_validate,
    enforcement_level=MANDATORY,
    severity=Severity.MEDIUM,
    **mapped(Controls(20, cis=("5.7.4",), nist=("SC-5", "SC-6"), soc2=("A1.1",)), "hygiene"),
    remediation_steps="Set resources.requests and resources.limits (cpu and memory) from the "
    "service's measured usage.",
)

# ---- 21. probes ---------------------------------------------------------------------------


@pod_rule
def probes_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    for container in containers(pod):
        # Serving = a long-running container that declares ports; the API allows
        # probes on app containers and sidecars only.
        long_running = container.section == "containers" or container.is_sidecar
        if not long_running or not as_list(container.body.get("ports")):
            continue
        readiness = container.body.get("readinessProbe")
        liveness = container.body.get("livenessProbe")
        if readiness is UNKNOWN or liveness is UNKNOWN:
            continue
        missing = [n for n, p in (("readiness", readiness), ("liveness", liveness)) if not p]
        if missing:
            report_violation(
                f"{obj.ref}: {container.ref} serves ports but has no {' or '.join(missing)} probe.",
                None,
            )
        elif readiness == liveness:
            report_violation(
                f"{obj.ref}: {container.ref} uses the same readiness and liveness probe, so "
                "an overloaded pod gets restarted instead of taken out of rotation.",
                None,
            )


probes = ResourceValidationPolicy(
    name="container-probes",
    description="Serving containers have readiness and liveness probes, and not identical ones.",
    validate=probes_validate,
    enforcement_level=MANDATORY,
    severity=Severity.MEDIUM,
    **mapped(Controls(21, nist=("SI-6", "CP-10"), soc2=("A1.2", "CC7.2")), "hygiene"),
    remediation_steps="Add a readinessProbe (ready to serve: dependencies reachable) and a "
    "livenessProbe (process alive: cheap endpoint, longer period/threshold).",
)

# ---- 24. labels, namespace, bare pods -----------------------------------------------------

RECOMMENDED_LABELS = [
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
]


@pod_rule
def labels_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    settings = config(args, {"requiredLabels": RECOMMENDED_LABELS})
    labels = obj.pod_metadata().get("labels")
    if labels is UNKNOWN:
        return
    missing = [k for k in as_list(settings["requiredLabels"]) if k not in as_dict(labels)]
    if missing:
        report_violation(f"{obj.ref}: pod labels lack {', '.join(missing)}.", None)


recommended_labels = ResourceValidationPolicy(
    name="workload-recommended-labels",
    description="Pods carry the recommended app.kubernetes.io/* labels.",
    validate=labels_validate,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.LOW,
    **mapped(Controls(24, nist=("CM-8",), soc2=("CC8.1",)), "hygiene"),
    remediation_steps="Add the missing app.kubernetes.io/* labels to the pod template.",
    config_schema=PolicyConfigSchema(
        properties={
            "requiredLabels": {
                "type": "array",
                "items": {"type": "string"},
                "default": RECOMMENDED_LABELS,
            }
        }
    ),
)


def namespace_validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    obj = kube(args)
    if obj is None or obj.kind in ("Namespace",) or obj.namespace is UNKNOWN:
        return
    if obj.kind in CLUSTER_SCOPED_KINDS:
        return
    if obj.namespace is None:
        report_violation(
            f"{obj.ref}: names no namespace, so it lands in the kubeconfig's current one "
            "(usually default).",
            None,
        )
    elif obj.namespace == "default":
        report_violation(f"{obj.ref}: is placed in the default namespace.", None)


no_default_namespace = ResourceValidationPolicy(
    name="no-default-namespace",
    description="Nothing is deployed to the default namespace.",
    validate=namespace_validate,
    enforcement_level=MANDATORY,
    severity=Severity.MEDIUM,
    **mapped(
        Controls(24, cis=("5.7.1", "5.7.4"), nist=("AC-4", "SC-7"), soc2=("CC6.1",)), "hygiene"
    ),
    remediation_steps="Set metadata.namespace to the platform's namespace.",
)


def bare_pods_validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    obj = kube(args, ("Pod",))
    if obj is not None and obj.kind == "Pod":
        report_violation(f"{obj.ref}: is a bare Pod; nothing restarts or reschedules it.", None)


no_bare_pods = ResourceValidationPolicy(
    name="no-bare-pods",
    description="Pods are managed by a controller (Deployment, StatefulSet, Job...), never bare.",
    validate=bare_pods_validate,
    enforcement_level=MANDATORY,
    severity=Severity.LOW,
    **mapped(Controls(24, nist=("CP-10",), soc2=("A1.2",)), "hygiene"),
    remediation_steps="Wrap the pod spec in a Deployment (serving) or Job (run once).",
)

# ---- 25. stable APIs ----------------------------------------------------------------------

_UNSTABLE_VERSION = re.compile(r"^v\d+(alpha|beta)\d*$")


def stable_api_validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    obj = kube(args)
    if obj is None:
        return
    version = obj.api_version.rpartition("/")[2]
    if _UNSTABLE_VERSION.match(version):
        report_violation(f"{obj.ref}: uses pre-release API {obj.api_version}.", None)


stable_api_versions = ResourceValidationPolicy(
    name="stable-api-versions",
    description="Objects use stable API versions only (no alpha or beta).",
    validate=stable_api_validate,
    enforcement_level=MANDATORY,
    severity=Severity.LOW,
    **mapped(Controls(25, nist=("CM-2", "SA-22"), soc2=("CC8.1",)), "hygiene"),
    remediation_steps="Move the object to the stable (v1/v2) API group version.",
)

POLICIES = [
    read_only_root_filesystem,
    resource_requests_limits,
    probes,
    recommended_labels,
    no_default_namespace,
    no_bare_pods,
    stable_api_versions,
]
