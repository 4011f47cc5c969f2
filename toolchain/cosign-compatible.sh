#!/usr/bin/env bash
# cosign-compatible.sh [cosign binary]: exit 0 when that cosign (default: the
# one on PATH) is a 2.x release from 2.2 on: the images scripts use cosign 2's
# flags and defaults (--tlog-upload=false, --insecure-ignore-tlog,
# --allow-http-registry); cosign 3 changes the signature format they read back.
set -euo pipefail
bin=${1:-$(command -v cosign || true)}
[ -n "$bin" ] || exit 1
v=$("$bin" version 2>/dev/null | sed -n 's/^GitVersion: *v\{0,1\}//p')
case $v in
  2.[2-9].* | 2.[1-9][0-9].*) exit 0 ;;
  *) exit 1 ;;
esac
