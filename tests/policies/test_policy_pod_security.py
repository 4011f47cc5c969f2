"""Pod Security Standards rules (1-17) on every pod-carrying kind and container list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kgot_policies import pod_security as ps
from policy_fixtures import (
    POD_KINDS,
    SECTIONS,
    full_pod_spec,
    mutated,
    pod_spec_of,
    res,
    violations,
    workload,
)
from pulumi_policy import ResourceValidationArgs
from pulumi_policy.proxy import unknown_checking_proxy

pytestmark = pytest.mark.policies

Change = Callable[[dict[str, Any]], Any]


def _sc(**fields: Any) -> Change:
    return lambda c: c.setdefault("securityContext", {}).update(fields)


# (policy, change to one container, words the message must contain)
CONTAINER_CASES: list[tuple[Any, Change, str]] = [
    (ps.privileged_containers, _sc(privileged=True), "privileged"),
    (
        ps.capabilities_baseline,
        _sc(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
        "SYS_ADMIN",
    ),
    (ps.capabilities_baseline, _sc(capabilities={"drop": ["ALL"], "add": ["NET_RAW"]}), "NET_RAW"),
    (ps.capabilities_baseline, _sc(capabilities={"drop": ["ALL"], "add": ["ALL"]}), "ALL"),
    (
        ps.host_ports,
        lambda c: c.setdefault("ports", [{}])[0].update(hostPort=8080),
        "hostPort 8080",
    ),
    (ps.windows_host_process, _sc(windowsOptions={"hostProcess": True}), "hostProcess"),
    (ps.apparmor_profile, _sc(appArmorProfile={"type": "Unconfined"}), "Unconfined"),
    (ps.selinux_options, _sc(seLinuxOptions={"type": "spc_t"}), "spc_t"),
    (ps.selinux_options, _sc(seLinuxOptions={"user": "system_u"}), "seLinuxOptions.user"),
    (ps.proc_mount, _sc(procMount="Unmasked"), "Unmasked"),
    (ps.seccomp_not_unconfined, _sc(seccompProfile={"type": "Unconfined"}), "Unconfined"),
    (
        ps.probe_handler_hosts,
        lambda c: c.update(lifecycle={"preStop": {"httpGet": {"host": "10.0.0.1", "port": 80}}}),
        "lifecycle.preStop.httpGet.host",
    ),
    (ps.privilege_escalation, _sc(allowPrivilegeEscalation=True), "allowPrivilegeEscalation"),
    (
        ps.privilege_escalation,
        lambda c: c["securityContext"].pop("allowPrivilegeEscalation"),
        "unset",
    ),
    (ps.run_as_non_root, _sc(runAsNonRoot=False), "may run as root"),
    (ps.run_as_non_root, _sc(runAsUser=0), "runAsUser: 0"),
    (ps.seccomp_profile, _sc(seccompProfile={"type": "Unconfined"}), "seccomp"),
    (ps.capabilities_restricted, _sc(capabilities={"drop": ["NET_RAW"]}), "does not drop ALL"),
    (
        ps.capabilities_restricted,
        _sc(capabilities={"drop": ["ALL"], "add": ["CHOWN"]}),
        "only NET_BIND_SERVICE",
    ),
]

# (policy, change to the pod spec, words the message must contain)
POD_CASES: list[tuple[Any, Change, str]] = [
    (ps.host_namespaces, lambda p: p.update(hostNetwork=True), "hostNetwork"),
    (ps.host_namespaces, lambda p: p.update(hostPID=True), "hostPID"),
    (ps.host_namespaces, lambda p: p.update(hostIPC=True), "hostIPC"),
    (
        ps.host_path_volumes,
        lambda p: p["volumes"].append({"name": "docker", "hostPath": {"path": "/var/run"}}),
        "hostPath /var/run",
    ),
    (
        ps.windows_host_process,
        lambda p: p["securityContext"].update(windowsOptions={"hostProcess": True}),
        "pod securityContext",
    ),
    (
        ps.apparmor_profile,
        lambda p: p["securityContext"].update(appArmorProfile={"type": "Unconfined"}),
        "Unconfined",
    ),
    (
        ps.selinux_options,
        lambda p: p["securityContext"].update(seLinuxOptions={"role": "sysadm_r"}),
        "role",
    ),
    (
        ps.seccomp_not_unconfined,
        lambda p: p["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        "Unconfined",
    ),
    (
        ps.sysctls,
        lambda p: p["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
        "kernel.msgmax",
    ),
    (
        ps.volume_types,
        lambda p: p["volumes"].append({"name": "nfs", "nfs": {"server": "x", "path": "/"}}),
        "nfs",
    ),
    (
        ps.run_as_non_root,
        lambda p: p["securityContext"].update(runAsUser=0),
        "pod securityContext sets runAsUser: 0",
    ),
]


def _kind_body(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return workload(kind, spec)


@pytest.mark.parametrize("kind", POD_KINDS)
@pytest.mark.parametrize("policy", ps.POLICIES, ids=lambda p: p.name)
def test_hardened_pod_passes(policy: Any, kind: str) -> None:
    assert violations(policy, _kind_body(kind, full_pod_spec())) == []


@pytest.mark.parametrize("section", SECTIONS)
@pytest.mark.parametrize("kind", POD_KINDS)
@pytest.mark.parametrize(
    ("policy", "change", "words"),
    CONTAINER_CASES,
    ids=[f"{c[0].name}-{i}" for i, c in enumerate(CONTAINER_CASES)],
)
def test_container_violation_found_in_every_kind_and_list(
    policy: Any, change: Change, words: str, kind: str, section: str
) -> None:
    body = _kind_body(kind, full_pod_spec())
    change(pod_spec_of(body)[section][0])
    found = violations(policy, body)
    assert found, f"{policy.name} missed it in {kind}.{section}"
    assert any(words in m for m in found), found
    singular = section.removesuffix("s")
    assert any(singular in m or "pod" in m for m in found), found


@pytest.mark.parametrize("kind", POD_KINDS)
@pytest.mark.parametrize(
    ("policy", "change", "words"),
    POD_CASES,
    ids=[f"{c[0].name}-{i}" for i, c in enumerate(POD_CASES)],
)
def test_pod_violation_found_in_every_kind(
    policy: Any, change: Change, words: str, kind: str
) -> None:
    body = _kind_body(kind, full_pod_spec())
    change(pod_spec_of(body))
    found = violations(policy, body)
    assert any(words in m for m in found), found


def test_capabilities_outside_the_baseline_are_configurable() -> None:
    body = _kind_body("Deployment", full_pod_spec())
    pod_spec_of(body)["containers"][0]["securityContext"]["capabilities"]["add"] = ["CHOWN"]
    assert violations(ps.capabilities_baseline, body) == []
    assert violations(ps.capabilities_baseline, body, {"allowedCapabilities": ["KILL"]})
    # Widening the set never lets SYS_ADMIN in.
    pod_spec_of(body)["containers"][0]["securityContext"]["capabilities"]["add"] = ["SYS_ADMIN"]
    assert violations(ps.capabilities_baseline, body, {"allowedCapabilities": ["SYS_ADMIN"]})


def test_safe_sysctls_pass_and_the_set_is_configurable() -> None:
    body = _kind_body("Deployment", full_pod_spec())
    pod_spec_of(body)["securityContext"]["sysctls"] = [
        {"name": "net.ipv4.tcp_syncookies", "value": "1"}
    ]
    assert violations(ps.sysctls, body) == []
    assert violations(ps.sysctls, body, {"allowedSysctls": []})


def test_legacy_annotations_unconfined_are_found() -> None:
    body = _kind_body("Deployment", full_pod_spec())
    body["spec"]["template"]["metadata"]["annotations"] = {
        "container.apparmor.security.beta.kubernetes.io/controller": "unconfined",
        "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
    }
    assert violations(ps.apparmor_profile, body)
    assert violations(ps.seccomp_not_unconfined, body)


def test_pod_level_non_root_and_seccomp_cover_containers_that_say_nothing() -> None:
    spec = full_pod_spec()
    for section in SECTIONS:
        for c in spec[section]:
            c["securityContext"].pop("runAsNonRoot")
            c["securityContext"].pop("seccompProfile")
    body = _kind_body("StatefulSet", spec)
    assert violations(ps.run_as_non_root, body) == []
    assert violations(ps.seccomp_profile, body) == []
    spec["securityContext"].pop("runAsNonRoot")
    spec["securityContext"].pop("seccompProfile")
    assert len(violations(ps.run_as_non_root, body)) == 3
    assert len(violations(ps.seccomp_profile, body)) == 3


def test_unknown_values_during_preview_are_not_guessed() -> None:
    unknown_bool = "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7"
    body = _kind_body("Deployment", full_pod_spec())
    pod_spec_of(body)["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = unknown_bool
    assert violations(ps.privilege_escalation, body) == []
    # As the engine hands them over: a proxy that raises on unknown values.
    r = res(body)
    args = ResourceValidationArgs(
        r.resource_type, unknown_checking_proxy(body), r.urn, r.name, r.opts, r.provider
    )
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    ps.privilege_escalation.validate(args, report)
    assert found == []


def test_non_workloads_are_ignored() -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}}
    for policy in ps.POLICIES:
        assert violations(policy, config_map) == []


def _remediate(policy: Any, body: dict[str, Any]) -> Any:
    r = res(body)
    return policy.remediate(
        ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name, r.opts, r.provider)
    )


@pytest.mark.parametrize("kind", POD_KINDS)
def test_remediation_sets_runtime_default_seccomp(kind: str) -> None:
    spec = full_pod_spec()
    spec["securityContext"].pop("seccompProfile")
    for section in SECTIONS:
        for c in spec[section]:
            c["securityContext"].pop("seccompProfile")
    body = _kind_body(kind, spec)
    fixed = _remediate(ps.seccomp_profile, body)
    assert violations(ps.seccomp_profile, fixed) == []
    # The input is not modified in place; the engine uses the returned copy.
    assert violations(ps.seccomp_profile, body)


def test_remediation_leaves_an_explicit_unconfined_profile_to_the_owner() -> None:
    body = _kind_body("Deployment", full_pod_spec())
    pod_spec_of(body)["containers"][0]["securityContext"]["seccompProfile"] = {"type": "Unconfined"}
    assert _remediate(ps.seccomp_profile, body) is None


@pytest.mark.parametrize("kind", POD_KINDS)
def test_remediation_drops_all_capabilities(kind: str) -> None:
    spec = full_pod_spec()
    for section in SECTIONS:
        spec[section][0]["securityContext"]["capabilities"] = {
            "drop": ["NET_RAW"],
            "add": ["NET_BIND_SERVICE"],
        }
    body = _kind_body(kind, spec)
    fixed = _remediate(ps.capabilities_restricted, body)
    assert violations(ps.capabilities_restricted, fixed) == []
    caps = pod_spec_of(fixed)["containers"][0]["securityContext"]["capabilities"]
    assert caps == {"drop": ["NET_RAW", "ALL"], "add": ["NET_BIND_SERVICE"]}
    assert _remediate(ps.capabilities_restricted, fixed) is None


def test_remediation_keeps_pulumi_secrets_marked() -> None:
    from pulumi_policy import Secret
    from pulumi_policy.secret import secrets_preserving_proxy

    body = mutated(_kind_body("Deployment", full_pod_spec()), lambda b: None)
    env = pod_spec_of(body)["containers"][0]["env"]
    env.append({"name": "API_TOKEN", "value": Secret("s3cr3t")})
    for section in SECTIONS:
        pod_spec_of(body)[section][0]["securityContext"]["capabilities"] = {}
    r = res(body)
    args = ResourceValidationArgs(
        r.resource_type, secrets_preserving_proxy(body), r.urn, r.name, r.opts, r.provider
    )
    fixed = ps.capabilities_restricted.remediate(args)
    assert isinstance(fixed, dict)
    assert isinstance(pod_spec_of(fixed)["containers"][0]["env"][-1]["value"], Secret)


def _volume(**source: Any) -> dict[str, Any]:
    spec = {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], **source}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": "data"},
        "spec": spec,
    }


def test_host_path_persistent_volumes_are_refused() -> None:
    found = violations(ps.persistent_volume_host_path, _volume(hostPath={"path": "/var/lib"}))
    assert found == ["PersistentVolume data: is a hostPath volume on the node's /var/lib."]
    local = _volume(local={"path": "/mnt/disks/ssd1"}, nodeAffinity={"required": {}})
    csi = _volume(csi={"driver": "ebs.csi.aws.com", "volumeHandle": "vol-1"})
    assert violations(ps.persistent_volume_host_path, [local, csi]) == []
