# Sourced (not run): puts the hermetic toolchain on PATH and sets every
# environment variable the project needs to run Pulumi offline against the
# local control plane. KGOT_BACKEND_URL and KGOT_KUBECONFIG point it at a real
# backend and cluster; a passphrase already set is kept.
#   source toolchain/env.sh
_kgot_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_kgot_repo=$(dirname "$_kgot_here")
# shellcheck source=toolchain/versions.env
source "$_kgot_here/versions.env"

export KGOT_CACHE=${KGOT_CACHE:-$HOME/.cache/kgot-platform}
export KGOT_STATE=${KGOT_STATE:-$_kgot_repo/.state}
_kgot_tc=$KGOT_CACHE/toolchain
for _kgot_bin in \
  "$_kgot_tc/kwok-$KWOK_VERSION/bin" \
  "$_kgot_tc/kubernetes-$KUBERNETES_VERSION/bin" \
  "$_kgot_tc/etcd-$ETCD_VERSION/bin" \
  "$_kgot_tc/pulumi-$PULUMI_VERSION-python-$LANGUAGE_PYTHON_SDK_VERSION/bin" \
  "$_kgot_tc/actionlint-$ACTIONLINT_VERSION/bin" \
  "$_kgot_tc/kubernetes-node-$KUBERNETES_VERSION/bin" \
  "$_kgot_tc/coredns-$COREDNS_VERSION/bin" \
  "$_kgot_tc/crane-$CRANE_VERSION/bin" \
  "$_kgot_tc/cosign-$COSIGN_VERSION/bin" \
  "$_kgot_tc/traefik-$TRAEFIK_VERSION/bin"; do
  case ":$PATH:" in *":$_kgot_bin:"*) ;; *) [ -d "$_kgot_bin" ] && PATH="$_kgot_bin:$PATH" ;; esac
done
export PATH
export KGOT_GATEWAY_CRDS=$_kgot_tc/gateway-api-$GATEWAY_API_VERSION/crds
# The registry on loopback that the real node pulls every image from.
export KGOT_REGISTRY=localhost:5000
export KGOT_PAUSE_IMAGE=$KGOT_REGISTRY/kgot/pause:3.10

# The Python language host built here predates the protocol that passes
# Pulumi.yaml's runtime options, so it is told the project's interpreter this
# way (a newer host, e.g. from an installed CLI, reads `virtualenv` itself);
# the shim also finds policy packs for it (see the shim's header).
export PULUMI_PYTHON_CMD=${PULUMI_PYTHON_CMD:-$_kgot_here/python-host-shim}

# Plugins live in a Pulumi home inside the cache, installed from local files.
export PULUMI_HOME=${PULUMI_HOME:-$KGOT_CACHE/pulumi-home}
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# The embedded default: a local file backend and a passphrase that protects
# nothing but the dev stack of this machine.
export PULUMI_BACKEND_URL=${KGOT_BACKEND_URL:-file://$KGOT_STATE/pulumi}
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  export PULUMI_CONFIG_PASSPHRASE=kgot-local-dev
fi
# Never a kubeconfig that happens to be set: KGOT_KUBECONFIG names another cluster.
export KUBECONFIG=${KGOT_KUBECONFIG:-$KGOT_STATE/kubeconfig}
mkdir -p "$KGOT_STATE/pulumi"
unset _kgot_here _kgot_repo _kgot_tc _kgot_bin
