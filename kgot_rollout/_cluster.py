"""The live Deployments of a colour, read from the Kubernetes API with kubectl.

Routing skips the provider's await (``components.labels.SKIP_AWAIT``), so the
tool checks what the await guarded before every step: the colour that gains
traffic runs every replica the stack asks for, Available. It reads the API
server, not the stack's outputs: outputs are what the last ``up`` saw, and a
colour scaled down by hand or whose pods crash since then looks healthy there.
kubectl, not the kubernetes Python client: one list call per step, the same
kubeconfig resolution the provider and the runbook use (``KUBECONFIG``), and
no client library to keep in step with the cluster.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from components.labels import COLOR_LABEL, PART_OF
from components.settings import PlatformSettings
from kgot_rollout._exceptions import RefusedError
from kgot_rollout._types import Colour, TrafficState

# A list call answers in well under a second; a hung API server must not hold a step.
KUBECTL_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class DeploymentStatus:
    """What the API server says about one Deployment."""

    name: str
    replicas: int
    available: int
    updated: int
    # The controller has seen the latest spec (observedGeneration >= generation).
    observed: bool
    # Condition Available is True (with maxUnavailable 0: every replica is available).
    available_condition: bool

    @classmethod
    def from_object(cls, obj: Mapping[str, object]) -> DeploymentStatus:
        """From a Deployment as ``kubectl get -o json`` prints it."""
        metadata = _mapping(obj.get("metadata"))
        spec = _mapping(obj.get("spec"))
        status = _mapping(obj.get("status"))
        conditions = status.get("conditions")
        available = any(
            isinstance(c, Mapping) and c.get("type") == "Available" and c.get("status") == "True"
            for c in (conditions if isinstance(conditions, list) else [])
        )
        return cls(
            name=str(metadata.get("name", "")),
            replicas=_count(spec.get("replicas", 1)),
            available=_count(status.get("availableReplicas")),
            updated=_count(status.get("updatedReplicas")),
            observed=_count(status.get("observedGeneration")) >= _count(metadata.get("generation")),
            available_condition=available,
        )

    def shortfall(self, wanted: int) -> str | None:
        """None when it serves ``wanted`` replicas, Available; else what is missing."""
        if (
            self.observed
            and self.available_condition
            and self.replicas >= wanted
            and self.available >= wanted
            and self.updated >= wanted
        ):
            return None
        parts = [f"available {self.available}/{wanted}"]
        if self.replicas < wanted:
            parts.append(f"scaled to {self.replicas}")
        if self.updated < wanted:
            parts.append(f"updated {self.updated}/{wanted}")
        if not self.observed:
            parts.append("rollout not observed yet")
        if not self.available_condition:
            parts.append("condition Available is not True")
        return ", ".join(parts)


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _count(value: object) -> int:
    return value if isinstance(value, int) else 0


def read_deployments(namespace: str, colour: Colour) -> dict[str, DeploymentStatus]:
    """The colour's Deployments in ``namespace``, by name, or RefusedError."""
    selector = f"{COLOR_LABEL}={colour},app.kubernetes.io/part-of={PART_OF}"
    command = ["kubectl", "get", "deployments", "-n", namespace, "-l", selector, "-o", "json"]
    answer = _kubectl(command, f"read the Deployments of {colour} in namespace {namespace}")
    try:
        items = json.loads(answer).get("items", [])
    except (json.JSONDecodeError, AttributeError) as exc:
        raise RefusedError(
            f"kubectl get deployments -n {namespace}: not a JSON list ({exc}); nothing was applied"
        ) from exc
    statuses = (DeploymentStatus.from_object(item) for item in items if isinstance(item, Mapping))
    return {status.name: status for status in statuses}


def _kubectl(command: Sequence[str], what: str, stdin: str | None = None) -> str:
    """kubectl's stdout, or RefusedError naming what could not be done and why."""
    try:
        done = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=KUBECTL_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError as exc:
        raise RefusedError(f"could not {what}: kubectl is not on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        raise RefusedError(
            f"could not {what}: kubectl did not answer within {KUBECTL_TIMEOUT_SECONDS:g} s"
        ) from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no error output"])[-1]
        raise RefusedError(f"could not {what}: kubectl exited {done.returncode}: {last}")
    return done.stdout


def gaining_colours(before: TrafficState, after: TrafficState) -> list[Colour]:
    """The colours whose share of traffic grows from ``before`` to ``after``."""
    colours: tuple[Colour, ...] = ("blue", "green")
    return [c for c in colours if after.weight_of(c) > before.weight_of(c)]


def not_serving(
    settings: PlatformSettings,
    after: TrafficState,
    colour: Colour,
    live: Mapping[str, DeploymentStatus],
    updating: Collection[str] = (),
) -> list[str]:
    """``<deployment> (<what is missing>)`` for each Deployment of ``colour`` that is
    not Available at the size ``after`` asks for.

    ``updating``: Deployments the same ``up`` changes (e.g. a scaled-down standby
    brought to full size); the program makes routing wait for their await.
    """
    traffic = replace(
        settings.traffic, active_color=after.active, standby_weight=after.standby_weight
    )
    missing: list[str] = []
    for service in settings.services:
        name = f"{service.name}-{colour}"
        wanted = traffic.replicas_of(colour, service.replicas)
        if wanted == 0 or name in updating:
            continue
        status = live.get(name)
        shortfall = "not found" if status is None else status.shortfall(wanted)
        if shortfall is not None:
            missing.append(f"{name} ({shortfall})")
    return missing
