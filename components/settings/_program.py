"""The Pulumi program's reading of its stack config: `pulumi.Config`, once."""

from __future__ import annotations

from pathlib import Path

from components.settings._errors import SettingsError, show
from components.settings._platform import PlatformSettings
from components.settings._reading import TOP_LEVEL_KEYS, parse_settings
from components.settings._types import PROJECT, Secret


def load() -> PlatformSettings:
    """Read this stack's `pulumi.Config` once and parse it.

    Runs before any resource is registered, so bad config stops the program
    with no partial deployment.
    """
    import pulumi
    from pulumi.runtime import config as runtime_config

    config = pulumi.Config(PROJECT)
    stack = pulumi.get_stack()
    # Every key set in our namespace, so that a typo is reported, not ignored.
    present = {
        key.partition(":")[2]
        for key in [*runtime_config.CONFIG.get(), *runtime_config.get_config_env()]
        if key.startswith(f"{PROJECT}:")
    }
    raw: dict[str, object] = {}
    for key in sorted(present | set(TOP_LEVEL_KEYS)):
        value = config.get(key)
        if value is None:
            continue
        # The models refuse a secret key's value that is not a Secret (plain text).
        secret = runtime_config.is_config_secret(config.full_key(key))
        raw[key] = Secret(value) if secret else value
    settings = parse_settings(raw, stack)
    # The engine runs the program in the project directory.
    check_image_build(settings, Path.cwd())
    return settings


def check_image_build(settings: PlatformSettings, project_dir: Path) -> None:
    """What only the program can check before a build: sources on disk, a registry password.

    Not part of `parse_settings`: the rollout tool and the policy bridge read
    stack files on machines without the sources and without the secret.
    """
    images = settings.images
    if not images.build:
        return
    for service in settings.services:
        if settings.registry_password is None:
            raise SettingsError(
                f"stack {settings.stack!r}: service {service.key}: config "
                f"{PROJECT}:registryPassword is missing; images are pushed to "
                f"{images.registry_server} as {images.registry_username}, so it must be set "
                "with pulumi config set --secret registryPassword ..."
            )
        build = images.context_of(service.key)
        context = project_dir / build.context
        key = f"{PROJECT}:images.contexts.{service.key}"
        if not context.is_dir():
            raise SettingsError(
                f"stack {settings.stack!r}: service {service.key}: config {key}.context = "
                f"{show(build.context)} is not allowed; allowed: an existing folder "
                f"({context} does not exist)"
            )
        if not (context / build.dockerfile).is_file():
            raise SettingsError(
                f"stack {settings.stack!r}: service {service.key}: config {key}.dockerfile = "
                f"{show(build.dockerfile)} is not allowed; allowed: a file in the context "
                f"({context / build.dockerfile} does not exist)"
            )
