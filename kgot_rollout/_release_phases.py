"""The release's own phases: deploy the version to the standby colour, then validate it.

Deploy writes the standby's version and runs ``up`` with the pack (the
provider awaits each changed Deployment), then reads the standby's
Deployments from the API server until every one is Available at the size the
stack asks for. A resumed release never deploys again what the last update
already applied and is Available. Validate runs the post-deploy health check,
the very script the ``PostDeployChecks`` Command resource runs, against the
standby through its preview Service, then waits until Prometheus sees every pod
of the standby up: the pods the deploy replaced stay scrape targets, down,
until they are gone, and a shift started before would read that as a breach.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from components.checks import health_check_script
from components.settings import (
    BuiltinTrigger,
    CheckSettings,
    PlatformSettings,
    ServiceSettings,
    parse_settings,
)
from kgot_rollout._clock import Clock
from kgot_rollout._cluster import not_serving
from kgot_rollout._engine import Engine
from kgot_rollout._exceptions import MetricsUnavailableError, RolloutError
from kgot_rollout._gate import Gate
from kgot_rollout._journal import Journal
from kgot_rollout._preflight import Plan, version_key
from kgot_rollout._types import Colour, TrafficState

# (service, colour, namespace, check settings) -> (healthy, what the check said)
HealthCheck = Callable[[ServiceSettings, Colour, str, CheckSettings], tuple[bool, str]]
# Beyond the slowest progressDeadlineSeconds: the controller marks a stuck
# rollout failed at its deadline; give the API server's status a moment more.
AVAILABLE_GRACE_SECONDS = 60.0
AVAILABLE_POLL_SECONDS = 2.0
# How long Prometheus may take to see a deployed colour's pods (and forget the
# ones it replaced: a terminating pod stays a target for its grace period).
SCRAPED_TIMEOUT_SECONDS = 180.0


def _settings(engine: Engine) -> PlatformSettings:
    return parse_settings(engine.get_config(), engine.stack)


def unavailable(engine: Engine, settings: PlatformSettings, colour: Colour) -> list[str]:
    """``<deployment> (<what is missing>)`` for each Deployment of ``colour`` not Available."""
    live = engine.deployments(settings.namespace, colour)
    return not_serving(settings, TrafficState.of(settings.traffic), colour, live)


def deploy_standby(
    engine: Engine, plan: Plan, clock: Clock, journal: Journal, *, release: str
) -> str:
    """Set the standby's version, ``up`` with the pack, wait until it is Available."""
    target = plan.target
    if plan.version is not None:
        key = version_key(target)
        last = engine.last_update()
        applied = last is not None and last.result == "succeeded"
        if applied and last is not None and last.config.get(key) == plan.version:
            engine.set_config({key: plan.version})
            missing = unavailable(engine, _settings(engine), target)
            if not missing:
                journal.log(
                    f"release: {target} already runs {plan.version}, Available; no update",
                    release=release,
                )
                return f"{target} already runs {plan.version} and is Available: not deployed again"
        engine.set_config({key: plan.version})
        engine.up(message=f"kgot-rollout release {plan.version}: deploy to {target}")
        what = f"{plan.version} on {target}"
    else:
        engine.up(message="kgot-rollout release: the platform's changes")
        what = "the platform's changes"
    settings = _settings(engine)
    deadline_seconds = max(s.progress_deadline_seconds for s in settings.services)
    deadline = clock.now() + deadline_seconds + AVAILABLE_GRACE_SECONDS
    waited = 0.0
    while True:
        missing = unavailable(engine, settings, target)
        if not missing:
            return f"deployed {what}; {target} Available" + (
                f" after {waited:.0f}s more" if waited else ""
            )
        if clock.now() >= deadline:
            raise RolloutError(
                f"{target} is not Available {deadline_seconds + AVAILABLE_GRACE_SECONDS:.0f}s "
                f"after the update: {', '.join(missing)}; it keeps {what} for inspection, "
                "no traffic moved"
            )
        clock.sleep(AVAILABLE_POLL_SECONDS)
        waited += AVAILABLE_POLL_SECONDS


def validate(settings: PlatformSettings, plan: Plan, health_check: HealthCheck) -> tuple[bool, str]:
    """(failed, detail): every service of the standby healthy through its preview Service.

    Without a new version both colours are checked (the platform's changes touch both).
    """
    colours = [plan.target] if plan.version is not None else [plan.source, plan.target]
    said: list[str] = []
    for colour in colours:
        version = settings.traffic.version_of(colour)
        for service in settings.services:
            healthy, output = health_check(service, colour, settings.namespace, settings.checks)
            if not healthy:
                return True, (
                    f"service {service.name} ({colour}, {version}) failed its post-deploy "
                    f"health check: {output.strip()[-500:]}; {colour} keeps {version} for "
                    "inspection and no traffic moved"
                )
            said.append(f"{service.name}-{colour}")
    return False, f"healthy: {', '.join(said)}"


def run_health_check(
    service: ServiceSettings, colour: Colour, namespace: str, checks: CheckSettings
) -> tuple[bool, str]:
    """The PostDeployChecks script (bash + kubectl through the API server's Service proxy)."""
    script = health_check_script(service, colour, namespace, checks)
    try:
        done = subprocess.run(
            ["/bin/bash", "-c", script],
            capture_output=True,
            text=True,
            timeout=checks.timeout_seconds + 60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, f"the check did not end within {checks.timeout_seconds + 60}s"
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def wait_until_scraped(gate: Gate, colour: Colour, clock: Clock) -> str:
    """Wait until the gate's health trigger reads ``colour`` healthy (every target up)."""
    specs = gate.triggers(colour, None, latency=False)
    spec = next((s for s in specs if s.name == BuiltinTrigger.HEALTH), None)
    if spec is None or spec.threshold is None:
        return "health trigger off: Prometheus not waited for"
    threshold = spec.threshold
    started = clock.now()
    last = "no data yet"
    while True:
        try:
            values = gate.source.query(spec.query, clock.now())
        except MetricsUnavailableError as exc:
            values, last = [], f"Prometheus: {exc}"
        if values:
            worst = min(values) if spec.comparison == "<" else max(values)
            healthy = worst >= threshold if spec.comparison == "<" else worst <= threshold
            if healthy:
                waited = clock.now() - started
                return f"Prometheus sees every {colour} target up after {waited:.0f}s"
            last = f"health={worst:g}"
        if clock.now() - started >= SCRAPED_TIMEOUT_SECONDS:
            raise RolloutError(
                f"Prometheus does not see every pod of {colour} up "
                f"{SCRAPED_TIMEOUT_SECONDS:.0f}s after its health check ({last}); no traffic moved"
            )
        clock.sleep(AVAILABLE_POLL_SECONDS)
