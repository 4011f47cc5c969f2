"""Pod Security baseline, what reaches the node (rules 1-6).

Host namespaces, privileged containers, added capabilities, hostPath volumes
(and hostPath PersistentVolumes: the same node access, reached through a
claim), host ports and Windows HostProcess containers.
"""

from __future__ import annotations

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from ._kube import UNKNOWN, KubeObject, as_dict, as_list, containers, dig
from ._meta import MANDATORY, Controls, PodSpec, config, kube, mapped, pod_rule
from ._pod_security import capability_names, contexts

# PSS baseline: the capabilities a container may add.
BASELINE_CAPABILITIES = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
]
# Never allowed, even if someone widens the configured set.
FORBIDDEN_CAPABILITIES = frozenset({"ALL", "SYS_ADMIN", "NET_ADMIN", "NET_RAW"})


# ---- 1. host namespaces -------------------------------------------------------------------


@pod_rule
def host_namespaces_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field) is True:
            report_violation(
                f"{obj.ref}: pod sets {field}: true, sharing the node's namespace.", None
            )


host_namespaces = ResourceValidationPolicy(
    name="pod-host-namespaces",
    description="Pods must not share the node's network, PID or IPC namespace.",
    validate=host_namespaces_validate,
    enforcement_level=MANDATORY,
    severity=Severity.CRITICAL,
    **mapped(
        Controls(1, cis=("5.2.4", "5.2.3", "5.2.5"), nist=("AC-6", "SC-7"), soc2=("CC6.1",)),
        "pod-security",
        "baseline",
    ),
    remediation_steps="Remove hostNetwork, hostPID and hostIPC from the pod spec (or set them "
    "false).",
)

# ---- 2. privileged ------------------------------------------------------------------------


@pod_rule
def privileged_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    for container in containers(pod):
        if container.security_context.get("privileged") is True:
            report_violation(
                f"{obj.ref}: {container.ref} sets securityContext.privileged: true.", None
            )


privileged_containers = ResourceValidationPolicy(
    name="pod-privileged-containers",
    description="Containers must not run privileged.",
    validate=privileged_validate,
    enforcement_level=MANDATORY,
    severity=Severity.CRITICAL,
    **mapped(
        Controls(2, cis=("5.2.2",), nist=("AC-6", "CM-7"), soc2=("CC6.1", "CC6.8")),
        "pod-security",
        "baseline",
    ),
    remediation_steps="Remove securityContext.privileged (or set it false) on every container.",
)

# ---- 3. capabilities (baseline) -----------------------------------------------------------


@pod_rule
def capabilities_baseline_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    settings = config(args, {"allowedCapabilities": BASELINE_CAPABILITIES})
    allowed = capability_names(as_list(settings["allowedCapabilities"])) - FORBIDDEN_CAPABILITIES
    for container in containers(pod):
        added = as_list(dig(container.security_context, "capabilities", "add"))
        bad = sorted(capability_names(added) - allowed)
        if bad:
            report_violation(
                f"{obj.ref}: {container.ref} adds capabilities {', '.join(bad)} "
                f"outside the baseline set.",
                None,
            )


capabilities_baseline = ResourceValidationPolicy(
    name="pod-capabilities-baseline",
    description="Containers may add only baseline capabilities; never ALL, SYS_ADMIN, NET_ADMIN "
    "or NET_RAW.",
    validate=capabilities_baseline_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(
        Controls(3, cis=("5.2.8", "5.2.9"), nist=("AC-6", "CM-7"), soc2=("CC6.1",)),
        "pod-security",
        "baseline",
    ),
    remediation_steps="Remove the listed capabilities from securityContext.capabilities.add; "
    "grant only what the process needs from the baseline set.",
    config_schema=PolicyConfigSchema(
        properties={
            "allowedCapabilities": {
                "type": "array",
                "items": {"type": "string"},
                "default": BASELINE_CAPABILITIES,
                "description": "Capabilities a container may add (ALL, SYS_ADMIN, NET_ADMIN, "
                "NET_RAW are refused regardless).",
            }
        }
    ),
)

