"""No secrets in plain sight (rule 30).

Secret values belong in Kubernetes Secrets (referenced with secretKeyRef /
envFrom) or in Pulumi secrets; anywhere else they land in plain text in the
state file, `kubectl describe` output and logs. Scanned: everything a pod is
started with (env values, command and args, probe and hook commands and
headers), ConfigMap data and binaryData, and annotations. A Kubernetes Secret
is where secrets belong, so it is never scanned. Findings name where the value
sits and what it looks like, never the value itself.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from ._detect import find_secret_kinds, find_secret_kinds_in_command
from ._kube import Container, KubeObject, as_dict, as_list, containers, dig
from ._meta import Controls, kube, mapped
from ._secret_names import is_secret_name

# Tooling annotations that copy the whole object: its fields are scanned where they sit.
_SKIPPED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})
_HANDLERS = ("livenessProbe", "readinessProbe", "startupProbe")
# Files that are key stores whatever their bytes look like.
_KEYSTORES = (".p12", ".pfx", ".jks", ".keystore", ".bcfks")


@dataclass(frozen=True)
class Place:
    """A value the rule covers: where it is, its text, and the hints for judging it."""

    where: str
    text: str
    filename: str = ""
    name: str = ""


def _annotations(obj: KubeObject) -> Iterator[Place]:
    annotation_sets = [("annotation", obj.annotations)]
    if obj.pod_spec() is not None and obj.kind != "Pod":
        annotation_sets.append(
            ("pod template annotation", as_dict(obj.pod_metadata().get("annotations")))
        )
    for label, found in annotation_sets:
        for key, value in found.items():
            if key not in _SKIPPED_ANNOTATIONS and isinstance(value, str):
                yield Place(f"{label} {key}", value, name=key)


def _handlers(container: Container) -> Iterator[tuple[str, dict[str, object]]]:
    for name in _HANDLERS:
        yield name, as_dict(container.body.get(name))
    for name in ("postStart", "preStop"):
        yield f"lifecycle.{name}", as_dict(dig(container.body, "lifecycle", name))


def _container_places(container: Container) -> Iterator[Place]:
    for env in as_list(container.body.get("env")):
        env = as_dict(env)
        value = env.get("value")
        if isinstance(value, str):
            name = str(env.get("name", "?"))
            yield Place(f"{container.ref} env {name}", value, name=name)
    for where, handler in _handlers(container):
        for header in as_list(dig(handler, "httpGet", "httpHeaders")):
            header = as_dict(header)
            value = header.get("value")
            if isinstance(value, str):
                name = str(header.get("name", "?"))
                # "Authorization: Bearer ..." is judged as the header line it is.
                yield Place(f"{container.ref} {where} header {name}", f"{name}: {value}", name=name)


def _commands(container: Container) -> Iterator[tuple[str, list[object]]]:
    command = as_list(container.body.get("command")) + as_list(container.body.get("args"))
    if command:
        yield f"{container.ref} command/args", command
    for where, handler in _handlers(container):
        exec_command = as_list(dig(handler, "exec", "command"))
        if exec_command:
            yield f"{container.ref} {where} command", exec_command


def _config_map_places(obj: KubeObject) -> Iterator[Place]:
    for key, value in as_dict(obj.body.get("data")).items():
        if isinstance(value, str):
            yield Place(f"data key {key}", value, key, key)
    for key, value in as_dict(obj.body.get("binaryData")).items():
        if not isinstance(value, str):
            continue
        if key.lower().endswith(_KEYSTORES):
            yield Place(f"binaryData key {key}", "", key, key)
            continue
        try:
            text = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue  # bytes that are not text: nothing a pattern can judge
        yield Place(f"binaryData key {key}", text, key, key)


def _places(obj: KubeObject) -> Iterator[Place]:
    """Every text value the rule covers."""
    yield from _annotations(obj)
    pod = obj.pod_spec()
    if pod is not None:
        for container in containers(pod):
            yield from _container_places(container)
    if obj.kind == "ConfigMap":
        yield from _config_map_places(obj)


def _findings(obj: KubeObject) -> Iterator[tuple[str, list[str]]]:
    """(where, kinds of secret) for every place that holds one."""
    for place in _places(obj):
        if place.where.startswith("binaryData") and place.filename.lower().endswith(_KEYSTORES):
            yield place.where, ["Key store file"]
            continue
        kinds = find_secret_kinds(place.text, filename=place.filename, name=place.name)
        if kinds:
            yield place.where, kinds
    pod = obj.pod_spec()
    if pod is None:
        return
    for container in containers(pod):
        for where, command in _commands(container):
            kinds = find_secret_kinds_in_command(command)
            if kinds:
                yield where, kinds
        for env in as_list(container.body.get("env")):
            env = as_dict(env)
            name = env.get("name")
            # A secret-named variable filled from a ConfigMap: the value sits in
            # plain text in the ConfigMap, wherever that is declared.
            source = dig(env, "valueFrom", "configMapKeyRef")
            if isinstance(name, str) and isinstance(source, dict) and is_secret_name(name):
                yield (
                    f"{container.ref} env {name}",
                    [f"Secret-named variable from ConfigMap {source.get('name')}"],
                )


def plaintext_secrets_validate(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    obj = kube(args)
    if obj is None or obj.kind == "Secret":
        return
    for where, kinds in _findings(obj):
        report_violation(
            f"{obj.ref}: {where} holds what looks like a secret ({', '.join(kinds)}); "
            "the value is not shown.",
            None,
        )


plaintext_secrets = ResourceValidationPolicy(
    name="no-plaintext-secrets",
    description="No secret-like values in what a pod starts with (env values, command and args, "
    "probe commands and headers), ConfigMap data or binaryData, or annotations; Kubernetes "
    "Secrets and public key material are left alone.",
    validate=plaintext_secrets_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.CRITICAL,
    **mapped(
        Controls(30, cis=("5.4.1",), nist=("IA-5", "SC-28", "SC-12"), soc2=("CC6.1", "CC6.7")),
        "secrets",
    ),
    remediation_steps="Rotate the exposed credential, then put it in a Kubernetes Secret (from a "
    "Pulumi secret: `pulumi config set --secret`) and reference it with env.valueFrom."
    "secretKeyRef, envFrom.secretRef or a secret volume; pass it to a command as $(VAR).",
)

POLICIES = [plaintext_secrets]
