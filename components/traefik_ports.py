"""Names and ports of the gateway Traefik, shared by components, scrape config and tests."""

from __future__ import annotations

NAME = "traefik"
COMPONENT = "gateway"
# GatewayClass controllerName Traefik's provider answers to.
CONTROLLER_NAME = "traefik.io/gateway-controller"
# Traefik's ingress-nginx provider answers to ingress-nginx's controller value.
INGRESS_CONTROLLER = "k8s.io/ingress-nginx"
# Unprivileged container ports; the Services map 443 to the two HTTPS ones. A
# Gateway listener names Traefik's entry point by its port, so the Gateway's
# listeners use these ports when the program runs Traefik.
HTTPS_PORT = 8443
INTERNAL_PORT = 8444
# Plain HTTP entry point of the ingress-nginx provider's redirects; no Service exposes it.
HTTP_PORT = 8000
METRICS_PORT = 9100
PING_PORT = 9000
# Prometheus finds every Traefik pod through this headless Service (dns_sd).
METRICS_SERVICE = "traefik-metrics"
INTERNAL_SERVICE = "traefik-internal"
UID = 65532


def role_name(namespace: str) -> str:
    """Traefik's Role in the platform namespace (and its ClusterRole)."""
    return f"kgot-platform-{NAME}-{namespace}"
