"""Shared fixtures. One timeout unit, scaled by PHOENIX_ACTOR_TIMEOUT_SCALE on slow machines."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pykka
import pytest

from phoenix_actor.testing import FakeConnector

TIMEOUT = 5.0 * float(os.environ.get("PHOENIX_ACTOR_TIMEOUT_SCALE", "1"))


@pytest.fixture(autouse=True)
def _no_leaked_actors() -> Iterator[None]:
    """Every test must stop what it started: actors and their threads."""
    before = set(threading.enumerate())
    yield
    leftover = pykka.ActorRegistry.get_all()
    pykka.ActorRegistry.stop_all(block=True, timeout=TIMEOUT)
    assert not leftover, f"test left actors running: {leftover}"
    for thread in set(threading.enumerate()) - before:
        thread.join(TIMEOUT)
    leaked = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    assert not leaked, f"test leaked threads: {leaked}"


@pytest.fixture
def connector() -> FakeConnector:
    """A fake transport factory: each connection attempt is a FakeConnection."""
    return FakeConnector()
