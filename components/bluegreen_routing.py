"""The weighted routing of one BlueGreenService: its HTTPRoute, or its canary Ingress pair."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s
from kgot_contract import HTTP_ROUTE

from components.gateway import INTERNAL_LISTENER, PUBLIC_LISTENER
from components.labels import CANARY_ANNOTATION, CANARY_WEIGHT_ANNOTATION, SKIP_AWAIT

if TYPE_CHECKING:
    from components.bluegreen import BlueGreenServiceArgs

# The component's metadata builder: name, annotations -> ObjectMeta.
Meta = Callable[[str, Mapping[str, str] | None], k8s.meta.v1.ObjectMetaArgs]


def _backend_refs(args: BlueGreenServiceArgs) -> list[dict[str, object]]:
    svc = args.service
    traffic = args.traffic
    return [
        {"name": svc.name, "port": svc.port, "weight": traffic.active_weight},
        {"name": f"{svc.name}-preview", "port": svc.port, "weight": traffic.standby_weight},
    ]


def http_route(
    name: str, args: BlueGreenServiceArgs, meta: Meta, opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    """HTTPRoute `<svc>`: the two Services, weighted (trafficRouting gateway)."""
    svc = args.service
    edge = args.edge
    gateway = args.gateway_name
    if svc.public and gateway is not None:
        parent: dict[str, object] = {"name": gateway, "sectionName": PUBLIC_LISTENER}
        hostnames: list[str] | None = [edge.hostname(svc)]
    elif args.internal_hostname is not None and gateway is not None:
        # A real data plane for in-cluster callers without a mesh: they
        # call the gateway's internal Service with this host.
        parent = {"name": gateway, "sectionName": INTERNAL_LISTENER}
        hostnames = [args.internal_hostname]
    else:
        # East-west (GAMMA): the route applies to in-cluster calls of `<svc>`.
        parent = {"group": "", "kind": "Service", "name": svc.name}
        hostnames = None
    spec: dict[str, object] = {
        "parentRefs": [parent],
        "rules": [{"backendRefs": _backend_refs(args)}],
    }
    if hostnames:
        spec["hostnames"] = hostnames
    return k8s.apiextensions.CustomResource(
        f"{name}-httproute",
        # The routing kind the rollout tool's gate and rollback know by this name.
        api_version=HTTP_ROUTE.api_version,
        kind=HTTP_ROUTE.kind,
        metadata=meta(svc.name, SKIP_AWAIT),
        spec=spec,
        opts=opts,
    )


def ingresses(
    name: str, args: BlueGreenServiceArgs, meta: Meta, opts: pulumi.ResourceOptions
) -> list[k8s.networking.v1.Ingress]:
    """Ingress `<svc>` and its canary `<svc>-canary` (trafficRouting ingress, public services)."""
    svc = args.service
    edge = args.edge
    traffic = args.traffic
    host = edge.hostname(svc)
    # ingress-nginx pairs a canary Ingress with the main one by host and
    # path; the canary always exists so a weight change is an annotation.
    ingresses = []
    for ingress_name, backend, extra in (
        (svc.name, svc.name, {}),
        (
            f"{svc.name}-canary",
            f"{svc.name}-preview",
            {
                CANARY_ANNOTATION: "true",
                CANARY_WEIGHT_ANNOTATION: str(traffic.standby_weight),
            },
        ),
    ):
        ingress = k8s.networking.v1.Ingress(
            f"{name}-ingress-{ingress_name}",
            metadata=meta(ingress_name, {**SKIP_AWAIT, **extra}),
            spec=k8s.networking.v1.IngressSpecArgs(
                ingress_class_name=edge.ingress_class_name,
                tls=[
                    k8s.networking.v1.IngressTLSArgs(hosts=[host], secret_name=edge.tls_secret_name)
                ],
                rules=[
                    k8s.networking.v1.IngressRuleArgs(
                        host=host,
                        http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                            paths=[
                                k8s.networking.v1.HTTPIngressPathArgs(
                                    path="/",
                                    path_type="Prefix",
                                    backend=k8s.networking.v1.IngressBackendArgs(
                                        service=k8s.networking.v1.IngressServiceBackendArgs(
                                            name=backend,
                                            port=k8s.networking.v1.ServiceBackendPortArgs(
                                                name="http"
                                            ),
                                        )
                                    ),
                                )
                            ]
                        ),
                    )
                ],
            ),
            opts=opts,
        )
        ingresses.append(ingress)
    return ingresses
