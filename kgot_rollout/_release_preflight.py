"""The pre-flight phase of a release, in order: the gates of ``_preflight`` on one stack.

Traffic config as the last update applied it; no shift in progress; the
version not already serving; Prometheus answering; the version's images pinned,
present and verified (and every other image the pods run verified); the pack's
config with those digests and the vulnerability reports; the preview with the
pack changing nothing but the standby's version. A refusal leaves the stack
config as the last update applied it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from components.settings import PlatformSettings
from kgot_rollout._engine import Engine
from kgot_rollout._exceptions import RefusedError
from kgot_rollout._preflight import (
    Plan,
    check_images,
    check_preview,
    plan,
    settings_with,
    sync_traffic_config,
    version_key,
)
from kgot_rollout._registry import ImageRegistry
from kgot_rollout._release_parts import ReleaseOptions, ReleaseParts
from kgot_rollout._release_record import ImageRecord, ReleaseRecord, side_file


@dataclass(frozen=True)
class Preflight:
    # The engine every later phase uses (with the pack config written here).
    engine: Engine
    plan: Plan
    unchanged: bool
    detail: str


def run_preflight(
    engine: Engine,
    record: ReleaseRecord,
    options: ReleaseOptions,
    parts: ReleaseParts,
    log_dir: Path,
    check_prometheus: Callable[[PlatformSettings], None],
) -> Preflight:
    synced = sync_traffic_config(engine)
    settings = settings_with(engine, {})
    record.environment = settings.environment
    record.versions_before = {"blue": settings.blue_version, "green": settings.green_version}
    decided = plan(settings, options.version, force=options.force)
    record.source, record.target = decided.source, decided.target
    if decided.unchanged:
        detail = (
            f"{synced}; {options.version} already serves on {decided.source}: nothing "
            "to release (--force deploys it again to the standby)"
        )
        return Preflight(engine, decided, True, detail)
    check_prometheus(settings)
    target_key = version_key(decided.target)
    wanted = {target_key: options.version} if options.version else {}
    after = settings_with(engine, wanted)
    record.images = _images(after, options.version, parts.registry)
    pack = options.policy_pack_config
    if pack is None:
        verified = [i.image for i in record.images if i.verified]
        digests = side_file(log_dir, record.id, "verified.txt") if verified else None
        if digests is not None:
            parts.registry.write_verified(digests, verified)
            record.files["verifiedDigests"] = str(digests)
        output = side_file(log_dir, record.id, "pack-config.json")
        pack = parts.write_pack_config(after, digests, options.trivy_reports, output)
        engine = parts.engine_for(pack)
    record.files["packConfig"] = str(pack)
    before = settings.traffic.version_of(decided.target)
    if wanted:
        engine.set_config(wanted)
    try:
        changes = check_preview(engine.preview(), decided, force=options.force)
    except BaseException:
        # Refused, failed or interrupted: the config says what is deployed.
        if wanted:
            engine.set_config({target_key: before})
        raise
    verified_count = sum(1 for i in record.images if i.verified)
    detail = (
        f"{synced}; {len(record.images)} images checked ({verified_count} verified); "
        f"preview changes: {changes}"
    )
    return Preflight(engine, decided, False, detail)


def _images(
    settings: PlatformSettings, version: str | None, registry: ImageRegistry
) -> list[ImageRecord]:
    if version is not None:
        return check_images(settings, version, registry)
    signing = settings.security.signing
    if not signing.trusts_someone:
        return []
    found = registry.verify(signing, settings.deployed_images)
    for item in found:
        if not item.verified:
            raise RefusedError(
                f"image {item.image} has no verified signature: {item.reason}; nothing was changed"
            )
    return [ImageRecord(image=i.image, verified=True, reason=i.reason) for i in found]
