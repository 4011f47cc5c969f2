"""The pack served over gRPC, called the way the Pulumi engine calls an analyzer.

Starts `python policies` (what the language host runs for a Python pack) and
drives GetAnalyzerInfo, Configure, Analyze, AnalyzeStack and Remediate with
serialized inputs, so the pack's metadata, config schemas, unknown values,
Pulumi secrets and remediation are checked without the CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from kgot_policies.registry import PACK_NAME, POLICIES
from kgot_policies.stack_config import pack_config
from policy_fixtures import TYPE, full_pod_spec, platform_objects, pod_spec_of, workload
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, plugin_pb2

from components.settings import SecurityThresholds

pytestmark = pytest.mark.policies
ROOT = Path(__file__).resolve().parents[2]
SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
UNKNOWN_BOOL = "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7"


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    env = {**os.environ, "PULUMI_STACK": "dev"}
    pack = subprocess.Popen(
        [sys.executable, "-u", str(ROOT / "policies"), "127.0.0.1:1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert pack.stdout is not None
        port = pack.stdout.readline().strip()
        assert port.isdigit(), pack.stderr.read() if pack.stderr else "no port"
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        pack.terminate()
        pack.wait(timeout=10)
        for stream in (pack.stdout, pack.stderr):
            if stream is not None:
                stream.close()


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    json_format.ParseDict(value, struct)
    return struct


def _analyze(stub: analyzer_pb2_grpc.AnalyzerStub, body: dict[str, Any]) -> list[Any]:
    request = analyzer_pb2.AnalyzeRequest(
        type=TYPE[body["kind"]],
        properties=_struct(body),
        urn=f"urn:pulumi:dev::kgot-platform::{TYPE[body['kind']]}::{body['metadata']['name']}",
        name=body["metadata"]["name"],
    )
    return list(stub.Analyze(request).diagnostics)


def _resource(body: dict[str, Any]) -> analyzer_pb2.AnalyzerResource:
    token = TYPE[body["kind"]]
    name = body["metadata"]["name"]
    return analyzer_pb2.AnalyzerResource(
        type=token,
        properties=_struct(body),
        urn=f"urn:pulumi:dev::kgot-platform::{token}::{name}",
        name=name,
    )


def _configure(stub: analyzer_pb2_grpc.AnalyzerStub, document: dict[str, Any]) -> None:
    configs = {}
    for name, settings in document.items():
        level = settings.pop("enforcementLevel", None) if isinstance(settings, dict) else settings
        config = analyzer_pb2.PolicyConfig(
            properties=_struct(settings if isinstance(settings, dict) else {})
        )
        if level:
            config.enforcementLevel = analyzer_pb2.EnforcementLevel.Value(str(level).upper())
        else:
            config.enforcementLevel = analyzer_pb2.MANDATORY
        configs[name] = config
    stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=configs))


def test_analyzer_info_lists_every_policy_with_its_metadata(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == PACK_NAME and info.supportsConfig
    assert {p.name for p in info.policies} == {p.name for p in POLICIES}
    for policy in info.policies:
        assert policy.description and policy.remediation_steps
        assert policy.severity != analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED
        assert policy.framework.name and any(t.startswith("rule:") for t in policy.tags)
    schema = next(p for p in info.policies if p.name == "vulnerability-thresholds").configSchema
    assert json_format.MessageToDict(schema.properties)["maxHigh"]["default"] == 5


def test_hardened_deployment_passes_and_a_broken_one_is_named(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    assert _analyze(analyzer, workload("Deployment", full_pod_spec())) == []
    broken = workload("Deployment", full_pod_spec())
    pod_spec_of(broken)["initContainers"][0]["securityContext"]["privileged"] = True
    found = _analyze(analyzer, broken)
    assert [d.policyName for d in found] == ["pod-privileged-containers"]
    assert found[0].enforcementLevel == analyzer_pb2.MANDATORY
    assert "initContainer 'migrate'" in found[0].message


def test_unknown_values_are_not_guessed(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    body = workload("Deployment", full_pod_spec())
    pod_spec_of(body)["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = UNKNOWN_BOOL
    body["metadata"]["namespace"] = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    assert _analyze(analyzer, body) == []


def test_a_pulumi_secret_in_an_env_value_is_still_plaintext_in_the_pod_spec(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    body = workload("Deployment", full_pod_spec())
    token = "ghp_" + "1234567890abcdefghijABCDEFGHIJ123456"
    pod_spec_of(body)["containers"][0]["env"] = [
        {"name": "GITHUB_TOKEN", "value": {**SECRET_SIG, "value": token}}
    ]
    found = _analyze(analyzer, body)
    assert [d.policyName for d in found] == ["no-plaintext-secrets"]
    assert token not in found[0].message


def test_stack_policies_run_over_the_platform(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    stack = platform_objects()
    response = analyzer.AnalyzeStack(
        analyzer_pb2.AnalyzeStackRequest(resources=[_resource(b) for b in stack])
    )
    assert list(response.diagnostics) == []
    without_deny = [b for b in stack if b["metadata"]["name"] != "default-deny"]
    response = analyzer.AnalyzeStack(
        analyzer_pb2.AnalyzeStackRequest(resources=[_resource(b) for b in without_deny])
    )
    assert {d.policyName for d in response.diagnostics} == {"network-policy-coverage"}


def test_config_from_the_bridge_is_accepted_and_applied(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, tmp_path: Path
) -> None:
    missing = tmp_path / "absent.json"
    # The documented defaults: MEDIUM, 0, 5, all three frameworks, 0.8.
    security = SecurityThresholds()
    document = json.loads(json.dumps(pack_config("production", security, [str(missing)])))
    _configure(analyzer, document)
    try:
        response = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[]))
        found = [d for d in response.diagnostics if d.policyName == "vulnerability-thresholds"]
        assert found and str(missing) in found[0].message
        tagged = workload("Deployment", full_pod_spec())
        assert {d.policyName for d in _analyze(analyzer, tagged)} == {"image-tag-digest-signature"}
    finally:
        _configure(analyzer, {})


def test_remediation_through_the_engine_protocol(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    _configure(analyzer, {"pod-seccomp-profile": {"enforcementLevel": "remediate"}})
    try:
        body = workload("Deployment", full_pod_spec())
        spec = pod_spec_of(body)
        spec["securityContext"].pop("seccompProfile")
        for section in ("containers", "initContainers", "ephemeralContainers"):
            spec[section][0]["securityContext"].pop("seccompProfile")
        spec["containers"][0]["env"].append({"name": "T", "value": {**SECRET_SIG, "value": "x"}})
        request = analyzer_pb2.AnalyzeRequest(
            type=TYPE["Deployment"], properties=_struct(body), urn="urn:x", name="x"
        )
        response = analyzer.Remediate(request)
        assert [r.policyName for r in response.remediations] == ["pod-seccomp-profile"]
        fixed = json_format.MessageToDict(response.remediations[0].properties)
        pod = fixed["spec"]["template"]["spec"]
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        # The Pulumi secret stays marked as one.
        assert pod["containers"][0]["env"][-1]["value"] == {**SECRET_SIG, "value": "x"}
    finally:
        _configure(analyzer, {})


def test_plugin_info_answers(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    assert isinstance(analyzer.GetPluginInfo(empty_pb2.Empty()), plugin_pb2.PluginInfo)
