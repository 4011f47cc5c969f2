"""MonitoringStack: Prometheus, Alertmanager and Grafana inside the platform namespace."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import monitoring_config as cfg
from components.baseline import ResourceBudget
from components.labels import (
    ALERTMANAGER,
    ALERTMANAGER_CLUSTER_PORT,
    ALERTMANAGER_PEERS,
    ALERTMANAGER_PORT,
    GRAFANA,
    GRAFANA_PORT,
    PROMETHEUS,
    PROMETHEUS_PORT,
    common_labels,
    image_version,
    monitoring_labels,
)
from components.settings import PlatformSettings, Secret, cpu_millicores, memory_bytes


@dataclass(frozen=True)
class _Pod:
    uid: int
    requests: Mapping[str, str]
    limits: Mapping[str, str]


# Official images' users: nobody for Prometheus/Alertmanager, grafana for Grafana.
_PODS = {
    PROMETHEUS: _Pod(65534, {"cpu": "200m", "memory": "512Mi"}, {"cpu": "1", "memory": "2Gi"}),
    ALERTMANAGER: _Pod(65534, {"cpu": "50m", "memory": "64Mi"}, {"cpu": "200m", "memory": "256Mi"}),
    GRAFANA: _Pod(472, {"cpu": "100m", "memory": "128Mi"}, {"cpu": "500m", "memory": "512Mi"}),
}


def monitoring_budget(settings: PlatformSettings) -> ResourceBudget:
    """The monitoring pods (replicas of each, plus a surge pod) for the namespace quota."""
    budget = ResourceBudget()
    apps = [PROMETHEUS, ALERTMANAGER] + ([GRAFANA] if settings.monitoring.grafana else [])
    for pod in (_PODS[app] for app in apps):
        budget += ResourceBudget.of_pods(
            settings.monitoring.replicas + 1,
            cpu_millicores(pod.requests["cpu"]),
            memory_bytes(pod.requests["memory"]),
            cpu_millicores(pod.limits["cpu"]),
            memory_bytes(pod.limits["memory"]),
        )
    return budget


def _checksum(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


@dataclass
class MonitoringStackArgs:
    settings: PlatformSettings
    namespace: pulumi.Input[str]


class MonitoringStack(pulumi.ComponentResource):
    """Scrapes the platform, evaluates the rollout's rules and alerts, shows the dashboards."""

    prometheus_url: pulumi.Output[str]
    alertmanager_url: pulumi.Output[str]
    # None where the stack runs no Grafana (monitoring.grafana: false).
    grafana_url: pulumi.Output[str] | None

    def __init__(
        self, name: str, args: MonitoringStackArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kgot:platform:MonitoringStack", name, None, opts)
        self._args = args
        self._name = name
        self._child = pulumi.ResourceOptions(parent=self)
        settings = args.settings
        self.prometheus_url = self._prometheus()
        self.alertmanager_url = self._alertmanager(settings)
        dashboards = self._dashboards()
        self.grafana_url = (
            self._grafana(settings, dashboards) if settings.monitoring.grafana else None
        )
        self.register_outputs(
            {
                "prometheusUrl": self.prometheus_url,
                "alertmanagerUrl": self.alertmanager_url,
                "grafanaUrl": self.grafana_url,
            }
        )

    # --- shared building blocks ---------------------------------------------------

    def _meta(
        self,
        name: str,
        app: str,
        annotations: Mapping[str, str] | None = None,
        extra_labels: Mapping[str, str] | None = None,
    ) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=self._args.namespace,
            labels={**common_labels(app, "monitoring"), **(extra_labels or {})},
            annotations=dict(annotations) if annotations else None,
        )

    def _config_map(
        self,
        name: str,
        app: str,
        data: Mapping[str, str],
        extra_labels: Mapping[str, str] | None = None,
    ) -> k8s.core.v1.ConfigMap:
        return k8s.core.v1.ConfigMap(
            f"{self._name}-configmap-{name}",
            metadata=self._meta(name, app, extra_labels=extra_labels),
            data=dict(data),
            opts=self._child,
        )

    def _service_account(self, app: str, needs_api: bool) -> k8s.core.v1.ServiceAccount:
        return k8s.core.v1.ServiceAccount(
            f"{self._name}-sa-{app}",
            metadata=self._meta(app, app),
            automount_service_account_token=needs_api,
            opts=self._child,
        )

    def _workload(
        self,
        app: str,
        image: str,
        port: int,
        account: k8s.core.v1.ServiceAccount,
        container: dict[str, object],
        volumes: Sequence[k8s.core.v1.VolumeArgs],
        checksum: str,
        needs_api: bool = False,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> pulumi.Output[str]:
        core = k8s.core.v1
        pod = _PODS[app]
        labels = monitoring_labels(app, image_version(image))
        selector = {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": app}
        replicas = self._args.settings.monitoring.replicas
        annotations = {"kgot.io/config-checksum": checksum}
        if needs_api:
            # Declared for the policy pack: this pod reads the Kubernetes API.
            annotations["kgot.io/needs-kubernetes-api"] = "true"
        k8s.apps.v1.Deployment(
            f"{self._name}-{app}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=app,
                namespace=self._args.namespace,
                labels=labels,
                annotations={"kgot.io/needs-kubernetes-api": "true"} if needs_api else None,
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_surge=1, max_unavailable=0
                    ),
                ),
                revision_history_limit=3,
                template=core.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels, annotations=annotations),
                    spec=core.PodSpecArgs(
                        service_account_name=account.metadata.name,
                        automount_service_account_token=needs_api,
                        enable_service_links=False,
                        security_context=core.PodSecurityContextArgs(
                            run_as_non_root=True,
                            run_as_user=pod.uid,
                            run_as_group=pod.uid,
                            fs_group=pod.uid,
                            seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        containers=[
                            core.ContainerArgs(
                                name=app,
                                image=image,
                                image_pull_policy="IfNotPresent",
                                ports=[core.ContainerPortArgs(name="http", container_port=port)],
                                resources=core.ResourceRequirementsArgs(
                                    requests=dict(pod.requests), limits=dict(pod.limits)
                                ),
                                security_context=core.SecurityContextArgs(
                                    allow_privilege_escalation=False,
                                    read_only_root_filesystem=True,
                                    run_as_non_root=True,
                                    run_as_user=pod.uid,
                                    capabilities=core.CapabilitiesArgs(drop=["ALL"]),
                                    seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
                                ),
                                **container,  # type: ignore[arg-type]
                            )
                        ],
                        volumes=list(volumes),
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
        # Like the services: a drain takes one pod of each app at a time.
        k8s.policy.v1.PodDisruptionBudget(
            f"{self._name}-pdb-{app}",
            metadata=self._meta(app, app),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            ),
            opts=self._child,
        )
        service = core.Service(
            f"{self._name}-service-{app}",
            metadata=self._meta(app, app),
            spec=core.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[core.ServicePortArgs(name="http", port=port, target_port="http")],
            ),
            opts=self._child,
        )
        return pulumi.Output.all(service.metadata.name, self._args.namespace).apply(
            lambda parts: f"http://{parts[0]}.{parts[1]}.svc.cluster.local:{port}"
        )

    @staticmethod
    def _http_probe(path: str, delay: int = 0) -> k8s.core.v1.ProbeArgs:
        return k8s.core.v1.ProbeArgs(
            http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="http"),
            initial_delay_seconds=delay,
            period_seconds=10,
            failure_threshold=3,
        )

    @staticmethod
    def _mount(name: str, path: str, read_only: bool = True) -> k8s.core.v1.VolumeMountArgs:
        return k8s.core.v1.VolumeMountArgs(name=name, mount_path=path, read_only=read_only)

    @staticmethod
    def _empty_dir(name: str, size: str) -> k8s.core.v1.VolumeArgs:
        return k8s.core.v1.VolumeArgs(
            name=name, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=size)
        )

    @staticmethod
    def _from_config_map(name: str, config_map: k8s.core.v1.ConfigMap) -> k8s.core.v1.VolumeArgs:
        return k8s.core.v1.VolumeArgs(
            name=name,
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=config_map.metadata.name),
        )

    # --- the three apps ------------------------------------------------------------

    def _prometheus(self) -> pulumi.Output[str]:
        settings = self._args.settings
        account = self._service_account(PROMETHEUS, needs_api=True)
        # Pod discovery in this namespace only: no ClusterRole needed.
        role = k8s.rbac.v1.Role(
            f"{self._name}-role-prometheus",
            metadata=self._meta("prometheus-discovery", PROMETHEUS),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[""],
                    resources=["pods", "services", "endpoints"],
                    verbs=["get", "list", "watch"],
                ),
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["discovery.k8s.io"],
                    resources=["endpointslices"],
                    verbs=["get", "list", "watch"],
                ),
            ],
            opts=self._child,
        )
        binding = k8s.rbac.v1.RoleBinding(
            f"{self._name}-rolebinding-prometheus",
            metadata=self._meta("prometheus-discovery", PROMETHEUS),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=role.metadata.name
            ),
            subjects=[
                k8s.rbac.v1.SubjectArgs(
                    kind="ServiceAccount",
                    name=account.metadata.name,
                    namespace=self._args.namespace,
                )
            ],
            opts=self._child,
        )
        config = cfg.to_yaml(cfg.prometheus_config(settings))
        recording = cfg.to_yaml(cfg.recording_rules(settings))
        alerting = cfg.to_yaml(cfg.alerting_rules(settings))
        config_map = self._config_map("prometheus-config", PROMETHEUS, {"prometheus.yml": config})
        rules_map = self._config_map(
            "prometheus-rules",
            PROMETHEUS,
            {cfg.RECORDING_RULES_FILE: recording, cfg.ALERTING_RULES_FILE: alerting},
        )
        mon = settings.monitoring
        return self._workload(
            PROMETHEUS,
            mon.prometheus_image,
            PROMETHEUS_PORT,
            account,
            {
                "args": [
                    "--config.file=/etc/prometheus/prometheus.yml",
                    "--storage.tsdb.path=/prometheus",
                    f"--storage.tsdb.retention.time={mon.retention}",
                    f"--web.listen-address=:{PROMETHEUS_PORT}",
                ],
                "readiness_probe": self._http_probe("/-/ready"),
                "liveness_probe": self._http_probe("/-/healthy", delay=30),
                "volume_mounts": [
                    self._mount("config", "/etc/prometheus"),
                    self._mount("rules", cfg.RULES_DIR),
                    self._mount("data", "/prometheus", read_only=False),
                ],
            },
            [
                self._from_config_map("config", config_map),
                self._from_config_map("rules", rules_map),
                self._empty_dir("data", "4Gi"),
            ],
            _checksum(config, recording, alerting),
            needs_api=True,
            depends_on=[binding],
        )

    def _alertmanager(self, settings: PlatformSettings) -> pulumi.Output[str]:
        account = self._service_account(ALERTMANAGER, needs_api=False)
        config = cfg.to_yaml(cfg.alertmanager_config(settings))
        config_map = self._config_map(
            "alertmanager-config", ALERTMANAGER, {"alertmanager.yml": config}
        )
        volumes = [self._from_config_map("config", config_map), self._empty_dir("data", "256Mi")]
        mounts = [
            self._mount("config", "/etc/alertmanager"),
            self._mount("data", "/alertmanager", read_only=False),
        ]
        keys = {
            cfg.SLACK_WEBHOOK_FILE: settings.slack_webhook_url,
            cfg.PAGERDUTY_KEY_FILE: settings.pagerduty_integration_key,
        }
        receiver_keys = {file: secret for file, secret in keys.items() if secret is not None}
        if receiver_keys:
            secret = self._secret("alertmanager-receivers", ALERTMANAGER, receiver_keys)
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name="receivers",
                    secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=secret.metadata.name),
                )
            )
            mounts.append(self._mount("receivers", cfg.SECRETS_DIR))
        core = k8s.core.v1
        # Headless: its DNS name lists every replica, for the gossip peers and
        # for Prometheus, which must send each alert to all of them.
        core.Service(
            f"{self._name}-service-{ALERTMANAGER_PEERS}",
            metadata=self._meta(ALERTMANAGER_PEERS, ALERTMANAGER),
            spec=core.ServiceSpecArgs(
                cluster_ip="None",
                # Peers must find each other before any of them is ready.
                publish_not_ready_addresses=True,
                selector={"app.kubernetes.io/name": ALERTMANAGER},
                ports=[
                    core.ServicePortArgs(name="http", port=ALERTMANAGER_PORT, target_port="http"),
                    core.ServicePortArgs(
                        name="gossip-tcp", port=ALERTMANAGER_CLUSTER_PORT, protocol="TCP"
                    ),
                    core.ServicePortArgs(
                        name="gossip-udp", port=ALERTMANAGER_CLUSTER_PORT, protocol="UDP"
                    ),
                ],
            ),
            opts=self._child,
        )
        peers = f"{ALERTMANAGER_PEERS}.{settings.namespace}.svc.cluster.local"
        return self._workload(
            ALERTMANAGER,
            settings.monitoring.alertmanager_image,
            ALERTMANAGER_PORT,
            account,
            {
                "args": [
                    "--config.file=/etc/alertmanager/alertmanager.yml",
                    "--storage.path=/alertmanager",
                    f"--web.listen-address=:{ALERTMANAGER_PORT}",
                    f"--cluster.listen-address=0.0.0.0:{ALERTMANAGER_CLUSTER_PORT}",
                    # Pod IPs are not always in a private range, which is all
                    # Alertmanager would pick by itself.
                    f"--cluster.advertise-address=$(POD_IP):{ALERTMANAGER_CLUSTER_PORT}",
                    f"--cluster.peer={peers}:{ALERTMANAGER_CLUSTER_PORT}",
                ],
                "env": [
                    core.EnvVarArgs(
                        name="POD_IP",
                        value_from=core.EnvVarSourceArgs(
                            field_ref=core.ObjectFieldSelectorArgs(field_path="status.podIP")
                        ),
                    )
                ],
                "readiness_probe": self._http_probe("/-/ready"),
                "liveness_probe": self._http_probe("/-/healthy", delay=30),
                "volume_mounts": mounts,
            },
            volumes,
            # Which receivers exist, never their keys, goes into the checksum.
            _checksum(config, *sorted(receiver_keys)),
        )

    def _secret(self, name: str, app: str, values: Mapping[str, Secret]) -> k8s.core.v1.Secret:
        return k8s.core.v1.Secret(
            f"{self._name}-secret-{name}",
            metadata=self._meta(name, app),
            type="Opaque",
            # Pulumi secrets: encrypted in state, masked in previews and logs.
            string_data={key: pulumi.Output.secret(value.value) for key, value in values.items()},
            opts=pulumi.ResourceOptions(
                parent=self, additional_secret_outputs=["stringData", "data"]
            ),
        )

    def _dashboards(self) -> tuple[k8s.core.v1.ConfigMap, Mapping[str, str]]:
        """The three dashboards, in a ConfigMap that our Grafana mounts and that
        kube-prometheus-stack's dashboard sidecar (label grafana_dashboard=1)
        loads into a team's existing Grafana."""
        dashboards = cfg.grafana_dashboards()
        config_map = self._config_map(
            "grafana-dashboards", GRAFANA, dashboards, {cfg.DASHBOARD_SIDECAR_LABEL: "1"}
        )
        return config_map, dashboards

    def _grafana(
        self,
        settings: PlatformSettings,
        dashboards_of: tuple[k8s.core.v1.ConfigMap, Mapping[str, str]],
    ) -> pulumi.Output[str]:
        core = k8s.core.v1
        account = self._service_account(GRAFANA, needs_api=False)
        datasources = cfg.to_yaml(cfg.grafana_datasources())
        provider = cfg.to_yaml(cfg.grafana_dashboard_provider("/var/lib/grafana-dashboards"))
        dashboards_map, dashboards = dashboards_of
        provisioning = self._config_map(
            "grafana-provisioning",
            GRAFANA,
            {"datasources.yaml": datasources, "dashboards.yaml": provider},
        )
        env = [
            core.EnvVarArgs(name="GF_PATHS_DATA", value="/var/lib/grafana"),
            core.EnvVarArgs(name="GF_PATHS_PROVISIONING", value="/etc/grafana/provisioning"),
            core.EnvVarArgs(name="GF_LOG_MODE", value="console"),
            core.EnvVarArgs(name="GF_ANALYTICS_REPORTING_ENABLED", value="false"),
            core.EnvVarArgs(name="GF_ANALYTICS_CHECK_FOR_UPDATES", value="false"),
            core.EnvVarArgs(name="GF_AUTH_ANONYMOUS_ENABLED", value="true"),
            core.EnvVarArgs(name="GF_AUTH_ANONYMOUS_ORG_ROLE", value="Viewer"),
        ]
        password = settings.grafana_admin_password
        if password is None:
            # Without a password from secret config nobody can log in: the
            # dashboards are code, and Grafana is read-only.
            env += [
                core.EnvVarArgs(name="GF_AUTH_DISABLE_LOGIN_FORM", value="true"),
                core.EnvVarArgs(name="GF_AUTH_BASIC_ENABLED", value="false"),
            ]
        else:
            secret = self._secret("grafana-admin", GRAFANA, {"admin-password": password})
            env.append(
                core.EnvVarArgs(
                    name="GF_SECURITY_ADMIN_PASSWORD",
                    value_from=core.EnvVarSourceArgs(
                        secret_key_ref=core.SecretKeySelectorArgs(
                            name=secret.metadata.name, key="admin-password"
                        )
                    ),
                )
            )
        provisioning_items = {"datasources.yaml": "datasources", "dashboards.yaml": "dashboards"}
        return self._workload(
            GRAFANA,
            settings.monitoring.grafana_image,
            GRAFANA_PORT,
            account,
            {
                "env": env,
                "readiness_probe": self._http_probe("/api/health"),
                # A different check from readiness: the process answers at all.
                "liveness_probe": core.ProbeArgs(
                    tcp_socket=core.TCPSocketActionArgs(port="http"),
                    initial_delay_seconds=30,
                    period_seconds=10,
                    failure_threshold=3,
                ),
                "volume_mounts": [
                    self._mount("data", "/var/lib/grafana", read_only=False),
                    self._mount("tmp", "/tmp", read_only=False),
                    self._mount("dashboards", "/var/lib/grafana-dashboards"),
                    *(
                        core.VolumeMountArgs(
                            name="provisioning",
                            mount_path=f"/etc/grafana/provisioning/{folder}/{file}",
                            sub_path=file,
                            read_only=True,
                        )
                        for file, folder in provisioning_items.items()
                    ),
                ],
            },
            [
                self._empty_dir("data", "512Mi"),
                self._empty_dir("tmp", "64Mi"),
                self._from_config_map("dashboards", dashboards_map),
                self._from_config_map("provisioning", provisioning),
            ],
            _checksum(datasources, provider, *dashboards.values(), str(password is not None)),
        )
