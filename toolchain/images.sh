#!/usr/bin/env bash
# The local cluster's images, built without a Docker engine and served from
# the registry on loopback: the pod sandbox (pause), the stand-in for the KGoT
# services (one image, pushed under each service's repository, one tag a
# release), Prometheus and Alertmanager from the hermetic toolchain, and the
# gateway Traefik (the dev stack's gateway.image).
#
# An image is a tarball of static binaries (fixed owner, mode and mtime)
# appended to an empty base with crane, then given its entrypoint, user,
# platform and release settings. Nothing in it depends on the time of the
# build, so the digests are the same on every machine with the same Go and
# the dev stack pins them (services.<svc>.digests, monitoring.*Image).
#
# Every image pushed is signed with cosign by the machine's own key pair
# (generated on first use into $KGOT_CACHE/cosign, never in the checkout); the
# signature goes into the registry beside the image (tag sha256-<hex>.sig), and
# `make verify-images` checks it against the key the stack trusts.
#
# Usage: toolchain/images.sh push      build what is missing, push and sign every image
#        toolchain/images.sh sign REF  sign images already in a registry (REF: repo:tag or repo@digest)
#        toolchain/images.sh digests   the digests the dev stack pins (YAML lines)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=toolchain/env.sh
source "$here/env.sh"
reg=$KGOT_REGISTRY
tc=$KGOT_CACHE/toolchain
keys=$KGOT_CACHE/cosign

# The stand-in's releases: tag, share of requests answered 500, latency added
# to every request. A faulty release differs in its tag and nothing else.
releases=(
  "1.0.0 0 0s"
  "1.1.0 0 0s"
  "1.2.0 0.3 250ms"
)
# The repositories the dev stack's services pull from.
service_repos=(controller graph-store manager-agent web-agent mcp-tools)
# The uid of the monitoring images (as their official images: nobody).
monitoring_uid=65534
# Traefik's (distroless's nonroot, as components/traefik_ports.py runs it).
traefik_uid=65532

ilog() { printf 'images: %s\n' "$*" >&2; }

# go_binary <name>: builds images/<name> (standard library only) once per
# source content and Go version; prints the binary's path.
go_binary() {
  local name=$1 src=$repo/images/$1 key out
  key=$( (go version; cd "$src" && find . -name '*.go' ! -name '*_test.go' -o -name go.mod | sort |
    xargs sha256sum) | sha256sum | cut -c1-16)
  out=$KGOT_CACHE/images/$name-$key
  if [ ! -x "$out/$name" ]; then
    mkdir -p "$out"
    (cd "$src" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
      -o "$out/$name.tmp" .) >&2
    mv "$out/$name.tmp" "$out/$name"
  fi
  echo "$out/$name"
}

# layer <out.tar> <binary...>: a reproducible tarball with each binary in /bin.
layer() {
  local out=$1; shift
  local root
  root=$(mktemp -d)
  mkdir -p "$root/bin"
  install -m 0755 "$@" "$root/bin/"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$out" bin
  rm -rf "$root"
}

