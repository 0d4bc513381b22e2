"""Stopping at any moment returns promptly and leaves nothing behind.

Each test stops a socket at one moment of its life (connecting, in the websocket
handshake, with a join or replies pending, with frames streaming either way) and
checks: ``stop()`` returns within TIMEOUT (measured, no sleeps), no thread is left
(the autouse fixture of conftest checks every test), no client socket to the server
is left open right after ``stop()`` returns, and once the server too has stopped the
process holds no descriptor it did not hold before.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import select
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

import phoenix_actor as pa
from phoenix_actor._socket.mailbox import _Call
from phoenix_actor.testing import Channel, ChannelSocket, FakeConnector, JoinOk, PhoenixServer
from tests.conftest import TIMEOUT
from tests.faults import (
    LogCapture,
    Probe,
    SilentListener,
    barrier,
    fd_table,
    fds_connected_to,
    needs_proc,
    new_fds,
    running,
    stop_timed,
)

pytestmark = needs_proc


@contextlib.contextmanager
def no_new_descriptors() -> Iterator[None]:
    """Whatever runs inside must close every descriptor it opened.

    The garbage collector runs first: the ``websockets`` server behind PhoenixServer
    leaves its listener's epoll descriptor to it. The client's own sockets are checked
    without it, right after each ``stop()`` (see ``assert_stops_clean``).
    """
    before = fd_table()
    yield
    gc.collect()
    assert new_fds(before) == {}


class GatedChannel(Channel):
    """A channel whose join waits for ``gate``: the client's join reply stays pending."""

    def __init__(self, gate: threading.Event, entered: threading.Event) -> None:
        self.gate = gate
        self.entered = entered

    def join(self, topic: str, payload: Any, socket: ChannelSocket) -> JoinOk:
        self.entered.set()
        self.gate.wait(TIMEOUT)
        return JoinOk({})


@pytest.fixture
def server() -> Iterator[PhoenixServer]:
    """The embedded server; the test's descriptors are checked once it has stopped."""
    with no_new_descriptors(), PhoenixServer.with_defaults() as server:
        yield server


def start(client: Probe, **options: Any) -> pykka.ActorRef[Any]:
    return pa.SocketActor.start(client, heartbeat_interval=None, **options)


def assert_stops_clean(ref: pykka.ActorRef[Any], port: int) -> float:
    """Stop ``ref`` within TIMEOUT; no client socket to ``port`` may stay open."""
    elapsed = stop_timed(ref)
    assert elapsed < TIMEOUT
    assert fds_connected_to(port) == {}
    return elapsed


# -- before the connection is open -----------------------------------------------------


def test_stop_during_the_handshake_closes_the_socket_at_once() -> None:
    """The server accepted TCP and read the upgrade request, and never answers."""
    with SilentListener() as silent:
        before = fd_table()
        client = Probe(pa.Connect(silent.url()))
        ref = start(client)
        with running(ref):
            peer = silent.accept()
            assert silent.read_until(peer, b"\r\n\r\n").startswith(b"GET /socket/websocket")
            assert_stops_clean(ref, silent.port)
        assert peer.recv(1) == b""  # the client closed its end
        assert new_fds(before).keys() == {peer.fileno()}
        assert client.events.snapshot() == [("terminate", "shutdown")]


def stop_while_connecting(url: str) -> tuple[float, float, list[threading.Thread]]:
    """Start a socket at ``url``, stop it, and return (stop's duration, connect_timeout,
    the reader threads alive right after stop)."""
    connect_timeout = TIMEOUT * 0.4
    client = Probe(pa.Connect(url))
    options = pa.TransportOptions(connect_timeout=connect_timeout)
    ref = start(client, transport_options=options)
    with running(ref):
        barrier(ref)  # the attempt has started
        elapsed = stop_timed(ref)
        readers = [t for t in threading.enumerate() if t.name.startswith("phoenix_actor-reader")]
        for reader in readers:  # it ends by connect_timeout: let it, before the leak check
            reader.join(TIMEOUT)
    return elapsed, connect_timeout, readers


