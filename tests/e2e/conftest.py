"""Fixtures for the end-to-end suite: the real Pulumi CLI and providers from
the hermetic toolchain, a local control plane of the session's own, and a copy
of the project per test module so `pulumi config set` never edits the checkout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.toolchain_support import cluster, copy_project, require_tools, toolchain_environment


@pytest.fixture(scope="session")
def toolchain_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Env vars for subprocesses: the built CLI and plugins on PATH, offline
    settings, a file backend and a kubeconfig for a control plane started for
    this test session and stopped after it."""
    env = toolchain_environment(tmp_path_factory.mktemp("kgot-state"))
    require_tools(env)
    cluster("up", env)
    try:
        yield env
    finally:
        cluster("down", env)


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the Pulumi project that tests may reconfigure freely."""
    return copy_project(tmp_path_factory.mktemp("project"))
