"""The scale-out tests' fixture: a real two-node Ray cluster per module (ray_cluster.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ray_cluster import Cluster, start_cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    pytest.importorskip("ray")
    yield from start_cluster()
