"""``--prometheus-port-forward``: the release reaches the stack's Prometheus through
``kubectl port-forward`` (a stand-in kubectl here) and stops it when it ends."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kgot_rollout._exceptions import RefusedError
from kgot_rollout._port_forward import prometheus_forward

pytestmark = pytest.mark.rollout

FORWARDING = """#!/bin/sh
echo "$@" > "$KUBECTL_ARGS"
echo "Forwarding from 127.0.0.1:41234 -> 9090"
trap 'echo stopped > "$KUBECTL_STOPPED"; exit 0' TERM
while :; do sleep 0.1; done
"""
FAILING = """#!/bin/sh
echo 'error: services "prometheus" not found' >&2
exit 1
"""


def kubectl(tmp_path: Path, script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "kubectl").write_text(script)
    (folder / "kubectl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("KUBECTL_ARGS", str(tmp_path / "args"))
    monkeypatch.setenv("KUBECTL_STOPPED", str(tmp_path / "stopped"))


def test_the_forward_runs_for_the_release_and_stops_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubectl(tmp_path, FORWARDING, monkeypatch)
    with prometheus_forward("kgot-staging") as url:
        assert url == "http://127.0.0.1:41234"
        args = (tmp_path / "args").read_text().split()
        assert args[:3] == ["port-forward", "--namespace", "kgot-staging"]
        assert args[3:] == ["--address", "127.0.0.1", "service/prometheus", ":9090"]
        assert not (tmp_path / "stopped").exists()
    assert (tmp_path / "stopped").read_text().strip() == "stopped"


def test_a_forward_that_does_not_come_up_is_a_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubectl(tmp_path, FAILING, monkeypatch)
    with pytest.raises(RefusedError) as refused, prometheus_forward("kgot-staging"):
        pass
    text = str(refused.value)
    assert "service/prometheus in namespace kgot-staging" in text
    assert 'services "prometheus" not found' in text
    assert "nothing was changed" in text
