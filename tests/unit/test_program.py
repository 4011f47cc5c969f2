"""The Pulumi program under mocks: what a `pulumi up` would create, per stack config."""

from __future__ import annotations

import copy
import json
from typing import Any

import pulumi
import pytest
from bad_stack_config import BAD_CONFIG, Mutation
from dependency_recorder import record_dependencies
from kgot_contract import COLOR_LABEL, ROUTING_KINDS, ROUTING_TYPES
from mocked_program import Program, ProgramRunner, Recorded
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

from components.settings import SettingsError
from tests.committed_stacks import stack_config

pytestmark = pytest.mark.unit

SERVICES = ("controller", "graph-store", "manager-agent", "web-agent", "mcp-tools")
SLACK_URL = "https://hooks.slack.com/services/T0000/B0000/not-a-real-token"
PAGERDUTY_KEY = "0123456789abcdef0123456789abcdef"


def pod_spec(deployment: Recorded) -> dict[str, Any]:
    spec: dict[str, Any] = deployment.inputs["spec"]["template"]["spec"]
    return spec


def route_weights(route: Recorded) -> dict[str, int]:
    refs = route.inputs["spec"]["rules"][0]["backendRefs"]
    return {ref["name"]: ref["weight"] for ref in refs}


@pytest.mark.parametrize("active", ["blue", "green"])
def test_routing_follows_active_color_for_every_service(
    run_program: ProgramRunner, active: str
) -> None:
    standby = "green" if active == "blue" else "blue"
    program = run_program("staging", {"activeColor": active, "standbyWeight": 20})
    for name in SERVICES:
        service = program.one("Service", name)
        preview = program.one("Service", f"{name}-preview")
        assert service.inputs["spec"]["selector"][COLOR_LABEL] == active
        assert preview.inputs["spec"]["selector"][COLOR_LABEL] == standby
        route = program.one("HTTPRoute", name)
        assert route_weights(route) == {name: 80, f"{name}-preview": 20}
    assert program.exports["activeColor"] == active
    assert program.exports["standbyColor"] == standby


def _by_urn(program: Program) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r.typ, r.name): r.inputs for r in program.resources}


@pytest.mark.parametrize(
    "change",
    [
        {"activeColor": "green"},
        {"standbyWeight": 50},
        {"activeColor": "green", "standbyWeight": 100},
    ],
    ids=["flip", "weight", "flip-and-weight"],
)
def test_traffic_change_touches_only_routing_resources(
    run_program: ProgramRunner, change: dict[str, object]
) -> None:
    versions = {"blueVersion": "1.4.0", "greenVersion": "1.5.0"}
    before = _by_urn(run_program("production", versions))
    after = _by_urn(run_program("production", {**versions, **change}))
    assert before.keys() == after.keys(), "a traffic change must not add or remove resources"
    changed = {urn for urn in before if before[urn] != after[urn]}
    assert changed, "the change must reach the routing resources"
    for typ, name in changed:
        assert typ in ROUTING_TYPES, f"{typ} {name} changed on a traffic change"


def test_scaled_down_standby_only_rescales_on_flip(run_program: ProgramRunner) -> None:
    """With standbyReplicas set, a flip scales Deployments in place: same pod template."""
    base = {"standbyReplicas": 1, "blueVersion": "1.4.0", "greenVersion": "1.5.0"}
    before = run_program("production", base)
    after = run_program("production", {**base, "activeColor": "green"})
    for name in SERVICES:
        for color in ("blue", "green"):
            old = before.one("Deployment", f"{name}-{color}").inputs["spec"]
            new = after.one("Deployment", f"{name}-{color}").inputs["spec"]
            assert old["template"] == new["template"]
        assert before.one("Deployment", f"{name}-green").inputs["spec"]["replicas"] == 1
        assert after.one("Deployment", f"{name}-blue").inputs["spec"]["replicas"] == 1
        assert after.one("Deployment", f"{name}-green").inputs["spec"]["replicas"] == 3


