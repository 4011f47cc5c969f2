"""A small client for the Prometheus HTTP API (instant and range queries).

Every query has a total deadline: a server that trickles its answer byte by
byte cannot stretch a query past ``timeout`` (a per-read timeout would let
each new byte restart the clock). Messages name the server without the
credentials its URL may carry.
"""

from __future__ import annotations

import json
import math
import threading
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import requests

from kgot_rollout._clock import Clock, SystemClock
from kgot_rollout._exceptions import MetricsUnavailableError, RefusedError
from kgot_rollout._triggers import Sample

# An answer larger than this is not a gate's query result.
MAX_ANSWER_BYTES = 32 * 1024 * 1024


class MetricsSource(Protocol):
    """A metric provider: online check, instant and range queries (Flagger's two methods)."""

    def check_online(self) -> None:
        """Raise MetricsUnavailableError unless the provider answers a trivial query."""
        ...

    def query_range(
        self, query: str, start: float, end: float, step: float
    ) -> list[list[Sample]]: ...

    def query(self, query: str, at: float | None = None) -> list[float]: ...


def redact_url(url: str) -> str:
    """``http://user:pass@host:9090/x`` -> ``http://host:9090/x``: safe to print."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    # Everything after the last "@" of the authority: host and port, never the userinfo.
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def check_url(url: str, *, option: str = "--prometheus") -> str:
    """An http(s) URL with a host, or RefusedError (naming it without credentials)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as exc:
        raise RefusedError(
            f"{option} {redact_url(url)}: not a valid URL ({exc}); allowed: http(s)://host[:port]"
        ) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedError(
            f"{option} {redact_url(url)}: not an http(s) URL with a host; "
            "allowed: http(s)://host[:port][/path]"
        )
    return url


def _value(raw: object) -> float:
    try:
        return float(str(raw))
    except ValueError:
        return math.nan


class PrometheusClient:
    """Queries ``/api/v1/query`` and ``/api/v1/query_range``; every failure is one error."""

    def __init__(self, url: str, *, timeout: float = 5.0, clock: Clock | None = None) -> None:
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout {timeout!r}: allowed: a finite number of seconds > 0")
        self.url = url.rstrip("/")
        self.name = redact_url(self.url)
        self._timeout = timeout
        self._clock = clock or SystemClock()
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    def _fetch(self, path: str, params: dict[str, str]) -> tuple[int, bytes]:
        """Status and body of one GET, all of it within the deadline."""
        deadline = self._clock.monotonic() + self._timeout
        done = threading.Event()
        cancelled = threading.Event()
        answer: list[tuple[int, bytes]] = []
        failure: list[BaseException] = []

        def fetch() -> None:
            try:
                with self._session.get(
                    f"{self.url}{path}", params=params, timeout=self._timeout, stream=True
                ) as response:
                    body = bytearray()
                    # read1: return what one read brings, so a trickle is seen byte by byte.
                    while not cancelled.is_set():
                        chunk = response.raw.read1(65536, decode_content=True)
                        if not chunk:
                            break
                        body += chunk
                        if len(body) > MAX_ANSWER_BYTES:
                            raise MetricsUnavailableError(
                                f"the answer is over {MAX_ANSWER_BYTES // 2**20} MiB"
                            )
                    answer.append((response.status_code, bytes(body)))
            except BaseException as exc:  # handed to the caller's thread
                failure.append(exc)
            finally:
                done.set()

        # A daemon thread: abandoned at the deadline, it stops at the next byte.
        worker = threading.Thread(target=fetch, name="kgot-rollout-prometheus", daemon=True)
        worker.start()
        if not done.wait(max(0.0, deadline - self._clock.monotonic())):
            cancelled.set()
            # The abandoned worker keeps the old session until its connection ends.
            self._session = requests.Session()
            raise MetricsUnavailableError(
                f"Prometheus at {self.name} did not answer within {self._timeout:g}s"
            )
        if failure:
            exc = failure[0]
            if isinstance(exc, MetricsUnavailableError):
                raise MetricsUnavailableError(f"Prometheus at {self.name}: {exc}") from None
            if isinstance(exc, requests.RequestException | OSError):
                # The exception's text may carry the URL: report its kind only.
                raise MetricsUnavailableError(
                    f"Prometheus at {self.name} unreachable: {type(exc).__name__}"
                ) from None
            raise exc
        return answer[0]

    def _get(self, path: str, params: dict[str, str]) -> list[dict[str, object]]:
        status, raw = self._fetch(path, params)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            body = None
        if not isinstance(body, dict):
            body = {}
        if status != 200 or body.get("status") != "success":
            error = body.get("error") or raw[:200].decode("utf-8", "replace")
            raise MetricsUnavailableError(
                f"Prometheus at {self.name} answered HTTP {status}: {str(error)[:300]}"
            )
        data = body.get("data", {})
        result = data.get("result", []) if isinstance(data, dict) else []
        return [r for r in result if isinstance(r, dict)] if isinstance(result, list) else []

    def check_online(self) -> None:
        values = self.query("vector(1)")
        if values != [1.0]:
            raise MetricsUnavailableError(
                f"Prometheus at {self.name} answered vector(1) with {values!r}, not [1]; "
                "is it Prometheus?"
            )

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
            if not isinstance(values, list):
                continue
            points = [
                (_value(pair[0]), _value(pair[1]))
                for pair in values
                if isinstance(pair, list) and len(pair) == 2
            ]
            series.append([(t, v) for t, v in points if math.isfinite(t)])
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
