"""Pre-flight gates of a release: checked before anything changes.

Each gate raises RefusedError naming the input and what is allowed; the
stack config is left as its last update applied it. What
``.github/scripts/prepare-release.sh`` did (the traffic config of the last
update, a shift in progress, a version already serving) is here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pulumi.automation.events import OpType

from components.settings import PlatformSettings, SettingsError, parse_settings
from kgot_rollout._engine import Engine, PreviewReport, ResourceStep, describe_steps
from kgot_rollout._exceptions import RefusedError
from kgot_rollout._pack_config import bridge_pack_config
from kgot_rollout._registry import ImageRegistry
from kgot_rollout._release_record import ImageRecord
from kgot_rollout._types import Colour

# The keys a shift or a release writes; the last update's values are the truth.
TRAFFIC_KEYS = ("activeColor", "standbyWeight", "blueVersion", "greenVersion")
# What a version change of the standby may touch besides its Deployments: the
# post-deploy check of that colour (staging and production) and the stack's outputs.
_CHECK_TYPE = "command:local:Command"
_STACK_TYPE = "pulumi:pulumi:Stack"


def version_key(colour: Colour) -> str:
    return f"{colour}Version"


def sync_traffic_config(engine: Engine) -> str:
    """Put the traffic config (colours, weight, versions) back to what the stack's last
    update applied, a targeted rollback included; a stack with no update keeps its
    committed config. Returns what it did, for the log.

    Why: a shift writes these keys into this checkout's copy of the stack file
    only; a fresh checkout (CI) would otherwise flip traffic back to the
    committed values. A failure to read the history is an EngineError (exit 1):
    never guess.
    """
    last = engine.last_update()
    if last is None:
        return "no update yet: traffic config as committed"
    applied = {key: str(last.config[key]) for key in TRAFFIC_KEYS if key in last.config}
    applied.setdefault("standbyWeight", "0")
    current = engine.get_config()
    changed = {k: v for k, v in applied.items() if str(current.get(k, "")) != v}
    if changed:
        engine.set_config(changed)
    shown = ", ".join(f"{k}={applied[k]}" for k in TRAFFIC_KEYS if k in applied)
    return f"traffic config of update {last.version} ({last.result}): {shown}"


def settings_with(engine: Engine, values: Mapping[str, str]) -> PlatformSettings:
    """The stack's settings as they would be with ``values`` written (nothing is written)."""
    try:
        return parse_settings({**engine.get_config(), **values}, engine.stack)
    except SettingsError as exc:
        raise RefusedError(str(exc)) from exc


@dataclass(frozen=True)
class Plan:
    """What a release will do, decided before anything changes."""

    source: Colour
    target: Colour
    # None: no new version, the platform's own changes only.
    version: str | None
    # The version already serves on the active colour (and --force was not given).
    unchanged: bool = False


def plan(settings: PlatformSettings, version: str | None, *, force: bool) -> Plan:
    traffic = settings.traffic
    source, target = traffic.active_color, traffic.standby_color
    if traffic.standby_weight > 0 and not force:
        raise RefusedError(
            f"a shift is in progress on stack {settings.stack} ({target} has "
            f"{traffic.standby_weight}%); allowed: finish it first with `kgot-rollout promote` "
            "or `kgot-rollout rollback` (--force releases anyway)"
        )
    if version is not None and traffic.version_of(source) == version and not force:
        return Plan(source, target, version, unchanged=True)
    return Plan(source, target, version)


def check_images(
    settings: PlatformSettings, version: str, registry: ImageRegistry
) -> list[ImageRecord]:
    """Every service's image of ``version`` pinned by digest and in its registry, and
    every image the stack's pods would run verified against its signing trust."""
    records: list[ImageRecord] = []
    for service in settings.services:
        digest = service.digests.get(version)
        image = service.image_ref(version)
        if digest is None:
            raise RefusedError(
                f"--version {version}: services.{service.key}.digests has no digest for "
                f"{version} in stack {settings.stack}, so {image} is not pinned; allowed: a "
                "version whose image digest is in the stack file (sha256:<64 hex>)"
            )
        missing = registry.missing(image)
        if missing is not None:
            raise RefusedError(
                f"--version {version}: image {image} of service {service.key}: {missing}; "
                "allowed: a version pushed for every service; nothing was changed"
            )
        records.append(ImageRecord(image=image, service=service.key, digest=digest))
    signing = settings.security.signing
    if not signing.trusts_someone:
        # Only where nothing requires signatures (the settings refuse the rest).
        for record in records:
            record.reason = "not verified: the stack trusts no signer (security.signing)"
        return records
    by_image = {r.image: r for r in records}
    for found in registry.verify(signing, settings.deployed_images):
        record = by_image.get(found.image) or ImageRecord(image=found.image)
        record.verified, record.reason = found.verified, found.reason
        if found.image not in by_image:
            records.append(record)
        if not found.verified:
            raise RefusedError(
                f"image {found.image} has no verified signature: {found.reason}; allowed: "
                "images signed by the key or identity of security.signing; nothing was changed"
            )
    return records


def write_pack_config(
    settings: PlatformSettings,
    project_dir: Path,
    output: Path,
    *,
    verified_digests: Path | None,
    trivy_reports: Sequence[Path],
) -> Path:
    """The pack's config from the stack file (the policy-config bridge), with the
    digests that verified and the vulnerability reports: every preview and
    update of the release gets it."""
    extra: list[str] = []
    if verified_digests is not None:
        extra += ["--verified-digests", str(verified_digests.resolve())]
    for report in trivy_reports:
        if not report.exists():
            raise RefusedError(
                f"--trivy-report {report}: no such file or folder; allowed: a Trivy JSON "
                "report (trivy image --format json) or a folder of them"
            )
        extra += ["--trivy-report", str(report.resolve())]
    return bridge_pack_config(settings.stack, project_dir, output, extra=extra)


def unexpected_changes(report: PreviewReport, target: Colour) -> list[ResourceStep]:
    """Planned changes other than the standby's Deployments (its version and replicas)
    and its post-deploy checks."""
    unexpected: list[ResourceStep] = []
    for step in report.changes:
        if step.type == _STACK_TYPE:
            continue
        name = step.name
        standby = name.endswith(f"-{target}")
        if step.op is OpType.UPDATE and step.type.endswith(":Deployment") and standby:
            continue
        if step.type == _CHECK_TYPE and standby:
            continue
        unexpected.append(step)
    if not report.steps:
        for op, count in report.change_summary.items():
            if op not in (OpType.SAME, OpType.READ, OpType.REFRESH) and count:
                unexpected.append(ResourceStep(f"<{count} resources>", "?", op or OpType.REPLACE))
    return unexpected


def check_preview(report: PreviewReport, plan: Plan, *, force: bool) -> str:
    """RefusedError when the preview changes more than the standby colour's version."""
    changes = describe_steps(report.changes) or "none"
    if force or plan.version is None:
        return changes
    unexpected = unexpected_changes(report, plan.target)
    if unexpected:
        raise RefusedError(
            f"the preview of {plan.version} on {plan.target} would change more than the "
            f"standby's version and replicas: {describe_steps(unexpected)}; nothing was "
            "changed. Allowed: a release that changes only the standby colour (deploy other "
            "changes with `pulumi up` first, or --force)"
        )
    return changes
