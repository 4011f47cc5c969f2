"""The kgot-platform Pulumi program: settings -> components -> exports."""

from __future__ import annotations

import pulumi

from components.baseline import ClusterBaseline, ClusterBaselineArgs
from components.bluegreen import BlueGreenService, BlueGreenServiceArgs
from components.monitoring import MonitoringStack, MonitoringStackArgs, monitoring_budget
from components.settings import COLORS, SettingsError, load

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

monitoring = MonitoringStack(
    "monitoring",
    MonitoringStackArgs(settings=settings, namespace=baseline.namespace),
    opts=after_baseline,
)

services = {
    service.key: BlueGreenService(
        service.name,
        BlueGreenServiceArgs(
            service=service,
            traffic=traffic,
            edge=settings.edge,
            namespace=baseline.namespace,
            service_account=baseline.service_accounts[service.key],
            gateway_name=baseline.gateway_name,
        ),
        opts=after_baseline,
    )
    for service in settings.services
}

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
