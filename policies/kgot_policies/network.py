"""Network isolation and exposure (rules 26-28)."""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from ._kube import UNKNOWN, KubeObject, as_dict, as_list, labels_match
from ._meta import (
    ENVIRONMENT_SCHEMA,
    MANDATORY,
    Controls,
    config,
    environment,
    kube,
    mapped,
    stack_objects,
)

# ---- 26. NetworkPolicy coverage and default deny ------------------------------------------


def _selects_all(selector: Any) -> bool:
    selector = as_dict(selector)
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def _policy_types(policy: KubeObject) -> set[str]:
    declared = policy.spec.get("policyTypes")
    if isinstance(declared, list) and declared:
        return {str(t) for t in declared}
    # The API's default: Ingress, plus Egress when egress rules are given.
    return {"Ingress", "Egress"} if "egress" in policy.spec else {"Ingress"}


def is_default_deny(policy: KubeObject, direction: str) -> bool:
    """Selects every pod and allows nothing in this direction."""
    if not _selects_all(policy.spec.get("podSelector")):
        return False
    if direction not in _policy_types(policy):
        return False
    return not as_list(policy.spec.get(direction.lower()))


def isolates_egress(policy: KubeObject) -> bool:
    """Selects every pod and lists Egress: every pod's egress is denied but for its rules.

    A policy listing Egress with no egress rule denies all egress; one with
    rules allows only them. Either way the pods are isolated (the allow rules
    other policies add are the namespace's whole egress), not a gap.
    """
    return _selects_all(policy.spec.get("podSelector")) and "Egress" in _policy_types(policy)


# Where every pod's egress must be denied unless a NetworkPolicy allows it.
EGRESS_ISOLATED_ENVIRONMENTS = ("staging", "production")


def _require_egress_isolation(settings: dict[str, Any]) -> bool:
    declared = settings.get("requireEgressDeny")
    if isinstance(declared, bool):
        return declared
    return environment(settings) in EGRESS_ISOLATED_ENVIRONMENTS


def network_policy_validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    settings = config(args, {})
    objects = stack_objects(args)
    policies = [o for o in objects if o.kind == "NetworkPolicy"]
    workloads = [o for o in objects if o.pod_spec() is not None]
    egress = _require_egress_isolation(settings)
    for namespace in sorted({str(w.namespace) for w in workloads}):
        local = [p for p in policies if str(p.namespace) == namespace]
        if not any(is_default_deny(p, "Ingress") for p in local):
            report_violation(
                f"Namespace {namespace} has no default-deny Ingress NetworkPolicy "
                "(podSelector {} with no rules).",
                None,
            )
        if egress and not any(isolates_egress(p) for p in local):
            report_violation(
                f"Namespace {namespace} leaves its pods' egress open: no NetworkPolicy with "
                "podSelector {} lists Egress in policyTypes, so every pod may call anything "
                "(required in staging and production).",
                None,
            )
    for workload in workloads:
        labels = workload.pod_metadata().get("labels")
        if labels is UNKNOWN:
            continue
        selected = any(
            p.namespace == workload.namespace
            and labels_match(p.spec.get("podSelector") or {}, as_dict(labels))
            for p in policies
        )
        if not selected:
            report_violation(f"{workload.ref}: no NetworkPolicy selects its pods.", workload.urn)


network_policy_coverage = StackValidationPolicy(
    name="network-policy-coverage",
    description="Every namespace with workloads has a default-deny NetworkPolicy (egress too in "
    "staging and production: every pod's egress denied unless a NetworkPolicy allows it) and "
    "every workload is selected by some NetworkPolicy.",
    validate=network_policy_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(Controls(26, cis=("5.3.2",), nist=("AC-4", "SC-7"), soc2=("CC6.6",)), "network"),
    remediation_steps="Add a NetworkPolicy with podSelector: {} and policyTypes [Ingress, Egress] "
    "and no rules, then NetworkPolicies allowing each service's real traffic (DNS, the calls "
    "it makes, scraping); the program adds a team's destinations from network.egress.",
    config_schema=PolicyConfigSchema(
        properties={
            "environment": ENVIRONMENT_SCHEMA,
            "requireEgressDeny": {
                "type": "boolean",
                "description": "Require egress isolation (a podSelector {} policy listing "
                "Egress); unset: required in staging and production.",
            },
        }
    ),
)

# ---- 27. Service exposure -----------------------------------------------------------------


def service_exposure_validate(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    obj = kube(args, ("Service",))
    if obj is None or obj.kind != "Service":
        return
    settings = config(args, {"allowLoadBalancer": False, "loadBalancerServices": []})
    service_type = obj.spec.get("type")
    if service_type == "NodePort":
        report_violation(f"{obj.ref}: is a NodePort Service, open on every node.", None)
    elif service_type == "LoadBalancer":
        allowed = settings["allowLoadBalancer"] or obj.name in as_list(
            settings["loadBalancerServices"]
        )
        if not allowed:
            report_violation(
                f"{obj.ref}: is a LoadBalancer Service and the stack allows none here.", None
            )
    for port in as_list(obj.spec.get("ports")):
        node_port = as_dict(port).get("nodePort")
        if service_type != "LoadBalancer" and node_port not in (None, 0, UNKNOWN):
            report_violation(f"{obj.ref}: pins nodePort {node_port}.", None)


service_exposure = ResourceValidationPolicy(
    name="service-exposure",
    description="Services are not NodePort; LoadBalancer only where the stack allows it.",
    validate=service_exposure_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(Controls(27, nist=("SC-7", "AC-4"), soc2=("CC6.6",)), "network"),
    remediation_steps="Use a ClusterIP Service behind the Gateway/Ingress; allow a LoadBalancer "
    "through config (allowLoadBalancer or loadBalancerServices).",
    config_schema=PolicyConfigSchema(
        properties={
            "allowLoadBalancer": {"type": "boolean", "default": False},
            "loadBalancerServices": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Service names allowed to be LoadBalancers.",
            },
        }
    ),
)

