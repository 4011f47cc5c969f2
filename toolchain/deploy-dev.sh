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
# The pack's config from the stack's `security` settings, as CI passes it.
pack_config=$(mktemp --suffix=.json)
trap 'rm -f "$pack_config"' EXIT
PYTHONPATH=policies "$repo/.venv/bin/python" -m kgot_policies.stack_config "$stack" -o "$pack_config"
pulumi up --stack "$stack" --yes --skip-preview=false --non-interactive \
  --policy-pack policies --policy-pack-config "$pack_config"

ns=$(pulumi stack output namespace --stack "$stack")
active=$(pulumi stack output activeColor --stack "$stack")
standby=$(pulumi stack output standbyColor --stack "$stack")
cat <<MSG

Deployed stack '$stack' into namespace '$ns' on $(kubectl config current-context) ($KUBECONFIG).
Live traffic: $active; standby: $standby.

  kubectl -n $ns get deployments,services,httproutes
  source toolchain/env.sh && pulumi stack output --stack $stack

Flip all services to $standby:
  source toolchain/env.sh
  pulumi config set activeColor $standby --stack $stack && pulumi up --stack $stack
or gradually, with metric gates (on a Prometheus that scrapes the services; the
simulated pods of the local control plane serve no metrics, so there it holds):
  .venv/bin/kgot-rollout shift --stack $stack --to $standby --steps 10,25,50,100 --prometheus <url>
MSG
