"""BlueGreenService: one KGoT service as two complete colours and the routing between them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.bluegreen_routing import http_route, ingresses
from components.labels import (
    METRICS_PATH_ANNOTATION,
    SERVICE_UID,
    SKIP_AWAIT,
    common_labels,
    service_pod_labels,
    service_selector,
)
from components.settings import (
    COLORS,
    Color,
    EdgeSettings,
    ServiceSettings,
    TrafficSettings,
)


@dataclass
class BlueGreenServiceArgs:
    service: ServiceSettings
    traffic: TrafficSettings
    edge: EdgeSettings
    namespace: pulumi.Input[str]
    service_account: pulumi.Input[str]
    # Gateway the HTTPRoute of a public service attaches to (gateway routing).
    gateway_name: str | None = None
    # An internal service's host on the Gateway's listener `internal`
    # (gateway.internalRoutes listener); None: its route has its own Service
    # as parent (GAMMA, served by a mesh).
    internal_hostname: str | None = None
    # Image per colour, e.g. digests from ServiceImages; default: the service's
    # `<image>:<version>`, pinned by the digest stack config gives that version.
    images: Mapping[Color, pulumi.Input[str]] = field(default_factory=dict)


class BlueGreenService(pulumi.ComponentResource):
    """Deployments `<svc>-blue` / `<svc>-green`, Services `<svc>` / `<svc>-preview`, routing."""

    endpoint: pulumi.Output[str]
    preview_endpoint: pulumi.Output[str]

    def __init__(
        self, name: str, args: BlueGreenServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kgot:platform:BlueGreenService", name, None, opts)
        self._args = args
        svc = args.service
        deployments = {color: self._deployment(name, color) for color in COLORS}
        # Routing skips the provider's await (SKIP_AWAIT says why); the guard it
        # gave is this order instead. A Service depends on the Deployment of the
        # colour it selects, and the provider awaits a created or updated
        # Deployment until its rollout is complete and its Available condition
        # is True; with maxUnavailable 0 that is every replica the stack asks
        # for. So when an `up` changes a colour and routes to it, routing moves
        # only after that colour is Available, and a failed Deployment await
        # fails the `up` before routing changes. A colour scaled down outside
        # Pulumi is not in the `up`'s diff and is not awaited: kgot-rollout
        # reads the Deployments live before every step for that.
        active_color = args.traffic.active_color
        standby_color = args.traffic.standby_color
        active = self._service(
            name,
            svc.name,
            active_color,
            pulumi.ResourceOptions(parent=self, depends_on=[deployments[active_color]]),
        )
        self._disruption_budget(name)
        # The weights move between the two Services' selector changes: first
        # `<svc>` selects its (new) colour, then the route or canary weights
        # change, then `<svc>-preview` selects its colour. On a promote
        # (50/50 -> all on the target, where both selectors swap and the
        # weights go to 100/0 in one `up`) every state in between sends the
        # colour being left no more than it had: once `<svc>` selects the
        # target, both backends are the target; the preview turns to the old
        # colour only when its weight is already 0. Routes first (or the
        # preview Service first, as before) would let a proxy that sees one
        # change before the other send a burst back to the colour being left.
        routing: list[pulumi.Resource] = []
        route_opts = pulumi.ResourceOptions(
            parent=self, depends_on=[active, deployments[standby_color]]
        )
        if args.traffic.routing == "gateway":
            routing.append(http_route(name, args, self._meta, route_opts))
        elif args.traffic.routing == "ingress" and svc.public:
            routing.extend(ingresses(name, args, self._meta, route_opts))
        preview = self._service(
            name,
            f"{svc.name}-preview",
            standby_color,
            pulumi.ResourceOptions(parent=self, depends_on=[deployments[standby_color], *routing]),
        )
        self.endpoint = self._endpoint(active)
        self.preview_endpoint = self._endpoint(preview)
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "previewEndpoint": self.preview_endpoint,
                "activeColor": args.traffic.active_color,
            }
        )

    def _meta(
        self, name: str, annotations: Mapping[str, str] | None = None
    ) -> k8s.meta.v1.ObjectMetaArgs:
        svc = self._args.service
        return k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=self._args.namespace,
            labels=common_labels(svc.name, svc.component),
            annotations=dict(annotations) if annotations else None,
        )

    def _image(self, color: Color) -> pulumi.Input[str]:
        image = self._args.images.get(color)
        if image is not None:
            return image
        return self._args.service.image_ref(self._args.traffic.version_of(color))

    def _deployment(self, name: str, color: Color) -> k8s.apps.v1.Deployment:
        svc = self._args.service
        traffic = self._args.traffic
        version = traffic.version_of(color)
        labels = service_pod_labels(svc, color, version)
        deadline = f"{svc.progress_deadline_seconds + 30}s"
        selector = {
            **service_selector(svc, color),
            "app.kubernetes.io/instance": labels["app.kubernetes.io/instance"],
        }
        return k8s.apps.v1.Deployment(
            f"{name}-{color}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{svc.name}-{color}",
                namespace=self._args.namespace,
                labels=labels,
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=traffic.replicas_of(color, svc.replicas),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                # Never below the configured size while a new version rolls out.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_surge=1, max_unavailable=0
                    ),
                ),
                revision_history_limit=5,
                progress_deadline_seconds=svc.progress_deadline_seconds,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels,
                        annotations={METRICS_PATH_ANNOTATION: svc.metrics_path},
                    ),
                    spec=self._pod_spec(color, version),
                ),
            ),
            # The provider waits for the rollout; Kubernetes marks it failed at
            # the progress deadline, and the wait ends there too (plus time to
            # report it) instead of at the provider's default 10 minutes.
            opts=pulumi.ResourceOptions(
                parent=self,
                custom_timeouts=pulumi.CustomTimeouts(create=deadline, update=deadline),
            ),
        )

    def _pod_spec(self, color: Color, version: str) -> k8s.core.v1.PodSpecArgs:
        svc = self._args.service
        core = k8s.core.v1
        res = svc.resources
        return core.PodSpecArgs(
            service_account_name=self._args.service_account,
            automount_service_account_token=False,
            enable_service_links=False,
            termination_grace_period_seconds=30,
            security_context=core.PodSecurityContextArgs(
                run_as_non_root=True,
                run_as_user=SERVICE_UID,
                run_as_group=SERVICE_UID,
                fs_group=SERVICE_UID,
                seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
            ),
            containers=[
                core.ContainerArgs(
                    name=svc.name,
                    image=self._image(color),
                    image_pull_policy="IfNotPresent",
                    ports=[core.ContainerPortArgs(name="http", container_port=svc.port)],
                    env=[
                        core.EnvVarArgs(name="PORT", value=str(svc.port)),
                        core.EnvVarArgs(name="KGOT_SERVICE", value=svc.key),
                        core.EnvVarArgs(name="KGOT_COLOR", value=color),
                        core.EnvVarArgs(name="KGOT_VERSION", value=version),
                    ],
                    readiness_probe=core.ProbeArgs(
                        http_get=core.HTTPGetActionArgs(path=svc.readiness_path, port="http"),
                        period_seconds=5,
                        failure_threshold=3,
                    ),
                    liveness_probe=core.ProbeArgs(
                        http_get=core.HTTPGetActionArgs(path=svc.liveness_path, port="http"),
                        initial_delay_seconds=10,
                        period_seconds=10,
                        failure_threshold=3,
                    ),
                    resources=core.ResourceRequirementsArgs(
                        requests={"cpu": res.requests.cpu, "memory": res.requests.memory},
                        limits={"cpu": res.limits.cpu, "memory": res.limits.memory},
                    ),
                    security_context=core.SecurityContextArgs(
                        allow_privilege_escalation=False,
                        read_only_root_filesystem=True,
                        run_as_non_root=True,
                        run_as_user=SERVICE_UID,
                        capabilities=core.CapabilitiesArgs(drop=["ALL"]),
                        seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
                    ),
                    # The root filesystem is read-only; scratch space goes here.
                    volume_mounts=[core.VolumeMountArgs(name="tmp", mount_path="/tmp")],
                )
            ],
            volumes=[
                core.VolumeArgs(
                    name="tmp", empty_dir=core.EmptyDirVolumeSourceArgs(size_limit="64Mi")
                )
            ],
        )

    def _service(
        self, name: str, service_name: str, color: Color, opts: pulumi.ResourceOptions
    ) -> k8s.core.v1.Service:
        svc = self._args.service
        return k8s.core.v1.Service(
            f"{name}-service-{service_name}",
            metadata=self._meta(service_name, SKIP_AWAIT),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=service_selector(svc, color),
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="http", port=svc.port, target_port="http", protocol="TCP"
                    )
                ],
            ),
            opts=opts,
        )

    def _disruption_budget(self, name: str) -> None:
        svc = self._args.service
        # One budget over both colours: a drain takes at most one pod of the
        # service at a time, whichever colour it belongs to.
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=self._meta(svc.name),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={"app.kubernetes.io/name": svc.name}
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _endpoint(self, service: k8s.core.v1.Service) -> pulumi.Output[str]:
        port = self._args.service.port
        return pulumi.Output.all(service.metadata.name, self._args.namespace).apply(
            lambda parts: f"http://{parts[0]}.{parts[1]}.svc.cluster.local:{port}"
        )
