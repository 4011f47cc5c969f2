#!/usr/bin/env bash
# Debian packages the project needs:
# - promtool/amtool to check the monitoring config, and a real Prometheus
#   server on loopback for the rollout tool's fast metric-gate tests;
# - the real node of the local cluster: containerd, runc, the CNI plugins,
#   iptables, conntrack, iproute2, and docker-registry (distribution 2.8) to
#   serve the locally built images on loopback.
# Idempotent: does nothing when everything is already there.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null; }
have prometheus || need+=(prometheus)
have promtool || need+=(prometheus)
have amtool || need+=(prometheus-alertmanager)
have containerd || need+=(containerd)
have runc || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
have iptables || need+=(iptables)
have conntrack || need+=(conntrack)
have ip || need+=(iproute2)
have curl || need+=(curl)
have docker-registry || need+=(docker-registry)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "toolchain/debian-packages.sh: missing ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The packages start their services; the project runs its own instances.
for svc in prometheus prometheus-alertmanager containerd docker-registry; do
  (systemctl stop "$svc" || service "$svc" stop) >/dev/null 2>&1 || true
  pkill -x "$svc" >/dev/null 2>&1 || true
done
