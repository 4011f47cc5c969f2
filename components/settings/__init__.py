"""Stack config of kgot-platform: one set of pydantic models for every reader.

The Pulumi program calls `load()` (the only reader of `pulumi.Config`); the
rollout tool and the policy-config bridge call `parse_settings()` on what the
Automation API or a `Pulumi.<stack>.yaml` gives them. A bad value is one
`SettingsError` naming every bad key, its value (`[secret]` for secrets) and
what is allowed, raised before the program registers any resource.

Modules: `_types` (what a value may be), `_service`, `_triggers`, `_dataplane`, `_stack`,
`_network`, `_gateway` and `_platform` (the models), `_errors` (the wording), `_reading` and
`_program` (where config comes from), `schema` (JSON Schema, README reference).
"""

from components.settings._dataplane import (
    DataPlaneChecks,
    RouteStatusCheck,
    SplitCheck,
    TriggerSource,
)
from components.settings._errors import SettingsError
from components.settings._gateway import (
    GatewaySettings,
    InternalRoutes,
    internal_hostname,
    internal_hostnames,
)
from components.settings._network import (
    ApiServerEgress,
    EgressDestination,
    EgressPort,
    NetworkSettings,
    ReceiverEgress,
)
from components.settings._platform import PlatformSettings, TrafficConfig, TrafficSettings
from components.settings._program import check_image_build, load
from components.settings._reading import (
    SECRET_KEYS,
    TOP_LEVEL_KEYS,
    parse_settings,
    parse_traffic,
    read_stack_file,
)
from components.settings._service import ComputeResources, ServiceResources, ServiceSettings
from components.settings._stack import (
    AlertingSettings,
    BuildContext,
    CheckSettings,
    EdgeSettings,
    ImageSettings,
    MonitoringSettings,
)
from components.settings._triggers import (
    LOCAL_SIGNING_KEY,
    CpuTrigger,
    CustomTrigger,
    ErrorRateTrigger,
    KeylessIdentity,
    LatencyTrigger,
    RollbackTriggers,
    SecurityThresholds,
    SigningSettings,
)
from components.settings._types import (
    BUILTIN_TRIGGERS,
    COLORS,
    PROJECT,
    BuiltinTrigger,
    Color,
    Comparison,
    Environment,
    Secret,
    TrafficRouting,
    cpu_millicores,
    kubernetes_name,
    memory_bytes,
)

__all__ = [
    "BUILTIN_TRIGGERS",
    "COLORS",
    "LOCAL_SIGNING_KEY",
    "PROJECT",
    "SECRET_KEYS",
    "TOP_LEVEL_KEYS",
    "AlertingSettings",
    "ApiServerEgress",
    "BuildContext",
    "BuiltinTrigger",
    "CheckSettings",
    "Color",
    "Comparison",
    "ComputeResources",
    "CpuTrigger",
    "CustomTrigger",
    "DataPlaneChecks",
    "EdgeSettings",
    "EgressDestination",
    "EgressPort",
    "Environment",
    "ErrorRateTrigger",
    "GatewaySettings",
    "ImageSettings",
    "InternalRoutes",
    "KeylessIdentity",
    "LatencyTrigger",
    "MonitoringSettings",
    "NetworkSettings",
    "PlatformSettings",
    "ReceiverEgress",
    "RollbackTriggers",
    "RouteStatusCheck",
    "Secret",
    "SecurityThresholds",
    "ServiceResources",
    "ServiceSettings",
    "SettingsError",
    "SigningSettings",
    "SplitCheck",
    "TrafficConfig",
    "TrafficRouting",
    "TrafficSettings",
    "TriggerSource",
    "check_image_build",
    "cpu_millicores",
    "internal_hostname",
    "internal_hostnames",
    "kubernetes_name",
    "load",
    "memory_bytes",
    "parse_settings",
    "parse_traffic",
    "read_stack_file",
]
