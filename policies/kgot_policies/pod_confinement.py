"""Pod Security baseline, the kernel's confinement and the kubelet's calls (rules 7-12).

AppArmor, SELinux, procMount, seccomp never Unconfined, sysctls, and the
hosts probe and lifecycle handlers may call.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from ._kube import UNKNOWN, Container, KubeObject, as_dict, as_list, containers, dig
from ._meta import MANDATORY, Controls, PodSpec, config, mapped, pod_rule
from ._pod_security import contexts

# PSS baseline: namespaced sysctls known to be safe.
SAFE_SYSCTLS = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
]

SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_HANDLERS = ("postStart", "preStop")


# ---- 7. AppArmor --------------------------------------------------------------------------

_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


@pod_rule
def apparmor_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    for key, value in as_dict(obj.pod_metadata().get("annotations")).items():
        if key.startswith(_APPARMOR_ANNOTATION) and str(value).lower() == "unconfined":
            report_violation(f"{obj.ref}: annotation {key} is unconfined.", None)
    for where, context in contexts(pod):
        if dig(context, "appArmorProfile", "type") == "Unconfined":
            report_violation(f"{obj.ref}: {where} sets appArmorProfile.type: Unconfined.", None)


apparmor_profile = ResourceValidationPolicy(
    name="pod-apparmor-profile",
    description="AppArmor must never be set to Unconfined.",
    validate=apparmor_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(
        Controls(7, cis=("5.7.2",), nist=("AC-6", "SI-7"), soc2=("CC6.8",)),
        "pod-security",
        "baseline",
    ),
    remediation_steps="Use appArmorProfile type RuntimeDefault or Localhost, or leave it unset.",
)

# ---- 8. SELinux ---------------------------------------------------------------------------


@pod_rule
def selinux_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    for where, context in contexts(pod):
        options = as_dict(context.get("seLinuxOptions"))
        selinux_type = options.get("type")
        if selinux_type not in (None, UNKNOWN) and selinux_type not in SELINUX_TYPES:
            report_violation(f"{obj.ref}: {where} sets seLinuxOptions.type {selinux_type}.", None)
        for field in ("user", "role"):
            if options.get(field) not in (None, "", UNKNOWN):
                report_violation(f"{obj.ref}: {where} sets seLinuxOptions.{field}.", None)


selinux_options = ResourceValidationPolicy(
    name="pod-selinux-options",
    description="SELinux type only '', container_t, container_init_t or container_kvm_t; no "
    "custom user or role.",
    validate=selinux_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(
        Controls(8, cis=("5.7.2",), nist=("AC-3", "AC-6"), soc2=("CC6.1",)),
        "pod-security",
        "baseline",
    ),
    remediation_steps="Remove seLinuxOptions.user/role and use a container_* type, or leave "
    "seLinuxOptions unset.",
)

# ---- 9. procMount -------------------------------------------------------------------------


@pod_rule
def proc_mount_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    for container in containers(pod):
        proc_mount = container.security_context.get("procMount")
        if proc_mount not in (None, "Default", UNKNOWN):
            report_violation(f"{obj.ref}: {container.ref} sets procMount {proc_mount}.", None)


proc_mount = ResourceValidationPolicy(
    name="pod-proc-mount",
    description="procMount must be unset or Default (the masked /proc).",
    validate=proc_mount_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(
        Controls(9, cis=("5.7.2",), nist=("AC-6", "SC-39"), soc2=("CC6.1",)),
        "pod-security",
        "baseline",
    ),
    remediation_steps="Remove securityContext.procMount (or set it to Default).",
)

# ---- 10. seccomp never Unconfined ---------------------------------------------------------

_SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
_SECCOMP_CONTAINER_ANNOTATION = "container.seccomp.security.alpha.kubernetes.io/"


@pod_rule
def seccomp_unconfined_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    for where, context in contexts(pod):
        if dig(context, "seccompProfile", "type") == "Unconfined":
            report_violation(f"{obj.ref}: {where} sets seccompProfile.type: Unconfined.", None)
    for key, value in as_dict(obj.pod_metadata().get("annotations")).items():
        legacy = key == _SECCOMP_POD_ANNOTATION or key.startswith(_SECCOMP_CONTAINER_ANNOTATION)
        if legacy and str(value).lower() == "unconfined":
            report_violation(f"{obj.ref}: annotation {key} is unconfined.", None)


seccomp_not_unconfined = ResourceValidationPolicy(
    name="pod-seccomp-not-unconfined",
    description="seccomp must never be Unconfined.",
    validate=seccomp_unconfined_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(
        Controls(10, cis=("5.7.2",), nist=("AC-6", "SI-7"), soc2=("CC6.8",)),
        "pod-security",
        "baseline",
    ),
    remediation_steps="Set seccompProfile.type to RuntimeDefault (or Localhost with a profile).",
)

# ---- 11. sysctls --------------------------------------------------------------------------


@pod_rule
def sysctls_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    settings = config(args, {"allowedSysctls": SAFE_SYSCTLS})
    allowed = {str(s) for s in as_list(settings["allowedSysctls"])}
    for sysctl in as_list(dig(pod, "securityContext", "sysctls")):
        name = as_dict(sysctl).get("name")
        if name is not UNKNOWN and name not in allowed:
            report_violation(f"{obj.ref}: pod sets unsafe sysctl {name}.", None)


sysctls = ResourceValidationPolicy(
    name="pod-safe-sysctls",
    description="Pods may set only sysctls from the safe set.",
    validate=sysctls_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(
        Controls(11, cis=("5.7.2",), nist=("CM-7", "SC-39"), soc2=("CC6.8",)),
        "pod-security",
        "baseline",
    ),
    remediation_steps="Remove the sysctl from securityContext.sysctls, or tune it on the node.",
    config_schema=PolicyConfigSchema(
        properties={
            "allowedSysctls": {
                "type": "array",
                "items": {"type": "string"},
                "default": SAFE_SYSCTLS,
                "description": "Sysctls a pod may set.",
            }
        }
    ),
)

# ---- 12. probe and lifecycle hosts --------------------------------------------------------


def _handler_hosts(container: Container) -> list[tuple[str, Any]]:
    handlers = [(name, container.body.get(name)) for name in _PROBES]
    handlers += [(f"lifecycle.{n}", dig(container.body, "lifecycle", n)) for n in _HANDLERS]
    found = []
    for where, handler in handlers:
        for action in ("httpGet", "tcpSocket"):
            host = dig(as_dict(handler), action, "host")
            if host not in (None, "", UNKNOWN):
                found.append((f"{where}.{action}.host", host))
    return found


@pod_rule
def handler_host_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    for container in containers(pod):
        for field, host in _handler_hosts(container):
            report_violation(f"{obj.ref}: {container.ref} sets {field} {host}.", None)


probe_handler_hosts = ResourceValidationPolicy(
    name="pod-probe-handler-host",
    description="Probe and lifecycle handlers must not set host (the kubelet would call "
    "arbitrary addresses).",
    validate=handler_host_validate,
    enforcement_level=MANDATORY,
    severity=Severity.MEDIUM,
    **mapped(
        Controls(12, cis=("5.7.2",), nist=("SC-7",), soc2=("CC6.6",)), "pod-security", "baseline"
    ),
    remediation_steps="Remove host from httpGet/tcpSocket probes and lifecycle handlers; they "
    "default to the pod IP.",
)

POLICIES = [
    apparmor_profile,
    selinux_options,
    proc_mount,
    seccomp_not_unconfined,
    sysctls,
    probe_handler_hosts,
]
