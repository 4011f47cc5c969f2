"""Manifests for the policy benchmark: the platform's own, one defect each, and sane variants.

Each defect is the hardened Deployment (or its stack) with one thing broken,
so a scanner "catches" it when it reports something new compared with the
hardened original. Several defects sit where general scanners look less often:
init and ephemeral containers, CronJobs, and the stack-level rules. The second
round (ROUND_2) covers every RBAC escalation path of CIS 5.1, every place a
pod gets a secret from, and exposure through externalIPs and hostPath
PersistentVolumes. SANE holds manifests a scanner must let through (public key
material, names that only look secret, secrets where they belong): anything
new reported there is a false alarm.
"""

from __future__ import annotations

import base64
import copy
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The tests' hardened objects are the one definition of "what the platform declares".
sys.path[:0] = [str(ROOT / "policies"), str(ROOT / "tests" / "policies")]

from policy_fixtures import (  # noqa: E402
    NS,
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
    # The pack's config for the case and its baseline (Checkov takes none).
    config: Mapping[str, Any] = field(default_factory=dict)


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


# ---- round 2: RBAC escalation paths, every place a secret hides, exposure ---------------

RBAC_API = "rbac.authorization.k8s.io"
WORKLOAD_SA = {"kind": "ServiceAccount", "name": "controller", "namespace": NS}


def _rule(groups: str, resources: str, verbs: str) -> Body:
    return {"apiGroups": groups.split(","), "resources": resources.split(), "verbs": verbs.split()}


def _role(kind: str, name: str, *rules: Body) -> Body:
    body: Body = obj(kind, name, None if kind == "ClusterRole" else NS, rules=list(rules))
    return body


def _binding(kind: str, role_kind: str, role: str, *subjects: Body) -> Body:
    body: Body = obj(
        kind,
        f"{role}-binding",
        None if kind == "ClusterRoleBinding" else NS,
        roleRef={"apiGroup": RBAC_API, "kind": role_kind, "name": role},
        subjects=list(subjects),
    )
    return body


def _group(name: str) -> Body:
    return {"apiGroup": RBAC_API, "kind": "Group", "name": name}


def _role_alone(kind: str, *rules: Body) -> Callable[[], list[Body]]:
    return lambda: [_role(kind, "x", *rules)]


def _bound_to_workload(
    rule: Body, subject: Body = WORKLOAD_SA, kind: str = "Role"
) -> Callable[[], list[Body]]:
    """The hardened Deployment, a role and a binding of it to the Deployment's account."""
    binding_kind = "RoleBinding" if kind == "Role" else "ClusterRoleBinding"
    return lambda: [
        _deployment(),
        _role(kind, "x", rule),
        _binding(binding_kind, kind, "x", subject),
    ]


def _bound_to_group(rule: Body, group: str, kind: str = "ClusterRole") -> Callable[[], list[Body]]:
    """A role bound to a group, no workload in the stack."""
    binding_kind = "RoleBinding" if kind == "Role" else "ClusterRoleBinding"
    return lambda: [_role(kind, "x", rule), _binding(binding_kind, kind, "x", _group(group))]


def _envs(*pairs: tuple[str, str]) -> Callable[[Body], Any]:
    return lambda b: _container()(b)["env"].extend({"name": n, "value": v} for n, v in pairs)


def _args(*words: str) -> Callable[[Body], Any]:
    return lambda b: _container()(b).update(args=list(words))


def _config_map(name: str = "app", **fields: Any) -> Body:
    body: Body = obj("ConfigMap", name, **fields)
    return body


def _with_config_map(config_map: Body, env_from: bool = True) -> Callable[[], list[Body]]:
    """The hardened Deployment loading a ConfigMap into its environment."""

    def build() -> list[Body]:
        body = _deployment()
        if env_from:
            _container()(body)["envFrom"] = [
                {"configMapRef": {"name": config_map["metadata"]["name"]}}
            ]
        return [body, copy.deepcopy(config_map)]

    return build


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _pdb(**spec: Any) -> Body:
    selector = {"matchLabels": {"app.kubernetes.io/name": "batch-worker"}}
    body: Body = obj("PodDisruptionBudget", "batch-worker", spec={**spec, "selector": selector})
    return body


PRODUCTION = {
    "workload-disruption-budget": {"environment": "production"},
}
FAKE_PASSWORD = "hunter2" + "horse"
FAKE_BEARER = "eyJhbGciOiJIUzI1NiJ9" + ".c2VydmljZQ.Z2l2ZW5zZWNyZXQ0Mg"
FAKE_PRIVATE_KEY = (
    "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEowIBAAKCAQEAq8nY\n-----END RSA PRIVATE KEY-----\n"
)

ROUND_2: list[Defect] = [
    # CIS 5.1.8: escalate, bind, impersonate, judged on the role itself.
    Defect(
        "Role: escalate on roles",
        29,
        _role_alone("Role", _rule(RBAC_API, "roles", "get escalate")),
        "none",
    ),
    Defect(
        "ClusterRole: bind on clusterroles",
        29,
        _role_alone(
            "ClusterRole",
            _rule(RBAC_API, "clusterroles", "bind"),
            _rule(RBAC_API, "clusterrolebindings", "create"),
        ),
        "none",
    ),
    Defect(
        "ClusterRole: impersonate users and groups",
        29,
        _role_alone("ClusterRole", _rule("", "users groups", "impersonate")),
        "none",
    ),
    # 5.1.13, 5.1.10, 5.1.11, 5.1.12, 5.1.9 and namespace relabelling.
    Defect(
        "Role: create serviceaccounts/token",
        29,
        _role_alone("Role", _rule("", "serviceaccounts/token", "create")),
        "none",
    ),
    Defect(
        "ClusterRole: nodes/proxy",
        29,
        _role_alone("ClusterRole", _rule("", "nodes/proxy", "get")),
        "none",
    ),
    Defect(
        "ClusterRole: approve CSRs",
        29,
        _role_alone(
            "ClusterRole",
            _rule("certificates.k8s.io", "certificatesigningrequests/approval", "update"),
            _rule("certificates.k8s.io", "signers", "approve"),
        ),
        "none",
    ),
    Defect(
        "ClusterRole: patch mutating webhooks",
        29,
        _role_alone(
            "ClusterRole",
            _rule("admissionregistration.k8s.io", "mutatingwebhookconfigurations", "get patch"),
        ),
        "none",
    ),
    Defect(
        "ClusterRole: create persistentvolumes",
        29,
        _role_alone("ClusterRole", _rule("", "persistentvolumes", "get create")),
        "none",
    ),
    Defect(
        "ClusterRole: patch namespaces",
        29,
        _role_alone("ClusterRole", _rule("", "namespaces", "get patch")),
        "none",
    ),
    # What bindings hand to workloads (5.1.2, 5.1.4), groups counting as every member.
    Defect(
        "workload may create pods",
        29,
        _bound_to_workload(_rule("", "pods", "get list create")),
    ),
    Defect(
        "workload may patch deployments",
        29,
        _bound_to_workload(_rule("apps", "deployments", "get patch")),
    ),
    Defect(
        "workload may add ephemeral containers",
        29,
        _bound_to_workload(_rule("", "pods/ephemeralcontainers", "patch")),
    ),
    Defect(
        "workload as User system:serviceaccount:",
        29,
        _bound_to_workload(
            _rule("", "pods/exec", "create"),
            {
                "apiGroup": RBAC_API,
                "kind": "User",
                "name": f"system:serviceaccount:{NS}:controller",
            },
        ),
    ),
    Defect(
        "default service account lists secrets",
        29,
        lambda: [
            _role("Role", "x", _rule("", "secrets", "list")),
            _binding(
                "RoleBinding",
                "Role",
                "x",
                {"kind": "ServiceAccount", "name": "default", "namespace": NS},
            ),
        ],
        "none",
    ),
    Defect(
        "group system:serviceaccounts lists secrets",
        29,
        _bound_to_group(_rule("", "secrets", "get list"), "system:serviceaccounts"),
        "none",
    ),
    Defect(
        "group system:serviceaccounts:<ns> execs",
        29,
        _bound_to_group(_rule("", "pods/exec", "create"), f"system:serviceaccounts:{NS}", "Role"),
        "none",
    ),
    Defect(
        "group system:authenticated watches secrets",
        29,
        _bound_to_group(_rule("", "secrets", "watch"), "system:authenticated"),
        "none",
    ),
    Defect(
        "edit bound to a service account",
        29,
        lambda: [_binding("RoleBinding", "ClusterRole", "edit", WORKLOAD_SA)],
        "none",
    ),
    Defect(
        "admin bound to every account of the namespace",
        29,
        lambda: [
            _binding("RoleBinding", "ClusterRole", "admin", _group(f"system:serviceaccounts:{NS}"))
        ],
        "none",
    ),
    # Secrets wherever a container gets them.
    Defect(
        "password env from a ConfigMap key",
        30,
        _broken(
            lambda b: _container()(b)["env"].append(
                {
                    "name": "SMTP_PASSWORD",
                    "valueFrom": {"configMapKeyRef": {"name": "mail", "key": "smtp"}},
                }
            )
        ),
    ),
    Defect("password flag in args", 30, _broken(_args("--db-password=" + FAKE_PASSWORD))),
    Defect(
        "token as a separate arg",
        30,
        _broken(_args("--listen=:8080", "--api-token", "Zq8Wn3kZpX41" + "mTr7Lb")),
    ),
    Defect(
        "PGPASSWORD in sh -c",
        30,
        _broken(
            lambda b: _container("initContainers")(b).update(
                command=["sh", "-c", f"PGPASSWORD={FAKE_PASSWORD} psql -h graph-store -U kgot"]
            )
        ),
    ),
    Defect(
        "curl -u in a postStart hook",
        30,
        _broken(
            lambda b: _container()(b).update(
                lifecycle={
                    "postStart": {
                        "exec": {"command": ["curl", "-u", f"admin:{FAKE_PASSWORD}", "http://x"]}
                    }
                }
            )
        ),
    ),
    Defect(
        "bearer token in a probe header",
        30,
        _broken(
            lambda b: _container()(b)["livenessProbe"]["httpGet"].update(
                httpHeaders=[{"name": "Authorization", "value": f"Bearer {FAKE_BEARER}"}]
            )
        ),
    ),
    Defect(
        "redis URL with empty user",
        30,
        _broken(_envs(("REDIS_URL", "redis://:" + FAKE_PASSWORD + "@redis:6379/0"))),
    ),
    Defect(
        "ADO.NET connection string",
        30,
        _broken(
            _envs(
                (
                    "ConnectionStrings__Default",
                    f"Server=sql;Database=kgot;User Id=kgot;Password={FAKE_PASSWORD};",
                )
            )
        ),
    ),
    Defect(
        "JDBC URL with password parameter",
        30,
        _broken(_args(f"--jdbc=jdbc:postgresql://db:5432/kgot?user=kgot&password={FAKE_PASSWORD}")),
    ),
    Defect(
        "Kafka JAAS config",
        30,
        _broken(
            _envs(
                (
                    "KAFKA_SASL_JAAS_CONFIG",
                    "org.apache.kafka.common.security.plain.PlainLoginModule required "
                    f'username="kgot" password="{FAKE_PASSWORD}";',
                )
            )
        ),
    ),
    Defect(
        "base64 private key in env",
        30,
        _broken(_envs(("TLS_KEY_B64", _b64(FAKE_PRIVATE_KEY)))),
    ),
    Defect(
        "libpq DSN in ConfigMap (envFrom)",
        30,
        _with_config_map(
            _config_map(data={"PG_CONN": f"host=db user=kgot password={FAKE_PASSWORD}"})
        ),
    ),
    Defect(
        "Go MySQL DSN in ConfigMap (envFrom)",
        30,
        _with_config_map(
            _config_map(data={"MYSQL_DSN": f"kgot:{FAKE_PASSWORD}@tcp(db:3306)/kgot"})
        ),
    ),
    Defect(
        "DB_PASS key in ConfigMap (envFrom)",
        30,
        _with_config_map(_config_map(data={"DB_HOST": "db", "DB_PASS": FAKE_PASSWORD})),
    ),
    Defect(
        "exported token in a .env ConfigMap",
        30,
        lambda: [_config_map(data={"app.env": f"export API_TOKEN={FAKE_PASSWORD}\n"})],
        "none",
    ),
    Defect(
        "secret in ConfigMap binaryData",
        30,
        lambda: [_config_map(binaryData={"app.env": _b64(f"DB_PASSWORD={FAKE_PASSWORD}\n")})],
        "none",
    ),
    Defect(
        "key store in ConfigMap binaryData",
        30,
        lambda: [_config_map(binaryData={"client.p12": _b64("\x30\x82\x0a\x01 pkcs12")})],
        "none",
    ),
    # Exposure.
    Defect(
        "Service externalIPs",
        27,
        lambda: [
            obj(
                "Service",
                "x",
                spec={
                    "type": "ClusterIP",
                    "externalIPs": ["203.0.113.10"],
                    "ports": [{"port": 80}],
                },
            )
        ],
        "none",
    ),
    Defect(
        "hostPath PersistentVolume",
        4,
        lambda: [
            obj(
                "PersistentVolume",
                "x",
                None,
                spec={
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "hostPath": {"path": "/var/lib/kubelet"},
                },
            )
        ],
        "none",
    ),
    # A budget that forbids every disruption, its pods in another stack.
    Defect(
        "PDB maxUnavailable 0, pods elsewhere (prod)",
        23,
        lambda: [_pdb(maxUnavailable=0)],
        "none",
        PRODUCTION,
    ),
    Defect(
        "PDB minAvailable 100%, pods elsewhere (prod)",
        23,
        lambda: [_pdb(minAvailable="100%")],
        "none",
        PRODUCTION,
    ),
]

# ---- sane manifests: public material, look-alike names, secrets where they belong -------

CA_CERT = """-----BEGIN CERTIFICATE-----
MIIBnjCCAUOgAwIBAgIUAWkuaiJu9nLyGRdhDHfIb/QINkYwCgYIKoZIzj0EAwIw
JDEiMCAGA1UEAwwZa2dvdC1wbGF0Zm9ybSBpbnRlcm5hbCBDQTAeFw0yNjEyMDEy
MTAzNDJaFw0zNjExMjgyMTAzNDJaMCQxIjAgBgNVBAMMGWtnb3QtcGxhdGZvcm0g
aW50ZXJuYWwgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAR4MLdOO3i12gDS
PvaNGdGhC3cDc15m5V1NvP0Vyl6yr0gybNzvaftIteh1uSONGheQFD31gDSCzhqn
cwXxfT8Bo1MwUTAdBgNVHQ4EFgQUn/tHKWEb3KkOUJgXb18H47YTqj4wHwYDVR0j
BBgwFoAUn/tHKWEb3KkOUJgXb18H47YTqj4wDwYDVR0TAQH/BAUwAwEB/zAKBggq
hkjOPQQDAgNJADBGAiEAjH5Vz180IddvNH9UTXyNtcaFgSXFpnYkGrUiKnnVkrkC
IQDGzfBA12WKbx5fv83yUnR+XwtKD2Rqa+wxptQPSfoetQ==
-----END CERTIFICATE-----
"""
PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeDC3Tjt4tdoA0j72jRnRoQt3A3Ne
ZuVdTbz9Fcpesq9IMmzc72n7SLXodbkjjRoXkBQ99YA0gs4ap3MF8X0/AQ==
-----END PUBLIC KEY-----
"""
SSH_PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJbf/YVw7m45KAjb+qpg9NeZJo8WpsmkGazg72W/szZ7 git-sync@kgot"
)
KNOWN_HOSTS = (
    "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    "|1|kk9uXgSH/iZehpC5tpMOPK4mCc8=|ZyMwErmaoKTnJ46fxGoyBkmJ9f4= ecdsa-sha2-nistp256 "
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBLEKeiYnVpkzuanW9RSuAozXghXtJv3H/Y+8cqYZ"
    "peGvECF+A098uVuoCl1zJPMUc4HhkI8r7C5UjxDFVe+HkpA=\n"
)
JWKS = (
    '{"keys":[{"kty":"EC","crv":"P-256","kid":"kgot-2026","use":"sig","alg":"ES256",'
    '"x":"eDC3Tjt4tdoA0j72jRnRoQt3A3NeZuVdTbz9Fcpesq8","y":"SDJs3O9p-0i16HW5I40aF5AUPfWANILOGqdzBfF9PwE"}]}'
)
READ = "get list watch"

SANE: list[Defect] = [
    Defect(
        "CA bundle in a ConfigMap",
        30,
        lambda: [_config_map("kgot-ca", data={"ca.crt": CA_CERT, "ca-bundle.pem": CA_CERT * 2})],
        "none",
    ),
    Defect(
        "CA and public key in env",
        30,
        _broken(_envs(("SSL_CA_CERT", CA_CERT), ("JWT_PUBLIC_KEY", PUBLIC_KEY))),
    ),
    Defect(
        "public key under a signing-key name",
        30,
        _broken(_envs(("TOKEN_SIGNING_KEY", PUBLIC_KEY))),
    ),
    Defect(
        "base64 CA bundle in env",
        30,
        _broken(_envs(("CA_BUNDLE", _b64(CA_CERT)))),
    ),
    Defect(
        "SSH known_hosts and authorized key",
        30,
        lambda: [
            _config_map(
                "git-sync",
                data={"known_hosts": KNOWN_HOSTS, "authorized_keys": SSH_PUBLIC_KEY + "\n"},
            )
        ],
        "none",
    ),
    Defect(
        "JWKS in a ConfigMap", 30, lambda: [_config_map("jwks", data={"jwks.json": JWKS})], "none"
    ),
    Defect(
        "token audience and issuer",
        30,
        _broken(
            _envs(
                ("TOKEN_AUDIENCE", "https://kubernetes.default.svc"),
                ("OIDC_TOKEN_ISSUER", "https://token.actions.githubusercontent.com"),
                ("AWS_TOKEN_AUDIENCE", "sts.amazonaws.com"),
                ("API_KEY_HEADER", "X-Api-Key"),
                ("SECRET_NAME", "graph-store"),
            )
        ),
    ),
    Defect(
        "look-alike keys in a config file",
        30,
        lambda: [
            _config_map(
                "app",
                data={
                    "app.yaml": "tls:\n  secretName: kgot-tls\noidc:\n  issuer: https://id.kgot.dev\n"
                    "  audience: kgot-platform\n  tokenAudience: kgot-controller\n"
                    "passwordPolicy:\n  minLength: 12\n",
                },
            )
        ],
        "none",
    ),
    Defect(
        "Vault agent and reloader annotations",
        30,
        _broken(
            lambda b: b["spec"]["template"]["metadata"].update(
                annotations={
                    "vault.hashicorp.com/agent-inject": "true",
                    "vault.hashicorp.com/agent-inject-secret-db": "database/creds/graph-store",
                    "secret.reloader.stakater.com/reload": "graph-store",
                    "checksum/secret": "9f" * 32,
                }
            )
        ),
    ),
    Defect(
        "secret references in args and URLs",
        30,
        _broken(
            lambda b: _container()(b).update(
                args=[
                    "--db-url=postgres://kgot:$(DATABASE_PASSWORD)@graph-store:5432/kgot",
                    "--api-key-file=/var/run/secrets/kgot/api-key",
                    "--token-ttl",
                    "15m",
                ]
            )
        ),
    ),
    Defect(
        "URLs without credentials",
        30,
        _broken(
            _envs(
                ("DATABASE_URL", "postgres://graph-store:5432/kgot?sslmode=verify-full"),
                ("REDIS_URL", "redis://redis:6379/0"),
            )
        ),
    ),
    Defect(
        "credentials in a Kubernetes Secret",
        30,
        lambda: [
            obj(
                "Secret",
                "graph-store",
                type="Opaque",
                stringData={
                    "password": FAKE_PASSWORD,
                    "url": f"postgres://kgot:{FAKE_PASSWORD}@graph-store:5432/kgot",
                },
            )
        ],
        "none",
    ),
    Defect(
        "webhook configuration with caBundle",
        30,
        lambda: [
            obj(
                "ValidatingWebhookConfiguration",
                "kgot-guard",
                None,
                webhooks=[
                    {
                        "name": "guard.kgot.dev",
                        "admissionReviewVersions": ["v1"],
                        "sideEffects": "None",
                        "clientConfig": {
                            "service": {"name": "guard", "namespace": NS},
                            "caBundle": _b64(CA_CERT),
                        },
                    }
                ],
            )
        ],
        "none",
    ),
    Defect(
        "discovery Role for a workload",
        29,
        _bound_to_workload(
            _rule(",discovery.k8s.io", "pods services endpoints endpointslices", READ)
        ),
    ),
    Defect(
        "one secret by name for a workload",
        29,
        lambda: [
            _deployment(),
            _role("Role", "x", {**_rule("", "secrets", "get"), "resourceNames": ["graph-store"]}),
            _binding("RoleBinding", "Role", "x", WORKLOAD_SA),
        ],
    ),
    Defect(
        "deployer Role for a people group",
        29,
        lambda: [
            _role(
                "Role",
                "deployer",
                _rule("apps", "deployments", f"{READ} create update patch"),
                _rule("", "secrets configmaps services", f"{READ} create update patch"),
            ),
            _binding("RoleBinding", "Role", "deployer", _group("kgot-platform:deployers")),
        ],
        "none",
    ),
    Defect(
        "view for every account of the namespace",
        29,
        lambda: [
            _binding("RoleBinding", "ClusterRole", "view", _group(f"system:serviceaccounts:{NS}"))
        ],
        "none",
    ),
    Defect(
        "edit for a people group",
        29,
        lambda: [
            _binding("RoleBinding", "ClusterRole", "edit", _group("kgot-platform:developers"))
        ],
        "none",
    ),
    Defect(
        "externalIPs where the stack allows them",
        27,
        lambda: [
            obj(
                "Service",
                "edge",
                spec={
                    "type": "ClusterIP",
                    "externalIPs": ["203.0.113.10"],
                    "ports": [{"port": 443}],
                },
            )
        ],
        "none",
        {"service-external-ips": {"externalIPServices": ["edge"]}},
    ),
    Defect(
        "local and CSI PersistentVolumes",
        4,
        lambda: [
            obj(
                "PersistentVolume",
                "fast-disk",
                None,
                spec={
                    "capacity": {"storage": "10Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "local-storage",
                    "local": {"path": "/mnt/disks/ssd1"},
                    "nodeAffinity": {
                        "required": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {
                                            "key": "kubernetes.io/hostname",
                                            "operator": "In",
                                            "values": ["node-1"],
                                        }
                                    ]
                                }
                            ]
                        }
                    },
                },
            ),
            obj(
                "PersistentVolume",
                "archive",
                None,
                spec={
                    "capacity": {"storage": "50Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-0123456789abcdef0"},
                },
            ),
        ],
        "none",
    ),
    Defect(
        "PDB maxUnavailable 1, pods elsewhere (prod)",
        23,
        lambda: [_pdb(maxUnavailable=1)],
        "none",
        PRODUCTION,
    ),
]


def copied(bodies: list[Body]) -> list[Body]:
    return copy.deepcopy(bodies)
