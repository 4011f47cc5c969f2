"""What the tool reads from the engine: policy refusals and resource operations as structured
events (``policy_event.enforcement_level``, ``OpType``), never as message text."""

from __future__ import annotations

import pytest
from kgot_contract import ROUTING_TYPES
from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult
from pulumi.automation.events import (
    EngineEvent,
    OpType,
    PolicyEvent,
    ResourcePreEvent,
    StepEventMetadata,
)

from kgot_rollout._engine import PreviewReport, ResourceStep, is_routing_type, unsafe_changes
from kgot_rollout._engine_events import describe_event, engine_error
from kgot_rollout._exceptions import EngineError, RefusedError

pytestmark = pytest.mark.rollout

URN = "urn:pulumi:dev::kgot-platform::kubernetes:apps/v1:Deployment::controller-green"


def policy(
    level: str, name: str = "pod-run-as-non-root", message: str = "runs as root"
) -> PolicyEvent:
    return PolicyEvent(
        message=message,
        color="never",
        policy_name=name,
        policy_pack_name="kgot-platform-security",
        policy_pack_version="0.1.0",
        policy_pack_version_tag="0.1.0",
        enforcement_level=level,
        resource_urn=URN,
    )


def failed(text: str) -> auto.CommandError:
    return auto.CommandError(CommandResult(stdout="", stderr=text, code=255))


def test_a_mandatory_policy_event_refuses_the_step_whatever_the_error_says() -> None:
    error = engine_error("dev", "update", failed("error: update failed"), [policy("mandatory")])
    assert isinstance(error, RefusedError)
    assert str(error) == (
        "stack dev: the policy pack refused the update: "
        "pod-run-as-non-root on controller-green: runs as root"
    )


def test_advisory_events_and_words_in_the_text_are_no_refusal() -> None:
    # The text says "mandatory policy violation", but no mandatory event came: an error.
    text = "error: mandatory policy violation in the provider's own message"
    error = engine_error("dev", "preview", failed(text), [policy("advisory")])
    assert isinstance(error, EngineError) and not isinstance(error, RefusedError)
    assert "preview failed" in str(error)


def test_many_refusals_are_summarised() -> None:
    events = [policy("mandatory", f"policy-{i}") for i in range(8)]
    error = engine_error("dev", "preview", failed("x"), events)
    assert "policy-4" in str(error) and "policy-5" not in str(error)
    assert str(error).endswith("; and 3 more")


def _pre(op: object) -> EngineEvent:
    meta = StepEventMetadata(
        op=op,  # type: ignore[arg-type]
        urn=URN,
        type="kubernetes:apps/v1:Deployment",
        provider="",
    )
    return EngineEvent(sequence=1, timestamp=0, resource_pre_event=ResourcePreEvent(meta))


def test_event_lines_come_from_the_op_type() -> None:
    assert describe_event(_pre(OpType.SAME)) is None
    assert describe_event(_pre(OpType.REFRESH)) is None
    assert describe_event(_pre(OpType.REPLACE)) == (
        "replace kubernetes:apps/v1:Deployment controller-green"
    )
    line = describe_event(EngineEvent(sequence=2, timestamp=0, policy_event=policy("mandatory")))
    assert line == "policy mandatory: pod-run-as-non-root: runs as root"


def test_a_change_summary_with_an_unknown_op_is_unsafe() -> None:
    report = PreviewReport(change_summary={OpType.SAME: 4, None: 1})
    assert [s.op for s in unsafe_changes(report)] == [OpType.REPLACE]


def test_routing_types_are_the_programs() -> None:
    assert all(is_routing_type(t) for t in ROUTING_TYPES)
    assert not is_routing_type("kubernetes:apps/v1:Deployment")
    assert not is_routing_type("kubernetes:core/v1:ServiceAccount")
    route = ResourceStep(URN, ROUTING_TYPES[1], OpType.UPDATE, ("spec.rules",))
    assert unsafe_changes(PreviewReport({OpType.UPDATE: 1}, (route,))) == []


def test_an_engine_error_names_the_failing_resource_first_in_whole_lines() -> None:
    failures = [("controller", "HTTPRoute.gateway.networking.k8s.io is forbidden: quota")]
    error = engine_error("dev", "update", failed("x" * 5000), [], failures)
    assert str(error) == (
        "stack dev: update failed on controller: "
        "HTTPRoute.gateway.networking.k8s.io is forbidden: quota"
    )


def test_an_engine_error_without_a_resource_keeps_whole_lines() -> None:
    text = "\n".join(
        [
            "error: update failed",
            *(f"  step {i}: HTTPRoute controller-{i} updated" for i in range(200)),
        ]
    )
    message = str(engine_error("dev", "update", failed(text), []))
    body = message.split("update failed: ", 1)[1]
    assert body.startswith("stderr: error: update failed")
    # Every kept line is whole: no line is cut mid-word.
    kept = body.splitlines()[1:]
    assert kept and all(line.startswith("  step ") and line.endswith("updated") for line in kept)
    assert len(message) <= 2100
