"""Slack and PagerDuty (Events v2) notifications for rollbacks, breaches and finished rollouts.

Webhook URLs and routing keys come from secret stack config; no message,
log line or error here ever contains them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import requests

from components.settings import PlatformSettings

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


class Notification(enum.StrEnum):
    """What happened, as the receivers are told."""

    ROLLBACK = "rollback"
    BREACH = "breach"
    FINISHED = "finished"
    HELD = "held"
    # A release refused or failed before any traffic moved.
    FAILED = "failed"


# The kinds that page, with their severity; the others resolve what was paged.
_PAGES = {
    Notification.ROLLBACK: "critical",
    Notification.BREACH: "critical",
    Notification.HELD: "warning",
    Notification.FAILED: "critical",
}
_EMOJI = {
    Notification.ROLLBACK: ":rotating_light:",
    Notification.BREACH: ":warning:",
    Notification.HELD: ":pause_button:",
    Notification.FINISHED: ":white_check_mark:",
    Notification.FAILED: ":x:",
}


@dataclass
class Notifier:
    # Only its secret slackWebhookUrl and pagerdutyIntegrationKey are read.
    settings: PlatformSettings
    source: str
    pagerduty_url: str = PAGERDUTY_EVENTS_URL
    timeout: float = 5.0
    warn: Callable[[str], None] = field(default=lambda message: None)

    def notify(
        self,
        kind: Notification,
        summary: str,
        *,
        dedup_key: str,
        details: Mapping[str, object],
        page: bool = True,
    ) -> None:
        """Send to every configured receiver; failures are reported, never raised.

        ``page=False``: Slack only (a release pages only when production fails).
        """
        webhook = self.settings.slack_webhook_url
        routing_key = self.settings.pagerduty_integration_key
        if webhook is not None:
            self._post("Slack", webhook.value, {"text": f"{_EMOJI[kind]} {summary}"})
        if routing_key is not None and page:
            event: dict[str, object] = {
                "routing_key": routing_key.value,
                "dedup_key": dedup_key,
            }
            if kind in _PAGES:
                event["event_action"] = "trigger"
                event["payload"] = {
                    "summary": summary[:1024],
                    "source": self.source,
                    "severity": _PAGES[kind],
                    "component": "kgot-rollout",
                    "custom_details": dict(details),
                }
            else:
                # A finished rollout resolves whatever it paged for.
                event["event_action"] = "resolve"
            self._post("PagerDuty", self.pagerduty_url, event)

    def _post(self, receiver: str, url: str, body: Mapping[str, object]) -> None:
        try:
            response = requests.post(url, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            # The exception text carries the URL (a secret): report only its kind.
            self.warn(f"{receiver} notification failed: {type(exc).__name__}")
            return
        if response.status_code >= 300:
            self.warn(f"{receiver} notification failed: HTTP {response.status_code}")
