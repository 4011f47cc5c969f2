"""The gateway the program may run itself (Traefik, dev) and where internal routes attach."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from components.settings._errors import config_error
from components.settings._types import ConfigModel, ImageRef

# How an internal (not public) service's HTTPRoute is attached: to the
# Gateway's internal listener (a real data plane with any Gateway API
# implementation), or to its own Service (GAMMA: served only by a mesh).
InternalRoutes = Literal["listener", "gamma"]


class GatewaySettings(ConfigModel):
    """Traefik run by the program as the controller of the edge's classes (dev)."""

    deploy: bool = Field(
        default=False,
        description="run Traefik as the controller of edge.gatewayClassName and "
        "edge.ingressClassName; false where the team's own gateway runs",
    )
    image: ImageRef | None = Field(
        default=None, description="Traefik's image, pinned by digest; required with deploy"
    )
    replicas: Annotated[int, Field(ge=1, le=5)] = Field(
        default=1, description="Traefik pods (each serves every route)"
    )
    self_signed_tls: bool = Field(
        default=False,
        description="make the Secret edge.tlsSecretName from a self-signed pair made once per "
        "machine (dev); false: the Secret is issued outside the program",
    )
    internal_routes: InternalRoutes = Field(
        default="gamma",
        description="listener: internal services' HTTPRoutes attach to the Gateway's listener "
        "`internal` (host `<svc>.<namespace>.internal`); gamma: to their Service (a mesh)",
    )

    @model_validator(mode="after")
    def _image_with_deploy(self) -> GatewaySettings:
        if self.deploy and self.image is None:
            allowed = "Traefik's image pinned by digest (registry/traefik:<tag>@sha256:...)"
            raise config_error(("image",), None, allowed, missing=True)
        return self


def internal_hostname(service_name: str, namespace: str) -> str:
    """Host of an internal service on the Gateway's listener `internal`."""
    return f"{service_name}.{namespace}.internal"


def internal_hostnames(namespace: str) -> str:
    """The listener `internal`'s hostname: every internal service of the namespace."""
    return f"*.{namespace}.internal"
