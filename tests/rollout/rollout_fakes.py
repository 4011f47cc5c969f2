"""Fakes for the rollout tool's engine, metrics and clock (no Pulumi, no Prometheus)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from kgot_contract import COLOR_LABEL
from pulumi.automation.events import OpType

from components.settings import Secret, parse_settings
from kgot_rollout._cluster import DeploymentStatus, RoutingObject
from kgot_rollout._engine import AppliedUpdate, PreviewReport, ResourceStep
from kgot_rollout._exceptions import StackLockedError
from kgot_rollout._queries import QuerySet
from tests.committed_stacks import stack_config

SERVICES = ("controller", "graph-store")

# Queries a fake metrics source can recognise: trigger name and colour.
FAKE_QUERIES = QuerySet(
    error_rate='error_rate{color="$colour"}',
    latency_p95='latency{color="$colour"}',
    cpu='cpu{color="$colour"}',
    health='health{color="$colour"}',
    rate_window="5s",
)


def dev_config(**overrides: object) -> dict[str, object]:
    """The committed dev stack's config (as the Automation API gives it), with overrides."""
    raw = stack_config("dev")
    raw["rollback"] = {
        "errorRate": {"threshold": 0.05, "windowSeconds": 20},
        "latency": {"ratio": 2.0, "windowSeconds": 20},
        "cpu": {"threshold": 0.85, "windowSeconds": 30},
        "monitoringWindowSeconds": 60,
        "onMissingData": "hold",
        "onBreach": "rollback",
        "customTriggers": [],
    }
    raw.update(overrides)
    return raw


def _as_text(value: object) -> str:
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


