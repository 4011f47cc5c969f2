"""Availability: replicas and disruption budgets (rule 23).

Both judge the fewest pods a workload runs: `spec.replicas`, or the
`minReplicas` of the HorizontalPodAutoscaler that scales it (`_autoscalers`).
"""

from __future__ import annotations

import math
import re
from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from ._autoscalers import autoscalers, fewest_pods
from ._kube import REPLICATED_KINDS, UNKNOWN, KubeObject, as_dict, labels_match
from ._meta import (
    ENVIRONMENT_SCHEMA,
    MANDATORY,
    Controls,
    config,
    environment,
    mapped,
    stack_objects,
)

_AVAILABILITY = Controls(23, nist=("CP-10", "SC-5"), soc2=("A1.1", "A1.2"))
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
    scalers = autoscalers(objects)
    for obj in objects:
        if obj.kind not in REPLICATED_KINDS or obj.urn in idle:
            continue
        if any(s.scales(obj) for s in scalers):
            continue  # its HPA is judged below, against the same floor
        replicas = obj.spec.get("replicas", 1)
        if isinstance(replicas, int) and replicas < minimum:
            report_violation(
                f"{obj.ref}: runs {replicas} replica(s) in production; at least {minimum} "
                "keep it available through a node loss.",
                obj.urn,
            )
    idle_targets = {(o.namespace, o.kind, o.name) for o in objects if o.urn in idle}
    for scaler in scalers:
        # An HPA whose target is not in the stack is judged alone: its floor is
        # what the workload, wherever it is, can be scaled down to.
        target = (scaler.obj.namespace, scaler.target_kind, scaler.target_name)
        if target in idle_targets:
            continue
        low = scaler.min_replicas
        if isinstance(low, int) and low < minimum:
            report_violation(
                f"{scaler.obj.ref}: minReplicas {low} lets it scale {scaler.target_ref} down to "
                f"{low} pod(s) in production; at least {minimum} keep it available through a "
                "node loss.",
                scaler.obj.urn,
            )


replicas_minimum = StackValidationPolicy(
    name="workload-replicas-production",
    description="Production workloads that serve traffic run at least minReplicas (2) replicas; "
    "an HPA's minReplicas counts where one scales the workload.",
    validate=replicas_validate,
    enforcement_level=MANDATORY,
    severity=Severity.MEDIUM,
    **mapped(_AVAILABILITY, "availability"),
    remediation_steps="Raise spec.replicas (or the HorizontalPodAutoscaler's minReplicas, where "
    "one scales the workload) to at least minReplicas in the production stack.",
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


def _sets_both(budget: dict[str, Any]) -> bool:
    return budget.get("minAvailable") is not None and budget.get("maxUnavailable") is not None


def _judge_budget(
    budget: KubeObject,
    workloads: list[KubeObject],
    scalers: list[Any],
    production: bool,
    report_violation: ReportViolation,
) -> None:
    """One budget: its shape alone, then (in production) against the pods it selects."""
    if _sets_both(budget.spec):
        # The API server refuses the object; the preview says so first.
        report_violation(
            f"{budget.ref}: sets both minAvailable and maxUnavailable; a "
            "PodDisruptionBudget takes one of them (the API server refuses it).",
            budget.urn,
        )
        return
    # Judged on the budget alone: its pods may be another stack's.
    if forbids_every_disruption(budget.spec):
        report_violation(
            f"{budget.ref}: allows no voluntary disruption of any pod it selects, which "
            "blocks node drains and upgrades.",
            budget.urn,
        )
        return
    selected = [
        w
        for w in workloads
        if w.namespace == budget.namespace
        and labels_match(budget.spec.get("selector"), as_dict(w.pod_metadata().get("labels")))
    ]
    replicas = [fewest_pods(w, scalers) for w in selected]
    if any(not isinstance(r, int) for r in replicas):
        return
    # Outside production the pod count varies by design (one replica, a
    # standby scaled down), so only a budget that blocks or allows every
    # disruption whatever the count is refused; 100 pods stands for "any".
    # With an HPA the count judged is its minReplicas: the budget must still
    # let a drain through when the autoscaler has scaled down to its floor.
    pods = sum(replicas) if production else 100
    allowed = _allowed_disruptions(budget.spec, pods)
    if allowed is None or pods == 0:
        return
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


def disruption_budget_validate(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    settings = config(args, {})
    production = environment(settings) == "production"
    objects = stack_objects(args)
    budgets = [o for o in objects if o.kind == "PodDisruptionBudget"]
    workloads = [o for o in objects if o.kind in REPLICATED_KINDS]
    scalers = autoscalers(objects)
    for budget in budgets:
        _judge_budget(budget, workloads, scalers, production, report_violation)
    if not production:
        return
    for workload in workloads:
        replicas = fewest_pods(workload, scalers)
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
    "one disruption and not all (counted at an HPA's minReplicas where one scales them); no "
    "budget forbids every disruption or sets both minAvailable and maxUnavailable, whether or "
    "not its pods are in the stack.",
    validate=disruption_budget_validate,
    enforcement_level=MANDATORY,
    severity=Severity.MEDIUM,
    **mapped(_AVAILABILITY, "availability"),
    remediation_steps="Add a PodDisruptionBudget selecting the service's pods with maxUnavailable: "
    "1 (or minAvailable below the replica count, or below the HPA's minReplicas); set only one "
    "of minAvailable and maxUnavailable.",
    config_schema=PolicyConfigSchema(properties={"environment": ENVIRONMENT_SCHEMA}),
)

POLICIES = [replicas_minimum, disruption_budget]