def test_stop_while_the_tcp_connect_is_pending() -> None:
    """A listener whose accept queue is full drops SYNs: connect() hangs as with an
    unresponsive remote host."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        _, writable, _ = select.select([], [fillers[-1]], [], 0.2)
        if writable:
            pytest.skip("this kernel does not drop SYNs on a full accept queue")
        elapsed, connect_timeout, readers = stop_while_connecting(
            f"ws://127.0.0.1:{port}/socket/websocket"
        )
        assert elapsed < connect_timeout / 2
        assert readers == []
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_stop_during_the_tls_handshake() -> None:
    """The server accepted TCP but never answers the ClientHello (a stalled TLS
    terminator): on loopback too, stop() waits for the TLS handshake to time out."""
    with SilentListener() as silent:
        before = fd_table()
        connect_timeout = TIMEOUT * 0.4
        client = Probe(pa.Connect(silent.url("wss")))
        ref = start(client, transport_options=pa.TransportOptions(connect_timeout=connect_timeout))
        with running(ref):
            silent.accept()  # TCP is up: the client now waits in the TLS handshake
            elapsed = stop_timed(ref)
            readers = [
                t for t in threading.enumerate() if t.name.startswith("phoenix_actor-reader")
            ]
            for reader in readers:
                reader.join(TIMEOUT)
        assert fds_connected_to(silent.port) == {}
        assert new_fds(before).keys() <= {s.fileno() for s in silent.accepted}
        assert elapsed < connect_timeout / 2
        assert readers == []


# -- against the embedded server -------------------------------------------------------


def test_stop_while_connecting(server: PhoenixServer) -> None:
    for _ in range(20):
        ref = start(Probe(pa.Connect(server.url)))
        assert_stops_clean(ref, server.port)  # at whatever point the attempt is


def test_stop_when_connected_and_idle(server: PhoenixServer) -> None:
    client = Probe(pa.Connect(server.url))
    ref = start(client)
    client.wait("connected")
    assert_stops_clean(ref, server.port)
    server.wait_for_event(lambda e: e[0] == "disconnect", TIMEOUT)


def test_stop_with_a_join_reply_pending_and_pushes_buffered(server: PhoenixServer) -> None:
    gate, entered = threading.Event(), threading.Event()
    server.channel("gated:*", lambda: GatedChannel(gate, entered))
    client = Probe(pa.Connect(server.url))
    ref = start(client, push_buffer=50)
    try:
        client.wait("connected")
        join = pa.execute(ref, lambda conn: conn.join_future("gated:1"), TIMEOUT)
        buffered = pa.execute(
            ref,
            lambda conn: [conn.push_future("gated:1", "echo", {"n": n}) for n in range(50)],
            TIMEOUT,
        )
        assert entered.wait(TIMEOUT)  # the server holds the join
        assert_stops_clean(ref, server.port)
        for future in [join, *buffered]:  # each fails at once, with a typed error
            with pytest.raises(pa.SocketStoppedError):
                future.get(timeout=0)
    finally:
        gate.set()  # let the server's worker end


def test_stop_with_replies_pending(server: PhoenixServer) -> None:
    client = Probe(pa.Connect(server.url), connected=lambda conn: conn.join("echo:1"))
    ref = start(client)
    client.wait("joined")
    futures = pa.execute(
        ref,
        lambda conn: [conn.push_future("echo:1", "noreply", {"n": n}) for n in range(200)],
        TIMEOUT,
    )
    refs = pa.execute(
        ref, lambda conn: [conn.push("echo:1", "slow", {"ms": 50}) for _ in range(5)], TIMEOUT
    )
    assert len(refs) == 5
    assert_stops_clean(ref, server.port)
    for future in futures:  # each fails at once, with a typed error
        with pytest.raises(pa.SocketStoppedError):
            future.get(timeout=0)


def test_stop_with_many_pushes_in_flight(server: PhoenixServer) -> None:
    client = Probe(pa.Connect(server.url), connected=lambda conn: conn.join("echo:1"))
    ref = start(client)
    client.wait("joined")
    pa.execute(
        ref,
        lambda conn: [conn.push("echo:1", "echo", {"n": n, "pad": "x" * 512}) for n in range(3000)],
        TIMEOUT,
    )
    assert_stops_clean(ref, server.port)


def test_stop_with_many_frames_arriving(server: PhoenixServer) -> None:
    client = Probe(pa.Connect(server.url), connected=lambda conn: conn.join("echo:1"))
    ref = start(client)
    client.wait("joined")
    pa.execute(ref, lambda conn: conn.push("echo:1", "burst", {"n": 5000}), TIMEOUT)
    client.wait_message("burst")
    assert_stops_clean(ref, server.port)


def test_stop_with_the_reader_held_back_by_max_pending_frames(server: PhoenixServer) -> None:
    held = threading.Event()
    release = threading.Event()

    def slow(topic: str, event: str, payload: Any, conn: pa.Connection) -> None:
        if payload == {"i": 1}:
            held.set()
            release.wait(TIMEOUT)  # frames pile up behind this one, then the reader waits

    client = Probe(pa.Connect(server.url), connected=lambda conn: conn.join("echo:1"), message=slow)
    try:
        ref = start(client, max_pending_frames=4)
    except pa.ConfigError:
        pytest.skip("no max_pending_frames option")
    client.wait("joined")
    pa.execute(ref, lambda conn: conn.push("echo:1", "burst", {"n": 2000}), TIMEOUT)
    assert held.wait(TIMEOUT)
    stopping = ref.stop(block=False)
    release.set()
    stopping.get(timeout=TIMEOUT)
    assert fds_connected_to(server.port) == {}


def test_stop_at_every_step_of_a_conversation(server: PhoenixServer) -> None:
    """A client that pushes again on every reply, stopped after 0, 1, 2 ... callbacks."""

    def again(topic: str, ref: Any, payload: Any, conn: pa.Connection) -> None:
        conn.push("echo:1", "echo", {"after": ref})
        conn.push("echo:1", "push", {"after": ref})

    for steps in range(24):
        client = Probe(
            pa.Connect(server.url),
            connected=lambda conn: conn.join("echo:1"),
            joined=lambda topic, response, conn: conn.push("echo:1", "echo", {}),
            reply=again,
        )
        ref = start(client)
        for _ in range(steps):
            client.events.take(lambda e: e[0] != "terminate", TIMEOUT, "a callback")
        assert_stops_clean(ref, server.port)
        assert client.events.take(lambda e: e[0] == "terminate", TIMEOUT, "terminate")


def test_stopping_many_sockets_at_once(server: PhoenixServer) -> None:
    clients = [
        Probe(pa.Connect(server.url), connected=lambda c: c.join("echo:1")) for _ in range(10)
    ]
    refs = [start(client) for client in clients]
    for client in clients:
        client.wait("joined")
    stops = [ref.stop(block=False) for ref in refs]
    for stopping in stops:
        stopping.get(timeout=TIMEOUT)
    assert fds_connected_to(server.port) == {}


# -- the mailbox at stop ---------------------------------------------------------------


def test_a_call_queued_behind_a_second_stop_fails_with_socket_stopped() -> None:
    """Found by this suite: the mailbox drain at stop ended at the first ask envelope
    (a second stop()), and Pykka dropped the calls behind it unanswered."""
    gate, entered = threading.Event(), threading.Event()

    def hold(message: Any, conn: pa.Connection) -> None:
        entered.set()
        gate.wait(TIMEOUT)

    client = Probe(pa.NoConnect("ws://example.test/socket/websocket"), info=hold)
    ref = start(client)
    with running(ref):
        ref.tell("hold")
        assert entered.wait(TIMEOUT)
        first = ref.stop(block=False)
        second = ref.stop(block=False)
        queued = _Call("late", pykka.ThreadingFuture())
        ref.tell(queued)  # what call() tells; queued behind both stops
        gate.set()
        first.get(timeout=TIMEOUT)
        second.get(timeout=TIMEOUT)
        with pytest.raises(pa.SocketStoppedError):
            queued.future.get(timeout=TIMEOUT)


# -- a stop does not wait behind the inbound backlog -----------------------------------

BACKLOG = 5_000
STOP_TOPIC = "room:backlog"


class SlowFirstMessage:
    """A message handler whose first call waits for ``gate``: the frames that follow
    queue up in the mailbox behind it. Counts every call."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls = 0

    def __call__(self, *_args: Any) -> None:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            self.gate.wait(TIMEOUT)