@dataclass
class FakeEngine:
    """An in-memory stack: config, the last applied config, and recorded calls."""

    config: dict[str, str]
    stack: str = "dev"
    calls: list[tuple[str, object]] = field(default_factory=list)
    extra_changes: list[ResourceStep] = field(default_factory=list)
    locked: bool = False
    # This many `up` calls fail on the stack lock (another update finishing).
    locked_ups: int = 0
    fail_up: bool = False
    on_up: Callable[[Mapping[str, str]], None] | None = None
    applied: dict[str, str] = field(default_factory=dict)
    # Values set with --secret: the Automation API marks them, so they arrive as Secret.
    secure: dict[str, Secret] = field(default_factory=dict)
    # Live Deployments by name that differ from "Available at full size" (None: absent).
    live: dict[str, DeploymentStatus | None] = field(default_factory=dict)
    # Routing as the API server has it, by `<kind>/<name>` (an `up` or apply_routing sets it).
    routing: dict[str, dict[str, object]] = field(default_factory=dict)
    fail_apply: bool = False
    # The last update as history has it: its result and the resources it failed on
    # (a release whose image is not in the registry fails on its Deployments).
    last_result: str = "succeeded"
    failed_resources: tuple[str, ...] = ()

    @classmethod
    def for_config(cls, raw: Mapping[str, object], **kwargs: object) -> FakeEngine:
        config = {k: _as_text(v) for k, v in raw.items()}
        engine = cls(config=config, **kwargs)  # type: ignore[arg-type]
        engine.applied = dict(config)
        engine.routing = {_name(o.manifest): dict(o.manifest) for o in engine.state_routing()}
        return engine

    def get_config(self) -> dict[str, object]:
        return {**self.config, **self.secure}

    def set_config(self, values: Mapping[str, str]) -> None:
        self.calls.append(("set_config", dict(values)))
        self.config.update(values)

    def urn(self, kind: str, name: str) -> str:
        return f"urn:pulumi:{self.stack}::kgot-platform::{kind}::{name}"

    def preview(self) -> PreviewReport:
        self.calls.append(("preview", None))
        if self.locked:
            raise StackLockedError(f"stack {self.stack}: another update holds the stack lock")
        steps: list[ResourceStep] = []
        for svc in SERVICES:
            flip = self.config["activeColor"] != self.applied.get("activeColor")
            weight = self.config["standbyWeight"] != self.applied.get("standbyWeight")
            steps.append(
                ResourceStep(
                    self.urn("kubernetes:core/v1:Service", svc),
                    "kubernetes:core/v1:Service",
                    OpType.UPDATE if flip else OpType.SAME,
                    ("spec.selector",) if flip else (),
                )
            )
            route = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
            steps.append(
                ResourceStep(
                    self.urn(route, svc),
                    route,
                    OpType.UPDATE if flip or weight else OpType.SAME,
                    ("spec.rules",) if flip or weight else (),
                )
            )
        steps.extend(self.extra_changes)
        counts: dict[OpType | None, int] = {}
        for step in steps:
            counts[step.op] = counts.get(step.op, 0) + 1
        return PreviewReport(change_summary=counts, steps=tuple(steps))

    def up(
        self, *, message: str, target: Sequence[str] | None = None, in_place: bool = False
    ) -> None:
        self.calls.append(
            ("up", {"message": message, "target": list(target or []), "in_place": in_place})
        )
        if self.locked_ups > 0:
            self.locked_ups -= 1
            raise StackLockedError(f"stack {self.stack}: another update holds the stack lock")
        if self.locked:
            raise StackLockedError(f"stack {self.stack}: another update holds the stack lock")
        if self.fail_up:
            from kgot_rollout._exceptions import EngineError

            raise EngineError("update failed: provider error")
        self.applied = dict(self.config)
        self.routing = {_name(o.manifest): dict(o.manifest) for o in self.state_routing()}
        if self.on_up is not None:
            self.on_up(self.applied)

    def routing_urns(self) -> list[str]:
        route = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
        return [self.urn("kubernetes:core/v1:Service", s) for s in SERVICES] + [
            self.urn(route, s) for s in SERVICES
        ]

    def deployment_urns(self, colour: str) -> list[str]:
        kind = "kubernetes:apps/v1:Deployment"
        return [self.urn(kind, f"{s}-{colour}") for s in SERVICES]

    def deployments(self, namespace: str, colour: str) -> dict[str, DeploymentStatus]:
        self.calls.append(("deployments", colour))
        # The Deployments the last update made (the config may have changed since).
        settings = parse_settings(self.applied, self.stack)
        found: dict[str, DeploymentStatus] = {}
        for service in settings.services:
            name = f"{service.name}-{colour}"
            full = available(name, service.replicas)
            status = self.live.get(name, full)
            if status is not None:
                found[name] = status
        return found

    def routing_objects(self) -> list[RoutingObject]:
        self.calls.append(("routing_objects", None))
        return self.state_routing()

    def state_routing(self) -> list[RoutingObject]:
        """The routing the last update applied: two Services and an HTTPRoute a service."""
        active, weight = self.applied["activeColor"], int(self.applied["standbyWeight"])
        standby = "green" if active == "blue" else "blue"
        objects: list[RoutingObject] = []
        for svc in SERVICES:
            labels = {"app.kubernetes.io/name": svc}
            for name, colour in ((svc, active), (f"{svc}-preview", standby)):
                service = {
                    "kind": "Service",
                    "metadata": {"name": name, "labels": labels},
                    "spec": {"selector": {**labels, COLOR_LABEL: colour}},
                }
                urn = self.urn("kubernetes:core/v1:Service", name)
                objects.append(RoutingObject(urn, f"pulumi-kubernetes-{name}", service))
            refs = [
                {"name": svc, "weight": 100 - weight},
                {"name": f"{svc}-preview", "weight": weight},
            ]
            route = {
                "kind": "HTTPRoute",
                "metadata": {"name": svc, "labels": labels},
                "spec": {"rules": [{"backendRefs": refs}]},
            }
            urn = self.urn("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", svc)
            objects.append(RoutingObject(urn, f"pulumi-kubernetes-route-{svc}", route))
        return objects

    def apply_routing(self, objects: Sequence[RoutingObject]) -> None:
        self.calls.append(("apply_routing", [_name(o.manifest) for o in objects]))
        if self.fail_apply:
            from kgot_rollout._exceptions import RolloutError

            raise RolloutError("could not apply Service/controller: kubectl exited 1: refused")
        for obj in objects:
            self.routing[_name(obj.manifest)] = dict(obj.manifest)

    def selector_colour(self, name: str) -> object:
        """The colour Service ``name`` selects in the API server."""
        spec = self.routing[f"Service/{name}"]["spec"]
        assert isinstance(spec, dict)
        return spec["selector"][COLOR_LABEL]

    def last_update(self) -> AppliedUpdate | None:
        return AppliedUpdate(
            result=self.last_result,
            config=dict(self.applied),
            version=1,
            failed=self.failed_resources,
        )

    def lock_holder(self) -> str | None:
        return "pid 4242 of ci on runner-1 since 2026-01-01T00:00:00Z" if self.locked else None

    # -- helpers for assertions ----------------------------------------------------
    def ups(self) -> list[dict[str, object]]:
        return [c[1] for c in self.calls if c[0] == "up"]  # type: ignore[misc]

    @property
    def traffic(self) -> tuple[str, int]:
        return self.config["activeColor"], int(self.config["standbyWeight"])

    @property
    def applied_traffic(self) -> tuple[str, int]:
        return self.applied["activeColor"], int(self.applied["standbyWeight"])


