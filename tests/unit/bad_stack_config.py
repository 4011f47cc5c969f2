"""Bad stack config, each with what its error must name (key, value, what is allowed)."""

from __future__ import annotations

from collections.abc import Callable

Mutation = Callable[[dict[str, object]], None]


def _set(path: str, value: object) -> Mutation:
    def mutate(raw: dict[str, object]) -> None:
        *parents, last = path.split(".")
        node: object = raw
        for part in parents:
            assert isinstance(node, dict)
            node = node.setdefault(part, {})
        assert isinstance(node, dict)
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


_DELETE = object()
# A whole service, as a stack file gives it.
_SERVICE = {
    "image": "ghcr.io/kgot-platform/extra",
    "port": 8090,
    "health": {"readiness": "/health/ready", "liveness": "/health/live"},
    "replicas": 1,
    "resources": {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    },
}


def _both(first: Mutation, second: Mutation) -> Mutation:
    def mutate(raw: dict[str, object]) -> None:
        first(raw)
        second(raw)

    return mutate


BAD_CONFIG: list[tuple[str, Mutation, list[str]]] = [
    (
        "progress deadline too short",
        _set("services.controller.progressDeadlineSeconds", 5),
        ["services.controller.progressDeadlineSeconds", "5", "integer from 10 to 3600"],
    ),
    (
        "grafana not a boolean",
        _set("monitoring.grafana", "sometimes"),
        ["monitoring.grafana", '"sometimes"', "true | false"],
    ),
    (
        "image repository with a port but no path",
        _set("services.controller.image", "localhost:5000"),
        ["services.controller.image", '"localhost:5000"', "an image repository"],
    ),
    ("unknown colour", _set("activeColor", "purple"), ["activeColor", '"purple"', "blue | green"]),
    ("weight above 100", _set("standbyWeight", 101), ["standbyWeight", "101", "0 to 100"]),
    ("weight below 0", _set("standbyWeight", -5), ["standbyWeight", "-5", "0 to 100"]),
    ("weight not a number", _set("standbyWeight", "half"), ["standbyWeight", '"half"', "integer"]),
    (
        "replicas below 1",
        _set("services.controller.replicas", 0),
        ["services.controller.replicas", "0", "integer from 1"],
    ),
    (
        "negative standby replicas",
        _set("standbyReplicas", -1),
        ["standbyReplicas", "-1", "integer >= 0"],
    ),
    (
        "error rate above 1",
        _set("rollback.errorRate.threshold", 1.5),
        ["rollback.errorRate.threshold", "1.5", "<= 1.0"],
    ),
    (
        "error rate not a number",
        _set("rollback.errorRate.threshold", "nan"),
        ["rollback.errorRate.threshold", '"nan"', "> 0.0 and <= 1.0"],
    ),
    (
        "latency ratio not above 1",
        _set("rollback.latency.ratio", 0.5),
        ["rollback.latency.ratio", "0.5", "> 1.0"],
    ),
    (
        "cpu threshold zero",
        _set("rollback.cpu.threshold", 0),
        ["rollback.cpu.threshold", "0", "> 0.0"],
    ),
    (
        "window too short",
        _set("rollback.errorRate.windowSeconds", 1),
        ["rollback.errorRate.windowSeconds", "1", "integer from 10"],
    ),
    (
        "unknown missing-data action",
        _set("rollback.onMissingData", "promote"),
        ["rollback.onMissingData", '"promote"', "hold | rollback"],
    ),
    (
        "minimum score above 1",
        _set("security.minimumScore", 2),
        ["security.minimumScore", "2", "<= 1.0"],
    ),
    (
        "negative max high",
        _set("security.maxHigh", -1),
        ["security.maxHigh", "-1", "integer >= 0"],
    ),
    (
        "unknown severity",
        _set("security.severityThreshold", "SEVERE"),
        ["security.severityThreshold", '"SEVERE"', "LOW | MEDIUM | HIGH | CRITICAL"],
    ),
    (
        "unknown framework",
        _set("security.frameworks", ["CIS", "PCI"]),
        ["security.frameworks[1]", '"PCI"', "CIS | NIST | SOC2"],
    ),
    (
        "unknown service field",
        _set("services.controller.imge", "x"),
        ["services.controller.imge", "not a known key", "image"],
    ),
    (
        "unknown top-level key",
        _set("activeColour", "blue"),
        ["activeColour", "not a known key", "activeColor"],
    ),
    (
        "missing image",
        _set("services.graph_store.image", _DELETE),
        ["services.graph_store.image", "missing", "image repository"],
    ),
    (
        "image with a tag",
        _set("services.graph_store.image", "ghcr.io/kgot/graph:1.0"),
        ["services.graph_store.image", "ghcr.io/kgot/graph:1.0", "without tag"],
    ),
    (
        "missing controller",
        _set("services.controller", _DELETE),
        ["services.controller", "missing"],
    ),
    (
        "bad service key",
        _set("services.Graph-Store", {}),
        ["services.Graph-Store", "lower-case"],
    ),
    (
        "latest version",
        _set("greenVersion", "latest"),
        ["greenVersion", '"latest"', "never latest"],
    ),
    ("missing version", _set("blueVersion", _DELETE), ["blueVersion", "missing", "image tag"]),
    (
        "limit below request",
        _set("services.controller.resources.limits.cpu", "50m"),
        [
            "services.controller.resources.limits.cpu",
            '"50m"',
            "at least the request (resources.requests.cpu = 100m)",
        ],
    ),
    (
        "memory limit below request",
        _set("services.graph_store.resources.limits.memory", "1Mi"),
        [
            "services.graph_store.resources.limits.memory",
            '"1Mi"',
            "resources.requests.memory = ",
        ],
    ),
    (
        "bad memory quantity",
        _set("services.controller.resources.requests.memory", "lots"),
        ["services.controller.resources.requests.memory", '"lots"', "memory quantity"],
    ),
    (
        "same probe paths",
        _set("services.controller.health.liveness", "/health/ready"),
        ["services.controller.health.liveness", '"/health/ready"', "other than readiness"],
    ),
    (
        "privileged port",
        _set("services.controller.port", 80),
        ["services.controller.port", "80", "1024 to 65535"],
    ),
    (
        "unknown routing",
        _set("trafficRouting", "istio"),
        ["trafficRouting", '"istio"', "gateway | ingress | selector"],
    ),
    (
        "selector cannot split",
        _both(_set("trafficRouting", "selector"), _set("standbyWeight", 30)),
        ["standbyWeight", "30", "trafficRouting selector"],
    ),
    ("unknown environment", _set("environment", "qa"), ["environment", '"qa"', "dev | staging"]),
    ("system namespace", _set("namespace", "default"), ["namespace", '"default"', "own"]),
    (
        "monitoring image without tag",
        _set("monitoring.grafanaImage", "grafana/grafana"),
        ["monitoring.grafanaImage", "grafana/grafana", "fixed tag"],
    ),
    (
        "digest not sha256",
        _set("services.controller.digests", {"1.0.0": "md5:abc"}),
        ["services.controller.digests.1.0.0", '"md5:abc"', "sha256:<64 hex digits>"],
    ),
    (
        "monitoring replicas zero",
        _set("monitoring.replicas", 0),
        ["monitoring.replicas", "0", "integer from 1 to 5"],
    ),
    (
        "custom trigger threshold not finite",
        _set(
            "rollback.customTriggers",
            [
                {
                    "name": "q",
                    "query": "up",
                    "threshold": "inf",
                    "comparison": ">",
                    "windowSeconds": 60,
                }
            ],
        ),
        ["rollback.customTriggers[0].threshold", '"inf"', "a finite number"],
    ),
    (
        "bad custom trigger comparison",
        _set(
            "rollback.customTriggers",
            [{"name": "q", "query": "up", "threshold": 1, "comparison": "~", "windowSeconds": 60}],
        ),
        ["rollback.customTriggers[0].comparison", '"~"', "> | >= | < | <="],
    ),
    (
        "namespace of the system",
        _set("namespace", "kube-foo"),
        ["namespace", '"kube-foo"', "not default and not kube-*"],
    ),
    (
        "domain label over 63 characters",
        _set("edge.domain", "a" * 64 + ".example.com"),
        ["edge.domain", "a" * 64, "labels of at most 63 characters"],
    ),
    (
        "host name over 253 characters",
        _set("edge.domain", ".".join(["a" * 60] * 4) + ".com"),
        ["edge.domain", "services.controller", "at most 253"],
    ),
    (
        "scrape interval of zero",
        _set("monitoring.scrapeInterval", "0s"),
        ["monitoring.scrapeInterval", '"0s"', "duration above 0"],
    ),
    (
        "empty image path segment",
        _set("services.controller.image", "ghcr.io//controller"),
        ["services.controller.image", '"ghcr.io//controller"', "no empty path segment"],
    ),
    (
        "service named like a monitoring component",
        _set("services.prometheus", _SERVICE),
        ["services.prometheus", "monitoring stack", "both would be 'prometheus'"],
    ),
    (
        "service named like another service's preview",
        _set("services.controller_preview", _SERVICE),
        ["services.controller_preview", "services.controller makes", "'controller-preview'"],
    ),
    (
        "service key too long",
        _set("services." + "s" * 43, _SERVICE),
        ["services." + "s" * 43, "at most 42 characters"],
    ),
    (
        "custom trigger named like a built-in one",
        _set(
            "rollback.customTriggers",
            [
                {
                    "name": "cpu",
                    "query": "up",
                    "threshold": 1,
                    "comparison": ">",
                    "windowSeconds": 60,
                }
            ],
        ),
        ["rollback.customTriggers[0].name", '"cpu"', "not one of the built-in triggers"],
    ),
    (
        "framework twice",
        _set("security.frameworks", ["CIS", "CIS"]),
        ["security.frameworks[1]", '"CIS"', "each framework once"],
    ),
    (
        "check interval above its timeout",
        _both(_set("checks.timeoutSeconds", 10), _set("checks.intervalSeconds", 20)),
        ["checks.intervalSeconds", "20", "from 1 to 10 (timeoutSeconds)"],
    ),
    (
        "a count given as a boolean",
        _set("services.controller.replicas", True),
        ["services.controller.replicas", "true", "integer from 1 to 50"],
    ),
]
