"""One KGoT service of stack config (`services.<key>`), deployed as a blue and a green set."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, PrivateAttr, model_validator

from components.settings._errors import config_error
from components.settings._types import (
    Allowed,
    ConfigModel,
    Cpu,
    Digest,
    DnsLabel,
    HttpPath,
    ImageRepository,
    ImageTag,
    Memory,
    cpu_millicores,
    kubernetes_name,
    memory_bytes,
)


class ComputeResources(ConfigModel):
    """CPU and memory as Kubernetes quantities, with their numeric values."""

    cpu: Cpu = Field(description="limits at least the requests")
    memory: Memory = Field(description="limits at least the requests")

    @property
    def millicores(self) -> int:
        return cpu_millicores(self.cpu)

    @property
    def memory_bytes(self) -> int:
        return memory_bytes(self.memory)


class ServiceResources(ConfigModel):
    requests: ComputeResources
    limits: ComputeResources

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> ServiceResources:
        # The API server refuses every pod of a container whose limit is below its
        # request, after the Deployment was registered: refuse it here, naming both.
        requests, limits = self.requests, self.limits
        if limits.millicores < requests.millicores:
            raise config_error(
                ("limits", "cpu"),
                limits.cpu,
                f"at least the request (resources.requests.cpu = {requests.cpu})",
            )
        if limits.memory_bytes < requests.memory_bytes:
            raise config_error(
                ("limits", "memory"),
                limits.memory,
                f"at least the request (resources.requests.memory = {requests.memory})",
            )
        return self


class HealthPaths(ConfigModel):
    readiness: HttpPath = Field(description="readiness probe (and post-deploy check) path")
    liveness: HttpPath = Field(description="liveness probe path, not the readiness one")

    @model_validator(mode="after")
    def _different_paths(self) -> HealthPaths:
        # Same endpoint for both probes restarts pods that are merely busy.
        if self.readiness == self.liveness:
            raise config_error(
                ("liveness",), self.liveness, f"a path other than readiness ({self.readiness})"
            )
        return self


class ServiceSettings(ConfigModel):
    """`services.<key>`; `key` is the config key it sits under (set by the stack's model)."""

    image: ImageRepository = Field(description="repository; the tag is the colour's version")
    port: Annotated[int, Field(ge=1024, le=65535)] = Field(
        description="container and Service port (named `http`)"
    )
    health: HealthPaths = Field(description="readiness and liveness probe paths, different")
    replicas: Annotated[int, Field(ge=1, le=50)] = Field(description="full size of each colour")
    resources: ServiceResources = Field(description="`{cpu, memory}` requests and limits")
    component_label: DnsLabel | None = Field(
        default=None,
        alias="component",
        description="`app.kubernetes.io/component`; default: the Kubernetes name",
    )
    metrics_path: HttpPath = Field(default="/metrics", description="where Prometheus scrapes")
    public: bool = Field(default=False, description="reachable through the edge (Gateway/Ingress)")
    digests: Annotated[
        dict[ImageTag, Digest], Allowed("an object: version tag -> sha256:<64 hex digits>")
    ] = Field(
        default_factory=dict,
        description="version -> digest of the released image; the Deployment then runs "
        "`<image>:<version>@<digest>`",
    )
    progress_deadline_seconds: Annotated[int, Field(ge=10, le=3600)] = Field(
        default=600,
        description="seconds a Deployment may make no progress before Kubernetes marks it "
        "failed (ProgressDeadlineExceeded); the `pulumi up` waiting for it gives up 30 s "
        "later: a release whose pods never start fails then, not after the provider's 10 minutes",
    )
    _key: str = PrivateAttr(default="")

    @property
    def key(self) -> str:
        """Config key, e.g. `graph_store`."""
        return self._key

    @property
    def name(self) -> str:
        """Kubernetes name: `graph_store` -> `graph-store`."""
        return kubernetes_name(self._key)

    @property
    def component(self) -> str:
        return self.component_label or self.name

    @property
    def readiness_path(self) -> str:
        return self.health.readiness

    @property
    def liveness_path(self) -> str:
        return self.health.liveness

    def image_ref(self, version: str) -> str:
        """`<image>:<version>`, pinned `@sha256:...` when the version's digest is known."""
        digest = self.digests.get(version)
        return f"{self.image}:{version}@{digest}" if digest else f"{self.image}:{version}"
