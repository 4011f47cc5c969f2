"""The stack-wide objects of stack config: edge, alerting, monitoring, images, checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field, model_validator

from components.settings._errors import config_error
from components.settings._types import (
    Allowed,
    ConfigModel,
    DnsLabel,
    Domain,
    Duration,
    ImageRef,
    ImageTag,
    NonEmpty,
    Platform,
    Registry,
    ServiceKey,
    SlackChannel,
)

if TYPE_CHECKING:
    from components.settings._service import ServiceSettings


class EdgeSettings(ConfigModel):
    """How public services are reached from outside the namespace."""

    domain: Domain = Field(default="kgot.example.com", description="hosts are `<svc>.<domain>`")
    gateway_class_name: DnsLabel = Field(
        default="kgot-platform", description="GatewayClass of the Gateway `kgot-platform`"
    )
    ingress_class_name: DnsLabel = Field(
        default="nginx", description="IngressClass of the Ingresses (trafficRouting ingress)"
    )
    tls_secret_name: DnsLabel = Field(
        default="kgot-platform-tls", description="issued outside the program"
    )
    controller_namespace: DnsLabel = Field(
        default="kgot-edge",
        description="namespace of the gateway / ingress controller pods, let in by NetworkPolicy",
    )

    def hostname(self, service: ServiceSettings) -> str:
        return f"{service.name}.{self.domain}"


class AlertingSettings(ConfigModel):
    slack_channel: SlackChannel = Field(
        default="#kgot-alerts", description="channel of the Slack receiver (slackWebhookUrl)"
    )


# Pinned by digest (the multi-platform index of each tag): production admits
# no image by tag alone.
PROMETHEUS_IMAGE = (
    "docker.io/prom/prometheus:v3.5.0"
    "@sha256:63805ebb8d2b3920190daf1cb14a60871b16fd38bed42b857a3182bc621f4996"
)
ALERTMANAGER_IMAGE = (
    "docker.io/prom/alertmanager:v0.28.1"
    "@sha256:27c475db5fb156cab31d5c18a4251ac7ed567746a2483ff264516437a39b15ba"
)
GRAFANA_IMAGE = (
    "docker.io/grafana/grafana:12.1.1"
    "@sha256:a1701c2180249361737a99a01bc770db39381640e4d631825d38ff4535efa47d"
)


class MonitoringSettings(ConfigModel):
    prometheus_image: ImageRef = Field(default=PROMETHEUS_IMAGE, description="pinned by digest")
    alertmanager_image: ImageRef = Field(default=ALERTMANAGER_IMAGE, description="pinned by digest")
    grafana_image: ImageRef = Field(default=GRAFANA_IMAGE, description="pinned by digest")
    grafana: bool = Field(
        default=True,
        description="run Grafana; false: no Grafana Deployment, the dashboards are still a "
        "ConfigMap labelled for kube-prometheus-stack's sidecar (grafana_dashboard=1)",
    )
    retention: Duration = Field(default="15d", description="how long Prometheus keeps samples")
    scrape_interval: Duration = Field(
        default="15s", description="how often Prometheus scrapes the services"
    )
    replicas: Annotated[int, Field(ge=1, le=5)] = Field(
        default=1,
        description="of each of Prometheus, Alertmanager (clustered) and Grafana",
    )


class BuildContext(ConfigModel):
    """Where one service's image is built from: a checkout of its sources."""

    context: Annotated[NonEmpty, Field(description="folder, relative to the project or absolute")]
    dockerfile: NonEmpty = Field(default="Dockerfile", description="relative to the context")
    target: DnsLabel | None = Field(
        default=None, description="stage of a multi-stage Dockerfile; default: the last one"
    )


class RegistrySettings(ConfigModel):
    server: Registry | None = Field(
        default=None, description="where images are pushed; required with build"
    )
    username: NonEmpty | None = Field(
        default=None, description="who pushes (password: registryPassword); required with build"
    )


class ImageSettings(ConfigModel):
    """ServiceImages: build, tag and push every service image, or take them by reference."""

    build: bool = Field(
        default=False, description="false: Deployments run `<image>:<version>` as published"
    )
    release_version: ImageTag | None = Field(
        default=None,
        description="the version the build contexts hold; colours running it get the digest",
    )
    registry: RegistrySettings | None = None
    platform: Platform = Field(default="linux/amd64", description="platform images are built for")
    contexts: Annotated[
        dict[ServiceKey, BuildContext],
        Allowed("an object: service key -> {context, dockerfile, target}"),
    ] = Field(default_factory=dict, description="service key -> where its image is built from")

    @property
    def registry_server(self) -> str | None:
        return self.registry.server if self.registry else None

    @property
    def registry_username(self) -> str | None:
        return self.registry.username if self.registry else None

    def context_of(self, service_key: str) -> BuildContext:
        return self.contexts[service_key]

    def check_services(self, services: dict[str, ServiceSettings]) -> None:
        """What a build needs of every service; raised naming the service it is about.

        Called by the stack's model, so every key is from the root (`images...`).
        """
        for key in self.contexts:
            if key not in services:
                allowed = f"a service key ({', '.join(sorted(services))})"
                raise config_error(("images", "contexts", key), key, allowed)
        if not self.build:
            return
        first = next(iter(services))
        if self.release_version is None:
            allowed = f"an image tag such as 1.4.2 (not latest) for {services[first].image}:<tag>"
            raise config_error(
                ("images", "releaseVersion"), None, allowed, missing=True, service=first
            )
        for name in ("server", "username"):
            # Nothing can be pushed without somewhere to push and someone to log in as.
            if getattr(self.registry, name, None) is None:
                allowed = "the registry's host and the user images are pushed as"
                raise config_error(
                    ("images", "registry", name), None, allowed, missing=True, service=first
                )
        server = self.registry_server
        for key, service in services.items():
            if key not in self.contexts:
                allowed = "an object {context, dockerfile, target}"
                raise config_error(
                    ("images", "contexts", key), None, allowed, missing=True, service=key
                )
            if not service.image.startswith(f"{server}/"):
                allowed = (
                    f"an image under {server}/ (images.registry.server, the only registry "
                    "with credentials)"
                )
                raise config_error(("services", key, "image"), service.image, allowed, service=key)


class CheckSettings(ConfigModel):
    """Post-deploy health checks of each colour through the Service that selects it."""

    enabled: bool = Field(default=False, description="check each colour after its rollout")
    timeout_seconds: Annotated[int, Field(ge=10, le=3600)] = Field(
        default=120, description="how long a check retries before it fails the update"
    )
    interval_seconds: Annotated[int, Field(ge=1, le=3600)] = Field(
        default=5, description="at most timeoutSeconds"
    )

    @model_validator(mode="after")
    def _interval_within_timeout(self) -> CheckSettings:
        if self.interval_seconds > self.timeout_seconds:
            raise config_error(
                ("intervalSeconds",),
                self.interval_seconds,
                f"an integer from 1 to {self.timeout_seconds} (timeoutSeconds)",
            )
        return self
