"""The edge gateway: the Gateway object everywhere, Traefik behind it in dev only."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from mocked_program import Program, ProgramRunner, plain

from components.settings import SettingsError, parse_settings
from components.traefik_ports import HTTPS_PORT, INTERNAL_PORT, METRICS_SERVICE
from tests.committed_stacks import stack_config

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _own_tls_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The dev stack's self-signed pair goes to $KGOT_CACHE: a test's own folder.
    monkeypatch.setenv("KGOT_CACHE", str(tmp_path))


def _container(program: Program) -> dict[str, Any]:
    spec = program.one("Deployment", "traefik").inputs["spec"]["template"]["spec"]
    containers: list[dict[str, Any]] = spec["containers"]
    assert len(containers) == 1
    return {**containers[0], "pod": spec}


def test_dev_runs_a_hardened_traefik_with_unprivileged_ports(run_program: ProgramRunner) -> None:
    program = run_program("dev")
    deployment = program.one("Deployment", "traefik").inputs
    assert deployment["metadata"]["namespace"] == "kgot-edge"
    assert "@sha256:" in deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    container = _container(program)
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["runAsNonRoot"] is True and security["runAsUser"] != 0
    assert container["pod"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert all(p["containerPort"] >= 1024 for p in container["ports"])
    # The Services map the listener's 443 to those ports.
    for service, target in (("traefik", "websecure"), ("traefik-internal", "internal")):
        ports = program.one("Service", service).inputs["spec"]["ports"]
        assert [(p["port"], p["targetPort"]) for p in ports] == [(443, target)]
    namespace = program.one("Namespace", "kgot-edge").inputs["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "restricted"


def test_dev_traefik_controls_the_gateway_class_and_the_ingress_class(
    run_program: ProgramRunner,
) -> None:
    program = run_program("dev")
    gateway_class = program.one("GatewayClass", "kgot-platform").inputs
    assert gateway_class["spec"]["controllerName"] == "traefik.io/gateway-controller"
    ingress_class = program.one("IngressClass", "nginx").inputs
    assert ingress_class["spec"]["controller"] == "k8s.io/ingress-nginx"
    args = _container(program)["args"]
    assert "--providers.kubernetesGateway.namespaces=kgot-dev" in args
    assert "--providers.kubernetesIngressNGINX.ingressClass=nginx" in args
    assert "--metrics.prometheus.addServicesLabels=true" in args


def test_dev_gateway_listeners_name_traefiks_entry_points_and_internal_routes_attach(
    run_program: ProgramRunner,
) -> None:
    program = run_program("dev", {"standbyWeight": 25})
    listeners = program.one("Gateway", "kgot-platform").inputs["spec"]["listeners"]
    by_name = {item["name"]: item for item in listeners}
    assert by_name["https"]["port"] == HTTPS_PORT
    assert by_name["internal"]["port"] == INTERNAL_PORT
    assert by_name["internal"]["hostname"] == "*.kgot-dev.internal"
    for listener in listeners:
        assert listener["protocol"] == "HTTPS"
        assert listener["tls"]["certificateRefs"] == [
            {"kind": "Secret", "name": "kgot-platform-tls"}
        ]
    internal = program.one("HTTPRoute", "graph-store").inputs["spec"]
    assert internal["parentRefs"] == [{"name": "kgot-platform", "sectionName": "internal"}]
    assert internal["hostnames"] == ["graph-store.kgot-dev.internal"]
    weights = [b["weight"] for b in internal["rules"][0]["backendRefs"]]
    assert weights == [75, 25]


def test_dev_certificate_is_made_once_and_covers_both_listeners(
    run_program: ProgramRunner, tmp_path: Path
) -> None:
    first = plain(run_program("dev").one("Secret", "kgot-platform-tls").inputs)
    second = plain(run_program("dev").one("Secret", "kgot-platform-tls").inputs)
    assert first["type"] == "kubernetes.io/tls"
    # The same pair on every run: an `up` does not rotate it.
    assert first["stringData"]["tls.crt"] == second["stringData"]["tls.crt"]
    assert "PRIVATE KEY" in first["stringData"]["tls.key"]
    [cert] = list(tmp_path.glob("gateway-tls/*/tls.crt"))
    sans = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:*.kgot.dev.localhost" in sans and "DNS:*.kgot-dev.internal" in sans


def test_dev_traefik_reads_cluster_scoped_kinds_only_and_the_platform_namespace_by_role(
    run_program: ProgramRunner,
) -> None:
    program = run_program("dev")
    [cluster_role] = [r for r in program.of_kind("ClusterRole") if "traefik" in (r.k8s_name or "")]
    cluster_resources = {res for rule in cluster_role.inputs["rules"] for res in rule["resources"]}
    assert cluster_resources == {
        "gatewayclasses",
        "gatewayclasses/status",
        "namespaces",
        "ingressclasses",
    }
    [role] = [r for r in program.of_kind("Role") if "traefik" in (r.k8s_name or "")]
    assert role.inputs["metadata"]["namespace"] == "kgot-dev"
    verbs = {verb for rule in role.inputs["rules"] for verb in rule["verbs"]}
    assert verbs == {"get", "list", "watch", "update"}
    for rule in role.inputs["rules"]:
        if "update" in rule["verbs"]:
            assert all(r.endswith("/status") for r in rule["resources"])


def test_dev_prometheus_scrapes_traefik(run_program: ProgramRunner) -> None:
    program = run_program("dev")
    config = program.one("ConfigMap", "prometheus-config").inputs["data"]
    text = "\n".join(config.values())
    assert "job_name: gateway" in text
    assert f"{METRICS_SERVICE}.kgot-edge.svc.cluster.local" in text
    assert {"allow-traefik", "allow-prometheus-gateway", "allow-gateway-internal"} <= program.names(
        "NetworkPolicy"
    )


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_staging_and_production_attach_to_the_teams_gateway(
    run_program: ProgramRunner, stack: str
) -> None:
    program = run_program(stack)
    assert not [r for r in program.of_kind("Deployment") if r.k8s_name == "traefik"]
    assert not program.of_kind("GatewayClass")
    assert not program.of_kind("Secret") or "kgot-platform-tls" not in program.names("Secret")
    if stack == "staging":
        listener = program.one("Gateway", "kgot-platform").inputs["spec"]["listeners"][0]
        assert listener["port"] == 443
        internal = program.one("HTTPRoute", "graph-store").inputs["spec"]
        # GAMMA: the route's parent is its Service (served by a mesh).
        assert internal["parentRefs"][0]["kind"] == "Service"


def test_deploy_without_an_image_is_refused() -> None:
    raw = stack_config("staging")
    raw["gateway"] = {"deploy": True}
    with pytest.raises(SettingsError, match=r"gateway\.image"):
        parse_settings(raw, "staging")
