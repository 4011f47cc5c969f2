"""HorizontalPodAutoscalers and the workloads they scale.

An HPA, not `spec.replicas`, decides how many pods its target runs: the
controller overwrites the count between `minReplicas` and `maxReplicas`. The
fewest pods a scaled workload can run is therefore the HPA's `minReplicas`
(1 when unset, as the API defaults it). An HPA names its target by
`scaleTargetRef` kind and name, in its own namespace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ._kube import UNKNOWN, KubeObject, as_dict

HPA_KIND = "HorizontalPodAutoscaler"


@dataclass(frozen=True)
class Autoscaler:
    """One HPA: the object, its target and the fewest replicas it allows (UNKNOWN in preview)."""

    obj: KubeObject
    target_kind: Any
    target_name: Any
    min_replicas: Any

    def scales(self, workload: KubeObject) -> bool:
        return (
            self.obj.namespace == workload.namespace
            and self.target_kind == workload.kind
            and self.target_name == workload.name
        )

    @property
    def target_ref(self) -> str:
        return f"{self.target_kind} {self.obj.namespace}/{self.target_name}"


def autoscalers(objects: Iterable[KubeObject]) -> list[Autoscaler]:
    found = []
    for obj in objects:
        if obj.kind != HPA_KIND:
            continue
        target = as_dict(obj.spec.get("scaleTargetRef"))
        minimum = obj.spec.get("minReplicas", 1)
        if minimum is not UNKNOWN and (isinstance(minimum, bool) or not isinstance(minimum, int)):
            minimum = UNKNOWN  # the API refuses anything else; nothing to judge here
        found.append(Autoscaler(obj, target.get("kind"), target.get("name"), minimum))
    return found


def fewest_pods(workload: KubeObject, scalers: Iterable[Autoscaler]) -> Any:
    """The fewest pods the workload runs: its HPA's minReplicas, else spec.replicas (1)."""
    for scaler in scalers:
        if scaler.scales(workload):
            return scaler.min_replicas
    return workload.spec.get("replicas", 1)


def scaled_workloads(objects: Iterable[KubeObject], scalers: Iterable[Autoscaler]) -> set[str]:
    """The urns of the workloads an HPA scales."""
    scalers = list(scalers)
    return {o.urn for o in objects if any(s.scales(o) for s in scalers)}
