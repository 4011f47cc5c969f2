#!/usr/bin/env bash
# The local control plane: etcd, kube-apiserver, kube-controller-manager and
# kube-scheduler from the hermetic toolchain, started by kwokctl with the
# binary runtime, plus simulated nodes (KWOK) and the Gateway API CRDs.
#
# Usage: toolchain/cluster.sh up|down|status
# Writes its kubeconfig to .state/kubeconfig.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=toolchain/env.sh
source "$here/env.sh"
# The local cluster always has its own kubeconfig, whatever KGOT_KUBECONFIG says.
export KUBECONFIG=$KGOT_STATE/kubeconfig

name=${KGOT_CLUSTER_NAME:-kgot}
nodes=${KGOT_CLUSTER_NODES:-3}
timeout=${KGOT_CLUSTER_TIMEOUT:-180}
export KWOK_WORKDIR=$KGOT_STATE/kwok
# Never probe for docker/podman, never download a component.
export KWOK_RUNTIME=binary
tc=$KGOT_CACHE/toolchain
workdir=$KWOK_WORKDIR/clusters/$name

log() { printf 'cluster: %s\n' "$*" >&2; }

need_binaries() {
  local b
  for b in kwokctl kwok kube-apiserver kube-controller-manager kube-scheduler etcd kubectl; do
    command -v "$b" >/dev/null || { log "$b is not built; run toolchain/build.sh first"; exit 1; }
  done
  [ -d "$KGOT_GATEWAY_CRDS" ] || { log "Gateway API CRDs missing at $KGOT_GATEWAY_CRDS; run toolchain/build.sh"; exit 1; }
}

# Shows the last lines of every component log, for a start that failed.
log_tails() {
  local f
  for f in "$workdir"/logs/*.log; do
    [ -f "$f" ] || continue
    printf '\n--- %s (last 15 lines) ---\n' "$(basename "$f")" >&2
    tail -n 15 "$f" >&2
  done
}

is_up() {
  [ -f "$KUBECONFIG" ] && kubectl --request-timeout=5s get --raw=/readyz >/dev/null 2>&1
}

up() {
  need_binaries
  if is_up; then
    log "already running ($KUBECONFIG)"
    return 0
  fi
  # A half-created cluster from an earlier crash is removed first.
  down >/dev/null 2>&1 || true
  mkdir -p "$(dirname "$KUBECONFIG")"
  log "starting Kubernetes v$KUBERNETES_VERSION (kwok $KWOK_VERSION) in $workdir"
  # Every binary kwokctl would otherwise download is named here.
  if ! KWOK_KUBE_VERSION="v$KUBERNETES_VERSION" KWOK_KUBECTL_BINARY="$(command -v kubectl)" \
    kwokctl create cluster --name "$name" --runtime binary \
    --kube-apiserver-binary "$(command -v kube-apiserver)" \
    --kube-controller-manager-binary "$(command -v kube-controller-manager)" \
    --kube-scheduler-binary "$(command -v kube-scheduler)" \
    --kwok-controller-binary "$(command -v kwok)" \
    --etcd-binary "$(command -v etcd)" \
    --kube-authorization --kube-admission \
    --kubeconfig "$KUBECONFIG" \
    --timeout "${timeout}s" --wait "${timeout}s" >"$KGOT_STATE/kwokctl-create.log" 2>&1; then
    log "the control plane did not come up (bound: ${timeout}s); kwokctl said:"
    tail -n 20 "$KGOT_STATE/kwokctl-create.log" >&2
    log_tails
    down >/dev/null 2>&1 || true
    exit 1
  fi
  kwokctl scale node --name "$name" --replicas "$nodes" >>"$KGOT_STATE/kwokctl-create.log" 2>&1
  kubectl apply --server-side -f "$KGOT_GATEWAY_CRDS" >/dev/null
  kubectl wait --for condition=established --timeout=60s crd --all >/dev/null
  local deadline=$((SECONDS + timeout))
  until [ "$(kubectl get nodes --no-headers 2>/dev/null | grep -c ' Ready')" -ge "$nodes" ]; do
    if [ $SECONDS -ge $deadline ]; then
      log "$nodes simulated nodes did not become Ready within ${timeout}s"
      log_tails
      exit 1
    fi
    sleep 1
  done
  log "up: $nodes simulated nodes, Gateway API v$GATEWAY_API_VERSION CRDs; KUBECONFIG=$KUBECONFIG"
}

down() {
  if command -v kwokctl >/dev/null && [ -d "$workdir" ]; then
    kwokctl delete cluster --name "$name" >/dev/null 2>&1 || true
  fi
  # kwokctl stops what it started; anything left (a crash mid-start) goes too.
  pkill -f -- "$workdir" >/dev/null 2>&1 || true
  rm -rf "$workdir"
  rm -f "$KUBECONFIG"
  log "down"
}

status() {
  if is_up; then
    kubectl get nodes
  else
    log "not running"
    return 1
  fi
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: toolchain/cluster.sh up|down|status" >&2; exit 2 ;;
esac
