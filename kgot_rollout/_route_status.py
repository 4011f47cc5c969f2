"""Whether the gateway controller took a route: its status, read live from the API server.

A Gateway API controller writes, per parent Gateway of an HTTPRoute, the
conditions ``Accepted`` (it attached the route) and ``ResolvedRefs`` (it found
every backend), each with the ``observedGeneration`` of the spec it judged.
Traefik v3.7 writes both (``pkg/provider/kubernetes/gateway/httproute.go``),
with ``controllerName: traefik.io/gateway-controller``. An Ingress has no
conditions and no generation in its status: ingress-nginx and Traefik's
ingress-nginx provider set ``status.loadBalancer.ingress`` (the address it is
served at; Traefik only with ``publishService`` or ``publishStatusAddress``)
once they have taken it, so that is what is read; that the new weight is
served is then the split check's to see. Read with kubectl, as ``_cluster``
reads Deployments.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kgot_contract import HTTP_ROUTE, INGRESS, RoutingKind

from components.labels import PART_OF
from kgot_rollout._cluster import _kubectl
from kgot_rollout._exceptions import RolloutError

# Conditions a Gateway API controller must report True for the generation applied.
ROUTE_CONDITIONS = ("Accepted", "ResolvedRefs")
GATEWAY_GROUP = "gateway.networking.k8s.io"

# The live objects of one kind in a namespace (``items`` of ``kubectl get -o json``).
RouteReader = Callable[[str, RoutingKind], Sequence[Mapping[str, object]]]


class RouteState(enum.Enum):
    """What the controller says of one route."""

    SERVED = "served"
    # Not reported yet for the generation applied (or not found).
    WAITING = "waiting"
    # A condition is not True for the generation applied: the controller refused it.
    REFUSED = "refused"
    # No parent this check can judge (a GAMMA route: its parent is a Service).
    NOT_CHECKED = "not-checked"


@dataclass(frozen=True)
class RouteReport:
    kind: str
    namespace: str
    name: str
    state: RouteState
    detail: str = ""

    def describe(self) -> str:
        text = f"{self.kind} {self.namespace}/{self.name}"
        return f"{text}: {self.detail}" if self.detail else text


def read_routes(namespace: str, kind: RoutingKind) -> list[Mapping[str, object]]:
    """The platform's objects of ``kind`` in ``namespace``, or RolloutError naming why not."""
    selector = f"app.kubernetes.io/part-of={PART_OF}"
    command = ["kubectl", "get", kind.plural, "-n", namespace, "-l", selector, "-o", "json"]
    answer = _kubectl(command, f"read the {kind.kind}s in namespace {namespace}")
    try:
        items = json.loads(answer).get("items", [])
    except (json.JSONDecodeError, AttributeError) as exc:
        raise RolloutError(f"kubectl get {kind.plural} -n {namespace}: not JSON ({exc})") from exc
    return [item for item in items if isinstance(item, Mapping)] if isinstance(items, list) else []


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Mapping[str, object]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _same_parent(ref: Mapping[str, object], status_ref: Mapping[str, object], ns: str) -> bool:
    return (
        status_ref.get("name") == ref.get("name")
        and (status_ref.get("namespace") or ns) == (ref.get("namespace") or ns)
        and status_ref.get("sectionName") == ref.get("sectionName")
        and status_ref.get("port") == ref.get("port")
    )


def judge_http_route(route: Mapping[str, object], controller: str) -> RouteReport:
    """What ``controller`` reports of ``route`` for its current generation."""
    metadata = _mapping(route.get("metadata"))
    namespace, name = str(metadata.get("namespace", "")), str(metadata.get("name", ""))
    generation = _int(metadata.get("generation"))
    gateways = [
        ref
        for ref in _list(_mapping(route.get("spec")).get("parentRefs"))
        if ref.get("kind", "Gateway") == "Gateway"
        and ref.get("group", GATEWAY_GROUP) == GATEWAY_GROUP
    ]

    def report(state: RouteState, detail: str = "") -> RouteReport:
        return RouteReport(HTTP_ROUTE.kind, namespace, name, state, detail)

    if not gateways:
        return report(RouteState.NOT_CHECKED, "no Gateway parent (a mesh's route)")
    parents = [
        p
        for p in _list(_mapping(route.get("status")).get("parents"))
        if p.get("controllerName") == controller
    ]
    waiting: list[str] = []
    for ref in gateways:
        parent = f"Gateway {ref.get('name')}" + (
            f" listener {ref['sectionName']}" if ref.get("sectionName") else ""
        )
        entry = next(
            (p for p in parents if _same_parent(ref, _mapping(p.get("parentRef")), namespace)), None
        )
        if entry is None:
            waiting.append(f"{parent}: no status from {controller} yet")
            continue
        conditions = {str(c.get("type")): c for c in _list(entry.get("conditions"))}
        for wanted in ROUTE_CONDITIONS:
            condition = conditions.get(wanted)
            if condition is None:
                waiting.append(f"{parent}: {wanted} not reported yet")
                continue
            observed = _int(condition.get("observedGeneration"))
            if observed < generation:
                waiting.append(
                    f"{parent}: {wanted} reported for generation {observed}, "
                    f"not yet for {generation}"
                )
                continue
            if condition.get("status") != "True":
                return report(
                    RouteState.REFUSED,
                    f"{parent}: {wanted}={condition.get('status')} "
                    f"({condition.get('reason', '')}: {condition.get('message', '')}) "
                    f"for generation {generation}",
                )
    if waiting:
        return report(RouteState.WAITING, "; ".join(waiting))
    return report(RouteState.SERVED, f"Accepted and ResolvedRefs for generation {generation}")


def judge_ingress(ingress: Mapping[str, object]) -> RouteReport:
    """Whether an ingress controller has taken ``ingress`` (it published an address)."""
    metadata = _mapping(ingress.get("metadata"))
    namespace, name = str(metadata.get("namespace", "")), str(metadata.get("name", ""))
    balancer = _list(_mapping(_mapping(ingress.get("status")).get("loadBalancer")).get("ingress"))
    addresses = [
        str(a.get("ip") or a.get("hostname")) for a in balancer if a.get("ip") or a.get("hostname")
    ]
    if addresses:
        return RouteReport(
            INGRESS.kind, namespace, name, RouteState.SERVED, f"served at {', '.join(addresses)}"
        )
    return RouteReport(
        INGRESS.kind,
        namespace,
        name,
        RouteState.WAITING,
        "no load-balancer address: no ingress controller has taken it yet",
    )


def route_reports(
    read: RouteReader,
    namespace: str,
    kind: RoutingKind,
    names: Sequence[str],
    controller: str,
) -> list[RouteReport]:
    """One report for each of ``names`` (an object not found is waited for)."""
    live = {str(_mapping(obj.get("metadata")).get("name")): obj for obj in read(namespace, kind)}
    reports: list[RouteReport] = []
    for name in names:
        obj = live.get(name)
        if obj is None:
            reports.append(RouteReport(kind.kind, namespace, name, RouteState.WAITING, "not found"))
        elif kind == HTTP_ROUTE:
            reports.append(judge_http_route(obj, controller))
        else:
            reports.append(judge_ingress(obj))
    return reports
