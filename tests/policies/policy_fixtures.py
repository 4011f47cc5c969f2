"""Kubernetes objects shaped like the ones the kgot-platform program declares.

The hardened objects are the "passing case" of every policy; tests break one
field at a time to get the failing case. `platform_resources` is a whole stack
as the program lays it out (docs/architecture.md): baseline, blue/green
services with routing, monitoring.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kgot_contract import COLOR_LABEL, parse_image
from kgot_policies import evaluate
from pulumi_policy import (
    Policy,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

NS = "kgot-dev"
SERVICES = ("controller", "graph-store", "manager-agent")
DIGEST = "sha256:" + "ab" * 32
TYPE = {
    "Deployment": "kubernetes:apps/v1:Deployment",
    "StatefulSet": "kubernetes:apps/v1:StatefulSet",
    "DaemonSet": "kubernetes:apps/v1:DaemonSet",
    "ReplicaSet": "kubernetes:apps/v1:ReplicaSet",
    "Job": "kubernetes:batch/v1:Job",
    "CronJob": "kubernetes:batch/v1:CronJob",
    "Pod": "kubernetes:core/v1:Pod",
    "Service": "kubernetes:core/v1:Service",
    "ServiceAccount": "kubernetes:core/v1:ServiceAccount",
    "ConfigMap": "kubernetes:core/v1:ConfigMap",
    "Secret": "kubernetes:core/v1:Secret",
    "Namespace": "kubernetes:core/v1:Namespace",
    "ResourceQuota": "kubernetes:core/v1:ResourceQuota",
    "LimitRange": "kubernetes:core/v1:LimitRange",
    "NetworkPolicy": "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    "Ingress": "kubernetes:networking.k8s.io/v1:Ingress",
    "PodDisruptionBudget": "kubernetes:policy/v1:PodDisruptionBudget",
    "HorizontalPodAutoscaler": "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "Role": "kubernetes:rbac.authorization.k8s.io/v1:Role",
    "ClusterRole": "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
    "RoleBinding": "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    "ClusterRoleBinding": "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
    "HTTPRoute": "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
    "ValidatingAdmissionPolicy": (
        "kubernetes:admissionregistration.k8s.io/v1alpha1:ValidatingAdmissionPolicy"
    ),
    "Gateway": "kubernetes:gateway.networking.k8s.io/v1:Gateway",
    "PersistentVolume": "kubernetes:core/v1:PersistentVolume",
    "ValidatingWebhookConfiguration": (
        "kubernetes:admissionregistration.k8s.io/v1:ValidatingWebhookConfiguration"
    ),
}
POD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
SECTIONS = ("containers", "initContainers", "ephemeralContainers")


def labels(service: str, colour: str | None = "blue", version: str = "1.0.0") -> dict[str, str]:
    found = {
        "app.kubernetes.io/name": service,
        "app.kubernetes.io/instance": f"{service}-{colour}" if colour else service,
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/component": service,
        "app.kubernetes.io/part-of": "kgot-platform",
        "app.kubernetes.io/managed-by": "pulumi",
    }
    if colour:
        found[COLOR_LABEL] = colour
    return found


def container(
    name: str = "controller",
    image: str = "ghcr.io/kgot-platform/controller:1.0.0",
    port: int = 8080,
) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": port}],
        "env": [
            {"name": "PORT", "value": str(port)},
            {"name": "KGOT_COLOR", "value": "blue"},
            {"name": "LOG_LEVEL", "value": "info"},
            {
                "name": "DATABASE_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "graph-store", "key": "password"}},
            },
        ],
        "readinessProbe": {
            "httpGet": {"path": "/health/ready", "port": "http"},
            "periodSeconds": 5,
        },
        "livenessProbe": {
            "httpGet": {"path": "/health/live", "port": "http"},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
        },
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def hardened_init_container(name: str = "migrate") -> dict[str, Any]:
    body = container(name)
    for key in ("ports", "readinessProbe", "livenessProbe"):
        body.pop(key)
    return body


def hardened_ephemeral_container(name: str = "debug") -> dict[str, Any]:
    body = hardened_init_container(name)
    body.pop("resources")
    return body


def pod_spec(service: str = "controller", image: str | None = None) -> dict[str, Any]:
    image = image or f"ghcr.io/kgot-platform/{service}:1.0.0"
    return {
        "serviceAccountName": service,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container(service, image)],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    }


def full_pod_spec() -> dict[str, Any]:
    """A hardened pod with every container list filled."""
    spec = pod_spec()
    spec["initContainers"] = [hardened_init_container()]
    spec["ephemeralContainers"] = [hardened_ephemeral_container()]
    return spec


def workload(
    kind: str,
    spec: dict[str, Any],
    name: str = "controller-blue",
    pod_labels: dict[str, str] | None = None,
    replicas: int = 2,
    namespace: str = NS,
) -> dict[str, Any]:
    """A kind's object around a pod spec (the pod template where the kind has one)."""
    pod_labels = pod_labels if pod_labels is not None else labels("controller")
    metadata = {"name": name, "namespace": namespace, "labels": dict(pod_labels)}
    template = {"metadata": {"labels": dict(pod_labels)}, "spec": spec}
    selector = {
        "matchLabels": {"app.kubernetes.io/name": pod_labels.get("app.kubernetes.io/name", "x")}
    }
    api = TYPE[kind].split(":")[1].removeprefix("core/")
    body: dict[str, Any] = {"apiVersion": api, "kind": kind, "metadata": metadata}
    if kind == "Pod":
        body["spec"] = spec
    elif kind == "CronJob":
        body["spec"] = {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        body["spec"] = {"template": template}
    elif kind == "DaemonSet":
        body["spec"] = {"selector": selector, "template": template}
    else:
        body["spec"] = {"replicas": replicas, "selector": selector, "template": template}
    return body


def pod_spec_of(body: dict[str, Any]) -> dict[str, Any]:
    kind = body["kind"]
    if kind == "Pod":
        return body["spec"]  # type: ignore[no-any-return]
    if kind == "CronJob":
        return body["spec"]["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    return body["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def res(body: dict[str, Any], name: str | None = None) -> PolicyResource:
    return evaluate.resource(TYPE[body["kind"]], body, name or body["metadata"]["name"])


# ---- the whole stack ----------------------------------------------------------------------


def _meta(name: str, namespace: str | None = NS, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels(name, None)}
    if namespace:
        meta["namespace"] = namespace
    meta.update(extra)
    return meta


def obj(kind: str, name: str, namespace: str | None = NS, **fields: Any) -> dict[str, Any]:
    api = TYPE[kind].split(":")[1].removeprefix("core/")
    return {"apiVersion": api, "kind": kind, "metadata": _meta(name, namespace), **fields}


def colour_deployment(
    service: str,
    colour: str,
    version: str = "1.0.0",
    replicas: int = 2,
    image: str | None = None,
) -> dict[str, Any]:
    image = image or f"ghcr.io/kgot-platform/{service}:{version}@{DIGEST}"
    spec = pod_spec(service, image)
    spec["containers"][0]["env"][1]["value"] = colour
    body = workload(
        "Deployment", spec, f"{service}-{colour}", labels(service, colour, version), replicas
    )
    body["spec"]["template"]["metadata"]["annotations"] = {"kgot.io/metrics-path": "/metrics"}
    return body


def routing(service: str, active: str = "blue", standby_weight: int = 0) -> list[dict[str, Any]]:
    standby = "green" if active == "blue" else "blue"
    found = []
    for name, colour in ((service, active), (f"{service}-preview", standby)):
        found.append(
            obj(
                "Service",
                name,
                spec={
                    "type": "ClusterIP",
                    "selector": {"app.kubernetes.io/name": service, COLOR_LABEL: colour},
                    "ports": [{"name": "http", "port": 8080, "targetPort": "http"}],
                },
            )
        )
    found.append(
        obj(
            "HTTPRoute",
            service,
            spec={
                "parentRefs": [{"name": "kgot-platform", "sectionName": "https"}],
                "hostnames": [f"{service}.kgot.dev.localhost"],
                "rules": [
                    {
                        "backendRefs": [
                            {"name": service, "port": 8080, "weight": 100 - standby_weight},
                            {"name": f"{service}-preview", "port": 8080, "weight": standby_weight},
                        ]
                    }
                ],
            },
        )
    )
    found.append(
        obj(
            "PodDisruptionBudget",
            service,
            spec={
                "maxUnavailable": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": service}},
            },
        )
    )
    return found


PROMETHEUS_YML = """global:
  scrape_interval: 15s
  external_labels: {environment: dev}
rule_files: [/etc/prometheus/rules/*.yml]
alerting:
  alertmanagers:
    - static_configs: [{targets: ['alertmanager:9093']}]
scrape_configs:
  - job_name: kgot-services
    kubernetes_sd_configs: [{role: pod, namespaces: {names: [kgot-dev]}}]
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_label_kgot_io_color]
        target_label: color
"""
ALERTS_YML = """groups:
  - name: kgot-critical
    rules:
      - alert: HighErrorRate
        expr: sum by (color) (rate(http_requests_total{status=~"5.."}[5m])) > 0.05
        annotations: {summary: "{{ $labels.color }} error rate {{ $value }}"}
"""
DASHBOARD = (
    '{"uid":"kgot-deployment-overview","title":"Deployment Overview","panels":[{"type":'
    '"timeseries","targets":[{"expr":"sum by (color) (rate(http_requests_total[5m]))"}]}]}'
)


def monitoring_objects() -> list[dict[str, Any]]:
    found = [
        obj(
            "ConfigMap",
            "prometheus",
            data={"prometheus.yml": PROMETHEUS_YML, "alerts.yml": ALERTS_YML},
        ),
        obj("ConfigMap", "grafana-dashboards", data={"deployment-overview.json": DASHBOARD}),
        obj(
            "Secret",
            "alertmanager",
            stringData={"alertmanager.yml": "route: {receiver: slack}\n"},
        ),
    ]
    for app, image, port in (
        ("prometheus", "quay.io/prometheus/prometheus:v3.5.0", 9090),
        ("alertmanager", "quay.io/prometheus/alertmanager:v0.28.1", 9093),
        ("grafana", "docker.io/grafana/grafana:12.1.1", 3000),
    ):
        spec = pod_spec(app, image)
        spec["containers"][0]["ports"] = [{"name": "http", "containerPort": port}]
        spec["containers"][0]["env"] = [{"name": "GF_AUTH_ANONYMOUS_ORG_ROLE", "value": "Viewer"}]
        body = workload("Deployment", spec, app, labels(app, None, parse_image(image).tag or ""), 1)
        body["spec"]["template"]["metadata"]["annotations"] = {"kgot.io/config-checksum": "0f" * 32}
        found.append(body)
        found.append(obj("ServiceAccount", app, automountServiceAccountToken=False))
        found.append(
            obj(
                "Service",
                app,
                spec={"selector": {"app.kubernetes.io/name": app}, "ports": [{"port": port}]},
            )
        )
    return found


def baseline_objects() -> list[dict[str, Any]]:
    namespace = obj("Namespace", NS, None)
    namespace["metadata"]["labels"].update(
        {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/audit": "restricted",
        }
    )
    found = [namespace]
    read = ["get", "list", "watch"]
    found.append(
        obj(
            "Role",
            "kgot-deployer",
            rules=[
                {
                    "apiGroups": ["apps"],
                    "resources": ["deployments"],
                    "verbs": [*read, "create", "update", "patch"],
                },
                {
                    "apiGroups": [""],
                    "resources": ["services", "configmaps"],
                    "verbs": [*read, "create", "update", "patch"],
                },
            ],
        )
    )
    found.append(
        obj(
            "Role",
            "kgot-read-only",
            rules=[{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": read}],
        )
    )
    for role, group in (("kgot-deployer", "kgot-deployers"), ("kgot-read-only", "kgot-viewers")):
        found.append(
            obj(
                "RoleBinding",
                role,
                roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
                subjects=[
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}
                ],
            )
        )
    found.append(
        obj("ResourceQuota", "kgot", spec={"hard": {"requests.cpu": "8", "limits.memory": "16Gi"}})
    )
    found.append(
        obj(
            "LimitRange",
            "kgot",
            spec={"limits": [{"type": "Container", "default": {"cpu": "500m"}}]},
        )
    )
    found.append(
        obj(
            "NetworkPolicy",
            "default-deny",
            spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        )
    )
    found.append(
        obj(
            "NetworkPolicy",
            "allow-dns",
            spec={
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]}],
            },
        )
    )
    found.append(
        obj(
            "NetworkPolicy",
            "services",
            spec={
                "podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "kgot-platform"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
            },
        )
    )
    found.append(
        obj(
            "Gateway",
            "kgot-platform",
            spec={
                "gatewayClassName": "kgot-platform",
                "listeners": [
                    {
                        "name": "https",
                        "protocol": "HTTPS",
                        "port": 443,
                        "tls": {
                            "mode": "Terminate",
                            "certificateRefs": [{"name": "kgot-platform-tls"}],
                        },
                    }
                ],
            },
        )
    )
    return found


