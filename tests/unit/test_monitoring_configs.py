"""The generated monitoring configs pass the real checkers; dashboards are valid Grafana JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest

from components import monitoring_config as cfg
from components.settings import PlatformSettings, Secret, parse_settings
from tests.committed_stacks import stack_config

pytestmark = pytest.mark.unit

DEPLOYMENT_METRICS = (
    "kgot_deployments_total",
    "kgot_deployment_duration_seconds",
    "kgot_rollbacks_total",
    "kgot_sla_violations_total",
)


def settings_for(stack: str, with_receivers: bool = True) -> PlatformSettings:
    raw = stack_config(stack)
    if with_receivers:
        raw["slackWebhookUrl"] = Secret("https://hooks.slack.com/services/T0/B0/x")
        raw["pagerdutyIntegrationKey"] = Secret("0123456789abcdef")
    return parse_settings(raw, stack)


def tool(name: str) -> str:
    """The checker's path; in CI a missing checker fails the suite instead of skipping."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} not installed (Debian: ./toolchain/debian-packages.sh)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run the real checker")
        pytest.skip(reason)
    return path


def check(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{output}"
    return output


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_promtool_accepts_the_rules(tmp_path: Path, stack: str) -> None:
    promtool = tool("promtool")
    settings = settings_for(stack)
    recording = tmp_path / cfg.RECORDING_RULES_FILE
    alerting = tmp_path / cfg.ALERTING_RULES_FILE
    recording.write_text(cfg.to_yaml(cfg.recording_rules(settings)), encoding="utf-8")
    alerting.write_text(cfg.to_yaml(cfg.alerting_rules(settings)), encoding="utf-8")
    output = check([promtool, "check", "rules", str(recording), str(alerting)])
    assert "SUCCESS" in output


def test_promtool_rule_tests_fire_the_rollback_and_error_alerts(tmp_path: Path) -> None:
    """The alerts fire on the series the rollout tool and the services export."""
    promtool = tool("promtool")
    settings = settings_for("production")
    for name, rules in (
        (cfg.RECORDING_RULES_FILE, cfg.recording_rules(settings)),
        (cfg.ALERTING_RULES_FILE, cfg.alerting_rules(settings)),
    ):
        (tmp_path / name).write_text(cfg.to_yaml(rules), encoding="utf-8")
    ns = 'namespace="kgot-production",service="controller",color="green"'
    tests = {
        "rule_files": [cfg.RECORDING_RULES_FILE, cfg.ALERTING_RULES_FILE],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'kgot_rollbacks_total{environment="production",'
                        'trigger="error_rate",success="true"}',
                        "values": "0 1 1 1",
                    },
                    {"series": f'http_requests_total{{{ns},code="200"}}', "values": "0+60x10"},
                    {"series": f'http_requests_total{{{ns},code="500"}}', "values": "0+30x10"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "3m",
                        "alertname": "KgotAutomatedRollback",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "critical",
                                    "environment": "production",
                                    "trigger": "error_rate",
                                    "success": "true",
                                },
                                "exp_annotations": {
                                    "summary": "Traffic was rolled back",
                                    "description": "Trigger error_rate rolled traffic back "
                                    "(success: true).",
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": "8m",
                        "alertname": "KgotErrorRateHigh",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "critical",
                                    "service": "controller",
                                    "color": "green",
                                },
                                "exp_annotations": {
                                    "summary": "Error rate above the rollback threshold",
                                    "description": "controller (green) answers 33.33% of "
                                    "requests with 5xx.",
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    test_file = tmp_path / "tests.yml"
    test_file.write_text(cfg.to_yaml(tests), encoding="utf-8")
    output = check([promtool, "test", "rules", str(test_file)])
    assert "SUCCESS" in output


@pytest.mark.parametrize(
    ("stack", "with_receivers"), [("dev", False), ("staging", True), ("production", True)]
)
def test_amtool_accepts_the_alertmanager_config(
    tmp_path: Path, stack: str, with_receivers: bool
) -> None:
    amtool = tool("amtool")
    config = tmp_path / "alertmanager.yml"
    document = cfg.alertmanager_config(settings_for(stack, with_receivers))
    config.write_text(cfg.to_yaml(document), encoding="utf-8")
    output = check([amtool, "check-config", str(config)])
    assert "SUCCESS" in output
    receivers = {r["name"] for r in cast(list[dict[str, object]], document["receivers"])}
    assert receivers == ({"default", "slack", "pagerduty"} if with_receivers else {"default"})


def test_rules_cover_the_deployment_metrics() -> None:
    text = cfg.to_yaml(cfg.alerting_rules(settings_for("staging")))
    for metric in DEPLOYMENT_METRICS:
        assert metric in text


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {
        name: json.loads((cfg.DASHBOARDS_DIR / name).read_text(encoding="utf-8"))
        for name in cfg.DASHBOARD_FILES
    }


def test_dashboards_are_valid_grafana_json() -> None:
    dashboards = load_dashboards()
    assert {d["title"] for d in dashboards.values()} == {
        "Deployment Overview",
        "Security Monitoring",
        "Performance Monitoring",
    }
    uids = [d["uid"] for d in dashboards.values()]
    assert len(set(uids)) == len(uids)
    for name, dashboard in dashboards.items():
        # What Grafana's file provisioning needs to import a dashboard.
        assert isinstance(dashboard["schemaVersion"], int), name
        assert 0 < len(dashboard["uid"]) <= 40, name
        assert dashboard.get("id") is None, f"{name}: provisioned dashboards carry no id"
        panel_ids = [p["id"] for p in dashboard["panels"]]
        assert len(set(panel_ids)) == len(panel_ids), f"{name}: duplicate panel ids"
        for panel in dashboard["panels"]:
            where = f"{name} / {panel['title']}"
            assert panel["type"] in {"timeseries", "stat", "gauge", "table"}, where
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, where
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, where
            assert panel["targets"], where
            for target in panel["targets"]:
                assert target["expr"].strip(), where
                assert target["datasource"]["uid"] == "prometheus", where


def test_dashboards_use_the_provisioned_datasource_and_deployment_metrics() -> None:
    datasource = cast(list[dict[str, object]], cfg.grafana_datasources()["datasources"])[0]
    assert datasource["uid"] == "prometheus"
    overview = json.dumps(load_dashboards()["deployment-overview.json"])
    for metric in DEPLOYMENT_METRICS:
        assert metric in overview


def test_dashboards_compact_into_the_config_map() -> None:
    files = cfg.grafana_dashboards()
    assert set(files) == set(cfg.DASHBOARD_FILES)
    # A ConfigMap holds at most 1 MiB.
    assert sum(len(text) for text in files.values()) < 1_000_000
