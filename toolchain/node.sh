#!/usr/bin/env bash
# The local cluster's real node: containerd, runc and the CNI plugins from
# Debian; kubelet, kube-proxy and CoreDNS from the hermetic toolchain; images
# from the registry on loopback that toolchain/images.sh fills. It joins the
# control plane that toolchain/cluster.sh starts, beside the KWOK nodes.
#
# Sourced by cluster.sh, which calls node_up, node_down and node_status.
# One real node per machine: kube-proxy's iptables chains, the bridge and the
# kubelet's ports are the machine's, so a second cluster with a real node is
# refused until the first is down (KGOT_NODE=none starts one without).
#
# What worked and why each setting is there: docs/local-cluster.md.

node_name=kgot-node
# The bridge's address is the node's: the host reaches pods and the API
# server reaches the kubelet through it, and pods resolve names on it.
node_bridge=kgot0
node_pod_cidr=10.244.0.0/24
node_ip=10.244.0.1
kubelet_port=10350
kubelet_healthz_port=10348
proxy_healthz_port=10356
proxy_metrics_port=10349
registry_addr=127.0.0.1:5000
# The machine-wide claim on the real node: the state folder of its cluster.
node_claim=/run/kgot-platform-node

node_dir=$KGOT_STATE/node
node_logs=$node_dir/logs
containerd_sock=$node_dir/containerd/containerd.sock

nlog() { printf 'node: %s\n' "$*" >&2; }

