#!/usr/bin/env bash
# pulumi-compatible.sh <pulumi binary>: exit 0 when that CLI is new enough for
# this project (Python policy packs through the language host need >= 3.221).
set -euo pipefail
v=$("$1" version 2>/dev/null | sed 's/^v//')
[ -n "$v" ] || exit 1
python3 - "$v" <<'PY'
import sys
parts = sys.argv[1].split("-")[0].split(".")
sys.exit(0 if tuple(int(p) for p in parts[:3]) >= (3, 221, 0) else 1)
PY
