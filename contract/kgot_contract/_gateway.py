"""How Traefik names a service's two colours in its metrics: the gateway's side of routing.

The program routes a service ``<svc>`` through Service ``<svc>`` (the active
colour) and Service ``<svc>-preview`` (the standby): as the two weighted
backendRefs of HTTPRoute ``<svc>`` (``trafficRouting: gateway``), or as the
Ingress pair ``<svc>`` / ``<svc>-canary`` with ingress-nginx's canary
annotations (``trafficRouting: ingress``; the Ingresses reach the Service by its
port named ``http``). Traefik counts the requests each backend served in
``traefik_service_requests_total{service=...}``; the values of that ``service``
label are built by Traefik v3.7 from the route's names, and are read here, once,
for the rollout tool's gate and for the tests that play Traefik's metrics.

From Traefik v3.7.13's source:

- Gateway API (``pkg/provider/kubernetes/gateway``, ``makeRouterName``,
  ``loadWRRService``, ``loadService``): a rule's router is
  ``Normalize("httproute-<ns>-<route>-gw-<gw ns>-<gw>-ep-<entrypoint>-<rule index>")``
  plus ``-<the hash's first 10 bytes, 20 hex digits>``; the weighted service is
  ``<router>-wrr`` and each backend ``<router>-svc-<ns>-<backend>-<backend index>``,
  qualified ``@kubernetesgateway``. One label per listener the route attaches to.
- ingress-nginx (``pkg/provider/kubernetes/ingress-nginx``, ``build.go``,
  ``translator.go``): the main Ingress's backend is
  ``Normalize("<ns>-<ingress>-<service>-<port>")``; a canary that matched it adds
  ``<that>-canary`` (the canary Service's pods under the main backend's name)
  and the weighted ``<that>-wrr``, qualified ``@kubernetesingressnginx``. A
  canary whose Service has no ready endpoint is left out: all traffic then goes
  to the main backend.

Metrics are per server: a request Traefik answers itself because a backend has
no ready server (503) appears in no backend's counters, only in the router's
(``traefik_router_requests_total``, whose ``service`` label is the weighted
service, when Traefik runs with ``metrics.prometheus.addRoutersLabels``).
"""

from __future__ import annotations

import enum
import re

GATEWAY_CONTROLLER = "traefik.io/gateway-controller"
GATEWAY_PROVIDER = "kubernetesgateway"
INGRESS_PROVIDER = "kubernetesingressnginx"
# The port of a service's two Services that its Ingresses name.
SERVICE_PORT_NAME = "http"
# Name suffixes of the standby's Service and of the canary Ingress (components/bluegreen.py).
PREVIEW_SUFFIX = "-preview"
CANARY_SUFFIX = "-canary"


class Backend(enum.StrEnum):
    """Which of a service's two Services a backend is: the colour they select changes."""

    # Service `<svc>`: the active colour.
    ACTIVE = "active"
    # Service `<svc>-preview`: the standby colour, weighted by standbyWeight.
    STANDBY = "standby"


def normalize(name: str) -> str:
    """Traefik's ``provider.Normalize``: runs of anything but letters and digits become one -.

    Kubernetes names are ASCII, so what comes out is letters, digits and -: literal
    in a regex, and no backslash for a PromQL string to trip on.
    """
    return "-".join(part for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def _name(service: str, backend: Backend) -> str:
    return service + PREVIEW_SUFFIX if backend is Backend.STANDBY else service


def backend_label(routing: str, namespace: str, service: str, backend: Backend) -> str:
    """A PromQL regex (RE2, fully anchored) of the ``service`` label values Traefik gives
    one backend of one service's route; ``routing`` is ``gateway`` or ``ingress``."""
    if routing == "gateway":
        # The backend's part is not normalized (Kubernetes names need no normalizing).
        router = _gateway_router(namespace, service)
        return f"{router}-svc-{namespace}-{_name(service, backend)}-[0-9]+@{GATEWAY_PROVIDER}"
    if routing == "ingress":
        main = _ingress_main(namespace, service)
        suffix = CANARY_SUFFIX if backend is Backend.STANDBY else ""
        return f"{main}{suffix}@{INGRESS_PROVIDER}"
    raise ValueError(f"routing {routing!r}: allowed: gateway, ingress")


def route_label(routing: str, namespace: str, service: str) -> str:
    """A PromQL regex of the ``service`` label of the route's router (its weighted service)."""
    if routing == "gateway":
        return f"{_gateway_router(namespace, service)}-wrr@{GATEWAY_PROVIDER}"
    if routing == "ingress":
        # Without a canary (no ready standby) the router names the main backend itself.
        return f"{_ingress_main(namespace, service)}(-wrr)?@{INGRESS_PROVIDER}"
    raise ValueError(f"routing {routing!r}: allowed: gateway, ingress")


def _gateway_router(namespace: str, service: str) -> str:
    # Any Gateway, listener and rule: the route's name and the backend's pin it down.
    prefix = normalize(f"httproute-{namespace}-{service}")
    return f"{prefix}-gw-.+-ep-.+-[0-9]+-[0-9a-f]{{20}}"


def _ingress_main(namespace: str, service: str) -> str:
    # The main Ingress is named like the service and reaches Service `<svc>` by port name.
    return normalize(f"{namespace}-{service}-{service}-{SERVICE_PORT_NAME}")


def any_of(patterns: list[str] | tuple[str, ...]) -> str:
    """One regex matching any of ``patterns`` (PromQL anchors the whole)."""
    if not patterns:
        raise ValueError("no label pattern to match: allowed: at least one")
    return "|".join(f"({p})" for p in patterns)
