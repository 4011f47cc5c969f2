"""The whole stack config (`PlatformSettings`) and the rules that span its objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Self

from pydantic import AfterValidator, Field, PrivateAttr, ValidationInfo, model_validator

from components.labels import ALERTMANAGER, ALERTMANAGER_PEERS, GRAFANA, PROMETHEUS
from components.settings._errors import config_error
from components.settings._gateway import GatewaySettings
from components.settings._network import NetworkSettings
from components.settings._service import ServiceSettings
from components.settings._stack import (
    AlertingSettings,
    CheckSettings,
    EdgeSettings,
    ImageSettings,
    MonitoringSettings,
)
from components.settings._triggers import RollbackTriggers, SecurityThresholds
from components.settings._types import (
    Allowed,
    Color,
    ConfigModel,
    Environment,
    ImageTag,
    Namespace,
    Secret,
    ServiceKey,
    TrafficRouting,
    kubernetes_name,
)

REQUIRED_SERVICES = ("controller", "graph_store")
# Kubernetes objects of the same kinds as a service's, made by the monitoring stack.
MONITORING_NAMES = (PROMETHEUS, ALERTMANAGER, GRAFANA, ALERTMANAGER_PEERS)
# What a service `<name>` makes beside Deployments/Services/Ingresses `<name>`.
NAME_SUFFIXES = ("blue", "green", "preview", "canary")
HOSTNAME_MAX = 253
# Stacks whose images must carry a verified signature, whatever their config says.
SIGNED_ENVIRONMENTS = ("staging", "production")


def _web_url(url: Secret) -> Secret:
    if not url.value.startswith(("https://", "http://")):
        raise ValueError("not a URL")
    return url


SlackWebhook = Annotated[
    Secret,
    AfterValidator(_web_url),
    Allowed(
        "a secret URL such as https://hooks.slack.com/services/... "
        "(pulumi config set --secret slackWebhookUrl ...)"
    ),
]


@dataclass(frozen=True)
class TrafficSettings:
    """Which colour serves, how much the standby gets, what each colour runs."""

    active_color: Color
    standby_weight: int
    blue_version: str
    green_version: str
    # None: the standby runs as many replicas as the active colour.
    standby_replicas: int | None
    routing: TrafficRouting

    @property
    def standby_color(self) -> Color:
        return "green" if self.active_color == "blue" else "blue"

    @property
    def active_weight(self) -> int:
        return 100 - self.standby_weight

    def version_of(self, color: Color) -> str:
        return self.blue_version if color == "blue" else self.green_version

    def weight_of(self, color: Color) -> int:
        return self.active_weight if color == self.active_color else self.standby_weight

    def replicas_of(self, color: Color, full: int) -> int:
        """Replicas a colour runs for a service whose full size is `full`.

        A colour is only scaled down while it is the standby AND has no
        weight: anything that receives traffic runs at full size.
        """
        if color == self.active_color or self.standby_weight > 0:
            return full
        if self.standby_replicas is None:
            return full
        return min(self.standby_replicas, full)


class TrafficConfig(ConfigModel):
    """The traffic keys: what a shift writes, and what an applied update's config holds."""

    active_color: Color = Field(description="colour Service `<svc>` selects")
    standby_weight: Annotated[int, Field(ge=0, le=100)] = Field(
        default=0, description="share of traffic for the standby colour"
    )
    blue_version: ImageTag = Field(description="version blue runs: image `<image>:<version>`")
    green_version: ImageTag = Field(description="version green runs")
    standby_replicas: Annotated[int, Field(ge=0)] | None = Field(
        default=None,
        description="replicas of the standby while it has no weight; default: full size",
    )
    traffic_routing: TrafficRouting = Field(
        default="gateway", description="how weights are applied"
    )

    @model_validator(mode="after")
    def _selector_cannot_split(self) -> Self:
        if self.traffic_routing == "selector" and self.standby_weight != 0:
            allowed = "0 with trafficRouting selector (it cannot split traffic)"
            raise config_error(("standbyWeight",), self.standby_weight, allowed)
        return self

    @property
    def traffic(self) -> TrafficSettings:
        return TrafficSettings(
            active_color=self.active_color,
            standby_weight=self.standby_weight,
            blue_version=self.blue_version,
            green_version=self.green_version,
            standby_replicas=self.standby_replicas,
            routing=self.traffic_routing,
        )