def test_each_colour_runs_its_own_version(run_program: ProgramRunner) -> None:
    program = run_program("staging", {"blueVersion": "2.0.1", "greenVersion": "2.1.0-rc.1"})
    for name in SERVICES:
        for color, version in (("blue", "2.0.1"), ("green", "2.1.0-rc.1")):
            deployment = program.one("Deployment", f"{name}-{color}")
            labels = deployment.inputs["spec"]["template"]["metadata"]["labels"]
            assert labels["app.kubernetes.io/version"] == version
            assert labels[COLOR_LABEL] == color
            assert labels["app.kubernetes.io/instance"] == f"{name}-{color}"
            image = pod_spec(deployment)["containers"][0]["image"]
            assert image == f"ghcr.io/kgot-platform/{name}:{version}"
    assert program.exports["versions"] == {"blue": "2.0.1", "green": "2.1.0-rc.1"}


@pytest.mark.parametrize(
    ("stack", "namespace", "replicas", "requests"),
    [
        ("dev", "kgot-dev", 1, {"cpu": "25m", "memory": "32Mi"}),
        ("staging", "kgot-staging", 2, {"cpu": "100m", "memory": "128Mi"}),
        ("production", "kgot-production", 3, {"cpu": "200m", "memory": "256Mi"}),
    ],
)
def test_stack_sizing(
    run_program: ProgramRunner,
    stack: str,
    namespace: str,
    replicas: int,
    requests: dict[str, str],
) -> None:
    program = run_program(stack)
    # Dev also runs the gateway Traefik, in the edge's controller namespace.
    edge = {"kgot-edge"} if stack == "dev" else set()
    assert program.names("Namespace") == {namespace} | edge
    assert program.exports["namespace"] == namespace
    for name in SERVICES:
        for color in ("blue", "green"):
            deployment = program.one("Deployment", f"{name}-{color}")
            assert deployment.inputs["metadata"]["namespace"] == namespace
            assert deployment.inputs["spec"]["replicas"] == replicas
            container = pod_spec(deployment)["containers"][0]
            assert container["resources"]["requests"] == requests


def test_quota_leaves_room_for_both_colours_and_monitoring(run_program: ProgramRunner) -> None:
    program = run_program("production")
    hard = program.one("ResourceQuota", "kgot-platform-quota").inputs["spec"]["hard"]
    deployments = program.of_kind("Deployment")
    # Every Deployment at full size plus one surge pod during a rollout.
    pods = sum(d.inputs["spec"]["replicas"] + 1 for d in deployments)
    assert int(hard["pods"]) >= pods
    cpu = sum(
        (d.inputs["spec"]["replicas"] + 1)
        * _millicores(pod_spec(d)["containers"][0]["resources"]["limits"]["cpu"])
        for d in deployments
    )
    assert _millicores(hard["limits.cpu"]) >= cpu
    assert hard["services.nodeports"] == "0"
    assert hard["services.loadbalancers"] == "0"


