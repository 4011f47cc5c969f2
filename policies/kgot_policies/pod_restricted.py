"""Pod Security restricted profile (rules 13-17).

Volume types, no privilege escalation, non-root, a confining seccomp profile,
and capabilities dropped. Rules 16 and 17 can fix their inputs (remediate).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from ._kube import (
    CONTAINER_SECTIONS,
    UNKNOWN,
    Container,
    KubeObject,
    as_dict,
    as_list,
    containers,
    dig,
)
from ._meta import MANDATORY, Controls, PodSpec, mapped, pod_of, pod_rule
from ._pod_security import capability_names, contexts, raw_pod_spec, sync_remediation
from ._raw import editable_props

# PSS restricted: volume sources that cannot reach the node.
RESTRICTED_VOLUME_TYPES = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
]

SECCOMP_CONFINED = frozenset({"RuntimeDefault", "Localhost"})


# ---- 13. volume types (restricted) --------------------------------------------------------


@pod_rule
def volume_types_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    allowed = set(RESTRICTED_VOLUME_TYPES)
    for volume in as_list(pod.get("volumes")):
        kinds = sorted(k for k in as_dict(volume) if k != "name")
        bad = [k for k in kinds if k not in allowed]
        if bad:
            report_violation(
                f"{obj.ref}: volume '{as_dict(volume).get('name')}' uses {', '.join(bad)}.", None
            )


volume_types = ResourceValidationPolicy(
    name="pod-restricted-volume-types",
    description="Volumes only of the restricted types: configMap, csi, downwardAPI, emptyDir, "
    "ephemeral, persistentVolumeClaim, projected, secret.",
    validate=volume_types_validate,
    enforcement_level=MANDATORY,
    severity=Severity.MEDIUM,
    **mapped(
        Controls(13, cis=("5.2.12",), nist=("AC-6", "CM-7"), soc2=("CC6.1",)),
        "pod-security",
        "restricted",
    ),
    remediation_steps="Replace the volume with one of the restricted types (a PVC for storage, "
    "a ConfigMap/Secret/projected volume for files).",
)

# ---- 14. allowPrivilegeEscalation ---------------------------------------------------------


@pod_rule
def privilege_escalation_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    for container in containers(pod):
        value = container.security_context.get("allowPrivilegeEscalation")
        if value is not False and value is not UNKNOWN:
            shown = "unset" if value is None else f"{value}"
            report_violation(
                f"{obj.ref}: {container.ref} allowPrivilegeEscalation is {shown}; "
                "it must be false.",
                None,
            )


privilege_escalation = ResourceValidationPolicy(
    name="pod-no-privilege-escalation",
    description="Every container sets allowPrivilegeEscalation: false.",
    validate=privilege_escalation_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(
        Controls(14, cis=("5.2.6",), nist=("AC-6",), soc2=("CC6.1",)), "pod-security", "restricted"
    ),
    remediation_steps="Set securityContext.allowPrivilegeEscalation: false on every container.",
)

# ---- 15. run as non-root ------------------------------------------------------------------


@pod_rule
def run_as_non_root_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    pod_context = as_dict(pod.get("securityContext"))
    pod_non_root = pod_context.get("runAsNonRoot")
    for container in containers(pod):
        value = container.security_context.get("runAsNonRoot")
        effective = pod_non_root if value is None else value
        if effective is not True and effective is not UNKNOWN:
            report_violation(
                f"{obj.ref}: {container.ref} may run as root (runAsNonRoot not true at pod or "
                "container level).",
                None,
            )
    for where, context in contexts(pod):
        if context.get("runAsUser") == 0:
            report_violation(f"{obj.ref}: {where} sets runAsUser: 0.", None)


run_as_non_root = ResourceValidationPolicy(
    name="pod-run-as-non-root",
    description="Containers run as non-root (runAsNonRoot true) and never with runAsUser 0.",
    validate=run_as_non_root_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(
        Controls(15, cis=("5.2.7",), nist=("AC-6", "AC-6(10)"), soc2=("CC6.1",)),
        "pod-security",
        "restricted",
    ),
    remediation_steps="Set securityContext.runAsNonRoot: true on the pod and a non-zero runAsUser; "
    "build the image with a non-root USER.",
)

# ---- 16. seccomp RuntimeDefault / Localhost -----------------------------------------------


def _seccomp_gaps(pod: dict[str, Any]) -> list[Container]:
    pod_type = dig(pod, "securityContext", "seccompProfile", "type")
    gaps = []
    for container in containers(pod):
        own = dig(container.security_context, "seccompProfile", "type")
        effective = pod_type if own is None else own
        if effective is not UNKNOWN and effective not in SECCOMP_CONFINED:
            gaps.append(container)
    return gaps


@pod_rule
def seccomp_profile_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    for container in _seccomp_gaps(pod):
        report_violation(
            f"{obj.ref}: {container.ref} has no RuntimeDefault or Localhost seccomp profile "
            "(pod or container level).",
            None,
        )


def seccomp_profile_remediate(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    """Set RuntimeDefault at pod level when nothing says otherwise.

    Safe because RuntimeDefault is what the restricted namespace demands anyway;
    a container that explicitly asks for another profile is left to the
    violation, since overriding an explicit choice is not obvious.
    """
    found = pod_of(args)
    if found is None:
        return None
    obj, pod = found
    gaps = _seccomp_gaps(pod)
    explicit = [c for c in gaps if dig(c.security_context, "seccompProfile") is not None]
    if not gaps or explicit:
        return None
    props = editable_props(args.props)
    pod_spec = raw_pod_spec(props, obj.kind)
    if pod_spec is None:
        return None
    context = pod_spec.setdefault("securityContext", {})
    if not isinstance(context, dict):
        return None
    context["seccompProfile"] = {"type": "RuntimeDefault"}
    return props


seccomp_profile = ResourceValidationPolicy(
    name="pod-seccomp-profile",
    description="Every container runs with seccomp RuntimeDefault or Localhost (pod or container "
    "level).",
    validate=seccomp_profile_validate,
    remediate=sync_remediation(seccomp_profile_remediate),
    enforcement_level=MANDATORY,
    severity=Severity.MEDIUM,
    **mapped(
        Controls(16, cis=("5.7.2",), nist=("AC-6", "SI-7"), soc2=("CC6.8",)),
        "pod-security",
        "restricted",
        "remediable",
    ),
    remediation_steps="Set spec.securityContext.seccompProfile.type: RuntimeDefault. With "
    "enforcementLevel remediate the pack sets it when nothing else is declared.",
)

# ---- 17. capabilities (restricted) --------------------------------------------------------


@pod_rule
def capabilities_restricted_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    for container in containers(pod):
        capabilities = as_dict(container.security_context.get("capabilities"))
        dropped = capabilities.get("drop")
        if dropped is not UNKNOWN and "ALL" not in capability_names(as_list(dropped)):
            report_violation(f"{obj.ref}: {container.ref} does not drop ALL capabilities.", None)
        extra = sorted(capability_names(as_list(capabilities.get("add"))) - {"NET_BIND_SERVICE"})
        if extra:
            report_violation(
                f"{obj.ref}: {container.ref} adds {', '.join(extra)}; only NET_BIND_SERVICE "
                "may be added.",
                None,
            )


def capabilities_restricted_remediate(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    """Add ALL to capabilities.drop; dropping never grants anything, so it is safe.

    Disallowed additions stay a violation: removing them might break the
    process, which is a decision for its owner.
    """
    found = pod_of(args)
    if found is None:
        return None
    obj, pod = found
    if all(
        "ALL" in capability_names(as_list(dig(c.security_context, "capabilities", "drop")))
        for c in containers(pod)
    ):
        return None
    props = editable_props(args.props)
    pod_spec = raw_pod_spec(props, obj.kind)
    if pod_spec is None:
        return None
    for section in CONTAINER_SECTIONS:
        for container in pod_spec.get(section) or []:
            if not isinstance(container, dict):
                continue
            context = container.setdefault("securityContext", {})
            capabilities = (
                context.setdefault("capabilities", {}) if isinstance(context, dict) else None
            )
            if not isinstance(capabilities, dict):
                continue
            drop = list(capabilities.get("drop") or [])
            if "ALL" not in capability_names(drop):
                capabilities["drop"] = [*drop, "ALL"]
    return props


capabilities_restricted = ResourceValidationPolicy(
    name="pod-drop-all-capabilities",
    description="Every container drops ALL capabilities and adds none but NET_BIND_SERVICE.",
    validate=capabilities_restricted_validate,
    remediate=sync_remediation(capabilities_restricted_remediate),
    enforcement_level=MANDATORY,
    severity=Severity.MEDIUM,
    **mapped(
        Controls(17, cis=("5.2.9", "5.2.10"), nist=("AC-6", "CM-7"), soc2=("CC6.1",)),
        "pod-security",
        "restricted",
        "remediable",
    ),
    remediation_steps="Set securityContext.capabilities.drop: [ALL] and add at most "
    "NET_BIND_SERVICE. With enforcementLevel remediate the pack adds ALL to drop.",
)

POLICIES = [
    volume_types,
    privilege_escalation,
    run_as_non_root,
    seccomp_profile,
    capabilities_restricted,
]
