"""The kgot-platform Pulumi program: settings -> components -> exports."""

from __future__ import annotations

from pathlib import Path

import pulumi

from components.baseline import ClusterBaseline, ClusterBaselineArgs
from components.bluegreen import BlueGreenService, BlueGreenServiceArgs
from components.checks import PostDeployChecks, PostDeployChecksArgs
from components.gateway import EdgeGateway, EdgeGatewayArgs
from components.images import ServiceImages, ServiceImagesArgs
from components.monitoring import MonitoringStack, MonitoringStackArgs, monitoring_budget
from components.settings import COLORS, SettingsError, internal_hostname, load

# Bad config stops here, before anything is registered. It is the user's
# mistake, not a bug: one clear line, no traceback.
try:
    settings = load()
except SettingsError as error:
    raise pulumi.RunError(str(error)) from error
traffic = settings.traffic

baseline = ClusterBaseline(
    "baseline", ClusterBaselineArgs(settings=settings, extra_budget=monitoring_budget(settings))
)
after_baseline = pulumi.ResourceOptions(depends_on=[baseline])

# The Gateway the routes attach to and, in dev, Traefik serving it.
edge = EdgeGateway(
    "edge",
    EdgeGatewayArgs(settings=settings, namespace=baseline.namespace, previous_parent=baseline),
    opts=after_baseline,
)

monitoring = MonitoringStack(
    "monitoring",
    MonitoringStackArgs(settings=settings, namespace=baseline.namespace),
    opts=after_baseline,
)

# Off where no Docker engine runs (dev): then images are taken by reference.
images = (
    ServiceImages(
        "images",
        ServiceImagesArgs(
            images=settings.images,
            services=settings.services,
            registry_password=settings.registry_password,
            project_dir=Path.cwd(),
        ),
    )
    if settings.images.build
    else None
)
colour_images = {
    service.key: images.colour_images(service.key, traffic) if images else {}
    for service in settings.services
}

services = {
    service.key: BlueGreenService(
        service.name,
        BlueGreenServiceArgs(
            service=service,
            traffic=traffic,
            edge=settings.edge,
            namespace=baseline.namespace,
            service_account=baseline.service_accounts[service.key],
            gateway_name=edge.gateway_name,
            internal_hostname=internal_hostname(service.name, settings.namespace)
            if not service.public and EdgeGateway.internal_listener(settings)
            else None,
            images=colour_images[service.key],
        ),
        opts=after_baseline,
    )
    for service in settings.services
}

if settings.checks.enabled:
    PostDeployChecks(
        "post-deploy",
        PostDeployChecksArgs(
            checks=settings.checks,
            services=settings.services,
            traffic=traffic,
            namespace=baseline.namespace,
            after=services,
            images=colour_images,
        ),
    )

pulumi.export("namespace", baseline.namespace)
pulumi.export("environment", settings.environment)
pulumi.export("activeColor", traffic.active_color)
pulumi.export("standbyColor", traffic.standby_color)
pulumi.export("standbyWeight", traffic.standby_weight)
pulumi.export("trafficRouting", traffic.routing)
pulumi.export("versions", {color: traffic.version_of(color) for color in COLORS})
pulumi.export("endpoints", {key: svc.endpoint for key, svc in services.items()})
pulumi.export("previewEndpoints", {key: svc.preview_endpoint for key, svc in services.items()})
pulumi.export(
    "monitoring",
    {
        "prometheus": monitoring.prometheus_url,
        "alertmanager": monitoring.alertmanager_url,
        "grafana": monitoring.grafana_url,
    },
)
if images is not None:
    pulumi.export("imageDigests", images.digests)
if edge.address is not None:
    # The gateway Traefik's Services (dev): clients send Host <svc>.<edge.domain>.
    pulumi.export("gateway", {"address": edge.address, "internalAddress": edge.internal_address})
