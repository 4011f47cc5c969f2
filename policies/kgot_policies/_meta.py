"""What every policy shares: framework controls, config defaults, the stack's environment."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyComplianceFramework,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
)

from ._kube import (
    WORKLOAD_KINDS,
    KubeObject,
    as_dict,
    declared_kind,
    kube_object,
    plain,
    stack_name,
)

FRAMEWORKS = ("CIS", "NIST", "SOC2")
_FRAMEWORK_NAMES = {
    "CIS": ("CIS Kubernetes Benchmark", "1.9"),
    "NIST": ("NIST SP 800-53", "Rev. 5"),
    "SOC2": ("SOC 2 Trust Services Criteria", "2017"),
}
ENVIRONMENTS = ("dev", "staging", "production")
MANDATORY = EnforcementLevel.MANDATORY
# Policies tagged so report what a reviewer should see, not a control failure:
# the compliance score leaves them out.
REVIEW_TAG = "review"


@dataclass(frozen=True)
class Controls:
    """The framework controls a policy provides evidence for.

    They travel as policy tags ("CIS:5.2.2"), so the engine shows them and the
    compliance score reads them back from the same place.
    """

    rule: int
    cis: tuple[str, ...] = ()
    nist: tuple[str, ...] = ()
    soc2: tuple[str, ...] = ()

    def tags(self, *extra: str) -> list[str]:
        tags = [f"rule:{self.rule}"]
        tags += [f"CIS:{c}" for c in self.cis]
        tags += [f"NIST:{c}" for c in self.nist]
        tags += [f"SOC2:{c}" for c in self.soc2]
        return tags + list(extra)

    def framework(self) -> PolicyComplianceFramework:
        # The SDK takes one framework per policy: the most specific one, with
        # every mapping in the tags.
        for key, refs in (("CIS", self.cis), ("NIST", self.nist), ("SOC2", self.soc2)):
            if refs:
                name, version = _FRAMEWORK_NAMES[key]
                return PolicyComplianceFramework(
                    name=name, version=version, reference=", ".join(refs)
                )
        return PolicyComplianceFramework()


def controls_of(policy: Policy) -> dict[str, set[str]]:
    """Framework -> controls, read back from a policy's tags."""
    found: dict[str, set[str]] = {framework: set() for framework in FRAMEWORKS}
    for tag in policy.tags or []:
        framework, _, control = tag.partition(":")
        if framework in found and control:
            found[framework].add(control)
    return found


def rule_of(policy: Policy) -> int | None:
    for tag in policy.tags or []:
        if tag.startswith("rule:"):
            return int(tag.removeprefix("rule:"))
    return None


def config(
    args: ResourceValidationArgs | StackValidationArgs, defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """The policy's config over its defaults (the engine passes only what was set)."""
    merged = dict(defaults)
    merged.update(plain(args.get_config()) or {})
    return merged


ENVIRONMENT_SCHEMA: dict[str, Any] = {
    "type": "string",
    "enum": list(ENVIRONMENTS),
    "description": "Stack role; when unset, the stack name if it is one of dev/staging/production, "
    "else dev.",
}


def environment(settings: Mapping[str, Any]) -> str:
    declared = settings.get("environment")
    if declared in ENVIRONMENTS:
        return str(declared)
    stack = stack_name()
    if stack in ENVIRONMENTS:
        return str(stack)
    return "dev"


def provider_namespace(args: ResourceValidationArgs) -> str | None:
    """The namespace the resource's provider puts objects in when they name none."""
    if args.provider is None:
        return None
    namespace = as_dict(plain(args.provider.props)).get("namespace")
    return namespace if isinstance(namespace, str) and namespace else None


def kube(args: ResourceValidationArgs, kinds: Collection[str] | None = None) -> KubeObject | None:
    """The resource's Kubernetes object; with kinds, only an object of one of them."""
    if kinds is not None and declared_kind(args.resource_type, args.props) not in kinds:
        return None
    return kube_object(
        args.resource_type, args.props, args.name, args.urn, provider_namespace(args)
    )


# A pod spec as policies read it: plain data, unknowns as UNKNOWN.
PodSpec = dict[str, Any]
PodCheck = Callable[[ResourceValidationArgs, KubeObject, PodSpec, ReportViolation], None]


def pod_of(args: ResourceValidationArgs) -> tuple[KubeObject, PodSpec] | None:
    """The object and its pod spec, for every kind that carries one."""
    obj = kube(args, WORKLOAD_KINDS)
    if obj is None:
        return None
    spec = obj.pod_spec()
    if spec is None:
        return None
    return obj, spec


def pod_rule(check: PodCheck) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    """The policy validation that runs ``check`` on each object that carries a pod spec.

    Most rules judge pods only; this keeps the "is there a pod here" step in
    one place, and the rule to what it checks.
    """

    @functools.wraps(check)
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        found = pod_of(args)
        if found is not None:
            obj, pod = found
            check(args, obj, pod, report_violation)

    return validate


def stack_objects(
    args: StackValidationArgs, kinds: Collection[str] | None = None
) -> list[KubeObject]:
    """Every Kubernetes object the stack declares; with kinds, only objects of those kinds
    (the others' inputs are not copied)."""
    objects = []
    for resource in args.resources:
        if kinds is not None and declared_kind(resource.resource_type, resource.props) not in kinds:
            continue
        namespace = None
        if resource.provider is not None:
            declared = as_dict(plain(resource.provider.props)).get("namespace")
            namespace = declared if isinstance(declared, str) and declared else None
        obj = kube_object(
            resource.resource_type, resource.props, resource.name, resource.urn, namespace
        )
        if obj is not None:
            objects.append(obj)
    return objects


def mapped(controls: Controls, *tags: str) -> dict[str, Any]:
    """The framework and tags arguments of a policy mapped to these controls."""
    return {"framework": controls.framework(), "tags": controls.tags(*tags)}
