"""Safe traffic shifts between the blue and green colours (rule 33).

Works on the desired state of the whole stack: which colour Service `<svc>`
selects (active), which colours get weight through the HTTPRoute backendRefs or
an ingress-nginx canary, and the Deployments `<svc>-<colour>` behind them. A
colour may take traffic only when it is at least as big as the other colour,
its image passes rule 19, and its declared version is what its image says.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from kgot_contract import COLOR_LABEL, HTTP_ROUTE, INGRESS, SERVICE, parse_image
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from ._images import IMAGE_SCHEMA, image_problems
from ._kube import (
    REPLICATED_KINDS,
    UNKNOWN,
    KubeObject,
    as_dict,
    as_list,
    containers,
    present,
)
from ._meta import ENVIRONMENT_SCHEMA, Controls, config, environment, mapped, stack_objects

VERSION_LABEL = "app.kubernetes.io/version"
NAME_LABEL = "app.kubernetes.io/name"
_CANARY = "nginx.ingress.kubernetes.io/canary"
_CANARY_WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"


@dataclass(frozen=True)
class ColourSet:
    """One colour's Deployment of one service."""

    service: str
    colour: str
    deployment: KubeObject

    @property
    def replicas(self) -> Any:
        return self.deployment.spec.get("replicas", 1)

    @property
    def labels(self) -> dict[str, Any]:
        return {**self.deployment.labels, **as_dict(self.deployment.pod_metadata().get("labels"))}

    def main_image(self) -> Any:
        pod = self.deployment.pod_spec() or {}
        app = [c for c in containers(pod) if c.section == "containers"]
        wanted = {self.service, str(self.labels.get(NAME_LABEL, ""))}
        chosen = next((c for c in app if c.name in wanted), app[0] if app else None)
        return None if chosen is None else chosen.body.get("image")


def colour_sets(objects: list[KubeObject]) -> dict[tuple[str | None, str], dict[str, ColourSet]]:
    """(namespace, service) -> colour -> its Deployment."""
    found: dict[tuple[str | None, str], dict[str, ColourSet]] = defaultdict(dict)
    for obj in objects:
        if obj.kind not in REPLICATED_KINDS:
            continue
        labels = {**obj.labels, **as_dict(obj.pod_metadata().get("labels"))}
        colour = labels.get(COLOR_LABEL)
        if not isinstance(colour, str):
            continue
        suffix = f"-{colour}"
        service = obj.name.removesuffix(suffix) if obj.name.endswith(suffix) else None
        service = service or str(present(labels.get(NAME_LABEL), obj.name))
        found[(obj.namespace, service)][colour] = ColourSet(service, colour, obj)
    return found


def _route_weights(objects: list[KubeObject]) -> dict[tuple[str | None, str], int]:
    """(namespace, Service name) -> the largest weight any route gives it."""
    weights: dict[tuple[str | None, str], int] = {}

    def note(namespace: str | None, name: Any, weight: Any) -> None:
        if isinstance(name, str) and isinstance(weight, int | float):
            key = (namespace, name)
            weights[key] = max(weights.get(key, 0), int(weight))

    for obj in objects:
        # Any Gateway API route with weighted backendRefs, not only the platform's
        # HTTPRoute: the pack judges whatever a program routes with.
        if obj.kind in (HTTP_ROUTE.kind, "GRPCRoute", "TLSRoute", "TCPRoute"):
            for rule in as_list(obj.spec.get("rules")):
                for ref in as_list(as_dict(rule).get("backendRefs")):
                    ref = as_dict(ref)
                    if ref.get("kind", SERVICE.kind) == SERVICE.kind:
                        note(
                            present(ref.get("namespace"), obj.namespace),
                            ref.get("name"),
                            ref.get("weight", 1),
                        )
        elif obj.kind == INGRESS.kind:
            canary = str(obj.annotations.get(_CANARY, "")).lower() == "true"
            weight: Any = 1
            if canary:
                raw = str(obj.annotations.get(_CANARY_WEIGHT, "0"))
                weight = int(raw) if raw.isdigit() else 0
            backends = [as_dict(obj.spec.get("defaultBackend"))]
            for rule in as_list(obj.spec.get("rules")):
                for path in as_list(as_dict(as_dict(rule).get("http")).get("paths")):
                    backends.append(as_dict(as_dict(path).get("backend")))
            for backend in backends:
                note(obj.namespace, as_dict(backend.get("service")).get("name"), weight)
    return weights


def _selected_colour(service: KubeObject | None) -> Any:
    if service is None:
        return None
    return as_dict(service.spec.get("selector")).get(COLOR_LABEL)


