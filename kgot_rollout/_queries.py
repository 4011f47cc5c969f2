"""PromQL for the built-in triggers, per colour.

Templates use ``$colour``, ``$namespace``, ``$services`` (a regex of the
Kubernetes service names) and ``$rate`` (the rate window). They assume the
scrape config labels every platform target with ``namespace`` and ``color``
(from the pod label ``kgot.io/color``). A JSON file can replace any of them
(``--queries``); custom triggers from stack config may use the same variables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from string import Template

from kgot_rollout._exceptions import RefusedError

_SEL = 'namespace="$namespace",color="$colour"'


@dataclass(frozen=True)
class QuerySet:
    error_rate: str = (
        f'(sum(rate(http_requests_total{{{_SEL},code=~"5.."}}[$rate])) or vector(0))'
        f" / sum(rate(http_requests_total{{{_SEL}}}[$rate]))"
    )
    latency_p95: str = (
        "histogram_quantile(0.95, sum by (le) "
        f"(rate(http_request_duration_seconds_bucket{{{_SEL}}}[$rate])))"
    )
    cpu: str = (
        "max(sum by (pod) (rate(container_cpu_usage_seconds_total"
        '{namespace="$namespace",pod=~"($services)-$colour-.*",container!=""}[$rate]))'
        " / sum by (pod) (kube_pod_container_resource_limits"
        '{namespace="$namespace",pod=~"($services)-$colour-.*",resource="cpu"}))'
    )
    health: str = f"min(up{{{_SEL}}})"
    rate_window: str = "1m"

    @classmethod
    def from_file(cls, path: Path) -> QuerySet:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise RefusedError(f"--queries {path}: cannot read a JSON object: {exc}") from exc
        allowed = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or not set(data) <= allowed:
            raise RefusedError(
                f"--queries {path}: unknown keys {sorted(set(data) - allowed)}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        if not all(isinstance(v, str) for v in data.values()):
            raise RefusedError(f"--queries {path}: every value must be a string")
        return replace(cls(), **data)


def kubernetes_name(service_key: str) -> str:
    """Service key ``graph_store`` -> Kubernetes name ``graph-store``."""
    return service_key.replace("_", "-")


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
