"""``Engine`` on the Pulumi Automation API: a LocalWorkspace on the project dir."""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pulumi import automation as auto
from pulumi.automation.events import EngineEvent, OpType, PolicyEvent

from components.settings import PROJECT, Secret
from kgot_rollout._cluster import (
    DeploymentStatus,
    RoutingObject,
    apply_as_owner,
    read_deployments,
)
from kgot_rollout._engine import (
    UNCHANGED_OPS,
    AppliedUpdate,
    PreviewReport,
    ResourceStep,
    is_routing_type,
    op_type,
)
from kgot_rollout._exceptions import EngineError, RefusedError, StackLockedError
from kgot_rollout._pack_config import POLICY_PACK, bridge_pack_config
from kgot_rollout._types import Colour

# An update that only changes resources in place (routing, replicas) skips the state
# checkpoint the engine writes after every step and saves the state once, at
# the end. Why: the file (DIY) backend rewrites the whole state per checkpoint,
# so a flip of N services costs O(N x state size): measured on 100 services
# (833 resources, 5.9 MB of state), a flip took 145 s with them, 21 s without
# (benchmarks/flip_bench.py). The risk Pulumi names, state edits lost if the CLI
# dies mid-update, is bounded here: no step creates or deletes anything, so a
# lost edit leaves the state behind the cluster (as after a failed fast
# rollback) and the next `up` re-applies the same objects; nothing is orphaned.
# The engine still saves the state when the update ends, failed or not
# (SnapshotManager.unsafeServiceLoop). Pulumi Cloud journals its checkpoints
# instead and loses nothing from this. Old CLIs (3.79 did) also want
# PULUMI_EXPERIMENTAL=true for it; the pinned one (3.274, as 3.215) does not.
SKIP_CHECKPOINTS = {"PULUMI_SKIP_CHECKPOINTS": "true"}

# How many refusals of the policy pack a message lists.
_SHOWN_REFUSALS = 5


def engine_error(
    stack: str, action: str, exc: auto.CommandError, policy_events: Sequence[PolicyEvent]
) -> Exception:
    """A mandatory policy violation refuses the step; anything else is an error.

    Read from the engine's structured policy events (their enforcement level),
    never from the text of the error.
    """
    refusals = [e for e in policy_events if e.enforcement_level == "mandatory"]
    if refusals:
        shown = [
            f"{e.policy_name}"
            + (f" on {e.resource_urn.rsplit('::', 1)[-1]}" if e.resource_urn else "")
            + f": {e.message.strip().splitlines()[0] if e.message.strip() else ''}"
            for e in refusals[:_SHOWN_REFUSALS]
        ]
        more = len(refusals) - _SHOWN_REFUSALS
        return RefusedError(
            f"stack {stack}: the policy pack refused the {action}: "
            + "; ".join(shown)
            + (f"; and {more} more" if more > 0 else "")
        )
    return EngineError(f"stack {stack}: {action} failed: {str(exc)[-2000:]}")


class _Events:
    """Collects what the rollout reads from an operation's engine events."""

    def __init__(self, forward: Callable[[EngineEvent], None] | None = None) -> None:
        self.steps: list[ResourceStep] = []
        self.policy: list[PolicyEvent] = []
        self._forward = forward

    def __call__(self, event: EngineEvent) -> None:
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            paths = tuple(meta.detailed_diff or ()) or tuple(meta.diffs or ())
            op = op_type(meta.op) or OpType.REPLACE  # an unknown op counts as a change
            self.steps.append(ResourceStep(meta.urn, meta.type, op, paths))
        if event.policy_event is not None:
            self.policy.append(event.policy_event)
        if self._forward is not None:
            self._forward(event)


def _lock_message(stack: str) -> str:
    return (
        f"stack {stack}: another update holds the stack lock; nothing was changed. "
        "Wait for it to finish (or `pulumi cancel` a stuck one) and run again."
    )


