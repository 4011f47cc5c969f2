"""Container image references: repository, tag and digest, read one way everywhere."""

from __future__ import annotations

import re
from dataclasses import dataclass

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def is_digest(text: str) -> bool:
    """Whether ``text`` is a whole sha256 digest (``sha256:`` and 64 lowercase hex digits)."""
    return bool(_DIGEST.match(text))


@dataclass(frozen=True)
class ImageRef:
    repository: str
    tag: str | None
    digest: str | None

    @property
    def pinned(self) -> bool:
        """Pinned by a well-formed digest: what the image is cannot change under it."""
        return self.digest is not None and is_digest(self.digest)

    @property
    def registry(self) -> str | None:
        """``host[:port]`` the reference names, None for Docker Hub's short form.

        As Docker reads it: the first path segment is a registry only if it has
        a dot or a port or is ``localhost`` (``grafana/grafana`` is a Docker Hub
        user, ``docker.io/library/x`` names Docker Hub).
        """
        first, slash, _ = self.repository.partition("/")
        if slash and ("." in first or ":" in first or first == "localhost"):
            return first
        return None

    @property
    def registry_host(self) -> str | None:
        """The registry without its port (``[::1]`` stays bracketed)."""
        registry = self.registry
        if registry is None:
            return None
        host, colon, port = registry.rpartition(":")
        return host if colon and port.isdigit() else registry


def parse_image(image: str) -> ImageRef:
    """'reg:5000/a/b:1.2@sha256:...' -> repository, tag, digest (a registry port is no tag)."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return ImageRef(name, tag or None, digest or None)