# ---- 27. Service externalIPs (CVE-2020-8554) ---------------------------------------------


def external_ips_validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    obj = kube(args, ("Service",))
    if obj is None or obj.kind != "Service":
        return
    addresses = [a for a in as_list(obj.spec.get("externalIPs")) if a is not UNKNOWN]
    if not addresses:
        return
    settings = config(args, {"allowExternalIPs": False, "externalIPServices": []})
    allowed = settings["allowExternalIPs"] is True or obj.name in as_list(
        settings["externalIPServices"]
    )
    if not allowed:
        report_violation(
            f"{obj.ref}: claims externalIPs {', '.join(str(a) for a in addresses)}; any "
            "Service may claim any address and intercept its traffic (CVE-2020-8554), and "
            "the stack allows none here.",
            None,
        )


service_external_ips = ResourceValidationPolicy(
    name="service-external-ips",
    description="Services set no spec.externalIPs unless the stack allows it (CVE-2020-8554).",
    validate=external_ips_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(Controls(27, nist=("SC-7", "AC-4", "SI-4"), soc2=("CC6.6",)), "network"),
    remediation_steps="Remove spec.externalIPs and expose the Service through the Gateway (or an "
    "allowed LoadBalancer); where externalIPs are needed, allow them through config "
    "(allowExternalIPs or externalIPServices) and restrict them cluster-wide (the "
    "DenyServiceExternalIPs admission plugin or an allow-list webhook).",
    config_schema=PolicyConfigSchema(
        properties={
            "allowExternalIPs": {
                "type": "boolean",
                "default": False,
                "description": "Allow spec.externalIPs on every Service.",
            },
            "externalIPServices": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "Service names allowed to set spec.externalIPs.",
            },
        }
    ),
)

# ---- 28. TLS on Ingress and Gateway listeners ---------------------------------------------


def _host_covered(host: str, tls_hosts: list[str]) -> bool:
    for pattern in tls_hosts:
        if pattern == host:
            return True
        if (
            pattern.startswith("*.")
            and host.count(".") == pattern.count(".")
            and host.endswith(pattern[1:])
        ):
            return True
    return False


def _ingress_problems(obj: KubeObject) -> list[str]:
    tls = [as_dict(t) for t in as_list(obj.spec.get("tls"))]
    if not tls:
        return ["has no TLS section, so it serves plain HTTP"]
    tls_hosts = [str(h) for t in tls for h in as_list(t.get("hosts"))]
    problems = []
    for rule in as_list(obj.spec.get("rules")):
        host = as_dict(rule).get("host")
        if isinstance(host, str) and host and tls_hosts and not _host_covered(host, tls_hosts):
            problems.append(f"serves host {host} without a TLS entry for it")
    return problems


def _gateway_problems(obj: KubeObject) -> list[str]:
    problems = []
    for listener in as_list(obj.spec.get("listeners")):
        listener = as_dict(listener)
        name, protocol = listener.get("name", "?"), listener.get("protocol")
        if protocol is UNKNOWN:
            continue
        if protocol not in ("HTTPS", "TLS"):
            problems.append(f"listener {name} uses {protocol}, not HTTPS/TLS")
            continue
        tls = as_dict(listener.get("tls"))
        if tls.get("mode", "Terminate") == "Terminate" and not as_list(tls.get("certificateRefs")):
            problems.append(f"listener {name} terminates TLS without certificateRefs")
    return problems


_TLS_KINDS = ("Ingress", "Gateway", "ListenerSet", "XListenerSet")


def ingress_tls_validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    obj = kube(args, _TLS_KINDS)
    if obj is None:
        return
    if obj.kind == "Ingress":
        problems = _ingress_problems(obj)
    elif obj.kind in ("Gateway", "ListenerSet", "XListenerSet"):
        problems = _gateway_problems(obj)
    else:
        return
    for problem in problems:
        report_violation(f"{obj.ref}: {problem}.", None)


ingress_tls = ResourceValidationPolicy(
    name="ingress-gateway-tls",
    description="Ingresses and Gateway listeners serve TLS only.",
    validate=ingress_tls_validate,
    enforcement_level=MANDATORY,
    severity=Severity.HIGH,
    **mapped(Controls(28, nist=("SC-8", "SC-13"), soc2=("CC6.7",)), "network"),
    remediation_steps="Add spec.tls with a certificate Secret for every host (Ingress), or use "
    "HTTPS/TLS listeners with certificateRefs (Gateway).",
)

POLICIES = [network_policy_coverage, service_exposure, service_external_ips, ingress_tls]