def _belongs(service: KubeObject, name: str, colours: dict[str, ColourSet]) -> bool:
    """Whether a Service routes to this service's colours (not another service's)."""
    selected = as_dict(service.spec.get("selector")).get(NAME_LABEL)
    if isinstance(selected, str):
        return any(c.labels.get(NAME_LABEL) == selected for c in colours.values())
    return service.name == f"{name}-preview"


@dataclass(frozen=True)
class ServiceRouting:
    """Where one service's traffic goes: the colours that get some, and why."""

    namespace: str | None
    name: str
    colours: dict[str, ColourSet]
    receiving: dict[str, str]
    active_service: KubeObject


def service_routing(objects: list[KubeObject]) -> list[ServiceRouting]:
    """Every blue/green service whose active Service is readable."""
    services = {(o.namespace, o.name): o for o in objects if o.kind == SERVICE.kind}
    weights = _route_weights(objects)
    found = []
    for (namespace, name), colours in sorted(colour_sets(objects).items(), key=str):
        active_service = services.get((namespace, name))
        active = _selected_colour(active_service)
        if active is UNKNOWN or active_service is None:
            continue
        receiving: dict[str, str] = {}
        if isinstance(active, str):
            receiving[active] = f"active (Service {name} selects it)"
        # Any colour-selecting Service that a route gives weight: preview, canary...
        for (svc_namespace, svc_name), service in services.items():
            colour = _selected_colour(service)
            if svc_namespace != namespace or not isinstance(colour, str) or colour in receiving:
                continue
            weight = weights.get((svc_namespace, svc_name), 0)
            if weight > 0 and _belongs(service, name, colours):
                receiving[colour] = f"weight {weight} through Service {svc_name}"
        found.append(ServiceRouting(namespace, name, colours, receiving, active_service))
    return found


def idle_colours(objects: list[KubeObject]) -> set[str]:
    """URNs of colour Deployments that get no traffic (a standby without weight)."""
    idle = set()
    for routing in service_routing(objects):
        for colour, colour_set in routing.colours.items():
            if colour not in routing.receiving:
                idle.add(colour_set.deployment.urn)
    return idle


def traffic_safety_validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    settings = config(args, {"requireSignedImages": False, "verifiedDigests": []})
    production = environment(settings) == "production"
    for routing in service_routing(stack_objects(args)):
        name, colours = routing.name, routing.colours
        sizes = [c.replicas for c in colours.values()]
        if any(not isinstance(s, int) for s in sizes):
            sizes = []
        for colour, why in sorted(routing.receiving.items()):
            target = colours.get(colour)
            if target is None:
                report_violation(
                    f"{name}: colour {colour} is {why} but has no Deployment {name}-{colour}.",
                    routing.active_service.urn,
                )
                continue
            _check_colour(target, why, sizes, settings, production, report_violation)


def _check_colour(
    target: ColourSet,
    why: str,
    sizes: list[Any],
    settings: dict[str, Any],
    production: bool,
    report_violation: ReportViolation,
) -> None:
    where = f"{target.service}: colour {target.colour} ({why})"
    urn = target.deployment.urn
    if sizes and isinstance(target.replicas, int) and target.replicas < max(sizes):
        report_violation(
            f"{where} runs {target.replicas} replica(s), fewer than the {max(sizes)} of the "
            "other colour; scale it up before it takes traffic.",
            urn,
        )
    image = target.main_image()
    for problem in image_problems(image, settings, production):
        report_violation(f"{where}: {problem}.", urn)
    declared = target.labels.get(VERSION_LABEL)
    if isinstance(image, str) and declared is not UNKNOWN:
        tag = parse_image(image).tag
        if declared is None:
            report_violation(f"{where} declares no {VERSION_LABEL}.", urn)
        elif tag != declared:
            report_violation(
                f"{where} declares version {declared} but runs image tag {tag or '(none)'}.", urn
            )


traffic_safety = StackValidationPolicy(
    name="traffic-shift-safety",
    description="A colour becomes active or gets weight only with at least the other colour's "
    "replicas, an image that passes rule 19, and a declared version matching its image tag.",
    validate=traffic_safety_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.CRITICAL,
    **mapped(Controls(33, nist=("CM-3", "CM-4", "CP-10"), soc2=("CC8.1", "A1.2")), "traffic"),
    remediation_steps="Scale the colour to the active colour's replicas, deploy it with a "
    "digest-pinned image whose tag equals its version, then shift traffic (kgot-rollout shift).",
    config_schema=PolicyConfigSchema(
        properties={"environment": ENVIRONMENT_SCHEMA, **IMAGE_SCHEMA},
    ),
)

POLICIES = [traffic_safety]
