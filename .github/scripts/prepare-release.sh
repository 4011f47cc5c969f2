#!/usr/bin/env bash
# Puts a stack's traffic config back to what its last update left, then
# (with a version) points the standby colour at that version.
#
# Why: a shift writes activeColor/standbyWeight into the runner's copy of
# Pulumi.<stack>.yaml, which is gone when the job ends. Without this, the
# next `pulumi up` from a fresh checkout would flip traffic back to whatever
# the committed file says. The config of the stack's last update (a targeted
# rollback included) is the truth; the committed values only seed a stack with
# no update yet, and any failure to read that truth stops the job (exit 1).
# Everything else (services, replicas, ...) stays as committed.
#
# Usage: prepare-release.sh <stack> [version] [force]
#   version  release to put on the standby colour (an image tag); empty: none
#   force    "true": go on even when the active colour already runs <version>
# Writes `standby=<colour>` and `deploy=true|false` to $GITHUB_OUTPUT (or stdout).
set -euo pipefail

stack=${1:?usage: prepare-release.sh <stack> [version] [force]}
version=${2:-}
force=${3:-false}
out=${GITHUB_OUTPUT:-/dev/stdout}

# A stack that was never deployed is created (its config comes from the committed file).
pulumi stack select --create "$stack"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
last=$scratch/Pulumi.$stack.last.yaml

# stop <what failed> <log>: says so, shows the tool's own words, stops the job.
stop() {
  echo "$1; stopping before any change: the committed traffic config could flip" \
    "traffic of a deployed stack back" >&2
  cat "$2" >&2
  exit 1
}

# Only a stack with no update at all may take the committed traffic config.
# Anything else that fails (backend, network, permissions) stops the job.
if ! updates=$(pulumi stack history --stack "$stack" --output json --page-size 1 2>"$scratch/history.log"); then
  stop "reading the update history of stack $stack failed" "$scratch/history.log"
fi
if [ "$(printf '%s' "$updates" | tr -d '[:space:]')" = "[]" ]; then
  echo "stack $stack has no update yet: traffic config as committed"
  active=$(pulumi config get --stack "$stack" activeColor)
  weight=$(pulumi config get --stack "$stack" standbyWeight 2>/dev/null || echo 0)
else
  if ! pulumi config refresh --stack "$stack" --force --config-file "$last" >"$scratch/refresh.log" 2>&1; then
    stop "stack $stack has updates, but reading the config of the last one failed" \
      "$scratch/refresh.log"
  fi
  get() { pulumi config get --stack "$stack" --config-file "$last" "$1"; }
  active=$(get activeColor) blue=$(get blueVersion) green=$(get greenVersion)
  weight=$(get standbyWeight 2>/dev/null || echo 0)
  echo "traffic state of the last update: active $active, standby weight $weight," \
    "blue $blue, green $green"
  pulumi config set --stack "$stack" activeColor "$active"
  pulumi config set --stack "$stack" standbyWeight "$weight"
  pulumi config set --stack "$stack" blueVersion "$blue"
  pulumi config set --stack "$stack" greenVersion "$green"
fi
standby=green
[ "$active" = green ] && standby=blue

deploy=true
if [ -n "$version" ]; then
  active_version=$(pulumi config get --stack "$stack" "${active}Version")
  if [ "$weight" != 0 ] && [ "$force" != true ]; then
    # The standby already takes traffic: a new version there would reach users unchecked.
    echo "a shift is in progress on $stack (standby $standby has $weight%): finish it with" \
      "kgot-rollout promote or kgot-rollout rollback first (force_deploy overrides)" >&2
    exit 2
  fi
  if [ "$active_version" = "$version" ] && [ "$force" != true ]; then
    echo "$version already serves on $active; nothing to release (force_deploy redeploys)"
    deploy=false
  else
    echo "release $version goes to the standby colour $standby"
    pulumi config set --stack "$stack" "${standby}Version" "$version"
  fi
fi
{
  echo "standby=$standby"
  echo "deploy=$deploy"
} >>"$out"
