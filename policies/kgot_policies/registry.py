"""The full list of the pack's policies, importable without starting the pack."""

from __future__ import annotations

from pulumi_policy import Policy

from . import (
    access_control,
    access_review,
    availability,
    compliance,
    network,
    pod_security,
    secrets,
    supply_chain,
    traffic_safety,
    workload_hygiene,
    workload_identity,
)

POLICIES: list[Policy] = [
    *pod_security.POLICIES,
    *workload_hygiene.POLICIES,
    *workload_identity.POLICIES,
    *availability.POLICIES,
    *supply_chain.POLICIES,
    *network.POLICIES,
    *access_control.POLICIES,
    *access_review.POLICIES,
    *secrets.POLICIES,
    *compliance.POLICIES,
    *traffic_safety.POLICIES,
]

PACK_NAME = "kgot-platform-security"


def by_name() -> dict[str, Policy]:
    return {policy.name: policy for policy in POLICIES}
