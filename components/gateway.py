"""EdgeGateway: the Gateway the HTTPRoutes attach to, its certificate, and (dev) Traefik behind it.

Staging and production attach to the team's own gateway: the program makes
only the Gateway object of the class `edge.gatewayClassName`, and the TLS
Secret is issued outside it. In dev (`gateway.deploy`) the program also runs
Traefik as that class's controller and the ingress class's (components/traefik.py),
so the HTTPRoute and canary-Ingress weights reach a real proxy, and makes
the Secret from a self-signed pair (`gateway.selfSignedTls`,
components/gateway_tls.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.gateway_tls import self_signed_pair
from components.labels import PART_OF, SKIP_AWAIT, common_labels
from components.settings import PlatformSettings, internal_hostnames
from components.traefik import Traefik, TraefikArgs
from components.traefik_ports import HTTPS_PORT, INTERNAL_PORT

# Listener names the HTTPRoutes attach to (sectionName).
PUBLIC_LISTENER = "https"
INTERNAL_LISTENER = "internal"


@dataclass
class EdgeGatewayArgs:
    settings: PlatformSettings
    namespace: pulumi.Input[str]
    # Where the Gateway object lived before this component (the baseline's
    # `baseline-gateway`): aliased, so moving it does not replace it.
    previous_parent: pulumi.Resource | None = None


class EdgeGateway(pulumi.ComponentResource):
    """Gateway `kgot-platform` (listeners `https`, `internal`), TLS Secret, optional Traefik."""

    # The Gateway public services (and internal ones, on `internal`) attach to.
    gateway_name: str | None
    # Traefik's Services' cluster IPs (dev), or None when the team's gateway serves.
    address: pulumi.Output[str] | None
    internal_address: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: EdgeGatewayArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kgot:platform:EdgeGateway", name, None, opts)
        self._settings = args.settings
        self._namespace = args.namespace
        child = pulumi.ResourceOptions(parent=self)
        settings = args.settings
        if settings.gateway.self_signed_tls:
            self._tls_secret(name, child)
        self.address = self.internal_address = None
        if settings.gateway.deploy:
            traefik = Traefik(
                f"{name}-traefik",
                TraefikArgs(settings=settings, watched_namespace=args.namespace),
                opts=child,
            )
            self.address = traefik.address
            self.internal_address = traefik.internal_address
        self._previous_parent = args.previous_parent
        self.gateway_name = self._gateway(name, child)
        self.register_outputs({"gatewayName": self.gateway_name, "address": self.address})

    @staticmethod
    def internal_listener(settings: PlatformSettings) -> bool:
        """Whether internal services' routes attach to the Gateway (not GAMMA)."""
        return settings.gateway.internal_routes == "listener" and any(
            not s.public for s in settings.services
        )

    def _tls_secret(self, name: str, opts: pulumi.ResourceOptions) -> None:
        settings = self._settings
        pair = self_signed_pair(
            [f"*.{settings.edge.domain}", internal_hostnames(settings.namespace)]
        )
        k8s.core.v1.Secret(
            f"{name}-tls",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=settings.edge.tls_secret_name,
                namespace=self._namespace,
                labels=common_labels(PART_OF, "edge"),
            ),
            type="kubernetes.io/tls",
            string_data={
                "tls.crt": pair.certificate,
                "tls.key": pulumi.Output.secret(pair.private_key),
            },
            opts=opts,
        )

    def _gateway(self, name: str, opts: pulumi.ResourceOptions) -> str | None:
        settings = self._settings
        public = any(s.public for s in settings.services)
        internal = self.internal_listener(settings)
        if settings.traffic.routing != "gateway" or not (public or internal):
            return None
        edge = settings.edge
        # Traefik names an entry point by the listener's port; another
        # implementation listens on the listener's port itself.
        deployed = settings.gateway.deploy
        tls = {
            "mode": "Terminate",
            # Issued outside the program, or the self-signed pair (dev).
            "certificateRefs": [{"kind": "Secret", "name": edge.tls_secret_name}],
        }
        listeners = []
        if public:
            listeners.append(
                {
                    "name": PUBLIC_LISTENER,
                    "protocol": "HTTPS",
                    "port": HTTPS_PORT if deployed else 443,
                    "hostname": f"*.{edge.domain}",
                    "tls": tls,
                    "allowedRoutes": {"namespaces": {"from": "Same"}},
                }
            )
        if internal:
            listeners.append(
                {
                    "name": INTERNAL_LISTENER,
                    "protocol": "HTTPS",
                    "port": INTERNAL_PORT if deployed else 443,
                    "hostname": internal_hostnames(settings.namespace),
                    "tls": tls,
                    "allowedRoutes": {"namespaces": {"from": "Same"}},
                }
            )
        k8s.apiextensions.CustomResource(
            f"{name}-gateway",
            api_version="gateway.networking.k8s.io/v1",
            kind="Gateway",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=PART_OF,
                namespace=self._namespace,
                labels=common_labels(PART_OF, "edge"),
                annotations=SKIP_AWAIT,
            ),
            spec={"gatewayClassName": edge.gateway_class_name, "listeners": listeners},
            opts=pulumi.ResourceOptions.merge(
                opts,
                pulumi.ResourceOptions(
                    aliases=[pulumi.Alias(name="baseline-gateway", parent=self._previous_parent)]
                    if self._previous_parent is not None
                    else None
                ),
            ),
        )
        return PART_OF
