"""Traefik v3.7's own names for a route's services, computed as its Go code does.

A second, independent reading of ``pkg/provider/kubernetes/gateway``
(``makeRouterName``, ``loadWRRService``, ``loadService``) and
``pkg/provider/kubernetes/ingress-nginx`` (``build.go``, ``translator.go``),
so the tests can check kgot_contract's label patterns against the exact
values Traefik exports, and play Traefik's metrics with them.
"""

from __future__ import annotations

import hashlib
import re

# The dev stack's Gateway and its listeners' entry points (any values do).
GATEWAY_NAMESPACE = "kgot-edge"
GATEWAY = "kgot-platform"
ENTRYPOINTS = ("websecure", "web")


def normalize(name: str) -> str:
    """``provider.Normalize``: strings.FieldsFunc on non letters/digits, joined by -."""
    return "-".join(f for f in re.split(r"[^0-9A-Za-z]", name) if f)


def gateway_router(
    namespace: str,
    route: str,
    *,
    entrypoint: str = ENTRYPOINTS[0],
    rule_index: int = 0,
    rule: str = 'PathPrefix("/")',
    gateway_namespace: str = GATEWAY_NAMESPACE,
    gateway: str = GATEWAY,
) -> str:
    """``makeRouterName(kind, rule, namespace, name, gwNamespace, gwName, epName, ri)``:
    the label, then ``%.10x`` of the hash (its first 10 bytes: 20 hex digits)."""
    label = normalize(
        f"httproute-{namespace}-{route}-gw-{gateway_namespace}-{gateway}-ep-{entrypoint}-{rule_index}"
    )
    digest = hashlib.sha256()
    for part in (namespace, route, gateway_namespace, gateway, entrypoint, str(rule_index)):
        digest.update(f"{len(part)}:{part}".encode())
    digest.update(rule.encode())
    return f"{label}-{digest.hexdigest()[:20]}"


def gateway_backend(
    namespace: str,
    route: str,
    backend: str,
    index: int,
    *,
    entrypoint: str = ENTRYPOINTS[0],
    rule: str = 'PathPrefix("/")',
) -> str:
    """A weighted backendRef's service: ``<router>-svc-<ns>-<backend>-<index>``."""
    router_name = gateway_router(namespace, route, entrypoint=entrypoint, rule=rule)
    return f"{router_name}-svc-{namespace}-{backend}-{index}@kubernetesgateway"


def gateway_wrr(namespace: str, route: str, *, entrypoint: str = ENTRYPOINTS[0]) -> str:
    return f"{gateway_router(namespace, route, entrypoint=entrypoint)}-wrr@kubernetesgateway"


def ingress_main(namespace: str, ingress: str, service: str, port: str = "http") -> str:
    """The main Ingress's backend: ``Normalize(<ns>-<ingress>-<service>-<port>)``."""
    return normalize(f"{namespace}-{ingress}-{service}-{port}") + "@kubernetesingressnginx"


def ingress_canary(namespace: str, ingress: str, service: str, port: str = "http") -> str:
    """The canary's pods under the main backend's name plus ``-canary``."""
    return ingress_main(namespace, ingress, service, port).replace(
        "@kubernetesingressnginx", "-canary@kubernetesingressnginx"
    )


def ingress_wrr(namespace: str, ingress: str, service: str, port: str = "http") -> str:
    return ingress_main(namespace, ingress, service, port).replace(
        "@kubernetesingressnginx", "-wrr@kubernetesingressnginx"
    )


def backends(routing: str, namespace: str, service: str) -> tuple[str, str]:
    """The (active, standby) backend labels of a service's route, on its first listener."""
    if routing == "gateway":
        return (
            gateway_backend(namespace, service, service, 0),
            gateway_backend(namespace, service, f"{service}-preview", 1),
        )
    return (
        ingress_main(namespace, service, service),
        ingress_canary(namespace, service, service),
    )


def route(routing: str, namespace: str, service: str) -> str:
    """The route's router-level service label (its weighted service)."""
    if routing == "gateway":
        return gateway_wrr(namespace, service)
    return ingress_wrr(namespace, service, service)
