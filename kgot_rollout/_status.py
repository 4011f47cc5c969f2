"""``status`` and ``history``: the true traffic state and the past rollouts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from components.settings import SettingsError, parse_traffic
from kgot_rollout._journal import Journal
from kgot_rollout._release_record import last_release, releases
from kgot_rollout._rollback_command import incident_settings
from kgot_rollout._rollout import Rollouts
from kgot_rollout._types import Colour, RolloutKind, TrafficState, parse_colour


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def status_data(rollouts: Rollouts, journal: Journal) -> dict[str, object]:
    # A key refused since the last update must not hide where traffic is.
    settings, config_error = incident_settings(rollouts.engine)
    traffic = TrafficState.of(settings.traffic)
    applied = rollouts.engine.last_update()
    applied_state: dict[str, object] | None = None
    in_sync = False
    if applied is not None:
        try:
            applied_traffic = TrafficState.of(parse_traffic(applied.config, settings.stack))
            applied_state = {
                "result": applied.result,
                "version": applied.version,
                "activeColor": applied_traffic.active,
                "standbyWeight": applied_traffic.standby_weight,
            }
            in_sync = applied.result == "succeeded" and applied_traffic == traffic
        except SettingsError:  # an applied config the tool cannot read
            applied_state = {"result": applied.result, "version": applied.version}
    # A failed update that left traffic as the config has it: a release that
    # never became Available on the standby. Users stay where they are.
    traffic_unaffected = (
        applied is not None
        and applied.result == "failed"
        and isinstance(applied_state, dict)
        and applied_state.get("activeColor") == traffic.active
        and applied_state.get("standbyWeight") == traffic.standby_weight
    )
    if applied_state is not None and applied is not None:
        applied_state["failedResources"] = list(applied.failed)
    last = journal.last_rollout(kinds=tuple(RolloutKind))
    # A fast rollback restored routing in the API server and its update failed:
    # traffic is as the config says, only the stack's state is behind.
    state_behind = (
        not in_sync
        and last is not None
        and last.latest("fast") is True
        and last.latest("reconciled") is False
        and last.latest("to") == traffic.active
    )
    release = last_release(journal.log_dir, settings.stack)
    return {
        "lastRelease": None
        if release is None
        else {
            "id": release.id,
            "version": release.version,
            "status": release.status,
            "phase": release.resume_phase(),
            "started": _when(release.started),
            "finished": _when(release.finished),
            "message": release.message,
        },
        "lockHolder": rollouts.engine.lock_holder(),
        "trafficUnaffected": traffic_unaffected,
        "configError": config_error,
        "stateBehind": state_behind,
        "stack": settings.stack,
        "environment": settings.environment,
        "activeColor": traffic.active,
        "standbyColor": traffic.standby,
        "standbyWeight": traffic.standby_weight,
        "weights": {
            traffic.active: 100 - traffic.standby_weight,
            traffic.standby: traffic.standby_weight,
        },
        "versions": {"blue": settings.blue_version, "green": settings.green_version},
        "standbyReplicas": settings.standby_replicas,
        "lastUpdate": applied_state,
        "inSync": in_sync,
        "lastRollout": None
        if last is None
        else {
            "id": last.id,
            "kind": last.kind,
            "status": last.status,
            "started": _when(last.started),
            "finished": _when(last.finished),
            "message": last.latest("message"),
        },
    }


def traffic_active(data: dict[str, object]) -> Colour:
    return parse_colour(str(data["activeColor"]))


def render_status(rollouts: Rollouts, journal: Journal, *, as_json: bool) -> str:
    data = status_data(rollouts, journal)
    if as_json:
        return json.dumps(data, indent=2, sort_keys=True) + "\n"
    versions = data["versions"]
    assert isinstance(versions, dict)
    active, standby = str(data["activeColor"]), str(data["standbyColor"])
    weight = int(str(data["standbyWeight"]))
    lines = [
        f"stack:    {data['stack']} ({data['environment']})",
        *(
            [f"config:   REFUSED (no update can run until it is fixed): {data['configError']}"]
            if data["configError"]
            else []
        ),
        f"active:   {active} {versions.get(active)}  {100 - weight}%",
        f"standby:  {standby} {versions.get(standby)}  {weight}%"
        + (
            f"  (replicas while idle: {data['standbyReplicas']})"
            if data["standbyReplicas"] is not None
            else ""
        ),
    ]
    applied = data["lastUpdate"]
    if not isinstance(applied, dict):
        lines.append("applied:  never (no update has run on this stack)")
    elif data["inSync"]:
        lines.append(f"applied:  yes (update {applied.get('version')} succeeded)")
    elif data["stateBehind"]:
        lines.append(
            "applied:  routing YES (restored through the Kubernetes API by a fast rollback); "
            f"the stack's state is BEHIND: it records activeColor={applied.get('activeColor')} "
            f"standbyWeight={applied.get('standbyWeight')}. Run `rollback` or `pulumi up` "
            "to reconcile it."
        )
    elif data["trafficUnaffected"]:
        failed = applied.get("failedResources") or []
        where = (
            f"on {'; '.join(str(f) for f in failed)}"
            if isinstance(failed, list) and failed
            else "(see `pulumi stack history`)"
        )
        lines.append(
            "applied:  traffic YES, unaffected: the last update "
            f"FAILED {where}, and it did not change traffic: users stay on "
            f"{TrafficState(traffic_active(data), weight).describe()}. Fix the release "
            "(runbook: Deployment failure) and `pulumi up` again; do not shift or roll "
            "back to the colour it failed on."
        )
    else:
        lines.append(
            f"applied:  NO: the last update ({applied.get('result')}) applied "
            f"activeColor={applied.get('activeColor')} "
            f"standbyWeight={applied.get('standbyWeight')}; the config above is not live "
            "(interrupted?). Run `shift` to resume or `rollback`."
        )
    if data["lockHolder"]:
        lines.append(
            f"lock:     the stack's update lock is held ({data['lockHolder']}). If no update "
            f"runs (a killed one left it), `pulumi cancel --stack {data['stack']} --yes` "
            "clears it; `kgot-rollout rollback` restores traffic without it."
        )
    last = data["lastRollout"]
    if isinstance(last, dict):
        lines.append(
            f"last:     {last['id']} {last['status']} (started {last['started']}, "
            f"finished {last['finished']})"
        )
        if last.get("message"):
            lines.append(f"          {last['message']}")
    else:
        lines.append("last:     no rollout recorded")
    release = data["lastRelease"]
    if isinstance(release, dict):
        where = "" if release["status"] == "released" else f" at {release['phase']}"
        lines.append(
            f"release:  {release['id']} {release['version'] or '(platform changes)'} "
            f"{release['status']}{where} (started {release['started']}, "
            f"finished {release['finished']})"
        )
    return "\n".join(lines) + "\n"


def render_history(journal: Journal, *, limit: int, as_json: bool) -> str:
    rollouts = journal.rollouts()[-limit:] if limit > 0 else journal.rollouts()
    # Releases (release-<id>.json) among the rollouts they ran, by when they started.
    done = releases(journal.log_dir, journal.stack)
    done = done[-limit:] if limit > 0 else done
    if as_json:
        entries = [(r.started, r.events) for r in rollouts]
        entries += [(r.started, [{"kind": "release", **r.as_json()}]) for r in done]
        entries.sort(key=lambda entry: entry[0])
        return json.dumps([e for _, e in entries], indent=2, sort_keys=True) + "\n"
    if not rollouts and not done:
        return "no rollouts recorded\n"
    lines: list[tuple[float, str]] = []
    for record in done:
        direction = f"{record.source} -> {record.target}" if record.target else ""
        lines.append(
            (
                record.started,
                f"{_when(record.started)}  {'release-' + record.id:<34} {'release':<8} "
                f"{direction:<15} {record.status:<12} version={record.version or '-'}",
            )
        )
    for rollout in rollouts:
        source, target = rollout.value("source"), rollout.value("target")
        direction = (
            f"{source} -> {target}" if source and target else str(rollout.value("colour") or "")
        )
        trigger = rollout.latest("trigger")
        lines.append(
            (
                rollout.started,
                f"{_when(rollout.started)}  {rollout.id:<34} {rollout.kind:<8} {direction:<15} "
                f"{rollout.status:<12} {'trigger=' + str(trigger) if trigger else ''}".rstrip(),
            )
        )
    lines.sort(key=lambda line: line[0])
    return "\n".join(line for _, line in lines) + "\n"
