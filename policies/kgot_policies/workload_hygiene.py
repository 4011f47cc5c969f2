"""Workload hygiene: how pods run, scale, are labelled and named (rules 18, 20-25)."""

from __future__ import annotations

import math
import re
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from ._kube import (
    CLUSTER_SCOPED_KINDS,
    REPLICATED_KINDS,
    UNKNOWN,
    KubeObject,
    as_dict,
    as_list,
    containers,
    labels_match,
    service_account_of,
)
from ._meta import (
    ENVIRONMENT_SCHEMA,
    MANDATORY,
    Controls,
    PodSpec,
    config,
    environment,
    kube,
    mapped,
    pod_rule,
    stack_objects,
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

# ---- 22. service account token and the default service account ----------------------------

NEEDS_API_ANNOTATION = "kgot.io/needs-kubernetes-api"


def _declares_api_need(obj: KubeObject) -> bool:
    for declared in (obj.annotations, as_dict(obj.pod_metadata().get("annotations"))):
        if str(declared.get(NEEDS_API_ANNOTATION, "")).lower() == "true":
            return True
    return False


def service_account_validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    objects = stack_objects(args)
    accounts = {(o.namespace, o.name): o for o in objects if o.kind == "ServiceAccount"}
    for obj in objects:
        pod = obj.pod_spec()
        if pod is None:
            continue
        account = service_account_of(pod)
        if account is UNKNOWN:
            continue
        if account == "default":
            report_violation(
                f"{obj.ref}: pods run as the namespace's default service account.", obj.urn
            )
        automount = pod.get("automountServiceAccountToken")
        if automount is None and (obj.namespace, account) in accounts:
            automount = accounts[(obj.namespace, account)].body.get("automountServiceAccountToken")
        if automount is UNKNOWN or automount is False or _declares_api_need(obj):
            continue
        report_violation(
            f"{obj.ref}: pods mount an API token (service account {account}) without "
            f"declaring {NEEDS_API_ANNOTATION}: 'true'.",
            obj.urn,
        )


service_account_token = StackValidationPolicy(
    name="workload-service-account",
    description="Workloads use their own service account and mount no API token unless they "
    f"declare {NEEDS_API_ANNOTATION}: 'true'.",
    validate=service_account_validate,
    enforcement_level=MANDATORY,
    severity=Severity.MEDIUM,
    **mapped(
        Controls(
            22, cis=("5.1.5", "5.1.6"), nist=("AC-2", "AC-6", "IA-5"), soc2=("CC6.1", "CC6.3")
        ),
        "hygiene",
    ),
    remediation_steps="Give each workload its own ServiceAccount, set "
    "automountServiceAccountToken: false on it or the pod, and annotate the workload "
    f"{NEEDS_API_ANNOTATION}: 'true' only when it calls the Kubernetes API.",
)

# ---- 23. replicas and disruption budgets --------------------------------------------------

REPLICA_DEFAULTS: dict[str, Any] = {"minReplicas": 2}


def replicas_validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    settings = config(args, REPLICA_DEFAULTS)
    if environment(settings) != "production":
        return
    from .traffic_safety import idle_colours

    objects = stack_objects(args)
    # A standby colour without weight serves nothing, so it may run scaled
    # down (standbyReplicas); traffic-shift-safety refuses to route to it
    # before it is back at full size.
    idle = idle_colours(objects)
    minimum = int(settings["minReplicas"])
    for obj in objects:
        if obj.kind not in REPLICATED_KINDS or obj.urn in idle:
            continue
        replicas = obj.spec.get("replicas", 1)
        if isinstance(replicas, int) and replicas < minimum:
            report_violation(
                f"{obj.ref}: runs {replicas} replica(s) in production; at least {minimum} "
                "keep it available through a node loss.",
                obj.urn,
            )


replicas_minimum = StackValidationPolicy(
    name="workload-replicas-production",
    description="Production workloads that serve traffic run at least minReplicas (2) replicas.",
    validate=replicas_validate,
    enforcement_level=MANDATORY,
    severity=Severity.MEDIUM,
    **mapped(Controls(23, nist=("CP-10", "SC-5"), soc2=("A1.1", "A1.2")), "availability"),
    remediation_steps="Raise spec.replicas to at least minReplicas in the production stack.",
    config_schema=PolicyConfigSchema(
        properties={
            "environment": ENVIRONMENT_SCHEMA,
            "minReplicas": {"type": "integer", "minimum": 1, "default": 2},
        }
    ),
)


def _allowed_disruptions(budget: dict[str, Any], pods: int) -> int | None:
    """Disruptions a PDB spec allows over this many pods (None when unreadable)."""

    def resolve(value: Any, round_up: bool) -> int | None:
        if isinstance(value, bool) or value is UNKNOWN:
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"\d+%", value):
            share = int(value[:-1]) * pods / 100
            return math.ceil(share) if round_up else math.floor(share)
        if isinstance(value, str) and value.isdigit():
            return int(value)
        return None

    if "maxUnavailable" in budget:
        unavailable = resolve(budget["maxUnavailable"], round_up=True)
        return None if unavailable is None else min(unavailable, pods)
    if "minAvailable" in budget:
        available = resolve(budget["minAvailable"], round_up=True)
        return None if available is None else max(pods - available, 0)
    # Neither field: nothing to judge statically.
    return None


