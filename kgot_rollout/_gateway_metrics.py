"""The gateway's metrics of one colour: which backend labels carry it at a given split.

Traefik counts requests per backend, and a backend is a Service: ``<svc>``
(the active colour) or ``<svc>-preview`` (the standby). Which colour that is
changes with the traffic state, so the gateway's queries of a colour are
rendered for the state a step applies. The label values come from
``kgot_contract`` (the one reading of Traefik's names).
"""

from __future__ import annotations

from string import Template

from kgot_contract import Backend, any_of, backend_label, route_label

from components.settings import PlatformSettings, kubernetes_name
from kgot_rollout._exceptions import RefusedError
from kgot_rollout._types import Colour, TrafficState


def check_routed(settings: PlatformSettings, what: str) -> None:
    """RefusedError unless the stack routes through a gateway (its metrics need one)."""
    if settings.traffic_routing == "selector":
        raise RefusedError(
            f"{what}: stack {settings.stack} uses trafficRouting selector, which has no "
            "route for a gateway to serve; allowed: trafficRouting gateway or ingress, or "
            "rollback.errorRate.source / rollback.latency.source application and "
            "rollback.dataPlane checks off"
        )


def routed_services(settings: PlatformSettings) -> tuple[str, ...]:
    """The Kubernetes names of the services the gateway routes (each has a route)."""
    if settings.traffic_routing == "ingress":
        # Only public services get the Ingress pair (components/bluegreen.py).
        return tuple(kubernetes_name(s.key) for s in settings.services if s.public)
    return tuple(kubernetes_name(s.key) for s in settings.services)


def backend_of(state: TrafficState, colour: Colour) -> Backend:
    """The Service that sends ``colour`` its traffic in ``state``."""
    return Backend.ACTIVE if colour == state.active else Backend.STANDBY


def backends(settings: PlatformSettings, backend: Backend) -> str:
    """A regex of every routed service's ``backend`` label."""
    routing, namespace = settings.traffic_routing, settings.namespace
    return any_of(
        [backend_label(routing, namespace, s, backend) for s in routed_services(settings)]
    )


def variables(settings: PlatformSettings, state: TrafficState, colour: Colour) -> dict[str, str]:
    """``$backend``, ``$backends`` and ``$routes`` of ``colour`` at ``state``."""
    check_routed(settings, "the gateway's metrics")
    routing, namespace = settings.traffic_routing, settings.namespace
    services = routed_services(settings)
    if not services:
        raise RefusedError(
            f"the gateway's metrics: stack {settings.stack} routes no service through the "
            "gateway (trafficRouting ingress routes only public services); allowed: a "
            "public service, or the gateway checks off"
        )
    return {
        "backend": backends(settings, backend_of(state, colour)),
        "backends": any_of(
            [backend_label(routing, namespace, s, b) for s in services for b in Backend]
        ),
        "routes": any_of([route_label(routing, namespace, s) for s in services]),
    }


def render_gateway(template: str, values: dict[str, str]) -> str:
    """``template`` with the gateway's variables (others, e.g. ``$rate``, left as they are)."""
    return Template(template).safe_substitute(values)
