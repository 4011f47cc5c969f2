#!/usr/bin/env bash
# Makes the stack's in-cluster Prometheus reachable at 127.0.0.1:9090 (the
# rollout tool's default) for the rest of the job: the runner is outside the
# cluster and Prometheus has no public endpoint.
#
# Usage: port-forward-prometheus.sh <stack>
set -euo pipefail

stack=${1:?usage: port-forward-prometheus.sh <stack>}
namespace=$(pulumi stack output namespace --stack "$stack")
log=${RUNNER_TEMP:-/tmp}/port-forward-prometheus.log
# Left running on purpose: later steps of the job use it; the job's end stops it.
nohup kubectl port-forward --namespace "$namespace" service/prometheus 9090:9090 >"$log" 2>&1 &
for _ in $(seq 1 30); do
  if grep -q "Forwarding from 127.0.0.1:9090" "$log"; then
    echo "Prometheus of $stack ($namespace) at http://127.0.0.1:9090"
    exit 0
  fi
  sleep 1
done
echo "port-forward to service/prometheus in $namespace did not come up:" >&2
cat "$log" >&2
exit 1
