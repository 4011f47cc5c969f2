"""Kubernetes names, labels and ports that the components agree on.

Labels are how NetworkPolicies, Services, PodDisruptionBudgets and the
Prometheus scrape config find pods, so they are built in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# The colour label and image parsing are shared with the policy pack and the
# rollout tool (contract/).
from kgot_contract import COLOR_LABEL, parse_image

if TYPE_CHECKING:
    # Types only: the settings import these names to refuse colliding service keys.
    from components.settings import Color, ServiceSettings

PART_OF = "kgot-platform"
# Separates the KGoT services from the monitoring pods in NetworkPolicies and
# in the scrape config.
TIER_LABEL = "kgot.io/tier"
TIER_SERVICE = "service"
TIER_MONITORING = "monitoring"
METRICS_PATH_ANNOTATION = "kgot.io/metrics-path"
# ingress-nginx's canary pair: the weight of a standby is an annotation.
CANARY_ANNOTATION = "nginx.ingress.kubernetes.io/canary"
CANARY_WEIGHT_ANNOTATION = "nginx.ingress.kubernetes.io/canary-weight"
# pulumi-kubernetes would wait forever for an address no controller assigns
# (Ingress, Gateway API) or for a ready pod behind a Service with none; and
# every routing resource carries it: the provider's Service await waits 10 s
# after each change of the Service's endpoints (`settled` in
# provider/pkg/await/service.go), which made a flip of five services 24 s.
# skipAwait, not `pulumi.com/waitFor` with a condition true at once: waitFor
# still opens a watch per resource and its condition would only restate "it
# exists", which the API server's answer to the apply already says. What the
# await guarded (traffic reaches ready pods) is checked before routing moves:
# each routing resource depends on the Deployments of the colour it sends
# traffic to (components/bluegreen.py), and kgot-rollout reads them live.
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}

PROMETHEUS = "prometheus"
ALERTMANAGER = "alertmanager"
GRAFANA = "grafana"
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
GRAFANA_PORT = 3000
# Alertmanager replicas gossip on this port and find each other (and
# Prometheus finds all of them) through a headless Service of this name.
ALERTMANAGER_CLUSTER_PORT = 9094
ALERTMANAGER_PEERS = "alertmanager-cluster"

# Non-root identity of the service containers (restricted Pod Security).
SERVICE_UID = 10001


def common_labels(name: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def service_selector(service: ServiceSettings, color: Color) -> dict[str, str]:
    """What a colour's Service and Deployment select: never the version, which changes."""
    return {"app.kubernetes.io/name": service.name, COLOR_LABEL: color}


def service_pod_labels(service: ServiceSettings, color: Color, version: str) -> dict[str, str]:
    return {
        **common_labels(service.name, service.component),
        "app.kubernetes.io/instance": f"{service.name}-{color}",
        "app.kubernetes.io/version": version,
        COLOR_LABEL: color,
        TIER_LABEL: TIER_SERVICE,
    }


def monitoring_labels(name: str, version: str) -> dict[str, str]:
    return {
        **common_labels(name, "monitoring"),
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/version": version,
        TIER_LABEL: TIER_MONITORING,
    }


def image_version(image: str) -> str:
    """The tag of an image reference, as a label value."""
    return parse_image(image).tag or "digest"
