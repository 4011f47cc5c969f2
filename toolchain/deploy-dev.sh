#!/usr/bin/env bash
# The main job on the embedded default: the dev stack on the local control
# plane with a local file backend. Expects toolchain/build.sh and
# toolchain/cluster.sh up to have run (make run does both).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=toolchain/env.sh
source "$here/env.sh"
cd "$repo"

stack=${KGOT_STACK:-dev}
pulumi stack select "$stack" --create --non-interactive >/dev/null
# The pack's config from the stack's `security` settings, as CI passes it,
# with the digests whose signatures cosign verified against the stack's key
# (the local key pair that toolchain/images.sh signs with). Signatures are
# required here too: an image that did not verify is refused by the pack. A
# registry that cannot be reached stops the deploy here.
pack_config=$(mktemp --suffix=.json)
verified=$(mktemp --suffix=.txt)
trap 'rm -f "$pack_config" "$verified"' EXIT
PYTHONPATH=policies "$repo/.venv/bin/python" -m kgot_policies.verify_images "$stack" -o "$verified"
PYTHONPATH=policies "$repo/.venv/bin/python" -m kgot_policies.stack_config "$stack" \
  --verified-digests "$verified" --require-signed-images -o "$pack_config"
pulumi up --stack "$stack" --yes --skip-preview=false --non-interactive \
  --policy-pack policies --policy-pack-config "$pack_config"

ns=$(pulumi stack output namespace --stack "$stack")
active=$(pulumi stack output activeColor --stack "$stack")
standby=$(pulumi stack output standbyColor --stack "$stack")
svc_ip() { kubectl -n "$ns" get service "$1" -o jsonpath='{.spec.clusterIP}' 2>/dev/null; }
controller=$(svc_ip controller)
prometheus=$(svc_ip prometheus)
domain=$(pulumi config get --path edge.domain --stack "$stack" 2>/dev/null || echo kgot.example.com)
# The gateway Traefik (gateway.deploy): its Services and the certificate its
# listeners serve (the stack's self-signed one), written where curl can read it.
edge_ns=$(pulumi config get --path edge.controllerNamespace --stack "$stack" 2>/dev/null || echo kgot-edge)
gateway=$(kubectl -n "$edge_ns" get service traefik -o jsonpath='{.spec.clusterIP}' 2>/dev/null || true)
internal=$(kubectl -n "$edge_ns" get service traefik-internal -o jsonpath='{.spec.clusterIP}' 2>/dev/null || true)
ca=$KGOT_STATE/gateway-ca.crt
if [ -n "$gateway" ]; then
  kubectl -n "$ns" get secret kgot-platform-tls -o jsonpath='{.data.tls\.crt}' | base64 -d >"$ca"
fi
cat <<MSG

Deployed stack '$stack' into namespace '$ns' on $(kubectl config current-context) ($KUBECONFIG).
Live traffic: $active; standby: $standby.

  kubectl -n $ns get pods -o wide          # running on the real node kgot-node
  source toolchain/env.sh && pulumi stack output --stack $stack

Send a request to a service (its Service's cluster IP, through kube-proxy):
  curl -si http://$controller:8080/        # X-Kgot-Color says which colour answered

Or through the gateway Traefik (HTTPS, the Host picks the route; the stack's
self-signed certificate, trusted by --cacert):
  curl -si --cacert $ca --resolve controller.$domain:443:${gateway:-<traefik's cluster IP>} https://controller.$domain/
Internal services on the gateway's internal listener (in-cluster callers):
  curl -si --cacert $ca --resolve graph-store.$ns.internal:443:${internal:-<traefik-internal's cluster IP>} https://graph-store.$ns.internal/

Flip all services to $standby:
  source toolchain/env.sh
  pulumi config set activeColor $standby --stack $stack && pulumi up --stack $stack

Or shift gradually, gated on the stack's own Prometheus (in the cluster):
  .venv/bin/kgot-rollout shift --stack $stack --to $standby --steps 10,25,50,100 \\
    --prometheus http://$prometheus:9090
Traefik serves each step's weights: watch the split through it with
  .venv/bin/python tests/e2e/traffic.py --gateway --cacert $ca --seconds 120
Release 1.2.0 is a faulty stand-in (30 % errors, +250 ms): set ${standby}Version
to 1.2.0, pulumi up, and the same shift rolls back by itself.
MSG
