"""Pod Security Standards, baseline and restricted profiles (rules 1-17).

Each rule reads every pod-carrying kind (Deployment, StatefulSet, DaemonSet,
ReplicaSet, Job, CronJob, Pod, ...) and every container list (containers,
initContainers, ephemeralContainers), because the admission controller does
too: a hole in an init or debug container is the same hole.

The rules live by concern: `pod_node_access` (baseline 1-6: what reaches the
node), `pod_confinement` (baseline 7-12: kernel confinement and the kubelet's
calls) and `pod_restricted` (13-17); this module is their one list, in rule
order, and the names the rest of the pack and the tests import.
"""

from __future__ import annotations

from .pod_confinement import (
    SAFE_SYSCTLS,
    SELINUX_TYPES,
    apparmor_profile,
    probe_handler_hosts,
    proc_mount,
    seccomp_not_unconfined,
    selinux_options,
    sysctls,
)
from .pod_node_access import (
    BASELINE_CAPABILITIES,
    FORBIDDEN_CAPABILITIES,
    capabilities_baseline,
    host_namespaces,
    host_path_volumes,
    host_ports,
    persistent_volume_host_path,
    privileged_containers,
    windows_host_process,
)
from .pod_restricted import (
    RESTRICTED_VOLUME_TYPES,
    SECCOMP_CONFINED,
    capabilities_restricted,
    privilege_escalation,
    run_as_non_root,
    seccomp_profile,
    volume_types,
)

__all__ = [
    "BASELINE_CAPABILITIES",
    "FORBIDDEN_CAPABILITIES",
    "POLICIES",
    "RESTRICTED_VOLUME_TYPES",
    "SAFE_SYSCTLS",
    "SECCOMP_CONFINED",
    "SELINUX_TYPES",
    "apparmor_profile",
    "capabilities_baseline",
    "capabilities_restricted",
    "host_namespaces",
    "host_path_volumes",
    "host_ports",
    "persistent_volume_host_path",
    "privilege_escalation",
    "privileged_containers",
    "probe_handler_hosts",
    "proc_mount",
    "run_as_non_root",
    "seccomp_not_unconfined",
    "seccomp_profile",
    "selinux_options",
    "sysctls",
    "volume_types",
    "windows_host_process",
]

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