# image <ref> <layer.tar> <crane mutate options...>: pushes the image.
image() {
  local ref=$1 tarball=$2; shift 2
  local base=$reg/kgot/build/${ref#"$reg"/kgot/}
  crane append --oci-empty-base -f "$tarball" -t "$base" --insecure >/dev/null 2>"$work/crane.log" ||
    { ilog "pushing $base failed:"; cat "$work/crane.log" >&2; return 1; }
  crane mutate "$base" --insecure --set-platform linux/amd64 -t "$ref" "$@" >/dev/null \
    2>"$work/crane.log" || { ilog "pushing $ref failed:"; cat "$work/crane.log" >&2; return 1; }
  sign "$ref"
}

digest() { crane digest --insecure "$1"; }

# signing_key: the local key pair, generated on first use. cosign encrypts the
# private key with a password: a random one, kept beside it (0600, folder
# 0700). It protects nothing against whoever can read the folder, but a copy of
# the key file alone (a backup, an artifact) cannot sign. Neither is printed.
signing_key() {
  [ -f "$keys/cosign.key" ] && return 0
  command -v cosign >/dev/null || { ilog "cosign is not built: run toolchain/build.sh cosign"; return 1; }
  mkdir -p "$KGOT_CACHE"
  # Two pushes at once (make run beside a test) must not make two key pairs.
  (
    flock 8
    [ -f "$keys/cosign.key" ] && exit 0
    local tmp
    tmp=$(mktemp -d "$KGOT_CACHE/.cosign-XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    chmod 0700 "$tmp"
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n' >"$tmp/password")
    COSIGN_PASSWORD=$(<"$tmp/password") cosign generate-key-pair \
      --output-key-prefix "$tmp/cosign" >"$tmp/log" 2>&1 ||
      { ilog "cosign generate-key-pair failed:"; cat "$tmp/log" >&2; exit 1; }
    rm -f "$tmp/log"
    mv -T "$tmp" "$keys"
    trap - EXIT
    ilog "generated the local signing key pair in $keys (public key: $keys/cosign.pub)"
  ) 8>"$KGOT_CACHE/.cosign.lock"
}

# sign <ref...>: signs each image by its digest (a tag could move between
# reading and signing) unless the local key's signature is already there, so
# pushing again does not stack up signatures.
sign() {
  signing_key
  local ref repo pinned
  for ref in "$@"; do
    repo=${ref%@*}
    # A tag follows the last colon of the last path part (a registry port does not).
    case ${repo##*/} in *:*) repo=${repo%:*} ;; esac
    pinned=$repo@$(digest "$ref") || { ilog "no image $ref in the registry"; return 1; }
    if cosign verify --key "$keys/cosign.pub" --insecure-ignore-tlog --allow-http-registry \
      --allow-insecure-registry "$pinned" >/dev/null 2>&1; then
      continue
    fi
    # No transparency log (Rekor) is reachable or wanted for a local key;
    # the registry speaks HTTP on loopback.
    COSIGN_PASSWORD=$(<"$keys/password") cosign sign --key "$keys/cosign.key" --yes \
      --tlog-upload=false --allow-http-registry --allow-insecure-registry "$pinned" \
      >/dev/null 2>"$work/cosign.log" || { ilog "signing $pinned failed:"; cat "$work/cosign.log" >&2; return 1; }
  done
}

push() {
  curl -fsS -o /dev/null "http://$reg/v2/" ||
    { ilog "no registry answers on $reg (toolchain/cluster.sh up starts it)"; return 1; }
  local b
  for b in crane cosign "$tc/prometheus-$PROMETHEUS_VERSION/bin/prometheus" \
    "$tc/alertmanager-$ALERTMANAGER_VERSION/bin/alertmanager" \
    "$tc/traefik-$TRAEFIK_VERSION/bin/traefik"; do
    command -v "$b" >/dev/null || { ilog "$b is not built: run toolchain/build.sh"; return 1; }
  done
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  local start=$SECONDS

  layer "$work/pause.tar" "$(go_binary pause)"
  image "$KGOT_PAUSE_IMAGE" "$work/pause.tar" --entrypoint /bin/pause --user 65535:65535

  layer "$work/standin.tar" "$(go_binary standin)"
  local release tag ratio latency svc
  for release in "${releases[@]}"; do
    read -r tag ratio latency <<<"$release"
    image "$reg/kgot/standin:$tag" "$work/standin.tar" --entrypoint /bin/standin \
      --user 10001:10001 -e "STANDIN_RELEASE=$tag" -e "STANDIN_ERROR_RATIO=$ratio" \
      -e "STANDIN_EXTRA_LATENCY=$latency"
    for svc in "${service_repos[@]}"; do
      # Same manifest, so the same digest: the registry mounts the blobs.
      crane copy --insecure "$reg/kgot/standin:$tag" "$reg/kgot/$svc:$tag" >/dev/null 2>&1 ||
        { ilog "copying $tag to $reg/kgot/$svc failed"; return 1; }
      # A signature lives in the image's repository: each copy is signed too.
      sign "$reg/kgot/$svc:$tag"
    done
  done

  layer "$work/prometheus.tar" "$tc/prometheus-$PROMETHEUS_VERSION/bin/prometheus"
  image "$reg/kgot/prometheus:v$PROMETHEUS_VERSION" "$work/prometheus.tar" \
    --entrypoint /bin/prometheus --user "$monitoring_uid:$monitoring_uid"
  layer "$work/alertmanager.tar" "$tc/alertmanager-$ALERTMANAGER_VERSION/bin/alertmanager"
  image "$reg/kgot/alertmanager:v$ALERTMANAGER_VERSION" "$work/alertmanager.tar" \
    --entrypoint /bin/alertmanager --user "$monitoring_uid:$monitoring_uid"
  layer "$work/traefik.tar" "$tc/traefik-$TRAEFIK_VERSION/bin/traefik"
  image "$reg/kgot/traefik:$TRAEFIK_VERSION" "$work/traefik.tar" \
    --entrypoint /bin/traefik --user "$traefik_uid:$traefik_uid"
  ilog "pushed and signed to $reg in $((SECONDS - start))s"
  check_pins
}

# The dev stack pins digests; a build that gives others (another Go version)
# would leave pods unable to pull, so it is named here, not at deploy time.
check_pins() {
  local want got ref bad=0
  while read -r ref want; do
    got=$(digest "$ref")
    if [ "$got" != "$want" ]; then
      ilog "$ref is $got here, Pulumi.dev.yaml pins $want (rebuild with the Go the pins came from," \
        "or update the pins: toolchain/images.sh digests)"
      bad=1
    fi
  done < <("$repo/.venv/bin/python" - "$repo/Pulumi.dev.yaml" "$reg" <<'PY'
import sys, yaml
config = yaml.safe_load(open(sys.argv[1]))["config"]
reg = sys.argv[2]
for svc in config["kgot-platform:services"].values():
    if svc["image"].startswith(reg + "/"):
        for version, digest in (svc.get("digests") or {}).items():
            print(f"{svc['image']}:{version} {digest}")
refs = [(config.get("kgot-platform:monitoring") or {}).get(key, "")
        for key in ("prometheusImage", "alertmanagerImage")]
refs.append((config.get("kgot-platform:gateway") or {}).get("image", ""))
for ref in refs:
    if ref.startswith(reg + "/") and "@" in ref:
        print(*ref.split("@"))
PY
  )
  return $bad
}

digests() {
  local release tag
  echo "# services.<svc>.digests (every dev service runs the stand-in):"
  for release in "${releases[@]}"; do
    read -r tag _ <<<"$release"
    echo "  $tag: $(digest "$reg/kgot/standin:$tag")"
  done
  echo "# monitoring:"
  echo "  prometheusImage: $reg/kgot/prometheus:v$PROMETHEUS_VERSION@$(digest "$reg/kgot/prometheus:v$PROMETHEUS_VERSION")"
  echo "  alertmanagerImage: $reg/kgot/alertmanager:v$ALERTMANAGER_VERSION@$(digest "$reg/kgot/alertmanager:v$ALERTMANAGER_VERSION")"
  echo "# gateway:"
  echo "  image: $reg/kgot/traefik:$TRAEFIK_VERSION@$(digest "$reg/kgot/traefik:$TRAEFIK_VERSION")"
}

case ${1:-} in
  push) push ;;
  sign)
    shift
    [ $# -gt 0 ] || { echo "usage: toolchain/images.sh sign REF..." >&2; exit 2; }
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    sign "$@" ;;
  digests) digests ;;
  *) echo "usage: toolchain/images.sh push|sign REF...|digests" >&2; exit 2 ;;
esac
