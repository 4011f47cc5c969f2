"""PromQL for the built-in triggers, per colour.

Templates use ``$colour``, ``$namespace``, ``$services`` (a regex of the
Kubernetes service names) and ``$rate`` (the rate window); the gateway's use
``$backend``, ``$backends``, ``$routes`` and ``$window`` (see the fields). They assume the
scrape config labels every platform target with ``namespace`` and ``color``
(from the pod's colour label, ``kgot_contract.COLOR_LABEL``). A JSON file can
replace any of them (``--queries``); custom triggers from stack config may use
the same variables.
The labels and metric names are the platform's scrape contract (see
docs/architecture.md, "Metrics and rules").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from string import Template

from components.settings import kubernetes_name
from kgot_rollout._exceptions import RefusedError

_SEL = 'namespace="$namespace",color="$colour"'
_DEPLOY = 'namespace="$namespace",deployment=~"($services)-$colour"'
_GW_5XX = 'code=~"5.."'
_GW_ERRORS = (
    f'(sum(rate(traefik_service_requests_total{{service=~"$backend",{_GW_5XX}}}[$rate]))'
    " or vector(0))"
)
_GW_REQUESTS = (
    '(sum(rate(traefik_service_requests_total{service=~"$backend"}[$rate])) or vector(0))'
)
_GW_PROXY_ERRORS = (
    f'clamp_min((sum(rate(traefik_router_requests_total{{service=~"$routes",{_GW_5XX}}}[$rate]))'
    " or vector(0))"
    f' - (sum(rate(traefik_service_requests_total{{service=~"$backends",{_GW_5XX}}}[$rate]))'
    " or vector(0)), 0)"
)


@dataclass(frozen=True)
class QuerySet:
    # The worst service of the colour: its 5xx share (0 when it has requests but no 5xx).
    error_rate: str = (
        f'max((sum by (service) (rate(http_requests_total{{{_SEL},code=~"5.."}}[$rate]))'
        f" or 0 * sum by (service) (rate(http_requests_total{{{_SEL}}}[$rate])))"
        f" / sum by (service) (rate(http_requests_total{{{_SEL}}}[$rate])))"
    )
    # The slowest service's p95.
    latency_p95: str = (
        "max(histogram_quantile(0.95, sum by (service, le) "
        f"(rate(http_request_duration_seconds_bucket{{{_SEL}}}[$rate]))))"
    )
    # Empty: built from each service's CPU limit in stack config (see cpu_query).
    cpu: str = ""
    # Scrape targets down, or (where kube-state-metrics runs) fewer ready replicas
    # than desired: the lowest ratio of either.
    health: str = (
        f"min(up{{{_SEL}}} or (kube_deployment_status_replicas_ready{{{_DEPLOY}}}"
        f" / kube_deployment_spec_replicas{{{_DEPLOY}}}))"
    )
    rate_window: str = "1m"
    # The gateway's side (a trigger's `source: gateway`, the split check), as Traefik
    # v3.7 exports it. `$backend`: a regex of the colour under test's backend labels,
    # `$backends`: both colours', `$routes`: the routes' own (router) labels, all
    # rendered from kgot_contract's mapping; `$window`: the time since the step.
    # The colour's 5xx share at the gateway, counting the 503s the proxy answers
    # itself for a backend without a ready server: those reach only the router's
    # counters, so the route's 5xx beyond its backends' are the colour's.
    gateway_error_rate: str = (
        f"({_GW_ERRORS} + {_GW_PROXY_ERRORS}) / ({_GW_REQUESTS} + {_GW_PROXY_ERRORS})"
    )
    # The slowest backend's p95 at the gateway (what users wait, proxy included).
    gateway_latency_p95: str = (
        "max(histogram_quantile(0.95, sum by (service, le) "
        '(rate(traefik_service_request_duration_seconds_bucket{service=~"$backend"}[$rate]))))'
    )
    # Requests the colour's backends served since the step (the split check).
    gateway_requests: str = (
        'sum(increase(traefik_service_requests_total{service=~"$backend"}[$window]))'
    )

    @classmethod
    def from_file(cls, path: Path) -> QuerySet:
        """A JSON object of query templates by name (UTF-8), or RefusedError saying why."""
        allowed = sorted(f.name for f in fields(cls))
        shape = f"a UTF-8 JSON object of strings with keys among {', '.join(allowed)}"
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as exc:
            raise RefusedError(f"--queries {path}: cannot be read ({exc.strerror})") from exc
        except UnicodeDecodeError as exc:
            raise RefusedError(
                f"--queries {path}: not UTF-8 text (byte {exc.start}); allowed: {shape}"
            ) from exc
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise RefusedError(
                f"--queries {path}: not valid JSON ({exc}); allowed: {shape}"
            ) from exc
        if not isinstance(data, dict):
            raise RefusedError(
                f"--queries {path}: a JSON {type(data).__name__}, not an object; allowed: {shape}"
            )
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise RefusedError(f"--queries {path}: unknown keys {unknown}; allowed: {shape}")
        wrong = sorted(k for k, v in data.items() if not isinstance(v, str) or not v.strip())
        if wrong:
            raise RefusedError(
                f"--queries {path}: {', '.join(wrong)} not a non-empty string; allowed: {shape}"
            )
        return replace(cls(), **data)


def cpu_query(limits: Mapping[str, float]) -> str:
    """Highest CPU use of any service of the colour, as a share of its limit (cores)."""
    parts = [
        f'rate(process_cpu_seconds_total{{{_SEL},service="{kubernetes_name(key)}"}}[$rate])'
        f" / {cores:g}"
        for key, cores in sorted(limits.items())
        if cores > 0
    ]
    return f"max({' or '.join(parts)})" if parts else ""


def render(
    template: str,
    *,
    colour: str,
    namespace: str,
    services: Sequence[str],
    rate_window: str,
) -> str:
    names = "|".join(kubernetes_name(s) for s in services) or ".+"
    return Template(template).safe_substitute(
        colour=colour, namespace=namespace, services=names, rate=rate_window
    )
