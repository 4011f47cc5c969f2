#!/usr/bin/env bash
# The local cluster: etcd, kube-apiserver, kube-controller-manager and
# kube-scheduler from the hermetic toolchain, started by kwokctl with the
# binary runtime; a real node where the platform's pods run (toolchain/node.sh:
# containerd, kubelet, kube-proxy, CoreDNS, the image registry on loopback);
# simulated nodes (KWOK, tainted so only a pod that tolerates them lands
# there: scale tests); the Gateway API CRDs.
#
# Usage: toolchain/cluster.sh up|down|status
#   KGOT_NODE=none   no real node (pods run on the KWOK nodes, simulated)
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
real_node=${KGOT_NODE:-real}
case $real_node in
  real | none) ;;
  *) echo "cluster: KGOT_NODE='$real_node' is not known; allowed: real (default), none" >&2; exit 2 ;;
esac
# The simulated nodes carry this annotation (kwokctl's node template); KWOK
# manages only those, never the real node, and they get this taint.
kwok_selector=kwok.x-k8s.io/node=fake
kwok_taint=kwok.x-k8s.io/node=fake:NoSchedule
# shellcheck source=toolchain/node.sh
source "$here/node.sh"

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
    if [ "$real_node" = real ] && ! node_status >/dev/null 2>&1; then
      log "control plane running, real node not: starting it"
      node_up || exit 1
    fi
    log "already running ($KUBECONFIG)"
    return 0
  fi
  # A half-created cluster from an earlier crash is removed first.
  down >/dev/null 2>&1 || true
  mkdir -p "$(dirname "$KUBECONFIG")"
  # What the components need beyond kwokctl's defaults. (The binary runtime
  # passes --manage-all-nodes=true to KWOK; these extra args come after it.)
  local apiserver_args=""
  if [ "$real_node" = real ]; then
    node_bridge_up
    # Pods reach the API server at its bridge address; the kubelet is reached
    # by its InternalIP (no DNS for node names here).
    apiserver_args="
- name: kube-apiserver
  extraArgs:
  - {key: advertise-address, value: $node_ip}
  - {key: kubelet-preferred-address-types, value: InternalIP}"
  fi
  # kwokctl's serving certificate does not name Service `kubernetes` (the
  # range's first address), which is how pods reach the API server.
  cat >"$KGOT_STATE/kwokctl.yaml" <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  kubeApiserverCertSANs: [10.0.0.1, kubernetes, kubernetes.default, kubernetes.default.svc,
    kubernetes.default.svc.cluster.local]
componentsPatches:
- name: kwok-controller
  extraArgs:
  - {key: manage-all-nodes, value: "false"}
  - {key: manage-nodes-with-annotation-selector, value: "$kwok_selector"}$apiserver_args
EOF
  log "starting Kubernetes v$KUBERNETES_VERSION (kwok $KWOK_VERSION) in $workdir"
  # Every binary kwokctl would otherwise download is named here.
  if ! KWOK_KUBE_VERSION="v$KUBERNETES_VERSION" KWOK_KUBECTL_BINARY="$(command -v kubectl)" \
    kwokctl create cluster --name "$name" --runtime binary --config "$KGOT_STATE/kwokctl.yaml" \
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
  if [ "$real_node" = real ]; then
    kubectl taint nodes -l type=kwok "$kwok_taint" --overwrite >/dev/null
    if ! node_up; then
      log "the real node did not come up; the cluster is stopped (logs: $node_logs)"
      down >/dev/null 2>&1 || true
      exit 1
    fi
    log "up: real node $node_name, $nodes simulated nodes (tainted $kwok_taint)," \
      "Gateway API v$GATEWAY_API_VERSION CRDs; KUBECONFIG=$KUBECONFIG"
  else
    log "up: $nodes simulated nodes, Gateway API v$GATEWAY_API_VERSION CRDs; KUBECONFIG=$KUBECONFIG"
  fi
}

down() {
  node_down quiet
  if command -v kwokctl >/dev/null && [ -d "$workdir" ]; then
    kwokctl delete cluster --name "$name" >/dev/null 2>&1 || true
  fi
  # kwokctl stops what it started; anything left (a crash mid-start) goes too.
  pkill -f -- "$workdir" >/dev/null 2>&1 || true
  rm -rf "$workdir"
  rm -f "$KUBECONFIG"
  log "down"
}

# Names what is down: the control plane, then each part of the real node.
status() {
  if ! is_up; then
    log "control plane not running (no answer from the API server at $KUBECONFIG)"
    return 1
  fi
  kubectl get nodes
  [ "$real_node" = real ] || return 0
  echo
  node_status
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: toolchain/cluster.sh up|down|status" >&2; exit 2 ;;
esac
