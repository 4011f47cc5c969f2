#!/usr/bin/env bash
# Debian packages the tests need: promtool/amtool to check the monitoring
# config, and a real Prometheus server for the rollout tool's metric gates.
# Idempotent: does nothing when every binary is already there.
set -euo pipefail
need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v promtool >/dev/null || need+=(prometheus)
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "toolchain/debian-packages.sh: missing ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The packages start their services; the tests run their own instances.
for svc in prometheus prometheus-alertmanager; do
  (systemctl stop "$svc" || service "$svc" stop) >/dev/null 2>&1 || true
  pkill -x "$svc" >/dev/null 2>&1 || true
done
