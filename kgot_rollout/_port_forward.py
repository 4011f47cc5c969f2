"""The stack's Prometheus from outside the cluster: ``kubectl port-forward`` for a release.

A CI runner is outside the cluster and Prometheus has no public endpoint; the
release opens the forward itself (a free local port, so two jobs on one runner
cannot collide) and closes it when it ends, whatever the outcome.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kgot_rollout._exceptions import RefusedError

FORWARD_TIMEOUT_SECONDS = 30.0
_FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) ->")


@contextmanager
def prometheus_forward(
    namespace: str, *, service: str = "prometheus", port: int = 9090
) -> Iterator[str]:
    """Yields ``http://127.0.0.1:<port>`` while ``kubectl port-forward`` runs."""
    with tempfile.TemporaryDirectory(prefix="kgot-release-forward-") as folder:
        log = Path(folder) / "port-forward.log"
        with log.open("w", encoding="utf-8") as out:
            try:
                process = subprocess.Popen(
                    [
                        *("kubectl", "port-forward", "--namespace", namespace),
                        # Local port 0: kubectl picks a free one and says which.
                        *("--address", "127.0.0.1", f"service/{service}", f":{port}"),
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            except FileNotFoundError as exc:
                raise RefusedError(
                    "--prometheus-port-forward: kubectl is not on PATH; nothing was changed"
                ) from exc
            try:
                yield f"http://127.0.0.1:{_wait_for_port(process, log, namespace, service)}"
            finally:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait_for_port(process: subprocess.Popen[str], log: Path, namespace: str, service: str) -> int:
    deadline = time.monotonic() + FORWARD_TIMEOUT_SECONDS
    while True:
        text = log.read_text(encoding="utf-8", errors="replace")
        found = _FORWARDING.search(text)
        if found:
            return int(found.group(1))
        if process.poll() is not None or time.monotonic() > deadline:
            last = (text.strip().splitlines() or ["no output"])[-1]
            raise RefusedError(
                f"--prometheus-port-forward: kubectl port-forward service/{service} in "
                f"namespace {namespace} did not come up: {last}; nothing was changed"
            )
        time.sleep(0.1)