node_need() {
  local missing=() b
  for b in containerd runc iptables conntrack ip; do
    command -v "$b" >/dev/null || missing+=("$b")
  done
  [ -x /usr/lib/cni/bridge ] || missing+=("CNI plugins (/usr/lib/cni)")
  [ -x "$(command -v docker-registry || true)" ] || missing+=(docker-registry)
  if [ ${#missing[@]} -gt 0 ]; then
    nlog "missing ${missing[*]}: run toolchain/debian-packages.sh (as root)"
    return 1
  fi
  for b in kubelet kube-proxy coredns crane; do
    command -v "$b" >/dev/null || { nlog "$b is not built: run toolchain/build.sh"; return 1; }
  done
  [ "$(id -u)" -eq 0 ] || { nlog "a real node needs root (containerd, bridges, iptables)"; return 1; }
}

# start <name> <command...>: a daemon in its own session, every stream to its
# log (an inherited pipe would keep a caller's capture open), pid recorded.
start() {
  local name=$1; shift
  setsid "$@" </dev/null >>"$node_logs/$name.log" 2>&1 &
  echo $! >"$node_dir/$name.pid"
}

running() {
  local pid
  pid=$(cat "$node_dir/$1.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null
}

# wait_for <name> <seconds> <check...>: polls the check; on time-out shows the
# component's log tail and fails.
wait_for() {
  local name=$1 bound=$2; shift 2
  local deadline=$((SECONDS + bound))
  until "$@" >/dev/null 2>&1; do
    if ! running "$name" || [ $SECONDS -ge $deadline ]; then
      nlog "$name did not come up within ${bound}s; last lines of its log:"
      tail -n 25 "$node_logs/$name.log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
}

registry_up() {
  curl -fs -o /dev/null "http://$registry_addr/v2/"
}

start_registry() {
  if registry_up; then
    return 0
  fi
  # Storage in the cache: images survive a cluster's down and are shared by
  # every checkout of this machine.
  mkdir -p "$KGOT_CACHE/registry"
  cat >"$node_dir/registry.yml" <<EOF
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $KGOT_CACHE/registry}
  delete: {enabled: true}
http: {addr: $registry_addr}
EOF
  start registry docker-registry serve "$node_dir/registry.yml"
  wait_for registry 20 registry_up
}

write_containerd_config() {
  local d=$node_dir/containerd
  mkdir -p "$d/certs.d/localhost:5000" "$node_dir/cni"
  # The registry on loopback speaks plain HTTP.
  cat >"$d/certs.d/localhost:5000/hosts.toml" <<EOF
server = "http://localhost:5000"
[host."http://localhost:5000"]
  capabilities = ["pull", "resolve"]
EOF
  cat >"$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$containerd_sock"
[ttrpc]
  address = "$d/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
[plugins."io.containerd.grpc.v1.cri"]
  # No registry outside this machine: the sandbox image is one of ours.
  sandbox_image = "$KGOT_PAUSE_IMAGE"
  # This sandbox refuses a negative oom_score_adj; without this every pod
  # sandbox fails in runc with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$node_dir/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$d/certs.d"
EOF
  cat >"$node_dir/cni/10-kgot.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "kgot",
  "plugins": [
    {"type": "bridge", "bridge": "$node_bridge", "isGateway": true, "ipMasq": false,
     "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$node_pod_cidr", "gateway": "$node_ip"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$node_dir/cni-ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF
}

write_kubelet_config() {
  local d=$node_dir/kubelet
  mkdir -p "$d"
  cat >"$d/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_ip
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $kubelet_healthz_port
containerRuntimeEndpoint: unix://$containerd_sock
# Debian's containerd on cgroup v1 (hybrid) hierarchies, no systemd here.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
# Negative oom_score_adj is refused in this sandbox.
oomScoreAdj: 0
clusterDNS: [$node_ip]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
# The API server reaches the kubelet (logs, exec) on the bridge, host-only.
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
# A shared machine's disk is rarely 85 % free; evict only when it is nearly full.
evictionHard: {memory.available: 200Mi, nodefs.available: 2%, imagefs.available: 2%}
imageGCHighThresholdPercent: 98
imageGCLowThresholdPercent: 95
serializeImagePulls: false
maxPods: 110
podCIDR: $node_pod_cidr
# Container logs with the rest of the node, not in the machine's /var/log.
podLogsDir: $d/pod-logs
EOF
}

write_proxy_config() {
  cat >"$node_dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $KUBECONFIG}
hostnameOverride: $node_name
mode: iptables
clusterCIDR: $node_pod_cidr
# Pods that reach a Service backed by a pod on the same bridge get the reply
# through the host, whatever br_netfilter says.
iptables: {masqueradeAll: true}
# Neither may be changed in this sandbox.
oomScoreAdj: 0
conntrack: {maxPerCore: 0}
healthzBindAddress: 127.0.0.1:$proxy_healthz_port
metricsBindAddress: 127.0.0.1:$proxy_metrics_port
EOF
}

write_corefile() {
  cat >"$node_dir/Corefile" <<EOF
.:53 {
    bind $node_ip
    errors
    health 127.0.0.1:18080
    ready 127.0.0.1:18181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $KUBECONFIG
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    forward . /etc/resolv.conf
    cache 30
    loadbalance
}
EOF
}

# The machine's node resources (bridge, pod network namespaces, iptables
# chains, pod cgroups) are ours to clear when we hold the claim, or when its
# holder's kubelet is gone (a killed run); never while another cluster's
# real node runs.
owns_node_resources() {
  local owner
  owner=$(cat "$node_claim" 2>/dev/null || true)
  [ -z "$owner" ] || [ "$owner" = "$KGOT_STATE" ] || ! pgrep -f -- "$owner/node/kubelet" >/dev/null
}

# The pods' bridge with the node's address. Made before the API server starts
# too: it advertises this address, so pods reach it (Service `kubernetes`)
# without leaving the bridge.
node_bridge_up() {
  sysctl -qw net.ipv4.ip_forward=1
  # Bridged pod-to-pod traffic through iptables, as kube-proxy expects.
  if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
    sysctl -qw net.bridge.bridge-nf-call-iptables=1
  fi
  ip link show "$node_bridge" >/dev/null 2>&1 || ip link add "$node_bridge" type bridge
  ip addr replace "$node_ip/24" dev "$node_bridge"
  ip link set "$node_bridge" up
}

node_ready() {
  kubectl get node "$node_name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null |
    grep -qx True
}

node_up() {
  node_need || return 1
  local owner
  owner=$(cat "$node_claim" 2>/dev/null || true)
  if [ -n "$owner" ] && [ "$owner" != "$KGOT_STATE" ] && [ -d "$owner/node" ] &&
    pgrep -f -- "$owner/node/kubelet" >/dev/null; then
    nlog "a real node already runs for the cluster in $owner; stop it first" \
      "(KGOT_STATE=$owner toolchain/cluster.sh down) or start this one without (KGOT_NODE=none)"
    return 1
  fi
  # Whatever a killed run left behind (ours or an earlier owner's) goes first.
  node_down quiet
  if [ -n "$owner" ] && [ "$owner" != "$KGOT_STATE" ]; then
    (KGOT_STATE=$owner && node_dir=$owner/node && containerd_sock=$node_dir/containerd/containerd.sock &&
      node_down quiet)
  fi
  echo "$KGOT_STATE" >"$node_claim"
  mkdir -p "$node_logs"
  local start_at=$SECONDS

  node_bridge_up
  start_registry || return 1
  "$(dirname "${BASH_SOURCE[0]}")/images.sh" push || {
    nlog "the images could not be built or pushed (see above)"
    return 1
  }

  write_containerd_config
  start containerd containerd --config "$node_dir/containerd/config.toml"
  wait_for containerd 30 ctr --address "$containerd_sock" version || return 1

  write_corefile
  start coredns coredns -conf "$node_dir/Corefile"
  wait_for coredns 30 curl -fsS http://127.0.0.1:18181/ready || return 1

  write_kubelet_config
  start kubelet kubelet --config "$node_dir/kubelet/config.yaml" --kubeconfig "$KUBECONFIG" \
    --root-dir "$node_dir/kubelet/root" --cert-dir "$node_dir/kubelet/pki" \
    --hostname-override "$node_name" --node-ip "$node_ip" \
    --node-labels "kgot.io/node=real" --v 1
  wait_for kubelet 90 node_ready || return 1

  write_proxy_config
  start kube-proxy kube-proxy --config "$node_dir/kube-proxy.yaml" --v 1
  wait_for kube-proxy 30 curl -fsS "http://127.0.0.1:$proxy_healthz_port/healthz" || return 1
  nlog "$node_name Ready in $((SECONDS - start_at))s (pods on $node_pod_cidr, DNS on $node_ip)"
}

# clear_chains <iptables|ip6tables> <table>: removes the KUBE-* and CNI-*
# chains (kube-proxy's, the kubelet's canaries, portmap's) and every jump to
# them. Each step may find nothing: that is not a failure.
clear_chains() {
  local ipt=$1 table=$2 chains chain rule
  chains=$("$ipt-save" -t "$table" 2>/dev/null | awk -F'[: ]' '/^:(KUBE-|CNI-)/ {print $2}' || true)
  [ -n "$chains" ] || return 0
  while read -r rule; do
    # The rule as iptables printed it, quoted comments included.
    eval "$ipt -t $table ${rule/#-A /-D }" 2>/dev/null || true
  done < <("$ipt" -t "$table" -S 2>/dev/null | grep -E -- '^-A .*-j (KUBE-|CNI-)' || true)
  for chain in $chains; do "$ipt" -t "$table" -F "$chain" 2>/dev/null || true; done
  for chain in $chains; do "$ipt" -t "$table" -X "$chain" 2>/dev/null || true; done
}

# node_down [quiet]: stops every part and removes every trace: processes,
# containers, mounts, network namespaces, the bridge, iptables chains, cgroups.
node_down() {
  local d=$node_dir name pid ns
  for name in kube-proxy kubelet coredns; do
    if pid=$(cat "$d/$name.pid" 2>/dev/null); then kill "$pid" 2>/dev/null || true; fi
  done
  pkill -f -- "$d/kubelet" 2>/dev/null || true
  if [ -S "$containerd_sock" ] && running containerd; then
    local ctr=(ctr --address "$containerd_sock" -n k8s.io)
    for id in $("${ctr[@]}" tasks ls -q 2>/dev/null); do
      "${ctr[@]}" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
    done
    sleep 0.5
    for id in $("${ctr[@]}" tasks ls -q 2>/dev/null); do
      "${ctr[@]}" tasks delete -f "$id" >/dev/null 2>&1 || true
    done
  fi
  # Shims are matched by the socket they were started for, so another
  # containerd on the machine is left alone.
  pkill -KILL -f -- "-address $containerd_sock" 2>/dev/null || true
  for name in containerd registry; do
    if pid=$(cat "$d/$name.pid" 2>/dev/null); then kill "$pid" 2>/dev/null || true; fi
  done
  for name in kube-proxy kubelet coredns containerd registry; do
    if pid=$(cat "$d/$name.pid" 2>/dev/null); then
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$d/$name.pid"
    fi
  done
  # Whatever still runs with this node's folder on its command line (a down
  # that was itself interrupted, a pid file gone).
  pkill -KILL -f -- "$d/" 2>/dev/null || true
  if [ -d "$d" ]; then
    # Deepest first: rootfs, shm and volume mounts under the node's folders.
    awk -v d="$d/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done || true
  fi
  # Never fatal: what is left of a half-torn-down node must not stop the rest.
  rm -rf "$d/containerd/state" "$d/cni-ipam" 2>/dev/null || true
  if ! owns_node_resources; then
    [ "${1:-}" = quiet ] || nlog "down (the machine's real node belongs to $(cat "$node_claim"); left alone)"
    return 0
  fi
  # Pod network namespaces that hold an address of our pod range.
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do
    if ip -n "$ns" -4 addr 2>/dev/null | grep -q "inet ${node_pod_cidr%.*}\."; then
      ip netns delete "$ns" 2>/dev/null || true
    fi
  done
  ip link delete "$node_bridge" 2>/dev/null || true
  if command -v kube-proxy >/dev/null && iptables-save 2>/dev/null | grep -q 'KUBE-'; then
    kube-proxy --cleanup --proxy-mode iptables >/dev/null 2>&1 || true
  fi
  local ipt table
  for ipt in iptables ip6tables; do
    for table in filter nat mangle; do clear_chains "$ipt" "$table"; done
  done
  # The kubelet's pod cgroups (cgroupfs driver), deepest first.
  find /sys/fs/cgroup -depth -type d -name 'kubepods*' 2>/dev/null | while read -r c; do
    find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done || true
  rm -f "$node_claim"
  [ "${1:-}" = quiet ] || nlog "down"
}

# node_status: prints one line a component; fails when any is down.
node_status() {
  local bad=0 name
  for name in registry containerd coredns kubelet kube-proxy; do
    if running "$name"; then
      printf '%-12s running (pid %s)\n' "$name" "$(cat "$node_dir/$name.pid")"
    else
      printf '%-12s DOWN (log: %s)\n' "$name" "$node_logs/$name.log"
      bad=1
    fi
  done
  if node_ready; then echo "$node_name   Ready"; else echo "$node_name   NOT Ready"; bad=1; fi
  return $bad
}