def platform_objects(
    active: str = "blue",
    standby_weight: int = 0,
    replicas: int = 2,
    standby_replicas: int | None = None,
) -> list[dict[str, Any]]:
    found = baseline_objects()
    for service in SERVICES:
        found.append(obj("ServiceAccount", service, automountServiceAccountToken=False))
        for colour in ("blue", "green"):
            size = replicas
            if colour != active and standby_weight == 0 and standby_replicas is not None:
                size = standby_replicas
            found.append(colour_deployment(service, colour, replicas=size))
        found += routing(service, active, standby_weight)
    return found + monitoring_objects()


def as_resources(bodies: Iterable[dict[str, Any]]) -> list[PolicyResource]:
    return [res(b) for b in bodies]


# ---- calling policies ---------------------------------------------------------------------


def violations(
    policy: Policy,
    bodies: Iterable[dict[str, Any]] | dict[str, Any],
    config: Mapping[str, Any] | None = None,
) -> list[str]:
    """Messages the policy reports, called directly with a collecting reporter."""
    if isinstance(bodies, dict):
        bodies = [bodies]
    resources = as_resources(bodies)
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    if isinstance(policy, ResourceValidationPolicy):
        for r in resources:
            args = ResourceValidationArgs(
                r.resource_type, r.props, r.urn, r.name, r.opts, r.provider, dict(config or {})
            )
            policy.validate(args, report)
    elif isinstance(policy, StackValidationPolicy):
        policy.validate(StackValidationArgs(resources, dict(config or {})), report)
    return found


def mutated(body: dict[str, Any], change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    copied = copy.deepcopy(body)
    change(copied)
    return copied