class PlatformSettings(TrafficConfig):
    """Everything in the `kgot-platform:` namespace of one stack."""

    environment: Environment = Field(description="stack role; labels alerts and metrics")
    namespace: Namespace = Field(description="namespace of the platform")
    service_map: Annotated[
        dict[ServiceKey, ServiceSettings], Allowed("an object: service key -> service")
    ] = Field(
        alias="services",
        description="service key -> service (`controller`, `graph_store` required)",
    )
    rollback: RollbackTriggers = Field(
        default_factory=RollbackTriggers, description="triggers for the rollout tool"
    )
    security: SecurityThresholds = Field(
        default_factory=SecurityThresholds, description="thresholds for the policy pack"
    )
    edge: EdgeSettings = Field(
        default_factory=EdgeSettings, description="how public services are reached"
    )
    gateway: GatewaySettings = Field(
        default_factory=GatewaySettings,
        description="the gateway the program runs itself (dev) and internal routes",
    )
    alerting: AlertingSettings = Field(default_factory=AlertingSettings)
    monitoring: MonitoringSettings = Field(
        default_factory=MonitoringSettings,
        description="images and retention of the monitoring stack",
    )
    images: ImageSettings = Field(
        default_factory=ImageSettings, description="image builds (ServiceImages)"
    )
    checks: CheckSettings = Field(
        default_factory=CheckSettings, description="post-deploy checks (PostDeployChecks)"
    )
    network: NetworkSettings = Field(
        default_factory=NetworkSettings,
        description="where pods may send traffic beyond the platform's own rules",
    )
    slack_webhook_url: SlackWebhook | None = Field(
        default=None, description="Slack incoming webhook; enables the Slack receiver"
    )
    pagerduty_integration_key: Secret | None = Field(
        default=None,
        description="PagerDuty Events v2 routing key; enables paging for critical alerts",
    )
    grafana_admin_password: Secret | None = Field(
        default=None,
        description="without it Grafana is read-only (anonymous viewers, no login)",
    )
    registry_password: Secret | None = Field(
        default=None, description="password of images.registry.username"
    )
    _stack: str = PrivateAttr(default="")

    @property
    def stack(self) -> str:
        return self._stack

    @property
    def services(self) -> tuple[ServiceSettings, ...]:
        return tuple(self.service_map.values())

    def service(self, key: str) -> ServiceSettings:
        return self.service_map[key]

    @model_validator(mode="after")
    def _name_services(self, info: ValidationInfo) -> Self:
        # Set before the other rules run: their errors name services by key.
        self._stack = str((info.context or {}).get("stack", ""))
        for key, service in self.service_map.items():
            service._key = key
        return self

    @model_validator(mode="after")
    def _required_services(self) -> Self:
        for key in REQUIRED_SERVICES:
            if key not in self.service_map:
                allowed = "a service (the platform cannot run without it)"
                raise config_error(("services", key), None, allowed, missing=True)
        return self

    @model_validator(mode="after")
    def _names_do_not_collide(self) -> Self:
        """Two resources for one Kubernetes object would fight over it."""
        made_by: dict[str, str] = {}
        for key in self.service_map:
            for suffix in NAME_SUFFIXES:
                made_by[f"{kubernetes_name(key)}-{suffix}"] = f"services.{key}"
        for key in self.service_map:
            name = kubernetes_name(key)
            if name in MONITORING_NAMES:
                allowed = (
                    f"a key other than the monitoring stack's components "
                    f"({', '.join(MONITORING_NAMES)}): both would be {name!r}"
                )
                raise config_error(("services", key), key, allowed)
            if name in made_by:
                allowed = (
                    f"a key whose Kubernetes name is not one that {made_by[name]} makes "
                    f"(<name>-{' | -'.join(NAME_SUFFIXES)}): both would be {name!r}"
                )
                raise config_error(("services", key), key, allowed)
        return self

    @model_validator(mode="after")
    def _hostnames_fit(self) -> Self:
        for service in self.services:
            host = self.edge.hostname(service)
            if service.public and len(host) > HOSTNAME_MAX:
                allowed = (
                    f"a domain short enough for host {service.name}.<domain> of "
                    f"services.{service.key} ({len(host)} characters; at most {HOSTNAME_MAX})"
                )
                raise config_error(("edge", "domain"), self.edge.domain, allowed)
        return self

    @property
    def deployed_images(self) -> tuple[str, ...]:
        """Every image reference the program gives a pod, from config (what must be signed).

        Images that `images.build` builds are known only once pushed, and are not here.
        """
        refs = [
            service.image_ref(self.traffic.version_of(color))
            for service in self.services
            for color in ("blue", "green")
        ]
        monitoring = self.monitoring
        refs += [monitoring.prometheus_image, monitoring.alertmanager_image]
        if monitoring.grafana:
            refs.append(monitoring.grafana_image)
        if self.gateway.deploy and self.gateway.image is not None:
            refs.append(self.gateway.image)
        return tuple(dict.fromkeys(refs))

    @property
    def require_signed_images(self) -> bool:
        """The pack refuses digests that `make verify-images` did not verify."""
        required = self.security.signing.required
        return self.environment in SIGNED_ENVIRONMENTS if required is None else required

    @model_validator(mode="after")
    def _signed_where_it_matters(self) -> Self:
        signing = self.security.signing
        path = ("security", "signing", "required")
        if self.environment in SIGNED_ENVIRONMENTS and signing.required is False:
            allowed = f"true or unset in {self.environment} (signed images are required there)"
            raise config_error(path, False, allowed)
        if self.require_signed_images and not signing.trusts_someone:
            allowed = "a public key (or `keyless`) whose signatures the stack accepts"
            raise config_error(
                ("security", "signing", "publicKey"),
                None,
                f"{allowed}: it requires signed images",
                missing=True,
            )
        return self

    @model_validator(mode="after")
    def _images_for_services(self) -> Self:
        self.images.check_services(self.service_map)
        return self

    @model_validator(mode="after")
    def _egress_from_services(self) -> Self:
        self.network.check_services(self.service_map)
        return self