class AutomationEngine:
    """A stack of the kgot-platform project, driven through the Automation API."""

    def __init__(
        self,
        stack: str,
        project_dir: Path,
        *,
        env_vars: Mapping[str, str] | None = None,
        policy_packs: Sequence[str] = (POLICY_PACK,),
        policy_pack_configs: Sequence[str | Path] | None = None,
        on_event: Callable[[EngineEvent], None] | None = None,
    ) -> None:
        """``policy_pack_configs``: a JSON config file for each of ``policy_packs``, in
        order (as ``--policy-pack-config`` pairs with ``--policy-pack``). None: the
        config the bridge makes from the stack file (see ``bridge_pack_config``),
        generated at the first preview or update.
        """
        self._stack_name = stack
        self._project_dir = project_dir
        self._policy_packs = [str((project_dir / p).resolve()) for p in policy_packs]
        if policy_pack_configs is not None and len(policy_pack_configs) != len(policy_packs):
            raise ValueError(
                f"policy_pack_configs: {len(policy_pack_configs)} files for "
                f"{len(policy_packs)} policy packs; allowed: one for each pack"
            )
        self._pack_configs = (
            None
            if policy_pack_configs is None
            else [str(Path(p).resolve()) for p in policy_pack_configs]
        )
        self._on_event = on_event
        try:
            workspace = auto.LocalWorkspace(
                work_dir=str(project_dir), env_vars=dict(env_vars or {})
            )
            self._stack = auto.Stack.select(stack, workspace)
        except auto.StackNotFoundError as exc:
            raise RefusedError(
                f"stack {stack!r} does not exist in project {PROJECT} at {project_dir}; "
                "allowed: an existing stack (pulumi stack ls)"
            ) from exc
        except auto.CommandError as exc:
            raise EngineError(f"stack {stack}: cannot open the workspace: {exc}") from exc

    @property
    def stack(self) -> str:
        return self._stack_name

    @property
    def policy_pack_configs(self) -> list[str]:
        """The config file each policy pack gets (generated by the bridge on first use)."""
        if self._pack_configs is None:
            if not self._policy_packs:
                self._pack_configs = []
            else:
                # pulumi reads it at every preview and update; removed with the engine.
                scratch = tempfile.mkdtemp(prefix="kgot-rollout-pack-")
                weakref.finalize(self, shutil.rmtree, scratch, ignore_errors=True)
                output = Path(scratch) / f"policy-pack-{self.stack}.json"
                generated = str(bridge_pack_config(self.stack, self._project_dir, output))
                self._pack_configs = [generated] * len(self._policy_packs)
        return self._pack_configs

    def get_config(self) -> dict[str, object]:
        try:
            config = self._stack.get_all_config()
        except auto.CommandError as exc:
            raise EngineError(f"stack {self.stack}: reading config failed: {exc}") from exc
        prefix = f"{PROJECT}:"
        return {
            key.removeprefix(prefix): Secret(value.value) if value.secret else value.value
            for key, value in config.items()
            if key.startswith(prefix) or ":" not in key
        }

    def set_config(self, values: Mapping[str, str]) -> None:
        config = {key: auto.ConfigValue(value=value) for key, value in values.items()}
        try:
            self._stack.set_all_config(config)
        except auto.CommandError as exc:
            raise EngineError(f"stack {self.stack}: writing config failed: {exc}") from exc

    def preview(self) -> PreviewReport:
        events = _Events()
        try:
            result = self._stack.preview(
                diff=True,
                on_event=events,
                policy_packs=self._policy_packs,
                policy_pack_configs=self.policy_pack_configs,
                color="never",
            )
        except auto.ConcurrentUpdateError as exc:
            raise StackLockedError(_lock_message(self.stack)) from exc
        except auto.CommandError as exc:
            raise engine_error(self.stack, "preview", exc, events.policy) from exc
        summary = {op_type(op): count for op, count in result.change_summary.items()}
        return PreviewReport(change_summary=summary, steps=tuple(events.steps))

    def up(
        self, *, message: str, target: Sequence[str] | None = None, in_place: bool = False
    ) -> None:
        events = _Events(forward=self._on_event)
        workspace = self._stack.workspace
        saved = dict(workspace.env_vars)
        if in_place:
            workspace.env_vars = {**saved, **SKIP_CHECKPOINTS}
        try:
            self._stack.up(
                message=message,
                target=list(target) if target else None,
                policy_packs=self._policy_packs,
                policy_pack_configs=self.policy_pack_configs,
                on_event=events,
                color="never",
            )
        except auto.ConcurrentUpdateError as exc:
            raise StackLockedError(_lock_message(self.stack)) from exc
        except auto.CommandError as exc:
            raise engine_error(self.stack, "update", exc, events.policy) from exc
        finally:
            workspace.env_vars = saved

    def _state_resources(self) -> list[dict[str, object]]:
        try:
            deployment = self._stack.export_stack()
        except auto.CommandError as exc:
            raise EngineError(f"stack {self.stack}: exporting state failed: {exc}") from exc
        resources = deployment.deployment.get("resources", []) if deployment.deployment else []
        return [r for r in resources if isinstance(r, dict)]

    def routing_urns(self) -> list[str]:
        return [
            str(r["urn"])
            for r in self._state_resources()
            if is_routing_type(str(r.get("type", "")))
        ]

    def deployment_urns(self, colour: str) -> list[str]:
        return [
            str(r["urn"])
            for r in self._state_resources()
            if str(r.get("type", "")).endswith(":Deployment")
            and str(r["urn"]).endswith(f"-{colour}")
        ]

    def deployments(self, namespace: str, colour: Colour) -> Mapping[str, DeploymentStatus]:
        # The provider's kubeconfig (KUBECONFIG); the stacks set no other.
        return read_deployments(namespace, colour)

    def routing_objects(self) -> list[RoutingObject]:
        objects: list[RoutingObject] = []
        for resource in self._state_resources():
            if not is_routing_type(str(resource.get("type", ""))):
                continue
            urn = str(resource["urn"])
            inputs, outputs = resource.get("inputs"), resource.get("outputs")
            # The provider keeps the manager it applied as with the outputs.
            manager = outputs.get("__fieldManager") if isinstance(outputs, dict) else None
            if not isinstance(inputs, dict) or not isinstance(manager, str):
                raise EngineError(
                    f"stack {self.stack}: {urn} has no applied manifest or field manager in "
                    "its state (deployed without server-side apply?)"
                )
            objects.append(RoutingObject(urn, manager, inputs))
        return objects

    def apply_routing(self, objects: Sequence[RoutingObject]) -> None:
        apply_as_owner(objects)

    def last_update(self) -> AppliedUpdate | None:
        try:
            history = self._stack.history(page_size=5, show_secrets=False)
        except auto.CommandError as exc:
            raise EngineError(f"stack {self.stack}: reading history failed: {exc}") from exc
        prefix = f"{PROJECT}:"
        for summary in history:
            if summary.kind != "update":
                continue
            config = {
                key.removeprefix(prefix): value.value for key, value in summary.config.items()
            }
            return AppliedUpdate(
                result=summary.result,
                config=config,
                version=summary.version,
                message=summary.message,
            )
        return None


def describe_event(event: EngineEvent) -> str | None:
    """One line for what an update did: a resource changed, or an error/warning."""
    if event.resource_pre_event is not None:
        meta = event.resource_pre_event.metadata
        op = op_type(meta.op)
        if op in UNCHANGED_OPS:
            return None
        shown = op.value if op is not None else str(meta.op)
        return f"{shown} {meta.type} {meta.urn.rsplit('::', 1)[-1]}"
    if event.policy_event is not None:
        policy = event.policy_event
        text = policy.message.strip()[:500]
        return f"policy {policy.enforcement_level}: {policy.policy_name}: {text}"
    diagnostic = event.diagnostic_event
    if diagnostic is not None and diagnostic.severity in ("error", "warning"):
        return f"{diagnostic.severity}: {diagnostic.message.strip()[:500]}"
    return None
