"""The text of the monitoring configs, built from the stack settings.

Plain data (dicts rendered as YAML/JSON), so the unit tests can hand the very
same files to `promtool` and `amtool` that the program deploys.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from kgot_contract import COLOR_LABEL

from components.labels import (
    ALERTMANAGER,
    ALERTMANAGER_PEERS,
    ALERTMANAGER_PORT,
    METRICS_PATH_ANNOTATION,
    PART_OF,
    PROMETHEUS,
    PROMETHEUS_PORT,
    TIER_LABEL,
    TIER_SERVICE,
)
from components.settings import PlatformSettings
from components.traefik_ports import METRICS_PORT, METRICS_SERVICE

DASHBOARDS_DIR = Path(__file__).resolve().parent.parent / "dashboards"
DASHBOARD_FILES = (
    "deployment-overview.json",
    "security-monitoring.json",
    "performance-monitoring.json",
)
RULES_DIR = "/etc/prometheus/rules"
RECORDING_RULES_FILE = "kgot-recording.rules.yml"
ALERTING_RULES_FILE = "kgot-alerts.rules.yml"
SECRETS_DIR = "/etc/alertmanager/secrets"
SLACK_WEBHOOK_FILE = "slack-webhook-url"
PAGERDUTY_KEY_FILE = "pagerduty-integration-key"
# A rollout that ended in one of these did what it was asked; any other final
# status of `kgot_deployments_total` counts as a failed deployment.
SUCCESSFUL_DEPLOYMENT_STATUSES = "succeeded|promoted|completed"


# The scrape job of the gateway Traefik (when the program runs it).
GATEWAY_JOB = "gateway"


def to_yaml(document: object) -> str:
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def _meta_label(label: str) -> str:
    """Prometheus' name for a pod label in Kubernetes service discovery."""
    return "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() else "_" for c in label)


def _alertmanager_peers(settings: PlatformSettings) -> dict[str, object]:
    return {
        "names": [f"{ALERTMANAGER_PEERS}.{settings.namespace}.svc.cluster.local"],
        "type": "A",
        "port": ALERTMANAGER_PORT,
    }


def prometheus_config(settings: PlatformSettings) -> dict[str, object]:
    mon = settings.monitoring
    return {
        "global": {
            "scrape_interval": mon.scrape_interval,
            "evaluation_interval": mon.scrape_interval,
            "external_labels": {
                "environment": settings.environment,
                "cluster_namespace": settings.namespace,
            },
        },
        "rule_files": [f"{RULES_DIR}/{RECORDING_RULES_FILE}", f"{RULES_DIR}/{ALERTING_RULES_FILE}"],
        # Every Alertmanager replica gets every alert; they deduplicate.
        "alerting": {"alertmanagers": [{"dns_sd_configs": [_alertmanager_peers(settings)]}]},
        "scrape_configs": [
            {
                "job_name": PROMETHEUS,
                "static_configs": [{"targets": [f"localhost:{PROMETHEUS_PORT}"]}],
            },
            {"job_name": ALERTMANAGER, "dns_sd_configs": [_alertmanager_peers(settings)]},
            {
                "job_name": "kgot-services",
                "kubernetes_sd_configs": [
                    {"role": "pod", "namespaces": {"names": [settings.namespace]}}
                ],
                "relabel_configs": [
                    {
                        "source_labels": [
                            _meta_label("app.kubernetes.io/part-of"),
                            _meta_label(TIER_LABEL),
                        ],
                        "separator": ";",
                        "regex": f"{PART_OF};{TIER_SERVICE}",
                        "action": "keep",
                    },
                    {
                        "source_labels": ["__meta_kubernetes_pod_container_port_name"],
                        "regex": "http",
                        "action": "keep",
                    },
                    {
                        "source_labels": [
                            "__meta_kubernetes_pod_annotation_"
                            + "".join(c if c.isalnum() else "_" for c in METRICS_PATH_ANNOTATION)
                        ],
                        "regex": "(.+)",
                        "target_label": "__metrics_path__",
                    },
                    # The labels the rollout tool and the rules select on.
                    *(
                        {"source_labels": [source], "target_label": target}
                        for source, target in (
                            ("__meta_kubernetes_namespace", "namespace"),
                            ("__meta_kubernetes_pod_name", "pod"),
                            (_meta_label("app.kubernetes.io/name"), "service"),
                            (_meta_label(COLOR_LABEL), "color"),
                            (_meta_label("app.kubernetes.io/version"), "version"),
                        )
                    ),
                ],
            },
            *_gateway_jobs(settings),
        ],
    }


