"""A small client for the Prometheus HTTP API (instant and range queries)."""

from __future__ import annotations

import math
from typing import Protocol

import requests

from kgot_rollout._exceptions import MetricsUnavailableError
from kgot_rollout._triggers import Sample


class MetricsSource(Protocol):
    def query_range(
        self, query: str, start: float, end: float, step: float
    ) -> list[list[Sample]]: ...

    def query(self, query: str, at: float | None = None) -> list[float]: ...


def _value(raw: object) -> float:
    try:
        return float(str(raw))
    except ValueError:
        return math.nan


class PrometheusClient:
    """Queries ``/api/v1/query`` and ``/api/v1/query_range``; every failure is one error."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    def _get(self, path: str, params: dict[str, str]) -> list[dict[str, object]]:
        try:
            response = self._session.get(f"{self.url}{path}", params=params, timeout=self._timeout)
        except requests.RequestException as exc:
            raise MetricsUnavailableError(f"Prometheus at {self.url} unreachable: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or body.get("status") != "success":
            error = body.get("error") or response.text[:200]
            raise MetricsUnavailableError(
                f"Prometheus at {self.url} answered HTTP {response.status_code}: {error}"
            )
        data = body.get("data", {})
        result = data.get("result", []) if isinstance(data, dict) else []
        return [r for r in result if isinstance(r, dict)] if isinstance(result, list) else []

    def query_range(self, query: str, start: float, end: float, step: float) -> list[list[Sample]]:
        params = {
            "query": query,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{max(step, 0.001):.3f}",
        }
        series: list[list[Sample]] = []
        for item in self._get("/api/v1/query_range", params):
            values = item.get("values", [])
            if isinstance(values, list):
                series.append([(float(t), _value(v)) for t, v in values])
        return series

    def query(self, query: str, at: float | None = None) -> list[float]:
        params = {"query": query}
        if at is not None:
            params["time"] = f"{at:.3f}"
        values: list[float] = []
        for item in self._get("/api/v1/query", params):
            value = item.get("value")
            if isinstance(value, list) and len(value) == 2:
                values.append(_value(value[1]))
        return values
