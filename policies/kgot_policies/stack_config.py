"""Turn a stack's `security` settings into the pack's policy config.

    python -m kgot_policies.stack_config production \
        --trivy-report build/trivy --verified-digests build/verified.txt > pack-config.json
    pulumi preview --stack production --policy-pack policies \
        --policy-pack-config pack-config.json

The stack file is read by the program's own models (components.settings,
installed in the project's venv with the program), so the bridge refuses
exactly the config the program refuses, in the same words, and never shows a
secret. It runs in the project's venv, not in the pack's: the pack itself
never imports this module. Report and digests paths are written absolute
(against the folder the bridge runs in), as the pack runs in `policies/`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.settings import (
    PlatformSettings,
    SecurityThresholds,
    SettingsError,
    parse_settings,
    read_stack_file,
)
from components.traefik_ports import role_name


def pack_config(
    environment: str,
    security: SecurityThresholds,
    trivy_reports: Sequence[str] = (),
    verified_digests_file: str | None = None,
    require_signed_images: bool = False,
    reviewed_roles: Sequence[str] = (),
) -> dict[str, Any]:
    """The --policy-pack-config document for one stack."""
    images: dict[str, Any] = {"environment": environment}
    if require_signed_images:
        images["requireSignedImages"] = True
    if verified_digests_file:
        images["verifiedDigestsFile"] = verified_digests_file
    per_policy: dict[str, Any] = {
        "image-tag-digest-signature": dict(images),
        "traffic-shift-safety": dict(images),
        "workload-replicas-production": {"environment": environment},
        "workload-disruption-budget": {"environment": environment},
        # Egress isolation is required in staging and production.
        "network-policy-coverage": {"environment": environment},
        "rbac-workload-sensitive-grants": {"allowedRoles": list(reviewed_roles)},
        "vulnerability-thresholds": {
            "enabled": bool(trivy_reports),
            "reportPaths": list(trivy_reports),
            "severityThreshold": security.severity_threshold,
            "maxCritical": security.max_critical,
            "maxHigh": security.max_high,
        },
    }
    per_policy["compliance-score"] = {
        "frameworks": list(security.frameworks),
        "minimumScore": security.minimum_score,
        # The score re-runs the other policies; they must see the same config.
        "policyConfig": {k: dict(v) for k, v in per_policy.items()},
    }
    return per_policy


def reviewed_roles(settings: PlatformSettings) -> list[str]:
    """Roles the stack's own components need that the pack reviews by name.

    The gateway Traefik (gateway.deploy) lists and watches the platform
    namespace's Secrets: its providers read the TLS certificates of the
    Gateway's listeners and of the Ingresses through informers, as every
    TLS-terminating controller does.
    """
    return (
        [f"{settings.namespace}/{role_name(settings.namespace)}"] if settings.gateway.deploy else []
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kgot_policies.stack_config", description=__doc__.splitlines()[0]
    )
    parser.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--project-dir", default=".", help="where Pulumi.<stack>.yaml lives")
    parser.add_argument(
        "--trivy-report",
        action="append",
        default=[],
        type=_absolute,
        help="Trivy JSON report (file or directory; relative to the current folder); "
        "enables the vulnerability gate",
    )
    parser.add_argument(
        "--verified-digests",
        type=_absolute,
        help="file of digests with verified signatures (relative to the current folder)",
    )
    parser.add_argument(
        "--require-signed-images",
        action="store_true",
        help="refuse digests missing from --verified-digests (as the stack's "
        "security.signing.required does, and staging and production always)",
    )
    parser.add_argument("-o", "--output", help="write here instead of stdout")
    options = parser.parse_args(argv)

    project = Path(options.project_dir)
    if not project.is_dir():
        return _refuse(f"--project-dir {project}: not a folder; allowed: the project's folder")
    path = project / f"Pulumi.{options.stack}.yaml"
    try:
        raw = read_stack_file(path)
    except SettingsError as error:
        return _refuse(str(error))  # names the file
    try:
        settings = parse_settings(raw, options.stack)
    except SettingsError as error:
        return _refuse(f"{path}: {error}")
    document = pack_config(
        settings.environment,
        settings.security,
        options.trivy_report,
        options.verified_digests,
        options.require_signed_images or settings.require_signed_images,
        reviewed_roles(settings),
    )
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if not options.output:
        sys.stdout.write(text)
        return 0
    try:
        Path(options.output).write_text(text, encoding="utf-8")
    except OSError as error:
        return _refuse(
            f"-o {options.output}: cannot write it ({error.strerror or error}); "
            "allowed: a file path in an existing, writable folder"
        )
    return 0


def _absolute(text: str) -> str:
    """A path given on the command line, made absolute against the caller's folder.

    The pack runs in its own folder (`policies/`), so it refuses relative paths:
    `--trivy-report build/trivy/` means the folder where the command was typed.
    """
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is empty; allowed: a file or folder path")
    return str(Path(text).absolute())


def _refuse(message: str) -> int:
    print(f"stack_config: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
