"""Traefik's pod: the command line that makes it the gateway, hardened as the pack requires."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.settings import PlatformSettings
from components.traefik_ports import (
    HTTP_PORT,
    HTTPS_PORT,
    INTERNAL_PORT,
    METRICS_PORT,
    PING_PORT,
    UID,
)


def traefik_args(settings: PlatformSettings, watched: str, address: str) -> list[str]:
    """Traefik's static configuration (flags; no file to mount)."""
    edge = settings.edge
    return [
        f"--entryPoints.web.address=:{HTTP_PORT}",
        f"--entryPoints.websecure.address=:{HTTPS_PORT}",
        f"--entryPoints.internal.address=:{INTERNAL_PORT}",
        f"--entryPoints.metrics.address=:{METRICS_PORT}",
        f"--entryPoints.traefik.address=:{PING_PORT}",
        "--ping=true",
        "--ping.entryPoint=traefik",
        # Gateway API: the platform namespace only (a Role there, not cluster-wide reads).
        "--providers.kubernetesGateway=true",
        f"--providers.kubernetesGateway.namespaces={watched}",
        f"--providers.kubernetesGateway.statusAddress.ip={address}",
        # ingress-nginx's annotations (canary, canary-weight) on the edge's ingress class.
        "--providers.kubernetesIngressNGINX=true",
        f"--providers.kubernetesIngressNGINX.watchNamespace={watched}",
        f"--providers.kubernetesIngressNGINX.ingressClass={edge.ingress_class_name}",
        "--providers.kubernetesIngressNGINX.httpEntryPoint=web",
        "--providers.kubernetesIngressNGINX.httpsEntryPoint=websecure",
        f"--providers.kubernetesIngressNGINX.publishStatusAddress={address}",
        # Per-backend request counts and latencies: the split the proxy really
        # served, read by the rollout gate (label `service`).
        "--metrics.prometheus=true",
        "--metrics.prometheus.entryPoint=metrics",
        "--metrics.prometheus.addServicesLabels=true",
        "--metrics.prometheus.addRoutersLabels=true",
        # Nothing leaves the cluster.
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
        "--log.level=INFO",
    ]


def traefik_pod_spec(
    settings: PlatformSettings,
    account: pulumi.Input[str],
    watched: pulumi.Input[str],
    address: pulumi.Input[str],
) -> k8s.core.v1.PodSpecArgs:
    core = k8s.core.v1
    gateway = settings.gateway
    assert gateway.image is not None
    args = pulumi.Output.all(watched, address).apply(
        lambda parts: traefik_args(settings, str(parts[0]), str(parts[1]))
    )
    ports = (
        ("web", HTTP_PORT),
        ("websecure", HTTPS_PORT),
        ("internal", INTERNAL_PORT),
        ("metrics", METRICS_PORT),
        ("ping", PING_PORT),
    )
    probe = core.HTTPGetActionArgs(path="/ping", port="ping")
    return core.PodSpecArgs(
        service_account_name=account,
        enable_service_links=False,
        termination_grace_period_seconds=30,
        security_context=core.PodSecurityContextArgs(
            run_as_non_root=True,
            run_as_user=UID,
            run_as_group=UID,
            seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
        ),
        containers=[
            core.ContainerArgs(
                name="traefik",
                image=gateway.image,
                image_pull_policy="IfNotPresent",
                args=args,
                ports=[core.ContainerPortArgs(name=n, container_port=p) for n, p in ports],
                readiness_probe=core.ProbeArgs(
                    http_get=probe, period_seconds=5, failure_threshold=2
                ),
                liveness_probe=core.ProbeArgs(
                    http_get=probe, initial_delay_seconds=10, period_seconds=10, failure_threshold=3
                ),
                resources=core.ResourceRequirementsArgs(
                    requests={"cpu": "50m", "memory": "64Mi"},
                    limits={"cpu": "1", "memory": "256Mi"},
                ),
                security_context=core.SecurityContextArgs(
                    allow_privilege_escalation=False,
                    read_only_root_filesystem=True,
                    run_as_non_root=True,
                    run_as_user=UID,
                    capabilities=core.CapabilitiesArgs(drop=["ALL"]),
                    seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
                ),
                volume_mounts=[core.VolumeMountArgs(name="tmp", mount_path="/tmp")],
            )
        ],
        volumes=[
            core.VolumeArgs(name="tmp", empty_dir=core.EmptyDirVolumeSourceArgs(size_limit="64Mi"))
        ],
    )
