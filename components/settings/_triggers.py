"""`rollback` (the rollout tool's triggers) and `security` (the policy pack's thresholds
and the image signatures the stack trusts).

Every key has the default the README documents, so `rollback: {onBreach:
freeze}` or `errorRate: {threshold: 0.02}` keep the rest as documented.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from components.settings._dataplane import SOURCE_DESCRIPTION, DataPlaneChecks, TriggerSource
from components.settings._errors import config_error
from components.settings._types import (
    FRAMEWORKS,
    Allowed,
    Comparison,
    ConfigModel,
    Framework,
    NonEmpty,
    Number,
    Severity,
    TriggerName,
)

# A trigger breaches when its condition holds for the whole window (an alert's
# `for:`); the Prometheus recording rules use the same windows.
Window = Annotated[
    int, Field(ge=10, le=86_400, description="breached when the condition holds this long")
]
Share = Annotated[Number, Field(gt=0.0, le=1.0)]


class ErrorRateTrigger(ConfigModel):
    threshold: Share = Field(default=0.05, description="5xx share of requests")
    window_seconds: Window = 120
    source: TriggerSource = Field(default="application", description=SOURCE_DESCRIPTION)


class LatencyTrigger(ConfigModel):
    ratio: Annotated[Number, Field(gt=1.0, le=100.0)] = Field(
        default=2.0, description="p95 of the colour under test / p95 of the active colour"
    )
    window_seconds: Window = 180
    source: TriggerSource = Field(
        default="application",
        description="as errorRate.source; the gateway's p95 is compared with the gateway's "
        "p95 of the active colour",
    )


class CpuTrigger(ConfigModel):
    threshold: Share = Field(default=0.85, description="CPU used / the service's CPU limit")
    window_seconds: Window = 300


class CustomTrigger(ConfigModel):
    name: TriggerName = Field(description="the trigger's name in logs, metrics and --skip-trigger")
    query: Annotated[NonEmpty, Field(description="PromQL, evaluated by the rollout tool")]
    threshold: Number = Field(description="compared with the query's value")
    comparison: Comparison = Field(description="breach when `<query> <comparison> <threshold>`")
    window_seconds: Window


class RollbackTriggers(ConfigModel):
    """When the rollout tool rolls back (or freezes) a shift."""

    error_rate: ErrorRateTrigger = Field(default_factory=ErrorRateTrigger)
    latency: LatencyTrigger = Field(default_factory=LatencyTrigger)
    cpu: CpuTrigger = Field(default_factory=CpuTrigger)
    monitoring_window_seconds: Annotated[int, Field(ge=30, le=86_400)] = Field(
        default=300, description="how long `kgot-rollout watch` watches"
    )
    on_missing_data: Literal["hold", "rollback"] = Field(
        default="hold",
        description="what follows a gate inconclusive past missingDataTimeoutSeconds or in "
        "error past metricsErrorTimeoutSeconds",
    )
    # Stack-wide, so CI and a person at a terminal hold a stack alike;
    # --missing-data-timeout and --metrics-error-timeout override them for one run.
    missing_data_timeout_seconds: Annotated[int, Field(ge=1, le=86_400)] = Field(
        default=120,
        description="how long the gate may stay inconclusive (a trigger without data) "
        "before onMissingData applies; --missing-data-timeout overrides",
    )
    metrics_error_timeout_seconds: Annotated[int, Field(ge=1, le=86_400)] = Field(
        default=60,
        description="how long Prometheus may stay unreachable or answer errors during a hold "
        "before onMissingData applies; --metrics-error-timeout overrides",
    )
    data_plane: DataPlaneChecks = Field(
        default_factory=DataPlaneChecks,
        description="checks that the gateway serves each step (route accepted, split served)",
    )
    on_breach: Literal["rollback", "freeze"] = Field(
        default="rollback", description="freeze: stop shifting and alert, never roll back"
    )
    custom_triggers: Annotated[
        tuple[CustomTrigger, ...],
        Allowed("a list of triggers {name, query, threshold, comparison, windowSeconds}"),
    ] = Field(
        default=(), description="`$colour`, `$namespace`, `$services`, `$rate` are substituted"
    )

    @model_validator(mode="after")
    def _unique_names(self) -> RollbackTriggers:
        seen: set[str] = set()
        for index, trigger in enumerate(self.custom_triggers):
            if trigger.name in seen:
                raise config_error(
                    ("customTriggers", index, "name"),
                    trigger.name,
                    "a name no other custom trigger uses",
                )
            seen.add(trigger.name)
        return self


# The key pair toolchain/images.sh generates on first use ($KGOT_CACHE/cosign/)
# and signs the local images with: a machine's own key, for the local registry.
LOCAL_SIGNING_KEY = "local"
_PEM = "-----BEGIN PUBLIC KEY-----"


class KeylessIdentity(ConfigModel):
    """Who must have signed, for images signed keyless (Fulcio certificate, Rekor entry)."""

    identity_regexp: NonEmpty = Field(
        description="regexp the certificate's identity must match (the signing workflow's URL)"
    )
    oidc_issuer: NonEmpty = Field(
        description="OIDC issuer of that identity, e.g. https://token.actions.githubusercontent.com"
    )


class SigningSettings(ConfigModel):
    """Which signatures `make verify-images` accepts; the pack admits only what it verified."""

    required: bool | None = Field(
        default=None,
        description="refuse images without a verified signature; unset means: "
        "in staging and production (they cannot turn it off)",
    )
    public_key: NonEmpty | None = Field(
        default=None,
        description=f"cosign public key: `{LOCAL_SIGNING_KEY}` (the key pair "
        "toolchain/images.sh generates into $KGOT_CACHE/cosign), a PEM, or a file path "
        "relative to the project",
    )
    keyless: KeylessIdentity | None = Field(
        default=None, description="instead of publicKey: the identity of a keyless signer"
    )

    @model_validator(mode="after")
    def _one_trust_root(self) -> SigningSettings:
        if self.public_key is not None and self.keyless is not None:
            raise config_error(
                ("keyless",), self.keyless.identity_regexp, "publicKey or keyless, not both"
            )
        key = self.public_key
        if key is not None and key.startswith("-----") and not key.startswith(_PEM):
            allowed = f"a PEM starting {_PEM}, `{LOCAL_SIGNING_KEY}` or a file path"
            raise config_error(("publicKey",), key.splitlines()[0], allowed)
        return self

    @property
    def trusts_someone(self) -> bool:
        return self.public_key is not None or self.keyless is not None


class SecurityThresholds(ConfigModel):
    """Thresholds of the policy pack (through the policy-config bridge)."""

    severity_threshold: Severity = Field(
        default="MEDIUM", description="lowest severity the vulnerability gate counts"
    )
    max_critical: Annotated[int, Field(ge=0)] = Field(
        default=0, description="critical vulnerabilities the gate lets through"
    )
    max_high: Annotated[int, Field(ge=0)] = Field(
        default=5, description="high vulnerabilities the gate lets through"
    )
    frameworks: tuple[Framework, ...] = Field(
        default=FRAMEWORKS, min_length=1, description="frameworks the compliance score covers"
    )
    minimum_score: Annotated[Number, Field(ge=0.0, le=1.0)] = Field(
        default=0.8, description="share of each framework's controls with no violation"
    )
    signing: SigningSettings = Field(
        default_factory=SigningSettings,
        description="image signatures the stack trusts (make verify-images)",
    )

    @field_validator("frameworks")
    @classmethod
    def _once_each(cls, frameworks: tuple[Framework, ...]) -> tuple[Framework, ...]:
        for index, framework in enumerate(frameworks):
            if framework in frameworks[:index]:
                raise config_error((index,), framework, "each framework once")
        return frameworks
