"""The metric gate: a colour's rollback triggers, evaluated on Prometheus."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

from components.settings import BuiltinTrigger, PlatformSettings
from kgot_rollout._exceptions import MetricsUnavailableError, RefusedError
from kgot_rollout._prometheus import MetricsSource
from kgot_rollout._queries import QuerySet, cpu_query, render
from kgot_rollout._triggers import GateResult, TriggerSpec, Verdict, evaluate, worst_of


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

    def triggers(
        self, colour: str, baseline: float | None, *, latency: bool = True
    ) -> tuple[TriggerSpec, ...]:
        """The colour's triggers, or RefusedError when none is left to evaluate.

        ``latency=False`` leaves the latency trigger out (a watch with no baseline).
        """
        # A custom trigger named like a built-in one never gets here: the
        # settings model refuses it, so --skip-trigger cannot drop it too.
        rb = self.settings.rollback
        skip = set(self.skip)
        if not latency:
            skip.add(BuiltinTrigger.LATENCY)
        builtin = [
            TriggerSpec(
                BuiltinTrigger.ERROR_RATE,
                self._render(self.queries.error_rate, colour),
                rb.error_rate.threshold,
                ">",
                rb.error_rate.window_seconds,
            ),
            TriggerSpec(
                BuiltinTrigger.LATENCY,
                self._render(self.queries.latency_p95, colour),
                None if baseline is None else rb.latency.ratio * baseline,
                ">",
                rb.latency.window_seconds,
                missing_reason="no baseline p95 latency on the active colour",
            ),
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
                series = (
                    self.source.query_range(spec.query, start, now, self.step)
                    if spec.threshold is not None
                    else []
                )
            except MetricsUnavailableError as exc:
                return GateResult(at=now, verdicts=tuple(verdicts), error=str(exc))
            merged = worst_of(series, spec.comparison)
            verdicts.append(evaluate(spec, merged, now=now, step=self.step, since=since))
        return GateResult(at=now, verdicts=tuple(verdicts))
