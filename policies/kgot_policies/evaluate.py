"""Run the pack's policies outside the engine: tests, the benchmark, the compliance score.

Mirrors what the engine does (per-policy config, enforcement levels, resource
policies on every resource, stack policies once) with a collecting reporter.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

PackConfig = Mapping[str, Any]


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: str
    severity: str | None
    message: str
    urn: str | None


def resource(
    type_token: str,
    props: Mapping[str, Any],
    name: str = "",
    urn: str | None = None,
    provider_namespace: str | None = None,
) -> PolicyResource:
    """A stack resource as the engine hands it to stack policies."""
    name = name or str(props.get("metadata", {}).get("name", "resource"))
    provider = None
    if provider_namespace is not None:
        provider = PolicyProviderResource(
            "pulumi:providers:kubernetes", {"namespace": provider_namespace}, "urn:provider", "k8s"
        )
    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)
    urn = urn or f"urn:pulumi:test::kgot-platform::{type_token}::{name}"
    return PolicyResource(type_token, props, urn, name, opts, provider, None, [], {})


def policy_settings(
    pack_config: PackConfig, policy: Policy
) -> tuple[EnforcementLevel, dict[str, Any]]:
    """A policy's enforcement level and config from a --policy-pack-config document."""
    level = policy.enforcement_level or EnforcementLevel.ADVISORY
    overall = pack_config.get("all")
    if isinstance(overall, str):
        level = EnforcementLevel(overall)
    entry = pack_config.get(policy.name)
    if isinstance(entry, str):
        return EnforcementLevel(entry), {}
    settings = dict(entry or {})
    if "enforcementLevel" in settings:
        level = EnforcementLevel(settings.pop("enforcementLevel"))
    return level, settings


class _Collector:
    """The report_violation callback for one policy, filling a shared list."""

    def __init__(self, policy: Policy, level: EnforcementLevel, into: list[Violation]) -> None:
        # The engine downgrades remediate to mandatory for what remediation did not fix.
        shown = EnforcementLevel.MANDATORY if level == EnforcementLevel.REMEDIATE else level
        self.policy, self.level, self.into = policy.name, shown.value, into
        self.severity = policy.severity.value if policy.severity else None
        self.urn: str | None = None

    def __call__(self, message: str, urn: str | None = None) -> None:
        # Resource policies report against the resource in hand, as in the engine.
        self.into.append(
            Violation(self.policy, self.level, self.severity, message, self.urn or urn)
        )


def run(
    policies: Iterable[Policy],
    resources: Sequence[PolicyResource],
    pack_config: PackConfig | None = None,
) -> list[Violation]:
    """Every violation the policies report on these resources."""
    pack_config = pack_config or {}
    found: list[Violation] = []
    for policy in policies:
        level, settings = policy_settings(pack_config, policy)
        if level == EnforcementLevel.DISABLED:
            continue
        report = _Collector(policy, level, found)
        if isinstance(policy, ResourceValidationPolicy):
            for r in resources:
                args = ResourceValidationArgs(
                    r.resource_type, r.props, r.urn, r.name, r.opts, r.provider, settings
                )
                report.urn = r.urn
                _quietly(policy.validate, args, report)
        elif isinstance(policy, StackValidationPolicy):
            stack_args = StackValidationArgs(list(resources), settings)
            _quietly(policy.validate, stack_args, report)
    return found


def _quietly(validate: Callable[..., object], *args: Any) -> None:
    # The engine turns these into an advisory "can't run during preview".
    with contextlib.suppress(UnknownValueError):
        validate(*args)


def load_pack_config(path: str | Path) -> dict[str, Any]:
    loaded = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise ValueError(f"policy pack config {path} is not a JSON object")
    return loaded
