"""ClusterBaseline: the hardened namespace every other component lives in.

The namespace and its service accounts are here; RBAC (`baseline_rbac`),
quota and limits (`baseline_quota`) and NetworkPolicies (`baseline_network`)
each have their module.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.baseline_network import network_policies
from components.baseline_quota import ResourceBudget, limit_range, quota, service_budget
from components.baseline_rbac import roles
from components.labels import PART_OF, common_labels
from components.settings import PlatformSettings, ServiceSettings

__all__ = [
    "ClusterBaseline",
    "ClusterBaselineArgs",
    "ResourceBudget",
    "service_budget",
]


@dataclass
class ClusterBaselineArgs:
    settings: PlatformSettings
    # Pods outside the services (monitoring), for the quota.
    extra_budget: ResourceBudget


class ClusterBaseline(pulumi.ComponentResource):
    """Namespace, identities, RBAC, quota, limits and network policy of the platform."""

    namespace: pulumi.Output[str]
    service_accounts: dict[str, pulumi.Output[str]]

    def __init__(
        self, name: str, args: ClusterBaselineArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kgot:platform:ClusterBaseline", name, None, opts)
        self._settings = args.settings
        ns = self._namespace(name)
        self.namespace = ns.metadata.name
        self._child = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        self.service_accounts = {
            service.key: self._service_account(name, service) for service in args.settings.services
        }
        roles(name, lambda role: self._meta(role, "rbac"), self._child)
        quota(name, self._settings, args.extra_budget, self._meta, self._child)
        limit_range(name, self._settings, self._meta, self._child)
        network_policies(
            name, self._settings, lambda policy: self._meta(policy, "network-policy"), self._child
        )
        self.register_outputs(
            {
                "namespace": self.namespace,
                "serviceAccounts": self.service_accounts,
            }
        )

    def _meta(self, name: str, component: str = "baseline") -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=self.namespace,
            labels=common_labels(name, component),
        )

    def _namespace(self, name: str) -> k8s.core.v1.Namespace:
        pod_security = {
            f"pod-security.kubernetes.io/{mode}{suffix}": value
            for mode in ("enforce", "audit", "warn")
            for suffix, value in (("", "restricted"), ("-version", "latest"))
        }
        return k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=self._settings.namespace,
                labels={
                    **pod_security,
                    "app.kubernetes.io/part-of": PART_OF,
                    "app.kubernetes.io/managed-by": "pulumi",
                    "kgot.io/environment": self._settings.environment,
                },
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _service_account(self, name: str, service: ServiceSettings) -> pulumi.Output[str]:
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa-{service.name}",
            metadata=self._meta(service.name, service.component),
            # The services never call the Kubernetes API.
            automount_service_account_token=False,
            opts=self._child,
        )
        return account.metadata.name
