"""The kgot-platform CrossGuard pack: `pulumi preview --policy-pack policies`.

Only wraps the registry in a PolicyPack; the policies live in kgot_policies so
tests and tools can run them without starting a pack.
"""

from kgot_policies.registry import PACK_NAME, POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name=PACK_NAME,
    policies=POLICIES,
    enforcement_level=EnforcementLevel.MANDATORY,
)