def queue_backlog(server: Any, chunked: bool) -> None:
    """BACKLOG broadcasts on STOP_TOPIC: one mailbox message each, or in chunks of 100
    (as a reader reports what one read brought)."""
    frames = [
        pa.Frame.text(f'[null, null, "{STOP_TOPIC}", "tick", {{"n": {n}}}]') for n in range(BACKLOG)
    ]
    if not chunked:
        for frame in frames:
            server.send_frame(frame)
        return
    for start in range(0, BACKLOG, 100):
        server._listener.frames(frames[start : start + 100])


@pytest.mark.parametrize("chunked", [False, True], ids=["frame by frame", "in chunks"])
def test_stop_drops_the_inbound_backlog_and_counts_it(chunked: bool) -> None:
    handler = SlowFirstMessage()
    client = Probe(pa.Connect("ws://example.invalid/socket/websocket"), message=handler)
    connector = FakeConnector()
    ref = start(client, transport_factory=connector)
    with running(ref), LogCapture(level=logging.INFO) as logs:
        server = connector.next_connection()
        server.accept()
        client.wait("connected")
        server.send_frame(pa.Frame.text(f'[null, null, "{STOP_TOPIC}", "first", {{}}]'))
        assert handler.entered.wait(TIMEOUT)
        queue_backlog(server, chunked)
        stopping = ref.stop(block=False)  # asked while thousands of frames wait
        handler.gate.set()
        stopping.get(timeout=TIMEOUT)
        record = logs.wait_for(lambda r: "inbound frames not handled" in r.getMessage())
    assert handler.calls == 1  # no callback ran for the backlog
    assert record.getMessage() == f"stopped: {BACKLOG} inbound frames not handled were dropped"
    assert client.events.snapshot()[-1] == ("terminate", "shutdown")


def test_socket_close_drops_the_inbound_backlog() -> None:
    handler = SlowFirstMessage()
    connector = FakeConnector()
    sock = pa.Socket(
        "ws://example.invalid/socket/websocket",
        transport_factory=connector,
        heartbeat_interval=None,
        timeout=TIMEOUT,
    )
    try:
        server = connector.next_connection()
        server.accept()
        sock.wait_connected()
        joined = threading.Thread(target=lambda: sock.join(STOP_TOPIC), daemon=True)
        joined.start()
        server.reply(server.expect("phx_join", STOP_TOPIC), "ok", {})
        joined.join(TIMEOUT)
        sock.on(STOP_TOPIC, None, handler)
        server.push(STOP_TOPIC, "first", {})
        assert handler.entered.wait(TIMEOUT)
        queue_backlog(server, chunked=True)
        closing = threading.Thread(target=sock.close, daemon=True)
        closing.start()
        assert sock._ref._halt.wait(TIMEOUT)  # type: ignore[attr-defined]  # close() asked
        handler.gate.set()
        closing.join(TIMEOUT)
        assert not closing.is_alive()
    finally:
        sock.close()
    assert handler.calls == 1  # no callback ran for the backlog