# ---- 4. hostPath volumes ------------------------------------------------------------------


@pod_rule
def host_path_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    for volume in as_list(pod.get("volumes")):
        if isinstance(volume, dict) and volume.get("hostPath") is not None:
            path = dig(volume, "hostPath", "path")
            report_violation(
                f"{obj.ref}: volume '{volume.get('name')}' mounts hostPath {path}.", None
            )


host_path_volumes = ResourceValidationPolicy(
    name="pod-host-path-volumes",
    description="Pods must not mount hostPath volumes.",
    validate=host_path_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(
        Controls(4, cis=("5.2.12",), nist=("AC-6", "SC-39"), soc2=("CC6.1",)),
        "pod-security",
        "baseline",
    ),
    remediation_steps="Replace the hostPath volume with emptyDir, a ConfigMap/Secret, or a "
    "PersistentVolumeClaim.",
)


def persistent_volume_host_path_validate(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    # A pod that claims a hostPath PersistentVolume mounts the node's files
    # with nothing but a persistentVolumeClaim in its own spec.
    obj = kube(args, ("PersistentVolume",))
    if obj is None or obj.kind != "PersistentVolume" or obj.spec.get("hostPath") is None:
        return
    path = dig(obj.spec, "hostPath", "path")
    report_violation(f"{obj.ref}: is a hostPath volume on the node's {path}.", None)


persistent_volume_host_path = ResourceValidationPolicy(
    name="persistent-volume-host-path",
    description="PersistentVolumes are not hostPath volumes (a claim would mount the node's "
    "files into the pod).",
    validate=persistent_volume_host_path_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(
        Controls(4, cis=("5.1.9", "5.2.12"), nist=("AC-6", "SC-39"), soc2=("CC6.1",)),
        "pod-security",
        "baseline",
    ),
    remediation_steps="Provision volumes through a StorageClass (CSI driver) or, for node-local "
    "disks, a `local` PersistentVolume with nodeAffinity; never hostPath.",
)

# ---- 5. hostPort --------------------------------------------------------------------------


@pod_rule
def host_ports_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    for container in containers(pod):
        for port in as_list(container.body.get("ports")):
            host_port = as_dict(port).get("hostPort")
            if host_port not in (None, 0, UNKNOWN):
                report_violation(f"{obj.ref}: {container.ref} binds hostPort {host_port}.", None)


host_ports = ResourceValidationPolicy(
    name="pod-host-ports",
    description="Containers must not bind host ports.",
    validate=host_ports_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(
        Controls(5, cis=("5.2.13",), nist=("SC-7", "CM-7"), soc2=("CC6.6",)),
        "pod-security",
        "baseline",
    ),
    remediation_steps="Remove hostPort from the container ports; expose the pod through a "
    "Service instead.",
)

# ---- 6. Windows HostProcess ---------------------------------------------------------------


@pod_rule
def host_process_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    for where, context in contexts(pod):
        if dig(context, "windowsOptions", "hostProcess") is True:
            report_violation(f"{obj.ref}: {where} sets windowsOptions.hostProcess: true.", None)


windows_host_process = ResourceValidationPolicy(
    name="pod-windows-host-process",
    description="Windows pods must not run as HostProcess containers.",
    validate=host_process_validate,
    enforcement_level=MANDATORY,
    severity=Severity.CRITICAL,
    **mapped(
        Controls(6, cis=("5.2.2",), nist=("AC-6",), soc2=("CC6.1",)), "pod-security", "baseline"
    ),
    remediation_steps="Remove windowsOptions.hostProcess (or set it false).",
)

POLICIES = [
    host_namespaces,
    privileged_containers,
    capabilities_baseline,
    host_path_volumes,
    persistent_volume_host_path,
    host_ports,
    windows_host_process,
]