def forbids_every_disruption(budget: dict[str, Any]) -> bool:
    """maxUnavailable 0 or minAvailable 100%: no eviction, however many pods it selects."""
    if "maxUnavailable" in budget:
        return budget["maxUnavailable"] in (0, "0", "0%")
    return budget.get("minAvailable") == "100%"


def disruption_budget_validate(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    settings = config(args, {})
    production = environment(settings) == "production"
    objects = stack_objects(args)
    budgets = [o for o in objects if o.kind == "PodDisruptionBudget"]
    workloads = [o for o in objects if o.kind in REPLICATED_KINDS]
    for budget in budgets:
        # Judged on the budget alone: its pods may be another stack's.
        if forbids_every_disruption(budget.spec):
            report_violation(
                f"{budget.ref}: allows no voluntary disruption of any pod it selects, which "
                "blocks node drains and upgrades.",
                budget.urn,
            )
            continue
        selected = [
            w
            for w in workloads
            if w.namespace == budget.namespace
            and labels_match(budget.spec.get("selector"), as_dict(w.pod_metadata().get("labels")))
        ]
        replicas = [w.spec.get("replicas", 1) for w in selected]
        if any(not isinstance(r, int) for r in replicas):
            continue
        pods = sum(replicas) if production else 100
        # Outside production the pod count varies by design (one replica, a
        # standby scaled down), so only a budget that blocks or allows every
        # disruption whatever the count is refused; 100 pods stands for "any".
        allowed = _allowed_disruptions(budget.spec, pods)
        if allowed is None or pods == 0:
            continue
        if allowed < 1:
            report_violation(
                f"{budget.ref}: allows no voluntary disruption of its {pods} pod(s), which "
                "blocks node drains and upgrades.",
                budget.urn,
            )
        elif allowed >= pods:
            report_violation(
                f"{budget.ref}: allows all {pods} pod(s) to be disrupted at once.", budget.urn
            )
    if not production:
        return
    for workload in workloads:
        replicas = workload.spec.get("replicas", 1)
        if replicas is UNKNOWN or replicas == 0:
            continue
        labels = as_dict(workload.pod_metadata().get("labels"))
        covered = any(
            b.namespace == workload.namespace and labels_match(b.spec.get("selector"), labels)
            for b in budgets
        )
        if not covered:
            report_violation(
                f"{workload.ref}: no PodDisruptionBudget selects its pods.", workload.urn
            )


disruption_budget = StackValidationPolicy(
    name="workload-disruption-budget",
    description="Production workloads are covered by a PodDisruptionBudget that allows at least "
    "one disruption and not all; no budget forbids every disruption, whether or not its pods "
    "are in the stack.",
    validate=disruption_budget_validate,
    enforcement_level=MANDATORY,
    severity=Severity.MEDIUM,
    **mapped(Controls(23, nist=("CP-10", "SC-5"), soc2=("A1.1", "A1.2")), "availability"),
    remediation_steps="Add a PodDisruptionBudget selecting the service's pods with maxUnavailable: "
    "1 (or minAvailable below the replica count).",
    config_schema=PolicyConfigSchema(properties={"environment": ENVIRONMENT_SCHEMA}),
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
    service_account_token,
    replicas_minimum,
    disruption_budget,
    recommended_labels,
    no_default_namespace,
    no_bare_pods,
    stable_api_versions,
]