def _gateway_jobs(settings: PlatformSettings) -> list[dict[str, object]]:
    """Traefik's per-backend metrics, when the program runs it (gateway.deploy).

    Every pod through the headless Service (one target a pod, so a counter
    never jumps between replicas). Traefik's own `service` label (the backend,
    e.g. `kgot-dev-controller-preview-8080@kubernetesgateway`) is kept as it is.
    """
    if not settings.gateway.deploy:
        return []
    host = f"{METRICS_SERVICE}.{settings.edge.controller_namespace}.svc.cluster.local"
    return [
        {
            "job_name": GATEWAY_JOB,
            "dns_sd_configs": [{"names": [host], "type": "A", "port": METRICS_PORT}],
        }
    ]


def recording_rules(settings: PlatformSettings) -> dict[str, object]:
    """Per-colour request rate, error ratio, p95 latency and resource use.

    Windows follow the rollback triggers, so the dashboards show what the
    rollout tool decides on.
    """
    rb = settings.rollback
    ns = f'namespace="{settings.namespace}"'
    by = "service, color"
    error_window = f"{rb.error_rate.window_seconds}s"
    latency_window = f"{rb.latency.window_seconds}s"
    cpu_window = f"{rb.cpu.window_seconds}s"
    rules: list[dict[str, object]] = [
        {
            "record": "kgot:request_rate:by_color",
            "expr": f"sum by ({by}) (rate(http_requests_total{{{ns}}}[1m]))",
        },
        {
            "record": "kgot:error_ratio:by_color",
            "expr": (
                f'sum by ({by}) (rate(http_requests_total{{{ns},code=~"5.."}}[{error_window}]))'
                f" / sum by ({by}) (rate(http_requests_total{{{ns}}}[{error_window}]))"
            ),
        },
        {
            "record": "kgot:latency_p95_seconds:by_color",
            "expr": (
                f"histogram_quantile(0.95, sum by ({by}, le) "
                f"(rate(http_request_duration_seconds_bucket{{{ns}}}[{latency_window}])))"
            ),
        },
    ]
    # Use against each service's own limit: one rule per service, same name.
    for service in settings.services:
        sel = f'{ns},service="{service.name}"'
        cores = service.resources.limits.millicores / 1000
        limit_bytes = service.resources.limits.memory_bytes
        rules.append(
            {
                "record": "kgot:cpu_usage_ratio:by_color",
                "labels": {"service": service.name},
                "expr": (
                    f"max by ({by}) (rate(process_cpu_seconds_total{{{sel}}}[{cpu_window}]))"
                    f" / {cores:g}"
                ),
            }
        )
        rules.append(
            {
                "record": "kgot:memory_usage_ratio:by_color",
                "labels": {"service": service.name},
                "expr": f"max by ({by}) (process_resident_memory_bytes{{{sel}}}) / {limit_bytes}",
            }
        )
    return {"groups": [{"name": "kgot-colors", "rules": rules}]}


def _alert(
    name: str, expr: str, severity: str, for_: str, summary: str, description: str
) -> dict[str, object]:
    alert: dict[str, object] = {"alert": name, "expr": expr}
    if for_ != "0s":
        alert["for"] = for_
    alert["labels"] = {"severity": severity}
    alert["annotations"] = {"summary": summary, "description": description}
    return alert


