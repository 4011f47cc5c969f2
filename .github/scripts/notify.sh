#!/usr/bin/env bash
# Tells people about a deployment from CI: Slack (SLACK_WEBHOOK_URL) or a
# PagerDuty incident (PAGERDUTY_INTEGRATION_KEY, Events API v2). A receiver
# whose secret is not set is skipped with a line saying so: a repository
# without Slack still deploys.
#
# Usage: notify.sh slack|pagerduty <message>
set -euo pipefail

receiver=${1:?usage: notify.sh slack|pagerduty <message>}
message=${2:?usage: notify.sh slack|pagerduty <message>}

case $receiver in
  slack)
    if [ -z "${SLACK_WEBHOOK_URL:-}" ]; then
      echo "SLACK_WEBHOOK_URL not set: not telling Slack: $message"
      exit 0
    fi
    body=$(python3 -c 'import json, sys; print(json.dumps({"text": sys.argv[1]}))' "$message")
    # The webhook URL is a secret: given on stdin, not on the command line.
    curl -fsS --retry 3 -X POST -H 'Content-Type: application/json' --data "$body" \
      --config - >/dev/null <<<"url = \"$SLACK_WEBHOOK_URL\""
    ;;
  pagerduty)
    if [ -z "${PAGERDUTY_INTEGRATION_KEY:-}" ]; then
      echo "PAGERDUTY_INTEGRATION_KEY not set: not paging: $message"
      exit 0
    fi
    # The key goes through the environment, never the command line (ps shows that).
    body=$(python3 -c '
import json, os, sys
print(json.dumps({
    "routing_key": os.environ["PAGERDUTY_INTEGRATION_KEY"],
    "event_action": "trigger",
    "payload": {"summary": sys.argv[1], "source": "kgot-platform CI", "severity": "critical"},
}))' "$message")
    curl -fsS --retry 3 -X POST -H 'Content-Type: application/json' --data @- \
      https://events.pagerduty.com/v2/enqueue >/dev/null <<<"$body"
    ;;
  *)
    echo "unknown receiver '$receiver'; allowed: slack | pagerduty" >&2
    exit 2
    ;;
esac
