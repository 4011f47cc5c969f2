"""Pod Security Standards, baseline and restricted profiles (rules 1-17).

Each rule reads every pod-carrying kind (Deployment, StatefulSet, DaemonSet,
ReplicaSet, Job, CronJob, Pod, ...) and every container list (containers,
initContainers, ephemeralContainers), because the admission controller does
too: a hole in an init or debug container is the same hole. Rule 4 also
refuses hostPath PersistentVolumes: the same node access, reached through a
claim.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceRemediation,
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
from ._meta import MANDATORY, Controls, PodSpec, config, kube, mapped, pod_of, pod_rule
from ._raw import editable_props

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

SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
SECCOMP_CONFINED = frozenset({"RuntimeDefault", "Localhost"})
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_HANDLERS = ("postStart", "preStop")


def _sync_remediation(
    remediate: Callable[[ResourceValidationArgs], Mapping[str, Any] | None],
) -> ResourceRemediation:
    # The SDK types remediations as awaitable, but its Remediate handler takes a
    # plain return value too (policy.py: "elif result is not None").
    return cast(ResourceRemediation, remediate)


def _capabilities(names: Iterable[Any]) -> set[str]:
    """Capability names as Kubernetes spells them (upper case, no CAP_); unknowns left out."""
    return {str(name).upper().removeprefix("CAP_") for name in names if name is not UNKNOWN}


def _contexts(pod: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The pod security context and each container's, with how messages name them."""
    found = [("pod securityContext", as_dict(pod.get("securityContext")))]
    found += [(f"{c.ref} securityContext", c.security_context) for c in containers(pod)]
    return found


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
    allowed = _capabilities(as_list(settings["allowedCapabilities"])) - FORBIDDEN_CAPABILITIES
    for container in containers(pod):
        added = as_list(dig(container.security_context, "capabilities", "add"))
        bad = sorted(_capabilities(added) - allowed)
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
    for where, context in _contexts(pod):
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

# ---- 7. AppArmor --------------------------------------------------------------------------

_APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


@pod_rule
def apparmor_validate(
    args: ResourceValidationArgs, obj: KubeObject, pod: PodSpec, report_violation: ReportViolation
) -> None:
    for key, value in as_dict(obj.pod_metadata().get("annotations")).items():
        if key.startswith(_APPARMOR_ANNOTATION) and str(value).lower() == "unconfined":
            report_violation(f"{obj.ref}: annotation {key} is unconfined.", None)
    for where, context in _contexts(pod):
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
    for where, context in _contexts(pod):
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
    for where, context in _contexts(pod):
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
    for where, context in _contexts(pod):
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
    pod_spec = _raw_pod_spec(props, obj.kind)
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
    remediate=_sync_remediation(seccomp_profile_remediate),
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
        if dropped is not UNKNOWN and "ALL" not in _capabilities(as_list(dropped)):
            report_violation(f"{obj.ref}: {container.ref} does not drop ALL capabilities.", None)
        extra = sorted(_capabilities(as_list(capabilities.get("add"))) - {"NET_BIND_SERVICE"})
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
        "ALL" in _capabilities(as_list(dig(c.security_context, "capabilities", "drop")))
        for c in containers(pod)
    ):
        return None
    props = editable_props(args.props)
    pod_spec = _raw_pod_spec(props, obj.kind)
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
            if "ALL" not in _capabilities(drop):
                capabilities["drop"] = [*drop, "ALL"]
    return props


capabilities_restricted = ResourceValidationPolicy(
    name="pod-drop-all-capabilities",
    description="Every container drops ALL capabilities and adds none but NET_BIND_SERVICE.",
    validate=capabilities_restricted_validate,
    remediate=_sync_remediation(capabilities_restricted_remediate),
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


def _raw_pod_spec(props: dict[str, Any], kind: str) -> dict[str, Any] | None:
    from ._kube import _POD_SPEC_PATHS

    node: Any = props
    for key in _POD_SPEC_PATHS[kind]:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node if isinstance(node, dict) else None


POLICIES = [
    host_namespaces,
    privileged_containers,
    capabilities_baseline,
    host_path_volumes,
    persistent_volume_host_path,
    host_ports,
    windows_host_process,
    apparmor_profile,
    selinux_options,
    proc_mount,
    seccomp_not_unconfined,
    sysctls,
    probe_handler_hosts,
    volume_types,
    privilege_escalation,
    run_as_non_root,
    seccomp_profile,
    capabilities_restricted,
]
