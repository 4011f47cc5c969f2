from __future__ import annotations

import sys

from kgot_rollout.cli import main

sys.exit(main(sys.argv[1:]))
