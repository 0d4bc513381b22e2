"""Shared fixtures. One timeout unit, scaled by PHOENIX_ACTOR_TIMEOUT_SCALE on slow machines."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from phoenix_actor.runtime import PooledActor, PooledFuture, WorkerPool
from phoenix_actor.testing import FakeConnector

TIMEOUT = 5.0 * float(os.environ.get("PHOENIX_ACTOR_TIMEOUT_SCALE", "1"))


#: Threads that serve every socket of the process and outlive a test by design: the
#: default pool's workers, monitor and timer, and the connector threads (they end after
#: a few idle seconds). Their number is bounded whatever the number of sockets.
SERVICE_THREADS = ("phoenix_actor-pool", "phoenix_actor-connector-")


def is_service(thread: threading.Thread) -> bool:
    return thread.name.startswith(SERVICE_THREADS)


@pytest.fixture(autouse=True)
def _no_leaked_actors() -> Iterator[None]:
    """Every test must stop what it started: actors and their threads."""
    before = set(threading.enumerate())
    yield
    for ref in pykka.ActorRegistry.get_all():
        if ref.actor_class.__name__ == "TransportActor":
            # Closed by its socket at once, its actor stops a moment later, on its own.
            ref.actor_stopped.wait(TIMEOUT)
    leftover = pykka.ActorRegistry.get_all()
    pykka.ActorRegistry.stop_all(block=True, timeout=TIMEOUT)
    assert not leftover, f"test left actors running: {leftover}"
    started = {t for t in set(threading.enumerate()) - before if not is_service(t)}
    for thread in started:
        thread.join(TIMEOUT)
    leaked = [t.name for t in started if t.is_alive()]
    assert not leaked, f"test leaked threads: {leaked}"


@pytest.fixture
def connector() -> FakeConnector:
    """A fake transport factory: each connection attempt is a FakeConnection."""
    return FakeConnector()


@dataclasses.dataclass(frozen=True)
class Runtime:
    """One Pykka runtime under test: its actor base class and its future class."""

    name: str
    actor_class: type[pykka.Actor]
    future_class: type[pykka.Future[Any]]


@pytest.fixture
def worker_pool() -> Iterator[WorkerPool]:
    """A private pool of 2 workers, shut down (its actors first) after the test."""
    pool = WorkerPool(2, max_workers=32, stall_timeout=0.2, name="test-pool")
    yield pool
    pykka.ActorRegistry.stop_all(block=True, timeout=TIMEOUT)
    assert pool.shutdown(timeout=TIMEOUT)


@pytest.fixture(params=["threading", "pooled"])
def runtime(request: pytest.FixtureRequest, worker_pool: WorkerPool) -> Runtime:
    """Each Pykka runtime in turn: ThreadingActor, then PooledActor on a private pool."""
    if request.param == "threading":
        return Runtime("threading", pykka.ThreadingActor, pykka.ThreadingFuture)

    class OnTestPool(PooledActor):
        pass

    OnTestPool.worker_pool = worker_pool
    return Runtime("pooled", OnTestPool, PooledFuture)
