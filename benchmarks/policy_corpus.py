"""Manifests for the policy benchmark: the platform's own, and one defect each.

Each defect is the hardened Deployment (or its stack) with one thing broken,
so a scanner "catches" it when it reports something new compared with the
hardened original. Several defects sit where general scanners look less often:
init and ephemeral containers, CronJobs, and the stack-level rules.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The tests' hardened objects are the one definition of "what the platform declares".
sys.path[:0] = [str(ROOT / "policies"), str(ROOT / "tests" / "policies")]

from policy_fixtures import (  # noqa: E402
    full_pod_spec,
    obj,
    platform_objects,
    pod_spec_of,
    workload,
)

Body = dict[str, Any]


@dataclass(frozen=True)
class Defect:
    label: str
    rule: int
    build: Callable[[], list[Body]]
    # What the defect is compared with: the same manifests, hardened.
    baseline: str = "deployment"  # deployment | <kind> | stack | none


def baselines() -> dict[str, list[Body]]:
    found = {"deployment": [_deployment()], "stack": platform_objects(), "none": []}
    for kind in ("CronJob", "Pod"):
        found[kind] = [_deployment(kind)]
    return found


def _deployment(kind: str = "Deployment") -> Body:
    body: Body = workload(kind, full_pod_spec())
    return body


def _broken(change: Callable[[Body], Any], kind: str = "Deployment") -> Callable[[], list[Body]]:
    def build() -> list[Body]:
        body = _deployment(kind)
        change(body)
        return [body]

    return build


def _container(section: str = "containers") -> Callable[[Body], Body]:
    def first(body: Body) -> Body:
        container: Body = pod_spec_of(body)[section][0]
        return container

    return first


def _sc(section: str = "containers", **fields: Any) -> Callable[[Body], Any]:
    return lambda body: _container(section)(body)["securityContext"].update(fields)


def _pod(**fields: Any) -> Callable[[Body], Any]:
    return lambda body: pod_spec_of(body).update(fields)


def _pod_sc(**fields: Any) -> Callable[[Body], Any]:
    return lambda body: pod_spec_of(body)["securityContext"].update(fields)


def _env(value: str, name: str = "SETTING", section: str = "containers") -> Callable[[Body], Any]:
    return lambda body: _container(section)(body).update(env=[{"name": name, "value": value}])


def _stack(change: Callable[[list[Body]], Any]) -> Callable[[], list[Body]]:
    def build() -> list[Body]:
        bodies: list[Body] = platform_objects()
        change(bodies)
        return bodies

    return build


def _first(bodies: list[Body], kind: str, name: str | None = None) -> Body:
    return next(
        b for b in bodies if b["kind"] == kind and (name is None or b["metadata"]["name"] == name)
    )


FAKE_AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"  # split: keeps scanners of this repo quiet
FAKE_GITHUB_TOKEN = "ghp_" + "1234567890abcdefghijABCDEFGHIJ123456"

DEFECTS: list[Defect] = [
    Defect("hostNetwork", 1, _broken(_pod(hostNetwork=True))),
    Defect("hostPID in a CronJob", 1, _broken(_pod(hostPID=True), "CronJob"), "CronJob"),
    Defect("privileged container", 2, _broken(_sc(privileged=True))),
    Defect("privileged initContainer", 2, _broken(_sc("initContainers", privileged=True))),
    Defect(
        "privileged ephemeralContainer",
        2,
        _broken(_sc("ephemeralContainers", privileged=True)),
    ),
    Defect(
        "SYS_ADMIN capability",
        3,
        _broken(_sc(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]})),
    ),
    Defect(
        "hostPath volume",
        4,
        _broken(
            lambda b: pod_spec_of(b)["volumes"].append({"name": "h", "hostPath": {"path": "/"}})
        ),
    ),
    Defect("hostPort", 5, _broken(lambda b: _container()(b)["ports"][0].update(hostPort=80))),
    Defect("Windows hostProcess", 6, _broken(_pod_sc(windowsOptions={"hostProcess": True}))),
    Defect("AppArmor Unconfined", 7, _broken(_sc(appArmorProfile={"type": "Unconfined"}))),
    Defect("SELinux custom type", 8, _broken(_sc(seLinuxOptions={"type": "spc_t"}))),
    Defect("procMount Unmasked", 9, _broken(_sc(procMount="Unmasked"))),
    Defect(
        "seccomp Unconfined (initContainer)",
        10,
        _broken(_sc("initContainers", seccompProfile={"type": "Unconfined"})),
    ),
    Defect(
        "unsafe sysctl",
        11,
        _broken(_pod_sc(sysctls=[{"name": "kernel.msgmax", "value": "65536"}])),
    ),
    Defect(
        "probe host",
        12,
        _broken(lambda b: _container()(b)["livenessProbe"]["httpGet"].update(host="10.0.0.1")),
    ),
    Defect(
        "nfs volume",
        13,
        _broken(
            lambda b: pod_spec_of(b)["volumes"].append(
                {"name": "n", "nfs": {"server": "nfs", "path": "/"}}
            )
        ),
    ),
    Defect(
        "allowPrivilegeEscalation unset (initContainer)",
        14,
        _broken(
            lambda b: _container("initContainers")(b)["securityContext"].pop(
                "allowPrivilegeEscalation"
            )
        ),
    ),
    Defect("runAsUser 0", 15, _broken(_sc(runAsUser=0))),
    Defect(
        "no seccomp profile",
        16,
        _broken(
            lambda b: [
                pod_spec_of(b)["securityContext"].pop("seccompProfile"),
                *(
                    c["securityContext"].pop("seccompProfile")
                    for s in ("containers", "initContainers", "ephemeralContainers")
                    for c in pod_spec_of(b)[s]
                ),
            ]
        ),
    ),
    Defect("capabilities not dropped", 17, _broken(_sc(capabilities={}))),
    Defect("writable root filesystem", 18, _broken(_sc(readOnlyRootFilesystem=False))),
    Defect("image :latest", 19, _broken(lambda b: _container()(b).update(image="nginx:latest"))),
    Defect(
        "untagged image (initContainer)",
        19,
        _broken(lambda b: _container("initContainers")(b).update(image="busybox")),
    ),
    Defect("no resource limits", 20, _broken(lambda b: _container()(b).pop("resources"))),
    Defect("no readiness probe", 21, _broken(lambda b: _container()(b).pop("readinessProbe"))),
    Defect(
        "token automounted",
        22,
        _stack(
            lambda s: pod_spec_of(_first(s, "Deployment")).update(automountServiceAccountToken=True)
        ),
        "stack",
    ),
    Defect(
        "default service account",
        22,
        _broken(lambda b: pod_spec_of(b).pop("serviceAccountName")),
    ),
    Defect(
        "no recommended labels",
        24,
        _broken(lambda b: b["spec"]["template"]["metadata"].update(labels={"app": "x"})),
    ),
    Defect(
        "default namespace",
        24,
        _broken(lambda b: b["metadata"].update(namespace="default")),
    ),
    Defect("bare Pod", 24, _broken(lambda b: None, "Pod"), "deployment"),
    Defect(
        "beta API",
        25,
        _broken(lambda b: b.update(apiVersion="batch/v1beta1"), "CronJob"),
        "CronJob",
    ),
    Defect(
        "no default-deny NetworkPolicy",
        26,
        _stack(lambda s: s.remove(_first(s, "NetworkPolicy", "default-deny"))),
        "stack",
    ),
    Defect(
        "NodePort Service",
        27,
        lambda: [obj("Service", "x", spec={"type": "NodePort", "ports": [{"port": 80}]})],
        "none",
    ),
    Defect(
        "Ingress without TLS",
        28,
        lambda: [obj("Ingress", "x", spec={"rules": [{"host": "x.example.com"}]})],
        "none",
    ),
    Defect(
        "cluster-admin binding",
        29,
        lambda: [
            obj(
                "ClusterRoleBinding",
                "x",
                None,
                roleRef={
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "cluster-admin",
                },
                subjects=[
                    {"kind": "ServiceAccount", "name": "controller", "namespace": "kgot-dev"}
                ],
            )
        ],
        "none",
    ),
    Defect(
        "wildcard Role",
        29,
        lambda: [
            obj("Role", "x", rules=[{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
        ],
        "none",
    ),
    Defect("AWS key in env", 30, _broken(_env(FAKE_AWS_KEY))),
    Defect(
        "GitHub token in initContainer env",
        30,
        _broken(_env(FAKE_GITHUB_TOKEN, section="initContainers")),
    ),
    Defect("password in env", 30, _broken(_env("hunter2" + "horse", "DB_PASSWORD"))),
    Defect(
        "AWS key in ConfigMap",
        30,
        lambda: [obj("ConfigMap", "x", data={"app.env": f"AWS_ACCESS_KEY_ID={FAKE_AWS_KEY}\n"})],
        "none",
    ),
    Defect(
        "token in annotation",
        30,
        _broken(lambda b: b["metadata"].update(annotations={"kgot.io/token": FAKE_GITHUB_TOKEN})),
    ),
    Defect(
        "standby with weight but fewer replicas",
        33,
        _stack(
            lambda s: [
                _first(s, "Deployment", "controller-green")["spec"].update(replicas=1),
                _first(s, "HTTPRoute", "controller")["spec"]["rules"][0]["backendRefs"][1].update(
                    weight=20
                ),
            ]
        ),
        "stack",
    ),
]


def copied(bodies: list[Body]) -> list[Body]:
    return copy.deepcopy(bodies)
