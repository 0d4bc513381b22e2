"""Sockets on either runtime: a thread each (``runtime="threads"``) or the shared pool.

Everything a socket does must hold on both: callbacks one at a time in their actor's
context, the transport actor on the socket's runtime, the facades, the test kit and
supervision; on the pool, many sockets cost no more threads than a few.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

import phoenix_actor as pa
from phoenix_actor.aio import AsyncSocket
from phoenix_actor.runtime import WorkerPool, default_pool
from phoenix_actor.supervision import ChildSpec, Supervisor
from phoenix_actor.testing import FakeConnector, PhoenixServer, TestSocket
from tests.conftest import TIMEOUT
from tests.test_socket_actor import Recorder

RUNTIMES = ["pooled", "threads"]


@pytest.fixture(scope="module")
def server() -> Iterator[PhoenixServer]:
    with PhoenixServer(demo=True) as server:
        yield server


def _client_threads() -> set[threading.Thread]:
    """The threads of the process but the embedded server's (a thread per connection)."""
    return {
        t
        for t in threading.enumerate()
        if not t.name.startswith("phoenix-server") and "recv_events" not in t.name
    }


def _on_pool(thread: threading.Thread | None) -> bool:
    return thread is not None and thread.name.startswith("phoenix_actor-pool")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_callbacks_run_in_the_actor_and_handles_refuse_other_threads(runtime: str) -> None:
    connector = FakeConnector()
    client = Recorder()
    ref = pa.SocketActor.start(client, transport_factory=connector, runtime=runtime)
    try:
        connector.next_connection().accept()
        conn = client.events.take(lambda e: e[0] == "connected", TIMEOUT, "connected")[1]
        assert _on_pool(client.thread) == (runtime == "pooled")
        with pytest.raises(pa.WrongThreadError):
            conn.join("room:x")  # from the test's thread, while no callback runs
        assert pa.execute(ref, lambda c: c.join("room:x"), TIMEOUT) == 1
        ref.stop()
    finally:
        ref.stop()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_transport_actor_runs_on_its_sockets_runtime(
    runtime: str, server: PhoenixServer
) -> None:
    with pa.Socket(server.url, timeout=TIMEOUT, runtime=runtime) as socket:
        socket.join("echo:rt")
        assert socket.push("echo:rt", "echo", {"n": 1}).response == {"n": 1}
        transports = [
            ref for ref in pykka.ActorRegistry.get_all() if ref.actor_class is pa.TransportActor
        ]
        assert len(transports) == 1
        actor = transports[0].proxy()
        assert actor.pooled.get(timeout=TIMEOUT) == (runtime == "pooled")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_async_socket_and_test_socket_work(runtime: str, server: PhoenixServer) -> None:
    async def main() -> Any:
        async with AsyncSocket(server.url, timeout=TIMEOUT, runtime=runtime) as socket:
            await socket.join("echo:aio")
            return (await socket.push("echo:aio", "echo", {"a": 1})).response

    assert asyncio.run(main()) == {"a": 1}
    with TestSocket(server.url, timeout=TIMEOUT, runtime=runtime) as sock:
        assert sock.wait_connect_status() == "connected"
        sock.join("echo:ts")
        assert sock.push_sync("echo:ts", "echo", {"t": 2}) == {"status": "ok", "response": {"t": 2}}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_supervisor_restarts_a_socket_of_either_runtime(runtime: str) -> None:
    connector = FakeConnector()
    clients: list[Recorder] = []

    def make() -> Recorder:
        clients.append(Recorder())
        return clients[-1]

    config = pa.Config(transport_factory=connector, runtime=runtime)
    spec = ChildSpec("socket", make, config=config, restart="permanent")
    supervisor = Supervisor.start([spec], backoff=[0.01])
    try:
        connector.next_connection().accept()
        clients[0].events.take(lambda e: e[0] == "connected", TIMEOUT, "connected")
        (child,) = supervisor.proxy().which_children().get(timeout=TIMEOUT)
        assert child.ref is not None
        child.ref.stop()  # it stopped on its own: the supervisor starts a new one
        connector.next_connection().accept()
        clients[1].events.take(lambda e: e[0] == "connected", TIMEOUT, "connected")
        assert _on_pool(clients[1].thread) == (runtime == "pooled")
    finally:
        supervisor.stop()


def test_two_hundred_pooled_sockets_cost_a_few_threads(server: PhoenixServer) -> None:
    pool = WorkerPool(2, max_workers=8, name="phoenix_actor-pool-test")
    before = _client_threads()
    sockets = [pa.Socket(server.url, timeout=TIMEOUT, runtime=pool) for _ in range(200)]
    try:
        for socket in sockets:
            socket.join("echo:many")
        news = [socket.subscribe("echo:many", "news") for socket in sockets]
        server.broadcast("echo:many", "news", {"hello": "all"})
        assert all(sub.get(TIMEOUT).payload == {"hello": "all"} for sub in news)
        # the pool's workers (spares included), its monitor and timer, the reader, the
        # timer thread and the connectors: not one per socket
        assert len(_client_threads() - before) <= 8 + 2 + 1 + 1 + 8
    finally:
        for socket in sockets:
            socket.close()
        pool.shutdown(timeout=TIMEOUT)


def test_a_bad_runtime_is_a_config_error() -> None:
    with pytest.raises(pa.ConfigError, match="runtime"):
        pa.Config(runtime="fibers")  # type: ignore[arg-type]


def test_the_default_runtime_is_the_pool() -> None:
    assert pa.Config().runtime == "pooled"
    assert pa.Config().worker_pool() is default_pool()
    assert pa.Config(runtime="threads").worker_pool() is None


def test_stopping_many_pooled_sockets_at_once_does_not_starve_the_pool(
    server: PhoenixServer,
) -> None:
    """A socket closes its connection itself when it stops: it never waits for its
    transport actor's turn, which on a small pool would come after every other stop."""
    pool = WorkerPool(2, max_workers=4, name="phoenix_actor-pool-stops")
    sockets = [pa.Socket(server.url, timeout=TIMEOUT, runtime=pool) for _ in range(200)]
    try:
        for socket in sockets:
            socket.wait_connected()
        futures = [socket.ref.stop(block=False) for socket in sockets]  # all at once
        for future in futures:
            future.get(timeout=TIMEOUT)
    finally:
        for socket in sockets:
            socket.close()
        pool.shutdown(timeout=TIMEOUT)
