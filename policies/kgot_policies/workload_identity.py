"""Workload identity (rule 22): its own service account, no API token it does not need."""

from __future__ import annotations

from pulumi_policy import (
    ReportViolation,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from ._kube import UNKNOWN, KubeObject, as_dict, service_account_of
from ._meta import MANDATORY, Controls, mapped, stack_objects

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

POLICIES = [service_account_token]