def _name(manifest: Mapping[str, object]) -> str:
    """``<kind>/<name>``: a service's HTTPRoute and Service share its name."""
    metadata = manifest["metadata"]
    assert isinstance(metadata, dict)
    return f"{manifest['kind']}/{metadata['name']}"


def available(name: str, replicas: int) -> DeploymentStatus:
    """A Deployment whose rollout is complete at ``replicas``."""
    return DeploymentStatus(
        name=name,
        replicas=replicas,
        available=replicas,
        updated=replicas,
        observed=True,
        available_condition=True,
    )


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start
        self.on_sleep: Callable[[float], None] | None = None

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        if self.on_sleep is not None:
            self.on_sleep(self.t)


_QUERY = re.compile(r'^(\w+)\{color="(\w+)"\}$')
Curve = Callable[[float], float | None]


@dataclass
class RecordedMetrics:
    """Series per (trigger, colour) as functions of time; ``None`` is a gap."""

    curves: dict[tuple[str, str], Curve] = field(default_factory=dict)
    # Unreachable from the start (the online check fails too), or only for queries.
    down: bool = False
    queries_fail: bool = False
    queries: list[str] = field(default_factory=list)

    def check_online(self) -> None:
        if self.down:
            from kgot_rollout._exceptions import MetricsUnavailableError

            raise MetricsUnavailableError("Prometheus at http://fake unreachable: refused")

    def set(self, name: str, colour: str, curve: Curve) -> None:
        self.curves[(name, colour)] = curve

    def _curve(self, query: str) -> Curve | None:
        self.queries.append(query)
        if self.down or self.queries_fail:
            from kgot_rollout._exceptions import MetricsUnavailableError

            raise MetricsUnavailableError("Prometheus at http://fake unreachable: refused")
        match = _QUERY.match(query)
        if match is None:
            return None
        return self.curves.get((match.group(1), match.group(2)))

    def query_range(
        self, query: str, start: float, end: float, step: float
    ) -> list[list[tuple[float, float]]]:
        curve = self._curve(query)
        if curve is None:
            return []
        points: list[tuple[float, float]] = []
        t = end
        while t >= start - 1e-9:
            value = curve(t)
            if value is not None:
                points.append((t, value))
            t -= step
        return [sorted(points)] if points else []

    def query(self, query: str, at: float | None = None) -> list[float]:
        curve = self._curve(query)
        value = curve(at or 0.0) if curve is not None else None
        return [] if value is None else [value]


def healthy(metrics: RecordedMetrics, *colours: str) -> None:
    for colour in colours:
        metrics.set("error_rate", colour, lambda t: 0.01)
        metrics.set("latency", colour, lambda t: 0.100)
        metrics.set("cpu", colour, lambda t: 0.30)
        metrics.set("health", colour, lambda t: 1.0)
