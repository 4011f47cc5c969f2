"""The load generator's own rules, without a cluster: where it may send and
how it splits requests by weight."""

from __future__ import annotations

from collections import Counter

import pytest
from traffic import LoadRun, Target, WeightedPicker, allowed_networks

pytestmark = pytest.mark.unit


def test_weighted_picker_follows_the_weights_exactly_over_a_cycle() -> None:
    picker = WeightedPicker({"controller": 75, "controller-preview": 25})
    picks = Counter(picker.next() for _ in range(100))
    assert picks == {"controller": 75, "controller-preview": 25}
    picker.set({"controller": 0, "controller-preview": 100})
    assert {picker.next() for _ in range(10)} == {"controller-preview"}


def test_weighted_picker_refuses_weights_that_send_nothing() -> None:
    with pytest.raises(ValueError, match="positive total"):
        WeightedPicker({"controller": 0, "controller-preview": 0})


@pytest.mark.parametrize("host", ["192.168.1.10", "10.96.0.99", "8.8.8.8", "10.245.0.3"])
def test_load_refuses_addresses_outside_the_local_cluster(host: str) -> None:
    networks = allowed_networks(["10.96.0.20"])
    with pytest.raises(ValueError, match="not an address of the local cluster"):
        LoadRun(targets={"x": Target("x", host, 80)}, networks=networks)


@pytest.mark.parametrize("host", ["127.0.0.1", "10.244.0.17", "10.96.0.20"])
def test_load_accepts_loopback_pods_and_known_cluster_ips(host: str) -> None:
    run = LoadRun(targets={"x": Target("x", host, 80)}, networks=allowed_networks(["10.96.0.20"]))
    assert run.answers == []
