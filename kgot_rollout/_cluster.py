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

import http.client
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from kgot_contract import COLOR_LABEL, HTTP_ROUTE, INGRESS, ROUTING_KINDS, SERVICE, routing_kind

from components.labels import (
    CANARY_ANNOTATION,
    CANARY_WEIGHT_ANNOTATION,
    PART_OF,
)
from components.settings import PlatformSettings
from kgot_rollout._exceptions import RefusedError, RolloutError
from kgot_rollout._types import Colour, TrafficState

# A list call answers in well under a second; a hung API server must not hold a step.
KUBECTL_TIMEOUT_SECONDS = 20.0
# Server-side applies in flight at once through the proxy.
APPLY_WORKERS = 16


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
    try:
        answer = _kubectl(command, f"read the Deployments of {colour} in namespace {namespace}")
    except RolloutError as exc:
        raise RefusedError(f"{exc}; nothing was applied") from exc
    try:
        items = json.loads(answer).get("items", [])
    except (json.JSONDecodeError, AttributeError) as exc:
        raise RefusedError(
            f"kubectl get deployments -n {namespace}: not a JSON list ({exc}); nothing was applied"
        ) from exc
    statuses = (DeploymentStatus.from_object(item) for item in items if isinstance(item, Mapping))
    return {status.name: status for status in statuses}


def _kubectl(command: Sequence[str], what: str) -> str:
    """kubectl's stdout, or RolloutError naming what could not be done and why."""
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=KUBECTL_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError as exc:
        raise RolloutError(f"could not {what}: kubectl is not on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        raise RolloutError(
            f"could not {what}: kubectl did not answer within {KUBECTL_TIMEOUT_SECONDS:g} s"
        ) from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no error output"])[-1]
        raise RolloutError(f"could not {what}: kubectl exited {done.returncode}: {last}")
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


@dataclass(frozen=True)
class RoutingObject:
    """A routing resource as the stack's state has it: the manifest the provider
    applied and the server-side apply field manager it applied it as."""

    urn: str
    field_manager: str
    manifest: Mapping[str, object]


def routed_to(manifest: Mapping[str, object], after: TrafficState) -> dict[str, Any] | None:
    """``manifest`` with its selector or weights set to ``after``; None if it is not
    a colour's routing (the monitoring Services select no colour).

    Every colour's routing object is returned, changed or not: the state may be
    behind the cluster (a fast rollback whose update failed), so the state's
    manifest is no guide to what the API server holds. The names are the
    program's: Service ``<svc>`` selects the active colour and ``<svc>-preview``
    the standby; the HTTPRoute's backendRefs and the canary Ingress carry the
    weights (components/bluegreen.py).
    """
    # A JSON manifest: a deep copy the caller's object is not touched through.
    changed: dict[str, Any] = json.loads(json.dumps(manifest))
    metadata = changed.get("metadata", {})
    name = metadata.get("name")
    service = (metadata.get("labels") or {}).get("app.kubernetes.io/name")
    weights = {service: after.weight_of(after.active), f"{service}-preview": after.standby_weight}
    kind = changed.get("kind")
    if kind == SERVICE.kind:
        selector = (changed.get("spec") or {}).get("selector") or {}
        if COLOR_LABEL not in selector:
            return None
        selector[COLOR_LABEL] = after.active if name == service else after.standby
    elif kind == HTTP_ROUTE.kind:
        refs = [
            ref
            for rule in (changed.get("spec") or {}).get("rules") or []
            for ref in rule.get("backendRefs") or []
            if ref.get("name") in weights
        ]
        if not refs:
            return None
        for ref in refs:
            ref["weight"] = weights[ref["name"]]
    elif kind == INGRESS.kind:
        annotations = metadata.get("annotations") or {}
        if annotations.get(CANARY_ANNOTATION) != "true":
            return None
        annotations[CANARY_WEIGHT_ANNOTATION] = str(after.standby_weight)
    else:
        return None
    return changed


def carries_live_traffic(manifest: Mapping[str, object], after: TrafficState) -> bool:
    """Whether users' traffic passes through ``manifest`` once ``after`` is applied.

    The HTTPRoutes and canary Ingresses carry the weights and Service ``<svc>``
    the active colour. Service ``<svc>-preview`` reaches users only through a
    route's weight: with the standby at 0 % it serves just the requests sent to
    it by name (previews, smoke tests), so a rollback may apply it a moment
    after the objects that carry users' traffic.
    """
    if manifest.get("kind") != SERVICE.kind or after.standby_weight > 0:
        return True
    metadata = _mapping(manifest.get("metadata"))
    service = _mapping(metadata.get("labels")).get("app.kubernetes.io/name")
    return metadata.get("name") != f"{service}-preview"


