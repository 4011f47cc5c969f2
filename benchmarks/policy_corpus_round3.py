"""Round 3 of the policy benchmark: autoscalers, egress isolation, any workload identity, cloud
credential names, budgets with both fields (issue 21), and the sane side of each.

Same shape as policy_corpus.py: a defect is a hardened manifest with one thing
broken, compared with its baseline under the same pack config; a sane case
must add no refusal (an advisory review finding is shown, not counted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from policy_corpus import (
    Body,
    Defect,
    _binding,
    _broken,
    _config_map,
    _deployment,
    _envs,
    _first,
    _group,
    _role,
    _rule,
    _stack,
    _with_config_map,
)
from policy_fixtures import NS, obj

PRODUCTION = {
    name: {"environment": "production"}
    for name in (
        "workload-replicas-production",
        "workload-disruption-budget",
        "network-policy-coverage",
    )
}
CI_RUNNER = {"kind": "ServiceAccount", "name": "ci-runner", "namespace": NS}


def _hpa(minimum: int | None, target: str = "controller-blue") -> Body:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "maxReplicas": 10,
    }
    if minimum is not None:
        spec["minReplicas"] = minimum
    body: Body = obj("HorizontalPodAutoscaler", target, spec=spec)
    return body


def _budget(**spec: Any) -> Body:
    selector = {"matchLabels": {"app.kubernetes.io/name": "controller"}}
    body: Body = obj("PodDisruptionBudget", "controller", spec={**spec, "selector": selector})
    return body


def _scaled(minimum: int | None, replicas: int | None = 2) -> Callable[[], list[Body]]:
    """The hardened Deployment, its budget and an HPA scaling it."""

    def build() -> list[Body]:
        deployment = _deployment()
        if replicas is None:
            deployment["spec"].pop("replicas")
        else:
            deployment["spec"]["replicas"] = replicas
        return [deployment, _budget(maxUnavailable=1), _hpa(minimum)]

    return build


def _with_budget() -> list[Body]:
    return [_deployment(), _budget(maxUnavailable=1)]


def _open_egress(bodies: list[Body]) -> None:
    # What a namespace had before: ingress denied, egress left open.
    _first(bodies, "NetworkPolicy", "default-deny")["spec"]["policyTypes"] = ["Ingress"]
    bodies.remove(_first(bodies, "NetworkPolicy", "allow-dns"))


def _granted(rule: Body, kind: str = "Role") -> Callable[[], list[Body]]:
    binding = "RoleBinding" if kind == "Role" else "ClusterRoleBinding"
    return lambda: [_role(kind, "x", rule), _binding(binding, kind, "x", CI_RUNNER)]


FAKE_STORAGE_KEY = "c3RvcmFnZWtleTQy" + "bm90cmVhbA=="
FAKE_OCI_KEY = "MIIEvQIBADANBgkqhkiG9w0B" + "AQEFAASCBKcwggSjAgEAAoIBAQC"

ROUND_3: list[Defect] = [
    Defect("HPA minReplicas 1 in production", 23, _scaled(1), "budgeted", PRODUCTION),
    Defect("HPA minReplicas unset (1) in production", 23, _scaled(None), "budgeted", PRODUCTION),
    Defect(
        "PDB minAvailable 2 over an HPA floor of 2",
        23,
        lambda: [_deployment(), _budget(minAvailable=2), _hpa(2)],
        "budgeted",
        PRODUCTION,
    ),
    Defect(
        "PDB with minAvailable and maxUnavailable",
        23,
        lambda: [_budget(minAvailable=1, maxUnavailable=1)],
        "none",
    ),
    Defect("egress open in production", 26, _stack(_open_egress), "stack", PRODUCTION),
    Defect(
        "pods/exec to an unused service account",
        29,
        _granted(_rule("", "pods/exec", "create")),
        "none",
    ),
    Defect(
        "secrets list to an unused account (cluster)",
        29,
        _granted(_rule("", "secrets", "get list"), "ClusterRole"),
        "none",
    ),
    Defect("AZURE_STORAGE_KEY in env", 30, _broken(_envs(("AZURE_STORAGE_KEY", FAKE_STORAGE_KEY)))),
    Defect(
        "AZURE_BATCH_ACCOUNT_KEY in env",
        30,
        _broken(_envs(("AZURE_BATCH_ACCOUNT_KEY", "batch" + "key4242"))),
    ),
    Defect(
        "OCI_CLI_KEY_CONTENT in a ConfigMap",
        30,
        _with_config_map(_config_map(data={"OCI_CLI_KEY_CONTENT": FAKE_OCI_KEY})),
    ),
]

SANE_3: list[Defect] = [
    Defect(
        "HPA-managed Deployment, floor 3 (prod)",
        23,
        _scaled(3, replicas=None),
        "budgeted",
        PRODUCTION,
    ),
    Defect(
        "egress-isolated namespace, allow rules (prod)",
        26,
        _stack(lambda b: None),
        "stack",
        PRODUCTION,
    ),
    Defect(
        "people's Role with exec (review only)",
        29,
        lambda: [
            _role("Role", "x", _rule("", "pods/exec", "create")),
            _binding("RoleBinding", "Role", "x", _group("kgot-platform:operators")),
        ],
        "none",
    ),
    Defect(
        "unused account that deploys (CI runner)",
        29,
        _granted(_rule("apps", "deployments", "get create patch")),
        "none",
    ),
    Defect(
        "cloud settings and placeholders in env",
        30,
        _broken(
            _envs(
                ("AZURE_STORAGE_ACCOUNT", "kgotstorage"),
                ("AZURE_STORAGE_KEY", "$(AZURE_STORAGE_KEY)"),
                ("OCI_CLI_KEY_FILE", "/etc/oci/key.pem"),
                ("AZURE_STORAGE_AUTH_MODE", "login"),
            )
        ),
    ),
]

# Baselines round 3 adds: the hardened Deployment with its budget (production).
BASELINES_3 = {"budgeted": _with_budget}
