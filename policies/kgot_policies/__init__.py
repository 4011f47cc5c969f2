"""kgot-platform's CrossGuard policies, one module per concern.

``kgot_policies.registry.POLICIES`` is the full list; ``policies/__main__.py``
only wraps it in a PolicyPack, so tests and tools evaluate the policies
(``kgot_policies.evaluate.run``) without starting the pack.
"""
