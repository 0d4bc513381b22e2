"""A blackholed connection (nothing comes back, nothing is closed) is detected in time.

A loopback proxy between the socket and the embedded server stops forwarding on
command, closing nothing, as a dead route or a dropped NAT entry does. The heartbeat
must report :class:`~phoenix_actor.HeartbeatTimeout` within two heartbeat intervals,
close its end, and (with reconnect) come back through a fresh connection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import phoenix_actor as pa
from phoenix_actor._transport.timers import Scheduler
from phoenix_actor.testing import PhoenixServer
from tests.conftest import TIMEOUT
from tests.faults import BlackholeProxy, Probe, fds_connected_to, needs_proc, running

pytestmark = needs_proc

INTERVAL = 0.2
#: Detection is due within two intervals; the rest is slack for a loaded machine (CI
#: runs the suite on four Pythons one after another on two cores: 0.5 s was too little).
DETECTION_BOUND = 2 * INTERVAL + TIMEOUT / 5


@pytest.fixture
def server() -> Iterator[PhoenixServer]:
    with PhoenixServer.with_defaults() as server:
        yield server


@pytest.fixture
def proxy(server: PhoenixServer) -> Iterator[BlackholeProxy]:
    with BlackholeProxy(server.port) as proxy:
        yield proxy


def heartbeats_answered(server: PhoenixServer, count: int) -> None:
    """Wait until the server has received ``count`` heartbeats (each one answered)."""
    for _ in range(count):
        start = len(server.received)
        server.wait_for(
            lambda r: r.message is not None and r.message.event == "heartbeat", TIMEOUT, start=start
        )


def test_a_blackholed_connection_is_detected_by_the_heartbeat(
    server: PhoenixServer, proxy: BlackholeProxy
) -> None:
    client = Probe(pa.Connect(proxy.url()), connected=lambda conn: conn.join("echo:1"))
    ref = pa.SocketActor.start(client, heartbeat_interval=INTERVAL)
    with running(ref):
        client.wait("joined")
        heartbeats_answered(server, 2)  # heartbeats flow through the proxy
        assert [e[0] for e in client.events.snapshot()] == ["connected"]
        client.events.clear()
        proxy.blackhole()
        blackholed_at = time.monotonic()
        _, reason = client.wait("disconnected")
        elapsed = time.monotonic() - blackholed_at
        assert isinstance(reason, pa.HeartbeatTimeout)
        assert reason.interval == INTERVAL
        assert elapsed < DETECTION_BOUND
        assert fds_connected_to(proxy.port) == {}  # the client closed its end
        assert client.events.snapshot() == []  # no channel callbacks on a disconnect


def test_a_blackholed_connection_is_reconnected_and_rejoined(
    server: PhoenixServer, proxy: BlackholeProxy
) -> None:
    client = Probe(
        pa.Connect(proxy.url()),
        connected=lambda conn: None if conn.joined("echo:1") else conn.join("echo:1"),
        disconnected=lambda reason: pa.Reconnect(),
    )
    try:
        ref = pa.SocketActor.start(client, heartbeat_interval=INTERVAL, reconnect_after=(0.05,))
    except pa.ConfigError:
        pytest.skip("automatic reconnect (reconnect_after) is not available")
    with running(ref):
        client.wait("joined")
        proxy.blackhole()
        assert isinstance(client.wait("disconnected")[1], pa.HeartbeatTimeout)
        client.wait("connected")
        proxy.wait_connections(2)
        client.wait("joined")  # rejoined, automatically or by handle_connected
        future = pa.execute(ref, lambda conn: conn.push_future("echo:1", "echo", {"n": 1}), TIMEOUT)
        assert future.get(timeout=TIMEOUT).response == {"n": 1}


def test_a_handshake_blackholed_from_the_start_ends_at_connect_timeout(
    server: PhoenixServer, proxy: BlackholeProxy
) -> None:
    proxy.blackhole_new = True
    connect_timeout = TIMEOUT / 10
    client = Probe(pa.Connect(proxy.url()))
    options = pa.TransportOptions(connect_timeout=connect_timeout)
    started = time.monotonic()
    ref = pa.SocketActor.start(client, heartbeat_interval=INTERVAL, transport_options=options)
    with running(ref):
        _, reason = client.wait("disconnected")
        elapsed = time.monotonic() - started
        assert isinstance(reason, pa.ConnectFailed)
        assert reason.kind == "timeout"
        assert connect_timeout <= elapsed < connect_timeout + TIMEOUT / 5
        assert fds_connected_to(proxy.port) == {}


def flood(conn: pa.Connection) -> None:
    """16 MB of pushes: more than the kernel buffers of a blackholed connection hold."""
    chunk = "x" * (256 * 1024)
    for n in range(64):
        conn.push("echo:1", "noreply", {"n": n, "chunk": chunk})


def test_a_blackhole_with_a_full_send_buffer_is_detected_in_time(server: PhoenixServer) -> None:
    proxy = BlackholeProxy(server.port, recv_buffer=4096)
    client = Probe(pa.Connect(proxy.url()), connected=lambda conn: conn.join("echo:1"))
    ref = pa.SocketActor.start(client, heartbeat_interval=INTERVAL)
    try:
        client.wait("joined")
        proxy.blackhole()
        pa.execute(ref, flood, TIMEOUT)
        # Timed from the end of the flood: while it runs (0.2 s to over 0.6 s on a loaded
        # machine, encoding 16 MB) the actor cannot send a heartbeat at all.
        flooded_at = time.monotonic()
        client.wait("disconnected", timeout=DETECTION_BOUND + TIMEOUT / 5)  # TimeoutError today
        assert time.monotonic() - flooded_at < DETECTION_BOUND
    except TimeoutError as exc:
        raise AssertionError(f"no disconnect in time: {exc}") from None
    finally:
        proxy.close()  # unblocks the transport if it is stuck
        ref.stop(block=True, timeout=TIMEOUT + 6)


def test_stop_with_a_full_send_buffer_to_a_blackholed_peer(server: PhoenixServer) -> None:
    proxy = BlackholeProxy(server.port, recv_buffer=4096)
    client = Probe(pa.Connect(proxy.url()), connected=lambda conn: conn.join("echo:1"))
    ref = pa.SocketActor.start(client, heartbeat_interval=None)
    stopping: Any = None
    try:
        client.wait("joined")
        proxy.blackhole()
        pa.execute(ref, flood, TIMEOUT)
        stopping = ref.stop(block=False)
        stopping.get(timeout=TIMEOUT * 0.4)  # a loopback stop takes milliseconds
        assert fds_connected_to(proxy.port) == {}
    finally:
        proxy.close()
        if stopping is not None:
            stopping.get(timeout=TIMEOUT + 6)


class _WatchedCondition(threading.Condition):
    """A Condition that says when a thread starts waiting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.waiting.set()
        return super().wait(timeout)


def test_a_timer_beyond_timeout_max_does_not_stop_the_other_timers() -> None:
    scheduler = Scheduler()
    watched = _WatchedCondition()
    scheduler._wake = watched  # to know when the timer thread waits for the far timer
    far = scheduler.call_later(1e12, lambda: None)
    try:
        assert watched.waiting.wait(TIMEOUT)
        fired = threading.Event()
        scheduler.call_later(0, fired.set)
        assert fired.wait(TIMEOUT / 5), "the timer thread died"
    finally:
        far.cancel()  # the timer thread ends when nothing is pending
