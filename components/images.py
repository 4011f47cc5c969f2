"""ServiceImages: every service image built from its sources, tagged and pushed, by digest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker

from components.settings import (
    COLORS,
    Color,
    ImageSettings,
    Secret,
    ServiceSettings,
    TrafficSettings,
)


@dataclass
class ServiceImagesArgs:
    images: ImageSettings
    services: Sequence[ServiceSettings]
    # Top-level secret config: the password of images.registry.username.
    registry_password: Secret | None
    # Build contexts are relative to this folder (the Pulumi project).
    project_dir: Path


class ServiceImages(pulumi.ComponentResource):
    """One `docker.Image` a service: `<image>:<releaseVersion>`, pushed, exported by digest.

    The images do not depend on each other, so the engine builds them in
    parallel. Only the release version is built: the sources on disk are that
    version, and rebuilding an older tag from them would overwrite it.
    """

    digests: pulumi.Output[dict[str, str]]

    def __init__(
        self, name: str, args: ServiceImagesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kgot:platform:ServiceImages", name, None, opts)
        settings = args.images
        if not settings.build or settings.release_version is None:
            # Settings refuse build without a release version; this keeps the types honest.
            raise ValueError("ServiceImages needs images.build and images.releaseVersion")
        self._release = settings.release_version
        self._built: dict[str, pulumi.Output[str]] = {
            service.key: self._image(name, service, args).repo_digest for service in args.services
        }
        self.digests = pulumi.Output.all(**self._built).apply(dict)
        self.register_outputs({"digests": self.digests, "releaseVersion": self._release})

    def _image(self, name: str, service: ServiceSettings, args: ServiceImagesArgs) -> docker.Image:
        settings = args.images
        build = settings.context_of(service.key)
        context = args.project_dir / build.context
        password = args.registry_password
        return docker.Image(
            f"{name}-{service.name}",
            image_name=f"{service.image}:{self._release}",
            build=docker.DockerBuildArgs(
                context=str(context),
                dockerfile=str(context / build.dockerfile),
                target=build.target,
                platform=settings.platform,
            ),
            registry=docker.RegistryArgs(
                server=settings.registry_server,
                username=settings.registry_username,
                # A secret Output, so the password never lands in state in plain text.
                password=pulumi.Output.secret(password.value) if password else None,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def colour_images(
        self, service_key: str, traffic: TrafficSettings
    ) -> Mapping[Color, pulumi.Output[str]]:
        """`repo@sha256:...` for each colour that runs the release version.

        Depends on the colours' versions only, never on which colour is active,
        so a flip or a weight change leaves the Deployments alone.
        """
        return {
            color: self._built[service_key]
            for color in COLORS
            if traffic.version_of(color) == self._release
        }
