"""No secrets in plain sight (rule 30).

Secret values belong in Kubernetes Secrets (referenced with secretKeyRef /
envFrom) or in Pulumi secrets; anywhere else they land in plain text in the
state file, `kubectl describe` output and logs. Findings name where the value
sits and what it looks like, never the value itself.
"""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from ._detect import find_secret_kinds
from ._kube import KubeObject, as_dict, as_list, containers
from ._meta import Controls, kube, mapped

# Tooling annotations that copy the whole object: its fields are scanned where they sit.
_SKIPPED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})


def _places(obj: KubeObject) -> Iterator[tuple[str, str, str, str]]:
    """(where, text, filename hint, name hint) for every value the rule covers."""
    annotation_sets = [("annotation", obj.annotations)]
    if obj.pod_spec() is not None and obj.kind != "Pod":
        annotation_sets.append(
            ("pod template annotation", as_dict(obj.pod_metadata().get("annotations")))
        )
    for label, found in annotation_sets:
        for key, value in found.items():
            if key not in _SKIPPED_ANNOTATIONS and isinstance(value, str):
                yield f"{label} {key}", value, "", key
    pod = obj.pod_spec()
    if pod is not None:
        for container in containers(pod):
            for env in as_list(container.body.get("env")):
                env = as_dict(env)
                value = env.get("value")
                if isinstance(value, str):
                    name = str(env.get("name", "?"))
                    yield f"{container.ref} env {name}", value, "", name
    if obj.kind == "ConfigMap":
        for key, value in as_dict(obj.body.get("data")).items():
            if isinstance(value, str):
                yield f"data key {key}", value, key, key


def plaintext_secrets_validate(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    obj = kube(args)
    if obj is None:
        return
    for where, text, filename, name in _places(obj):
        kinds = find_secret_kinds(text, filename=filename, name=name)
        if kinds:
            report_violation(
                f"{obj.ref}: {where} holds what looks like a secret ({', '.join(kinds)}); "
                "the value is not shown.",
                None,
            )


plaintext_secrets = ResourceValidationPolicy(
    name="no-plaintext-secrets",
    description="No secret-like values in container env values, ConfigMap data or annotations.",
    validate=plaintext_secrets_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.CRITICAL,
    **mapped(
        Controls(30, cis=("5.4.1",), nist=("IA-5", "SC-28", "SC-12"), soc2=("CC6.1", "CC6.7")),
        "secrets",
    ),
    remediation_steps="Rotate the exposed credential, then put it in a Kubernetes Secret (from a "
    "Pulumi secret: `pulumi config set --secret`) and reference it with env.valueFrom."
    "secretKeyRef, envFrom.secretRef or a secret volume.",
)

POLICIES = [plaintext_secrets]
