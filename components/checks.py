"""PostDeployChecks: each colour's health path, checked once its Deployments are ready."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_command as command

from components.settings import COLORS, CheckSettings, Color, ServiceSettings, TrafficSettings


@dataclass
class PostDeployChecksArgs:
    checks: CheckSettings
    services: Sequence[ServiceSettings]
    traffic: TrafficSettings
    namespace: pulumi.Input[str]
    # Per service key: what must be in place first (its BlueGreenService, so
    # both colours' Deployments are ready and both Services exist).
    after: Mapping[str, pulumi.Resource]
    # Per service key and colour: the image that colour runs (a digest from
    # ServiceImages), so a rebuilt image is checked again.
    images: Mapping[str, Mapping[Color, pulumi.Input[str]]] = field(default_factory=dict)


class PostDeployChecks(pulumi.ComponentResource):
    """A `command.local.Command` per service and colour that fails the `up` when unhealthy.

    Each check runs when its colour's version or image changes, never on a
    flip or a weight change: its inputs do not depend on the active colour, so
    a shift stays a routing-only change. At run time it goes through the
    Service that selects the colour: `<svc>-preview` while it is the standby.
    """

    def __init__(
        self, name: str, args: PostDeployChecksArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("kgot:platform:PostDeployChecks", name, None, opts)
        checked: list[str] = []
        for service in args.services:
            for color in COLORS:
                self._check(name, service, color, args)
                checked.append(f"{service.name}-{color}")
        self.register_outputs({"checked": checked})

    def _check(
        self, name: str, service: ServiceSettings, color: Color, args: PostDeployChecksArgs
    ) -> command.local.Command:
        version = args.traffic.version_of(color)
        image = args.images.get(service.key, {}).get(color, service.image_ref(version))
        script = pulumi.Output.from_input(args.namespace).apply(
            lambda namespace: health_check_script(service, color, namespace, args.checks)
        )
        return command.local.Command(
            f"{name}-{service.name}-{color}",
            create=script,
            interpreter=["/bin/bash", "-c"],
            triggers=[version, image, service.readiness_path],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.after[service.key]]),
        )


def health_check_script(
    service: ServiceSettings, color: Color, namespace: str, checks: CheckSettings
) -> str:
    """Bash that asks the API server's Service proxy for the readiness path, with retries.

    Through the API server, so it works from a CI runner with nothing but a
    kubeconfig. A colour scaled to zero (standbyReplicas: 0) has no pod to
    answer and is skipped; the rollout's gates watch it once it has weight.
    """
    q = shlex.quote
    svc = service.name
    path = service.readiness_path
    return f"""set -u
ns={q(namespace)} svc={q(svc)} color={q(color)} path={q(path)}
replicas=$(kubectl -n "$ns" get deployment "$svc-$color" \
  -o 'jsonpath={{.spec.replicas}}' 2>&1) || {{
  echo "service {svc} ({color}): cannot read Deployment $svc-$color: $replicas" >&2; exit 1; }}
if [ "$replicas" = 0 ]; then
  echo "service {svc} ({color}): scaled to zero, nothing to check"; exit 0
fi
preview=$(kubectl -n "$ns" get service "$svc-preview" \
  -o 'jsonpath={{.spec.selector.kgot\\.io/color}}' 2>&1) || {{
  echo "service {svc} ({color}): cannot read Service $svc-preview: $preview" >&2; exit 1; }}
target=$svc
[ "$preview" = "$color" ] && target=$svc-preview
url="/api/v1/namespaces/$ns/services/http:$target:http/proxy$path"
deadline=$((SECONDS + {checks.timeout_seconds}))
while :; do
  if response=$(kubectl get --raw "$url" 2>&1); then
    echo "service {svc} ({color}) healthy through Service $target: $response"; exit 0
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "service {svc} ({color}) failed its health check through Service $target$path" \\
      "for {checks.timeout_seconds}s; last response: $response" >&2
    exit 1
  fi
  sleep {checks.interval_seconds}
done
"""