def _millicores(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


@pytest.mark.parametrize("stack", ["dev", "production"])
def test_every_pod_is_hardened(run_program: ProgramRunner, stack: str) -> None:
    program = run_program(stack)
    deployments = program.of_kind("Deployment")
    # Prometheus, Alertmanager, and Grafana where the stack runs one (not
    # dev); the gateway Traefik in dev.
    assert len(deployments) == 2 * len(SERVICES) + 3
    for deployment in deployments:
        spec = pod_spec(deployment)
        where = deployment.k8s_name
        pod_ctx = spec["securityContext"]
        assert pod_ctx["runAsNonRoot"] is True, where
        assert pod_ctx["runAsUser"] > 0, where
        assert pod_ctx["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["serviceAccountName"] not in ("", "default"), where
        labels = deployment.inputs["spec"]["template"]["metadata"]["labels"]
        for label in (
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/version",
            "app.kubernetes.io/component",
            "app.kubernetes.io/part-of",
            "app.kubernetes.io/managed-by",
        ):
            assert labels.get(label), f"{where}: {label}"
        for volume in spec.get("volumes", []):
            assert set(volume) - {"name"} <= {"emptyDir", "configMap", "secret"}, where
        for container in spec["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["readOnlyRootFilesystem"] is True, where
            assert ctx["capabilities"] == {"drop": ["ALL"]}, where
            assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}, where
            resources = container["resources"]
            for part in ("requests", "limits"):
                assert set(resources[part]) == {"cpu", "memory"}, where
            assert container["readinessProbe"] != container["livenessProbe"], where
            assert ":" in container["image"] and not container["image"].endswith(":latest")
        if labels.get("kgot.io/tier") == "service":
            assert labels[COLOR_LABEL] in ("blue", "green")
            assert spec["automountServiceAccountToken"] is False
            mounts = spec["containers"][0]["volumeMounts"]
            assert {"name": "tmp", "mountPath": "/tmp"} in mounts
            assert spec["volumes"][0]["emptyDir"]


def test_only_prometheus_mounts_an_api_token(run_program: ProgramRunner) -> None:
    program = run_program("staging")
    mounting = {
        d.k8s_name
        for d in program.of_kind("Deployment")
        if pod_spec(d)["automountServiceAccountToken"]
    }
    assert mounting == {"prometheus"}
    for account in program.of_kind("ServiceAccount"):
        expected = account.k8s_name == "prometheus"
        assert account.inputs["automountServiceAccountToken"] is expected


def test_every_object_has_an_explicit_name_in_the_namespace(run_program: ProgramRunner) -> None:
    program = run_program("staging")
    for resource in program.kubernetes():
        assert resource.k8s_name, f"{resource.typ} {resource.name} has no metadata.name"
        if resource.kind != "Namespace":
            assert resource.inputs["metadata"]["namespace"] == "kgot-staging", resource.name


def test_baseline(run_program: ProgramRunner) -> None:
    program = run_program("production")
    labels = program.one("Namespace", "kgot-production").inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    accounts = program.names("ServiceAccount")
    assert set(SERVICES) <= accounts
    for role in program.of_kind("Role"):
        for rule in role.inputs["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], f"{role.k8s_name}: wildcard {field}"
    assert {"kgot-deployer", "kgot-read-only"} <= program.names("Role")
    read_only = program.one("Role", "kgot-read-only")
    verbs = {verb for rule in read_only.inputs["rules"] for verb in rule["verbs"]}
    assert verbs == {"get", "list", "watch"}
    assert all("secrets" not in rule["resources"] for rule in read_only.inputs["rules"]), (
        "read-only must not read secrets"
    )
    deny = program.one("NetworkPolicy", "default-deny").inputs["spec"]
    assert deny["podSelector"] == {}
    assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
    assert {"allow-dns", "allow-services", "allow-prometheus", "allow-grafana"} <= program.names(
        "NetworkPolicy"
    )
    assert program.names("LimitRange") == {"kgot-platform-limits"}
    for pdb in program.of_kind("PodDisruptionBudget"):
        assert pdb.inputs["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("routing", ["gateway", "ingress", "selector"])
def test_every_routing_resource_skips_the_await_and_no_deployment_does(
    run_program: ProgramRunner, routing: str
) -> None:
    program = run_program("staging", {"trafficRouting": routing, "standbyReplicas": 0})
    routing_kinds = {k.kind for k in ROUTING_KINDS}
    # The KGoT services' routing (monitoring Services route no colour).
    routes = [
        r
        for r in program.kubernetes()
        if r.kind in routing_kinds
        and (r.inputs["metadata"].get("labels") or {}).get("app.kubernetes.io/name") in SERVICES
    ]
    assert {f"{name}-preview" for name in SERVICES} <= {r.k8s_name for r in routes}
    for resource in routes:
        annotations = resource.inputs["metadata"].get("annotations") or {}
        assert annotations.get("pulumi.com/skipAwait") == "true", resource.k8s_name
    for deployment in program.of_kind("Deployment"):
        annotations = deployment.inputs["metadata"].get("annotations") or {}
        assert "pulumi.com/skipAwait" not in annotations, deployment.k8s_name


@pytest.mark.parametrize("active", ["blue", "green"])
def test_each_service_waits_for_the_colour_it_selects(
    run_program: ProgramRunner, monkeypatch: pytest.MonkeyPatch, active: str
) -> None:
    dependencies = record_dependencies(monkeypatch)
    standby = "green" if active == "blue" else "blue"
    run_program("staging", {"activeColor": active, "standbyWeight": 10})
    for name in SERVICES:
        # Resource names: `<svc>-service-<k8s name>`, `<svc>-<colour>`.
        assert f"{name}-{active}" in dependencies[f"{name}-service-{name}"]
        assert f"{name}-{standby}" not in dependencies[f"{name}-service-{name}"]
        assert f"{name}-{standby}" in dependencies[f"{name}-service-{name}-preview"]
        # The weights move after `<svc>` selects its colour and before
        # `<svc>-preview` does (no burst back to the colour being left).
        assert {f"{name}-service-{name}", f"{name}-{standby}"} <= dependencies[f"{name}-httproute"]
        assert f"{name}-httproute" in dependencies[f"{name}-service-{name}-preview"]


def test_gateway_routing(run_program: ProgramRunner) -> None:
    program = run_program("staging", {"standbyWeight": 10})
    gateway = program.one("Gateway", "kgot-platform").inputs
    assert gateway["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    listener = gateway["spec"]["listeners"][0]
    assert listener["protocol"] == "HTTPS"
    assert listener["tls"]["certificateRefs"][0]["name"] == "kgot-platform-tls"
    public = program.one("HTTPRoute", "controller").inputs
    assert public["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    assert public["spec"]["parentRefs"] == [{"name": "kgot-platform", "sectionName": "https"}]
    assert public["spec"]["hostnames"] == ["controller.kgot-staging.example.com"]
    internal = program.one("HTTPRoute", "graph-store").inputs["spec"]
    assert internal["parentRefs"][0]["kind"] == "Service"
    assert "hostnames" not in internal
    assert not program.of_kind("Ingress")


def test_ingress_routing_is_a_canary_pair_for_public_services(run_program: ProgramRunner) -> None:
    program = run_program("staging", {"trafficRouting": "ingress", "standbyWeight": 30})
    assert program.names("Ingress") == {"controller", "controller-canary"}
    main = program.one("Ingress", "controller").inputs
    canary = program.one("Ingress", "controller-canary").inputs
    assert main["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    assert canary["metadata"]["annotations"] == {
        "pulumi.com/skipAwait": "true",
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-weight": "30",
    }

    def backend(ingress: dict[str, Any]) -> str:
        name: str = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
        return name

    assert backend(main) == "controller"
    assert backend(canary) == "controller-preview"
    assert main["spec"]["tls"][0]["hosts"] == ["controller.kgot-staging.example.com"]
    assert not program.of_kind("HTTPRoute")
    assert not program.of_kind("Gateway")


def test_selector_routing_has_no_weighted_resources(run_program: ProgramRunner) -> None:
    program = run_program("dev", {"trafficRouting": "selector"})
    assert not program.of_kind("HTTPRoute")
    assert not program.of_kind("Ingress")
    assert program.one("Service", "controller").inputs["spec"]["selector"] == {
        "app.kubernetes.io/name": "controller",
        COLOR_LABEL: "blue",
    }


def test_exports(run_program: ProgramRunner) -> None:
    program = run_program("staging", {"activeColor": "green", "blueVersion": "1.2.0"})
    exports = program.exports
    assert exports["namespace"] == "kgot-staging"
    assert exports["activeColor"] == "green"
    assert exports["standbyColor"] == "blue"
    assert exports["versions"] == {"blue": "1.2.0", "green": "1.0.0"}
    assert exports["endpoints"]["graph_store"] == (
        "http://graph-store.kgot-staging.svc.cluster.local:7474"
    )
    assert exports["previewEndpoints"]["controller"] == (
        "http://controller-preview.kgot-staging.svc.cluster.local:8080"
    )
    assert exports["monitoring"]["grafana"] == "http://grafana.kgot-staging.svc.cluster.local:3000"


def _config_maps_text(program: Program) -> str:
    return json.dumps([c.inputs.get("data") for c in program.of_kind("ConfigMap")])


def test_monitoring_content(run_program: ProgramRunner) -> None:
    program = run_program("production")
    assert {"prometheus", "alertmanager", "grafana"} <= program.names("Deployment")
    rules = program.one("ConfigMap", "prometheus-rules").inputs["data"]
    text = "\n".join(rules.values())
    for metric in (
        "kgot_deployments_total",
        "kgot_rollbacks_total",
        "kgot_sla_violations_total",
        "kgot_deployment_duration_seconds",
    ):
        assert metric in text
    for alert in (
        "KgotDeploymentFailed",
        "KgotSecurityScanFailed",
        "KgotAutomatedRollback",
        "KgotSLAViolation",
        "KgotHighCpuUsage",
        "KgotPerformanceDegradation",
        "KgotComplianceScoreLow",
    ):
        assert f"alert: {alert}" in text
    for record in ("kgot:error_ratio:by_color", "kgot:latency_p95_seconds:by_color"):
        assert f"record: {record}" in text
    config = program.one("ConfigMap", "prometheus-config").inputs["data"]["prometheus.yml"]
    assert "kgot-production" in config
    dashboards = program.one("ConfigMap", "grafana-dashboards").inputs["data"]
    titles = {json.loads(d)["title"] for d in dashboards.values()}
    assert titles == {"Deployment Overview", "Security Monitoring", "Performance Monitoring"}
    provisioning = program.one("ConfigMap", "grafana-provisioning").inputs["data"]
    assert "http://prometheus:9090" in provisioning["datasources.yaml"]


def test_receiver_keys_are_secrets_never_plain_config(run_program: ProgramRunner) -> None:
    program = run_program(
        "production",
        secrets={"slackWebhookUrl": SLACK_URL, "pagerdutyIntegrationKey": PAGERDUTY_KEY},
    )
    secret = program.one("Secret", "alertmanager-receivers").inputs
    string_data = secret["stringData"]
    assert is_rpc_secret(string_data)
    assert unwrap_rpc_secret(string_data) == {
        "slack-webhook-url": SLACK_URL,
        "pagerduty-integration-key": PAGERDUTY_KEY,
    }
    everything_else = json.dumps(
        [r.inputs for r in program.kubernetes() if r.kind != "Secret"], default=str
    )
    assert SLACK_URL not in everything_else
    assert PAGERDUTY_KEY not in everything_else
    alertmanager = program.one("ConfigMap", "alertmanager-config").inputs["data"]
    config = alertmanager["alertmanager.yml"]
    assert "api_url_file: /etc/alertmanager/secrets/slack-webhook-url" in config
    assert "routing_key_file: /etc/alertmanager/secrets/pagerduty-integration-key" in config


def test_dev_without_receiver_keys_has_no_receivers(run_program: ProgramRunner) -> None:
    program = run_program("dev")
    # The only Secret is the gateway's certificate.
    assert program.names("Secret") == {"kgot-platform-tls"}
    config = program.one("ConfigMap", "alertmanager-config").inputs["data"]["alertmanager.yml"]
    assert "slack_configs" not in config
    assert "pagerduty_configs" not in config


def test_grafana_password_only_from_secret_config(run_program: ProgramRunner) -> None:
    program = run_program("staging", secrets={"grafanaAdminPassword": "s3cret-Pa55"})
    secret = program.one("Secret", "grafana-admin").inputs
    assert is_rpc_secret(secret["stringData"])
    assert "s3cret-Pa55" not in _config_maps_text(program)


def test_plain_text_secret_is_refused_before_anything_is_registered(
    run_program: ProgramRunner,
) -> None:
    with pytest.raises(pulumi.RunError, match=r"slackWebhookUrl.*plain text.*--secret") as caught:
        run_program("staging", plain={"slackWebhookUrl": SLACK_URL})
    assert isinstance(caught.value.__cause__, SettingsError)
    assert SLACK_URL not in str(caught.value)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [pytest.param(m, e, id=case) for case, m, e in BAD_CONFIG],
)
def test_bad_config_fails_before_any_resource(
    run_program: ProgramRunner, mutate: Mutation, expected: list[str]
) -> None:
    raw = stack_config("staging")
    overrides = copy.deepcopy(raw)
    mutate(overrides)
    # Keys the mutation deleted are unset for the run.
    overrides.update({key: None for key in raw if key not in overrides})
    # The engine prints a RunError as one line, without a traceback.
    with pytest.raises(pulumi.RunError) as caught:
        run_program("staging", overrides)
    assert isinstance(caught.value.__cause__, SettingsError)
    assert run_program.last is not None
    assert run_program.last.resources == []
    for fragment in expected:
        assert fragment in str(caught.value)


def test_released_digests_pin_the_images(run_program: ProgramRunner) -> None:
    raw = stack_config("production")
    services = copy.deepcopy(raw["services"])
    assert isinstance(services, dict)
    digest = "sha256:" + "0f" * 32
    services["controller"]["digests"] = {"1.4.0": digest}
    program = run_program(
        "production", {"services": services, "blueVersion": "1.4.0", "greenVersion": "1.5.0"}
    )
    blue = pod_spec(program.one("Deployment", "controller-blue"))["containers"][0]["image"]
    green = pod_spec(program.one("Deployment", "controller-green"))["containers"][0]["image"]
    assert blue == f"ghcr.io/kgot-platform/controller:1.4.0@{digest}"
    assert green == "ghcr.io/kgot-platform/controller:1.5.0"


@pytest.mark.parametrize(("stack", "replicas"), [("dev", 1), ("production", 2)])
def test_monitoring_replicas_disruption_budgets_and_alertmanager_cluster(
    run_program: ProgramRunner, stack: str, replicas: int
) -> None:
    program = run_program(stack)
    apps = ("prometheus", "alertmanager") + (() if stack == "dev" else ("grafana",))
    for app in apps:
        assert program.one("Deployment", app).inputs["spec"]["replicas"] == replicas
        assert program.one("PodDisruptionBudget", app).inputs["spec"]["maxUnavailable"] == 1
        image = pod_spec(program.one("Deployment", app))["containers"][0]["image"]
        assert "@sha256:" in image, f"{app} image is not pinned by digest"
    peers = program.one("Service", "alertmanager-cluster").inputs["spec"]
    assert peers["clusterIP"] == "None"
    assert peers["publishNotReadyAddresses"] is True
    args = pod_spec(program.one("Deployment", "alertmanager"))["containers"][0]["args"]
    namespace = program.exports["namespace"]
    assert f"--cluster.peer=alertmanager-cluster.{namespace}.svc.cluster.local:9094" in args
    config = program.one("ConfigMap", "prometheus-config").inputs["data"]["prometheus.yml"]
    assert f"alertmanager-cluster.{namespace}.svc.cluster.local" in config


@pytest.mark.parametrize(("stack", "grafana"), [("dev", False), ("staging", True)])
def test_grafana_optional_dashboards_always_provisioned_for_a_sidecar(
    run_program: ProgramRunner, stack: str, grafana: bool
) -> None:
    program = run_program(stack)
    assert bool(program.names("Deployment") & {"grafana"}) is grafana
    assert bool(program.names("NetworkPolicy") & {"allow-grafana"}) is grafana
    assert (program.exports["monitoring"]["grafana"] is not None) is grafana
    # kube-prometheus-stack's sidecar loads every ConfigMap with this label.
    dashboards = program.one("ConfigMap", "grafana-dashboards").inputs
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert len(dashboards["data"]) == 3
