#!/usr/bin/env bash
# Builds the hermetic toolchain from Go modules into a cache outside the
# checkout, one folder per tool and version:
#   $KGOT_CACHE/toolchain/<tool>-<version>/{bin/,...}
# A finished folder is never rebuilt; a build goes to a temp folder first and
# is moved into place only when complete, so a failed build leaves nothing
# that a later run would mistake for a finished one.
#
# Usage: toolchain/build.sh [tool ...]   (default: all)
# Tools: pulumi (with the Python language host) kubernetes-provider etcd
#        kubernetes kwok gateway-api actionlint, and for the real node:
#        kubernetes-node (kubelet, kube-proxy) coredns crane, and the in-cluster
#        monitoring binaries prometheus alertmanager (they go into images), and
#        cosign (signs the local images and verifies them before a deploy),
#        traefik (the local cluster's gateway: Gateway API and ingress-nginx canaries)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=toolchain/versions.env
source "$here/versions.env"
cache=${KGOT_CACHE:-$HOME/.cache/kgot-platform}
root="$cache/toolchain"
mkdir -p "$root"
# One build at a time per cache (make run and make test side by side, or two
# checkouts): a second run waits, then finds the finished folders.
exec 9>"$root/.lock"
flock 9

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
export GOPROXY=${GOPROXY:-https://proxy.golang.org,direct}
ldbase="-s -w"

log() { printf 'toolchain: %s\n' "$*" >&2; }

# run <tool> <logfile> <command...>: runs a build step, and on failure names
# the tool and the command and shows the tail of its output.
run() {
  local tool=$1 logfile=$2; shift 2
  if ! "$@" >>"$logfile" 2>&1; then
    log "building $tool failed: $*"
    tail -n 30 "$logfile" >&2
    return 1
  fi
}

# build_tool <tool> <version> <fn>: skips a finished tool, else calls <fn>
# with the temp folder to fill and moves it into place.
build_tool() {
  local tool=$1 version=$2 fn=$3
  local dest="$root/$tool-$version"
  if [ -f "$dest/.complete" ]; then
    return 0
  fi
  local tmp="$root/.tmp-$tool-$version-$$"
  rm -rf "$tmp" && mkdir -p "$tmp/bin"
  local logfile="$root/$tool-$version.log"
  : >"$logfile"
  local start=$SECONDS
  log "building $tool $version (log: $logfile)"
  # Called plainly (not in an `if`) so that set -e stops at the first failing
  # step; the trap removes the half-built folder on the way out. (A global:
  # the trap may run where this function's locals are gone.)
  building=$tmp
  trap 'rm -rf "$building"' EXIT
  "$fn" "$tmp" "$logfile"
  trap - EXIT
  echo "$((SECONDS - start))" >"$tmp/.build-seconds"
  touch "$tmp/.complete"
  rm -rf "$dest" && mv "$tmp" "$dest"
  log "built $tool $version in $((SECONDS - start))s"
}

# go_build <tool> <logfile> <module dir> <out dir> <ldflags> <packages...>
go_build() {
  local tool=$1 logfile=$2 dir=$3 out=$4 ld=$5; shift 5
  (cd "$dir" && run "$tool" "$logfile" go build -trimpath -ldflags "$ld" -o "$out/" "$@")
}

# The CLI and the Python language host share one folder, as in the upstream
# release: the CLI looks for language hosts beside itself first (anywhere
# else on PATH works too, but with a warning on every run).
build_pulumi() {
  local ld="$ldbase -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"
  go_build pulumi "$2" "$here/pulumi" "$1/bin" "$ld" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  build_language_python "$1" "$2"
}

build_language_python() {
  local ld="$ldbase -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$LANGUAGE_PYTHON_SDK_VERSION"
  go_build language-python "$2" "$here/language-python" "$1/bin" "$ld" \
    github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python
  # The host runs this script from its own folder. It ships in the sdk zip;
  # the CLI's version is taken because it matches the pinned Python SDK best
  # and still accepts the arguments the older host passes.
  local sdk
  sdk=$(cd "$here/language-python" && go mod download -json "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$1/bin/"
}

build_kubernetes_provider() {
  local out=$1 logfile=$2 mod=github.com/pulumi/pulumi-kubernetes/provider/v4
  local src
  src=$(cd "$here/kubernetes-provider" && go mod download -json "$mod@$KUBERNETES_PROVIDER_PSEUDO" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  # A writable copy of the provider module with the two embedded files that
  # its release build generates (schema with the version set, compact mapping).
  local work="$out/.work"
  mkdir -p "$work"
  cp -r "$src" "$work/provider" && chmod -R u+w "$work/provider"
  python3 - "$work/provider/cmd/pulumi-resource-kubernetes" "$KUBERNETES_PROVIDER_VERSION" <<'PY'
import json, pathlib, sys
d, version = pathlib.Path(sys.argv[1]), sys.argv[2]
schema = json.loads((d / "schema.json").read_text())
schema["version"] = version
(d / "schema-embed.json").write_text(json.dumps(schema, separators=(",", ":")))
mapping = json.loads((d / "terraform-mapping.json").read_text())
(d / "terraform-mapping-embed.json").write_text(json.dumps(mapping, separators=(",", ":")))
PY
  cp "$here/kubernetes-provider/go.mod" "$here/kubernetes-provider/go.sum" "$work/"
  (cd "$work" && go mod edit -replace "$mod=./provider")
  local ld="$ldbase -X $mod/pkg/version.Version=$KUBERNETES_PROVIDER_VERSION"
  go_build kubernetes-provider "$logfile" "$work" "$out/bin" "$ld" "$mod/cmd/pulumi-resource-kubernetes"
  rm -rf "$work"
}

build_etcd() {
  # The main package is the module root, which go would name "server".
  (cd "$here/etcd" && run etcd "$2" go build -trimpath -ldflags "$ldbase" -o "$1/bin/etcd" go.etcd.io/etcd/server/v3)
}

# kubernetes_ldflags: the version stamps kubectl version and the node show.
kubernetes_ldflags() {
  local v=v$KUBERNETES_VERSION minor=${KUBERNETES_VERSION#*.}
  minor=${minor%%.*}
  local ld=$ldbase p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
    ld="$ld -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$ld"
}

build_kubernetes() {
  go_build kubernetes "$2" "$here/kubernetes" "$1/bin" "$(kubernetes_ldflags)" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
}

# The real node's kubelet and kube-proxy: the same wrapper module and stamps
# as the control plane, a folder of their own so a control-plane-only cache
# stays valid.
build_kubernetes_node() {
  go_build kubernetes-node "$2" "$here/kubernetes" "$1/bin" "$(kubernetes_ldflags)" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
}

build_kwok() {
  local ld="$ldbase -X sigs.k8s.io/kwok/pkg/consts.Version=v$KWOK_VERSION"
  ld="$ld -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=v$KUBERNETES_VERSION"
  go_build kwok "$2" "$here/kwok" "$1/bin" "$ld" sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl
}

build_gateway_api() {
  # Only the CRD manifests are needed; they ship in the module zip.
  local dir
  dir=$(cd "$here/kwok" && run gateway-api "$2" go mod download -json "sigs.k8s.io/gateway-api@v$GATEWAY_API_VERSION" &&
    go mod download -json "sigs.k8s.io/gateway-api@v$GATEWAY_API_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  install -m 0644 "$dir/config/crd/standard/"*.yaml -D -t "$1/crds/"
}

build_actionlint() {
  local ld="$ldbase -X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION"
  ld="$ld -X github.com/rhysd/actionlint.installedFrom=built-by-kgot-platform-toolchain"
  go_build actionlint "$2" "$here/actionlint" "$1/bin" "$ld" github.com/rhysd/actionlint/cmd/actionlint
}

build_prometheus() {
  # Only the service discoveries the in-cluster config uses (pods, and DNS for
  # the Alertmanager peers): the cloud SDKs of the others are most of a full build.
  local ld="$ldbase -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION"
  ld="$ld -X github.com/prometheus/common/version.Branch=kgot-toolchain"
  (cd "$here/prometheus" && run prometheus "$2" go build -trimpath -ldflags "$ld" \
    -tags remove_all_sd,enable_kubernetes_sd,enable_dns_sd -o "$1/bin/" \
    github.com/prometheus/prometheus/cmd/prometheus)
}

build_alertmanager() {
  local ld="$ldbase -X github.com/prometheus/common/version.Version=$ALERTMANAGER_VERSION"
  go_build alertmanager "$2" "$here/alertmanager" "$1/bin" "$ld" \
    github.com/prometheus/alertmanager/cmd/alertmanager
}

build_coredns() {
  # The wrapper's own main (the plugins the local cluster uses).
  (cd "$here/coredns" && run coredns "$2" go build -trimpath -ldflags "$ldbase" -o "$1/bin/coredns" .)
}

build_crane() {
  local ld="$ldbase -X github.com/google/go-containerregistry/cmd/crane/cmd.Version=v$CRANE_VERSION"
  go_build crane "$2" "$here/crane" "$1/bin" "$ld" github.com/google/go-containerregistry/cmd/crane
}

build_cosign() {
  # release-utils holds the version `cosign version` prints (as upstream's release build).
  local ld="$ldbase -X sigs.k8s.io/release-utils/version.gitVersion=v$COSIGN_VERSION"
  ld="$ld -X sigs.k8s.io/release-utils/version.gitTreeState=clean"
  go_build cosign "$2" "$here/cosign" "$1/bin" "$ld" github.com/sigstore/cosign/v2/cmd/cosign
}

# mod_dir <module@version>: the module's folder in the module cache (downloaded
# outside any module, so no wrapper's replace redirects it).
mod_dir() {
  (cd "$root" && GOFLAGS= go mod download -json "$1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
}

# Traefik, the local cluster's gateway. The wrapper (toolchain/traefik/go.mod)
# points three dependencies the module proxy cannot serve at folders filled
# here: the nested module dynamic/ext (committed), abbot/go-http-auth v0.4.0
# (copied, plus the committed go.mod and the two names of Traefik's fork) and
# lego v5 (copied, with the committed providers/dns registry laid over it).
build_traefik() {
  local out=$1 logfile=$2 work="$1/.work" src
  mkdir -p "$work"
  cp -r "$here/traefik/." "$work/"
  src=$(mod_dir github.com/abbot/go-http-auth@v0.4.0)
  find "$src" -maxdepth 1 -name '*.go' ! -name '*_test.go' -exec cp {} "$work/go-http-auth/" \;
  cp "$src/LICENSE" "$work/go-http-auth/"
  src=$(mod_dir "github.com/go-acme/lego/v5@v$TRAEFIK_LEGO_VERSION")
  cp -r "$src" "$work/lego" && chmod -R u+w "$work/lego"
  cp -r "$work/_lego/." "$work/lego/" && rm -rf "$work/_lego"
  local ld="$ldbase -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION"
  ld="$ld -X github.com/traefik/traefik/v3/pkg/version.BuildDate=1970-01-01T00:00:00Z"
  ld="$ld -X github.com/traefik/traefik/v3/pkg/version.Codename=kgot-toolchain"
  go_build traefik "$logfile" "$work" "$out/bin" "$ld" github.com/traefik/traefik/v3/cmd/traefik
  rm -rf "$work"
}

all=(pulumi kubernetes-provider etcd kubernetes kwok gateway-api actionlint
  kubernetes-node coredns crane prometheus alertmanager cosign traefik)
tools=("$@")
[ ${#tools[@]} -eq 0 ] && tools=("${all[@]}")
for t in "${tools[@]}"; do
  case $t in
    pulumi)
      # A compatible Pulumi CLI already on PATH is used as it is.
      if [ -z "${KGOT_BUILD_PULUMI:-}" ] && command -v pulumi >/dev/null &&
        "$here/pulumi-compatible.sh" "$(command -v pulumi)"; then
        log "using $(command -v pulumi) ($(pulumi version))"
        continue
      fi
      build_tool pulumi "$PULUMI_VERSION-python-$LANGUAGE_PYTHON_SDK_VERSION" build_pulumi ;;
    kubernetes-provider) build_tool kubernetes-provider "$KUBERNETES_PROVIDER_VERSION" build_kubernetes_provider ;;
    etcd) build_tool etcd "$ETCD_VERSION" build_etcd ;;
    kubernetes) build_tool kubernetes "$KUBERNETES_VERSION" build_kubernetes ;;
    kwok) build_tool kwok "$KWOK_VERSION" build_kwok ;;
    gateway-api) build_tool gateway-api "$GATEWAY_API_VERSION" build_gateway_api ;;
    actionlint) build_tool actionlint "$ACTIONLINT_VERSION" build_actionlint ;;
    kubernetes-node) build_tool kubernetes-node "$KUBERNETES_VERSION" build_kubernetes_node ;;
    coredns) build_tool coredns "$COREDNS_VERSION" build_coredns ;;
    crane) build_tool crane "$CRANE_VERSION" build_crane ;;
    prometheus) build_tool prometheus "$PROMETHEUS_VERSION" build_prometheus ;;
    alertmanager) build_tool alertmanager "$ALERTMANAGER_VERSION" build_alertmanager ;;
    cosign)
      # A cosign of the pinned major version on PATH is used as it is (the
      # flags the image scripts pass are cosign 2's).
      if [ -z "${KGOT_BUILD_COSIGN:-}" ] && "$here/cosign-compatible.sh"; then
        log "using $(command -v cosign)"
        continue
      fi
      build_tool cosign "$COSIGN_VERSION" build_cosign ;;
    traefik) build_tool traefik "$TRAEFIK_VERSION" build_traefik ;;
    *) log "unknown tool '$t'; allowed: ${all[*]}"; exit 2 ;;
  esac
done

# Provider plugins go into the project's Pulumi home from the local files, so
# the engine never tries to download them.
source "$here/env.sh"
if command -v pulumi >/dev/null; then
  k8s_bin=$root/kubernetes-provider-$KUBERNETES_PROVIDER_VERSION/bin/pulumi-resource-kubernetes
  if [ -x "$k8s_bin" ] && [ ! -d "$PULUMI_HOME/plugins/resource-kubernetes-v$KUBERNETES_PROVIDER_VERSION" ]; then
    pulumi plugin install resource kubernetes "$KUBERNETES_PROVIDER_VERSION" --file "$k8s_bin" >&2
  fi
fi
