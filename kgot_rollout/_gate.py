"""The metric gate: a colour's rollback triggers, evaluated on Prometheus."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

from components.settings import BuiltinTrigger, PlatformSettings, TriggerSource
from kgot_rollout import _gateway_metrics as gateway_metrics
from kgot_rollout._exceptions import MetricsUnavailableError, RefusedError
from kgot_rollout._prometheus import MetricsSource
from kgot_rollout._queries import QuerySet, cpu_query, render
from kgot_rollout._triggers import GateResult, TriggerSpec, Verdict, evaluate, worst_of
from kgot_rollout._types import Colour, TrafficState


@dataclass(frozen=True)
class Gate:
    source: MetricsSource
    settings: PlatformSettings
    queries: QuerySet
    step: float
    # Built-in triggers left out (--skip-trigger); custom triggers are never skipped.
    skip: Collection[str] = ()
    # Not in stack config: the health trigger's window is the tool's (--health-window).
    health_window: float = 30.0

    @property
    def _services(self) -> tuple[str, ...]:
        return tuple(service.key for service in self.settings.services)

    @property
    def _cpu_limits(self) -> dict[str, float]:
        """CPU limit of each service (key -> cores), for the CPU trigger."""
        return {s.key: s.resources.limits.millicores / 1000 for s in self.settings.services}

    def check_online(self) -> None:
        """MetricsUnavailableError unless the provider answers (before any step)."""
        self.source.check_online()

    def _render(self, template: str, colour: str) -> str:
        return render(
            template,
            colour=colour,
            namespace=self.settings.namespace,
            services=self._services,
            rate_window=self.queries.rate_window,
        )

    def baseline_latency(self, colour: str, at: float) -> float | None:
        """p95 latency of ``colour`` now (the active colour, before a shift)."""
        values = self.source.query(self._render(self.queries.latency_p95, colour), at)
        finite = [v for v in values if math.isfinite(v) and v > 0]
        return max(finite) if finite else None

    def report_queries(self) -> dict[str, dict[str, str]]:
        """Error rate and p95 latency of each colour, for ``report`` to query later."""
        return {
            colour: {
                "error_rate": self._render(self.queries.error_rate, colour),
                "latency": self._render(self.queries.latency_p95, colour),
            }
            for colour in ("blue", "green")
        }

    def gateway_baseline_latency(self, state: TrafficState, at: float) -> float | None:
        """p95 latency at the gateway of the colour ``state`` makes active (before a shift)."""
        values = self.source.query(
            self._render_gateway(self.queries.gateway_latency_p95, state.active, state), at
        )
        finite = [v for v in values if math.isfinite(v) and v > 0]
        return max(finite) if finite else None

    def _render_gateway(self, template: str, colour: Colour, state: TrafficState) -> str:
        values = gateway_metrics.variables(self.settings, state, colour)
        return self._render(gateway_metrics.render_gateway(template, values), colour)

    def _sourced(
        self,
        source: TriggerSource,
        application: str,
        gateway: str,
        colour: Colour,
        routing: TrafficState | None,
    ) -> tuple[str, tuple[str, ...], str]:
        """The query, the other sources' queries and the source's name of one trigger."""
        if source == "application":
            return self._render(application, colour), (), ""
        state = routing or TrafficState.of(self.settings.traffic)
        at_gateway = self._render_gateway(gateway, colour, state)
        if source == "gateway":
            return at_gateway, (), "gateway"
        return self._render(application, colour), (at_gateway,), "application and gateway"

    def triggers(
        self,
        colour: Colour,
        baseline: float | None,
        *,
        latency: bool = True,
        routing: TrafficState | None = None,
        gateway_baseline: float | None = None,
    ) -> tuple[TriggerSpec, ...]:
        """The colour's triggers, or RefusedError when none is left to evaluate.

        ``latency=False`` leaves the latency trigger out (a watch with no baseline).
        ``routing``: the traffic state the gateway's queries are rendered for (which
        Service carries ``colour``); default: the stack's. ``gateway_baseline``: the
        active colour's p95 at the gateway, for a latency trigger read there.
        """
        # A custom trigger named like a built-in one never gets here: the
        # settings model refuses it, so --skip-trigger cannot drop it too.
        rb = self.settings.rollback
        skip = set(self.skip)
        if not latency:
            skip.add(BuiltinTrigger.LATENCY)
        error_query, error_also, error_source = self._sourced(
            rb.error_rate.source,
            self.queries.error_rate,
            self.queries.gateway_error_rate,
            colour,
            routing,
        )
        latency_spec = self._latency(colour, baseline, gateway_baseline, routing)
        builtin = [
            TriggerSpec(
                BuiltinTrigger.ERROR_RATE,
                error_query,
                rb.error_rate.threshold,
                ">",
                rb.error_rate.window_seconds,
                also=error_also,
                source=error_source,
            ),
            latency_spec,
            TriggerSpec(
                BuiltinTrigger.CPU,
                self._render(self.queries.cpu or cpu_query(self._cpu_limits), colour),
                rb.cpu.threshold,
                ">",
                rb.cpu.window_seconds,
            ),
            TriggerSpec(
                BuiltinTrigger.HEALTH,
                self._render(self.queries.health, colour),
                1.0,
                "<",
                self.health_window,
            ),
        ]
        specs = [s for s in builtin if s.name not in skip]
        specs.extend(
            TriggerSpec(
                c.name,
                self._render(c.query, colour),
                c.threshold,
                c.comparison,
                c.window_seconds,
                metric=f"custom:{c.name}",
            )
            for c in rb.custom_triggers
        )
        if not specs:
            left_out = ", ".join(sorted(skip))
            raise RefusedError(
                f"no trigger left to evaluate for {colour} (left out: {left_out}; no custom "
                "triggers): the gate would pass with nothing checked. Allowed: leave at "
                "least one trigger in (fewer --skip-trigger, or a customTriggers entry)"
            )
        return tuple(specs)

    def _latency(
        self,
        colour: Colour,
        baseline: float | None,
        gateway_baseline: float | None,
        routing: TrafficState | None,
    ) -> TriggerSpec:
        """The latency trigger from its source: each source's p95 against its own baseline.

        With both, the gateway's p95 is put on the application's scale (times the
        ratio of the baselines), so one threshold, ratio x baseline, judges both.
        """
        rb = self.settings.rollback
        source = rb.latency.source
        query, also, named = self._sourced(
            source, self.queries.latency_p95, self.queries.gateway_latency_p95, colour, routing
        )
        threshold: float | None = None
        reason = "no baseline p95 latency on the active colour"
        if source == "gateway" or (source == "both" and baseline is None):
            # Read at the gateway alone (with both: the application had no baseline).
            if source == "both":
                query, also, named = also[0], (), "gateway"
            reason = "no baseline p95 latency of the active colour at the gateway"
            if gateway_baseline is not None:
                threshold = rb.latency.ratio * gateway_baseline
        elif baseline is not None:
            threshold = rb.latency.ratio * baseline
            if source == "both" and gateway_baseline is None:
                # Nothing to compare the gateway's p95 with: the application's alone.
                also, named = (), ""
            elif source == "both" and gateway_baseline is not None:
                also = (f"({also[0]}) * {baseline / gateway_baseline:.6g}",)
        return TriggerSpec(
            BuiltinTrigger.LATENCY,
            query,
            threshold,
            ">",
            rb.latency.window_seconds,
            missing_reason=reason,
            also=also,
            source=named,
        )

    def check(
        self, specs: tuple[TriggerSpec, ...], *, now: float, since: float | None
    ) -> GateResult:
        verdicts: list[Verdict] = []
        for spec in specs:
            start = now - spec.window_seconds - 3 * self.step
            if since is not None:
                start = max(start, since)
            start = min(start, now - self.step)
            try:
                if spec.judge is not None:
                    verdicts.append(spec.judge.judge(spec, now))
                    continue
                series = (
                    [
                        one
                        for query in spec.queries
                        for one in self.source.query_range(query, start, now, self.step)
                    ]
                    if spec.threshold is not None
                    else []
                )
            except MetricsUnavailableError as exc:
                return GateResult(at=now, verdicts=tuple(verdicts), error=str(exc))
            merged = worst_of(series, spec.comparison)
            verdicts.append(evaluate(spec, merged, now=now, step=self.step, since=since))
        return GateResult(at=now, verdicts=tuple(verdicts))