def alerting_rules(settings: PlatformSettings) -> dict[str, object]:
    """The operations guide's alerts: critical ones page, warnings go to Slack."""
    env = f'environment="{settings.environment}"'
    rb = settings.rollback
    sec = settings.security
    critical = [
        _alert(
            "KgotDeploymentFailed",
            f'increase(kgot_deployments_total{{{env},status!~"{SUCCESSFUL_DEPLOYMENT_STATUSES}"}}'
            "[15m]) > 0",
            "critical",
            "0s",
            "A deployment of kgot-platform failed",
            "{{ $value }} deployments in {{ $labels.environment }} ended with status "
            "{{ $labels.status }} in the last 15 minutes.",
        ),
        _alert(
            "KgotSecurityScanFailed",
            f"increase(kgot_security_scan_failures_total{{{env}}}[15m]) > 0",
            "critical",
            "0s",
            "A security scan blocked a release",
            f"Vulnerabilities above the thresholds (max critical {sec.max_critical}, "
            f"max high {sec.max_high}, from {sec.severity_threshold}) or a failed scan.",
        ),
        _alert(
            "KgotAutomatedRollback",
            f"increase(kgot_rollbacks_total{{{env}}}[15m]) > 0",
            "critical",
            "0s",
            "Traffic was rolled back",
            "Trigger {{ $labels.trigger }} rolled traffic back (success: {{ $labels.success }}).",
        ),
        _alert(
            "KgotSLAViolation",
            f'increase(kgot_sla_violations_total{{{env},severity="critical"}}[5m]) > 0',
            "critical",
            "0s",
            "An SLA trigger was breached",
            "{{ $labels.metric }} breached its threshold during a rollout.",
        ),
        _alert(
            "KgotErrorRateHigh",
            f"kgot:error_ratio:by_color > {rb.error_rate.threshold:g}",
            "critical",
            f"{rb.error_rate.window_seconds}s",
            "Error rate above the rollback threshold",
            "{{ $labels.service }} ({{ $labels.color }}) answers "
            "{{ $value | humanizePercentage }} of requests with 5xx.",
        ),
    ]
    warning = [
        _alert(
            "KgotHighCpuUsage",
            f"kgot:cpu_usage_ratio:by_color > {rb.cpu.threshold:g}",
            "warning",
            "5m",
            "CPU use near the limit",
            "{{ $labels.service }} ({{ $labels.color }}) uses "
            "{{ $value | humanizePercentage }} of its CPU limit.",
        ),
        _alert(
            "KgotHighMemoryUsage",
            "kgot:memory_usage_ratio:by_color > 0.9",
            "warning",
            "5m",
            "Memory use near the limit",
            "{{ $labels.service }} ({{ $labels.color }}) uses "
            "{{ $value | humanizePercentage }} of its memory limit.",
        ),
        _alert(
            "KgotPerformanceDegradation",
            "kgot:latency_p95_seconds:by_color > "
            f"{rb.latency.ratio:g} * (kgot:latency_p95_seconds:by_color offset 1h)",
            "warning",
            f"{rb.latency.window_seconds}s",
            "p95 latency degraded",
            f"{{{{ $labels.service }}}} ({{{{ $labels.color }}}}) p95 latency is more than "
            f"{rb.latency.ratio:g}x what it was an hour ago.",
        ),
        _alert(
            "KgotSlowDeployment",
            "histogram_quantile(0.95, sum by (le) "
            f"(rate(kgot_deployment_duration_seconds_bucket{{{env}}}[1d]))) > 1800",
            "warning",
            "0s",
            "Deployments take longer than 30 minutes",
            "p95 deployment duration is {{ $value | humanizeDuration }}.",
        ),
        _alert(
            "KgotComplianceScoreLow",
            f"kgot_compliance_score{{{env}}} < {sec.minimum_score:g}",
            "warning",
            "0s",
            "Compliance score dropped below the minimum",
            f"{{{{ $labels.framework }}}} score {{{{ $value }}}} is below {sec.minimum_score:g}.",
        ),
        _alert(
            "KgotSLAWarning",
            f'increase(kgot_sla_violations_total{{{env},severity="warning"}}[15m]) > 0',
            "warning",
            "0s",
            "A rollout held on missing or borderline metrics",
            "{{ $labels.metric }}: {{ $value }} warnings in 15 minutes.",
        ),
    ]
    return {
        "groups": [
            {"name": "kgot-critical", "rules": critical},
            {"name": "kgot-warning", "rules": warning},
        ]
    }


def alertmanager_config(settings: PlatformSettings) -> dict[str, object]:
    """Routes and receivers; the keys themselves are files from a Secret."""
    alerting = settings.alerting
    receivers: list[dict[str, object]] = [{"name": "default"}]
    routes: list[dict[str, object]] = []
    if settings.pagerduty_integration_key is not None:
        receivers.append(
            {
                "name": "pagerduty",
                "pagerduty_configs": [
                    {
                        "routing_key_file": f"{SECRETS_DIR}/{PAGERDUTY_KEY_FILE}",
                        "send_resolved": True,
                        "severity": "critical",
                    }
                ],
            }
        )
        routes.append(
            {"receiver": "pagerduty", "matchers": ['severity="critical"'], "continue": True}
        )
    if settings.slack_webhook_url is not None:
        receivers.append(
            {
                "name": "slack",
                "slack_configs": [
                    {
                        "api_url_file": f"{SECRETS_DIR}/{SLACK_WEBHOOK_FILE}",
                        "channel": alerting.slack_channel,
                        "send_resolved": True,
                        "title": "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}",
                        "text": "{{ range .Alerts }}{{ .Annotations.description }}\n{{ end }}",
                    }
                ],
            }
        )
        routes.append({"receiver": "slack", "matchers": ['severity=~"critical|warning"']})
    return {
        "route": {
            "receiver": "default",
            "group_by": ["alertname", "environment", "service"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["alertname", "service"],
            }
        ],
        "receivers": receivers,
    }


def grafana_datasources() -> dict[str, object]:
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": "prometheus",
                "type": "prometheus",
                "access": "proxy",
                "url": f"http://{PROMETHEUS}:{PROMETHEUS_PORT}",
                "isDefault": True,
                "editable": False,
            }
        ],
    }


def grafana_dashboard_provider(path: str) -> dict[str, object]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": PART_OF,
                "folder": "KGoT Platform",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "options": {"path": path},
            }
        ],
    }


# The label kube-prometheus-stack's Grafana sidecar watches for dashboards.
DASHBOARD_SIDECAR_LABEL = "grafana_dashboard"


def grafana_dashboards(directory: Path = DASHBOARDS_DIR) -> dict[str, str]:
    """The dashboards as files for a ConfigMap, compacted to keep it small."""
    return {
        name: json.dumps(json.loads((directory / name).read_text(encoding="utf-8")))
        for name in DASHBOARD_FILES
    }
