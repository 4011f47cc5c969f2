"""The rollout tool's view of stack config: traffic state, versions and triggers.

``components.settings.parse_settings`` is the only reader of stack config; this
module narrows its result to the few frozen values a rollout needs and turns
``SettingsError`` into a refusal (nothing changed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from components.settings import Comparison, PlatformSettings, SettingsError, parse_settings
from kgot_rollout._exceptions import RefusedError
from kgot_rollout._types import Colour, TrafficState, parse_colour


@dataclass(frozen=True)
class ThresholdTrigger:
    threshold: float
    window_seconds: float


@dataclass(frozen=True)
class CustomTrigger:
    name: str
    query: str
    threshold: float
    comparison: Comparison
    window_seconds: float


@dataclass(frozen=True)
class RollbackSettings:
    """The ``rollback`` object; defaults are the original pipeline's."""

    error_rate: ThresholdTrigger = ThresholdTrigger(0.05, 120.0)
    latency_ratio: ThresholdTrigger = ThresholdTrigger(2.0, 180.0)
    cpu: ThresholdTrigger = ThresholdTrigger(0.85, 300.0)
    # Not in stack config: the health trigger's window is the tool's (--health-window).
    health_window_seconds: float = 30.0
    monitoring_window_seconds: float = 300.0
    on_missing_data: Literal["hold", "rollback"] = "hold"
    on_breach: Literal["rollback", "freeze"] = "rollback"
    custom: tuple[CustomTrigger, ...] = ()


@dataclass(frozen=True)
class NotificationSettings:
    """Secret endpoints; never logged or printed."""

    slack_webhook_url: str | None = field(default=None, repr=False)
    pagerduty_routing_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RolloutSettings:
    stack: str
    environment: str
    namespace: str
    traffic: TrafficState
    versions: Mapping[Colour, str]
    standby_replicas: int | None
    # gateway | ingress | selector (selector cannot split traffic).
    routing: str
    services: tuple[str, ...]
    # CPU limit of each service (service key -> cores), for the CPU trigger.
    cpu_limits: Mapping[str, float]
    rollback: RollbackSettings
    notifications: NotificationSettings


def from_platform(platform: PlatformSettings, *, health_window: float = 30.0) -> RolloutSettings:
    traffic = platform.traffic
    rb = platform.rollback
    alerting = platform.alerting
    return RolloutSettings(
        stack=platform.stack,
        environment=platform.environment,
        namespace=platform.namespace,
        traffic=TrafficState(active=traffic.active_color, standby_weight=traffic.standby_weight),
        versions={"blue": traffic.blue_version, "green": traffic.green_version},
        standby_replicas=traffic.standby_replicas,
        routing=traffic.routing,
        services=tuple(s.key for s in platform.services),
        cpu_limits={s.key: s.resources.limits.millicores / 1000 for s in platform.services},
        rollback=RollbackSettings(
            error_rate=ThresholdTrigger(rb.error_rate.threshold, rb.error_rate.window_seconds),
            latency_ratio=ThresholdTrigger(rb.latency.ratio, rb.latency.window_seconds),
            cpu=ThresholdTrigger(rb.cpu.threshold, rb.cpu.window_seconds),
            health_window_seconds=health_window,
            monitoring_window_seconds=rb.monitoring_window_seconds,
            on_missing_data=rb.on_missing_data,
            on_breach=rb.on_breach,
            custom=tuple(
                CustomTrigger(c.name, c.query, c.threshold, c.comparison, c.window_seconds)
                for c in rb.custom_triggers
            ),
        ),
        notifications=NotificationSettings(
            slack_webhook_url=alerting.slack_webhook_url.value
            if alerting.slack_webhook_url
            else None,
            pagerduty_routing_key=alerting.pagerduty_integration_key.value
            if alerting.pagerduty_integration_key
            else None,
        ),
    )


def load_settings(
    raw: Mapping[str, object], stack: str, *, health_window: float = 30.0
) -> RolloutSettings:
    """Raw un-namespaced stack config -> the rollout's settings, or RefusedError."""
    try:
        platform = parse_settings(raw, stack)
    except SettingsError as exc:
        raise RefusedError(str(exc)) from exc
    return from_platform(platform, health_window=health_window)


def parse_traffic(raw: Mapping[str, object]) -> TrafficState:
    """Only the traffic keys (of an applied update's config, which may be older)."""
    try:
        active = parse_colour(str(raw.get("activeColor")), what="activeColor")
        weight = int(str(raw.get("standbyWeight", 0)))
    except ValueError as exc:
        raise RefusedError(f"traffic config {dict(raw)!r}: {exc}") from exc
    if not 0 <= weight <= 100:
        raise RefusedError(f"standbyWeight {weight} is outside 0-100")
    return TrafficState(active=active, standby_weight=weight)
