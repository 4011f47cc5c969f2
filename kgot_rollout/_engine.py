"""The engine interface the rollout drives, and the routing-only preview gate.

The real implementation is ``_automation.AutomationEngine`` (Pulumi Automation
API); tests use a fake with the same methods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kgot_contract import ROUTING_TYPES
from pulumi.automation.events import OpType

from kgot_rollout._cluster import DeploymentStatus, RoutingObject
from kgot_rollout._types import Colour

# Ops that leave a resource as it is.
UNCHANGED_OPS = frozenset({OpType.SAME, OpType.READ, OpType.REFRESH})
# Property paths of a Deployment that only scale it (the standby kept warm or not).
SCALING_PATHS = frozenset({"spec.replicas"})


@dataclass(frozen=True)
class ResourceStep:
    """One resource's planned operation in a preview."""

    urn: str
    type: str
    op: OpType
    paths: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


def op_type(op: object) -> OpType | None:
    """An OpType, from the enum or (as change summaries carry them at run time) its value."""
    try:
        return OpType(getattr(op, "value", op))
    except ValueError:
        return None


@dataclass(frozen=True)
class PreviewReport:
    # None: an op this version of the SDK does not know (treated as a change).
    change_summary: Mapping[OpType | None, int]
    steps: tuple[ResourceStep, ...] = ()

    @property
    def changes(self) -> tuple[ResourceStep, ...]:
        return tuple(s for s in self.steps if s.op not in UNCHANGED_OPS)


@dataclass(frozen=True)
class AppliedUpdate:
    """The last update the engine ran: its result and the config it applied."""

    result: str
    config: Mapping[str, str] = field(default_factory=dict)
    version: int | None = None
    message: str = ""
    # A failed update: ``<resource>: <reason>`` of each resource it failed on.
    failed: tuple[str, ...] = ()


class Engine(Protocol):
    """What the rollout needs from a Pulumi stack."""

    @property
    def stack(self) -> str: ...

    def get_config(self) -> Mapping[str, object]:
        """Stack config with un-namespaced keys (objects as JSON strings, secure values
        as ``components.settings.Secret``, so no error can show them)."""
        ...

    def set_config(self, values: Mapping[str, str]) -> None: ...

    def preview(self) -> PreviewReport: ...

    def up(
        self, *, message: str, target: Sequence[str] | None = None, in_place: bool = False
    ) -> None:
        """Run an update (with the policy pack).

        ``in_place``: the caller knows the update only changes resources already
        in the state in place (routing objects, replica counts), so the
        engine may skip its per-step state checkpoints (``_automation.SKIP_CHECKPOINTS``).
        """
        ...

    def routing_urns(self) -> list[str]:
        """URNs of the routing resources in the stack's state."""
        ...

    def deployment_urns(self, colour: str) -> list[str]:
        """URNs of the Deployments of one colour (``<svc>-<colour>``) in the stack's state."""
        ...

    def last_update(self) -> AppliedUpdate | None: ...

    def lock_holder(self) -> str | None:
        """Who holds the stack's update lock (a killed update leaves it), or None."""
        ...

    def deployments(self, namespace: str, colour: Colour) -> Mapping[str, DeploymentStatus]:
        """The colour's Deployments as the Kubernetes API server has them now, by name."""
        ...

    def routing_objects(self) -> list[RoutingObject]:
        """The routing resources in the stack's state: applied manifest and field manager."""
        ...

    def apply_routing(self, objects: Sequence[RoutingObject]) -> None:
        """Server-side apply the manifests to the cluster as their field managers
        (RolloutError naming the ones that failed)."""
        ...


def is_routing_type(resource_type: str) -> bool:
    """Service, Gateway API HTTPRoute or Ingress: the only resources a shift may change.

    The list the program builds routing from (``kgot_contract.ROUTING_TYPES``), so
    the gate and the program cannot disagree on what routing is.
    """
    return resource_type in ROUTING_TYPES


def is_scaling_step(step: ResourceStep) -> bool:
    """A Deployment update that only changes its replica count."""
    return (
        step.op is OpType.UPDATE
        and step.type.endswith(":Deployment")
        and bool(step.paths)
        and all(path in SCALING_PATHS for path in step.paths)
    )


def unsafe_changes(report: PreviewReport, *, allow_scaling: bool = True) -> list[ResourceStep]:
    """Planned changes that are not routing (or, when allowed, standby scaling).

    The stack resource itself (``pulumi:pulumi:Stack``) changes its outputs on a
    colour flip; that is not a cluster change.
    """
    unsafe: list[ResourceStep] = []
    for step in report.changes:
        if step.type == "pulumi:pulumi:Stack":
            continue
        if step.op is OpType.UPDATE and is_routing_type(step.type):
            continue
        if allow_scaling and is_scaling_step(step):
            continue
        unsafe.append(step)
    # change_summary without per-resource steps: trust only "same".
    if not report.steps:
        for op, count in report.change_summary.items():
            if op not in UNCHANGED_OPS and count:
                unsafe.append(
                    ResourceStep(urn=f"<{count} resources>", type="?", op=op or OpType.REPLACE)
                )
    return unsafe


def describe_steps(steps: Sequence[ResourceStep]) -> str:
    return ", ".join(f"{s.op.value} {s.type} {s.name}" for s in steps)
