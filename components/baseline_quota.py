"""What the platform's namespace may hold: the ResourceQuota and the LimitRange."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.settings import PlatformSettings, ServiceSettings

# Room above the computed footprint for rolling-update surges and for
# debugging pods: a quota that is exactly full blocks the next rollout.
QUOTA_HEADROOM = 1.25

Meta = Callable[[str], k8s.meta.v1.ObjectMetaArgs]


@dataclass(frozen=True)
class ResourceBudget:
    """What a set of pods may request and use, summed for the ResourceQuota."""

    pods: int = 0
    requests_millicores: int = 0
    requests_bytes: int = 0
    limits_millicores: int = 0
    limits_bytes: int = 0

    def __add__(self, other: ResourceBudget) -> ResourceBudget:
        return ResourceBudget(
            pods=self.pods + other.pods,
            requests_millicores=self.requests_millicores + other.requests_millicores,
            requests_bytes=self.requests_bytes + other.requests_bytes,
            limits_millicores=self.limits_millicores + other.limits_millicores,
            limits_bytes=self.limits_bytes + other.limits_bytes,
        )

    def scaled(self, factor: float) -> ResourceBudget:
        return ResourceBudget(
            pods=math.ceil(self.pods * factor),
            requests_millicores=math.ceil(self.requests_millicores * factor),
            requests_bytes=math.ceil(self.requests_bytes * factor),
            limits_millicores=math.ceil(self.limits_millicores * factor),
            limits_bytes=math.ceil(self.limits_bytes * factor),
        )

    @staticmethod
    def of_pods(
        pods: int, req_millicores: int, req_bytes: int, lim_millicores: int, lim_bytes: int
    ) -> ResourceBudget:
        return ResourceBudget(
            pods=pods,
            requests_millicores=pods * req_millicores,
            requests_bytes=pods * req_bytes,
            limits_millicores=pods * lim_millicores,
            limits_bytes=pods * lim_bytes,
        )


def service_budget(service: ServiceSettings) -> ResourceBudget:
    """Both colours at full size plus one surge pod each (maxSurge 1).

    Full size for both, whatever `standbyReplicas` says: a standby that gets
    weight scales up to full, and the quota must not stop it then.
    """
    res = service.resources
    return ResourceBudget.of_pods(
        2 * service.replicas + 2,
        res.requests.millicores,
        res.requests.memory_bytes,
        res.limits.millicores,
        res.limits.memory_bytes,
    )


def quota(
    name: str,
    settings: PlatformSettings,
    extra: ResourceBudget,
    meta: Meta,
    opts: pulumi.ResourceOptions,
) -> None:
    budget = extra
    for service in settings.services:
        budget += service_budget(service)
    hard = budget.scaled(QUOTA_HEADROOM)
    k8s.core.v1.ResourceQuota(
        f"{name}-quota",
        metadata=meta("kgot-platform-quota"),
        spec=k8s.core.v1.ResourceQuotaSpecArgs(
            hard={
                "pods": str(hard.pods),
                "requests.cpu": f"{hard.requests_millicores}m",
                "requests.memory": f"{math.ceil(hard.requests_bytes / 2**20)}Mi",
                "limits.cpu": f"{hard.limits_millicores}m",
                "limits.memory": f"{math.ceil(hard.limits_bytes / 2**20)}Mi",
                # No node ports or cloud load balancers from this namespace.
                "services.nodeports": "0",
                "services.loadbalancers": "0",
            }
        ),
        opts=opts,
    )


def limit_range(
    name: str, settings: PlatformSettings, meta: Meta, opts: pulumi.ResourceOptions
) -> None:
    largest_cpu = max(s.resources.limits.millicores for s in settings.services)
    largest_mem = max(s.resources.limits.memory_bytes for s in settings.services)
    k8s.core.v1.LimitRange(
        f"{name}-limits",
        metadata=meta("kgot-platform-limits"),
        spec=k8s.core.v1.LimitRangeSpecArgs(
            limits=[
                k8s.core.v1.LimitRangeItemArgs(
                    type="Container",
                    # Defaults only for containers someone starts by hand;
                    # every container of the platform sets its own.
                    default_request={"cpu": "100m", "memory": "128Mi"},
                    default={"cpu": "500m", "memory": "512Mi"},
                    # At least 2 cores / 2Gi: the monitoring containers
                    # (Prometheus asks for up to 1 core and 2Gi).
                    max={
                        "cpu": f"{max(largest_cpu, 2000)}m",
                        "memory": f"{math.ceil(max(largest_mem, 2**31) / 2**20)}Mi",
                    },
                )
            ]
        ),
        opts=opts,
    )