def apply_as_owner(objects: Sequence[RoutingObject]) -> None:
    """Server-side apply each manifest as the field manager that owns it, at once.

    The provider names a manager per resource and kubectl takes one per call,
    so one kubectl per object would spend most of its time starting kubectl
    (about 0.1 s of CPU each; 200 objects for 100 services). Instead one
    ``kubectl proxy`` on a private Unix socket carries the credentials (any
    kubeconfig kubectl understands) and every object is one PATCH through it.
    Raises RolloutError naming every object that failed (the others are applied).
    """
    if not objects:
        return
    with tempfile.TemporaryDirectory(prefix="kgot-rollout-") as directory:
        socket_path = os.path.join(directory, "api.sock")
        # As a context manager, so the proxy's stderr pipe is closed however we leave.
        with subprocess.Popen(
            ["kubectl", "proxy", "--unix-socket", socket_path],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ) as proxy:
            try:
                _wait_for_socket(proxy, socket_path)
                with ThreadPoolExecutor(max_workers=min(len(objects), APPLY_WORKERS)) as pool:
                    answers = pool.map(lambda obj: _apply_patch(socket_path, obj), objects)
                    failed = [error for error in answers if error is not None]
            finally:
                proxy.terminate()
                proxy.wait(timeout=KUBECTL_TIMEOUT_SECONDS)
    if failed:
        raise RolloutError(f"{len(failed)} of {len(objects)} routing objects: " + "; ".join(failed))


def _wait_for_socket(proxy: subprocess.Popen[str], socket_path: str) -> None:
    deadline = time.monotonic() + KUBECTL_TIMEOUT_SECONDS
    while not os.path.exists(socket_path):
        if proxy.poll() is not None:
            error = (proxy.stderr.read() if proxy.stderr else "").strip().splitlines()
            raise RolloutError(
                f"kubectl proxy exited {proxy.returncode}: {error[-1] if error else 'no output'}"
            )
        if time.monotonic() > deadline:
            raise RolloutError(f"kubectl proxy did not start within {KUBECTL_TIMEOUT_SECONDS:g} s")
        time.sleep(0.005)


class _UnixConnection(http.client.HTTPConnection):
    """HTTP to ``kubectl proxy`` on its Unix socket (the proxy accepts Host localhost)."""

    def __init__(self, socket_path: str) -> None:
        super().__init__("localhost", timeout=KUBECTL_TIMEOUT_SECONDS)
        self._socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._socket_path)
        self.sock = sock


def resource_path(manifest: Mapping[str, object]) -> str:
    """``/api/v1/namespaces/<ns>/services/<name>`` and the like, or RolloutError."""
    kind = str(manifest.get("kind"))
    routing = routing_kind(kind)
    if routing is None:
        allowed = ", ".join(k.kind for k in ROUTING_KINDS)
        raise RolloutError(f"{kind}: not a routing kind; allowed: {allowed}")
    api_version = str(manifest.get("apiVersion", "v1"))
    prefix = "/api" if "/" not in api_version else "/apis"
    metadata = _mapping(manifest.get("metadata"))
    namespace, name = metadata.get("namespace"), metadata.get("name")
    return f"{prefix}/{api_version}/namespaces/{namespace}/{routing.plural}/{name}"


def _apply_patch(socket_path: str, obj: RoutingObject) -> str | None:
    """Server-side apply one object; None, or why it failed."""
    name = f"{obj.manifest.get('kind')}/{_name(obj.manifest)}"
    try:
        path = resource_path(obj.manifest)
    except RolloutError as exc:
        return str(exc)
    query = urllib.parse.urlencode({"fieldManager": obj.field_manager})
    connection = _UnixConnection(socket_path)
    try:
        connection.request(
            "PATCH",
            f"{path}?{query}",
            body=json.dumps(obj.manifest),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        response = connection.getresponse()
        body = response.read().decode(errors="replace")
    except OSError as exc:
        return f"{name}: {exc}"
    finally:
        connection.close()
    if response.status >= 300:
        try:
            message = str(json.loads(body).get("message", body))
        except (json.JSONDecodeError, AttributeError):
            message = body
        return f"{name}: HTTP {response.status}: {message[:300]}"
    return None


def _name(manifest: Mapping[str, object]) -> str:
    return str(_mapping(manifest.get("metadata")).get("name", "?"))
