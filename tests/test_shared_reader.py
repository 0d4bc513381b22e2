"""``TransportOptions(shared_reader=True)``: one thread reads every such connection.

The connection's own reader connects, then hands the socket to the shared reader and
ends. Everything a reader does must still happen: data frames in order, pings answered
without blocking the thread, a close frame answered and reported with its code, a
malformed frame closed with 1002, the end of the connection reported once, and the
thread gone when the last connection is.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import phoenix_actor as pa
from phoenix_actor._message import Frame
from phoenix_actor._reasons import ConnectionLost, DisconnectReason, RemoteClosed
from phoenix_actor._shared_reader import SharedReader
from phoenix_actor._transport import Transport, websocket_transport
from phoenix_actor._transport_actor import TransportActor, _Send
from phoenix_actor._wire import _Wire
from phoenix_actor.testing import PhoenixServer
from tests.conftest import TIMEOUT
from tests.test_keepalive import PONG, RawServer
from tests.test_read_ahead import _text
from tests.test_wire_writes import Listener

SHARED = pa.TransportOptions(shared_reader=True)
FAST: dict[str, Any] = {"reconnect_after": [0.0, 0.01], "rejoin_after": [0.0, 0.01]}


def _threads(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix) and t.is_alive()]


def _no_own_readers() -> None:
    """Every connection's own reader has handed over and ended."""
    for thread in _threads("phoenix_actor-reader-"):
        thread.join(TIMEOUT)
    assert not _threads("phoenix_actor-reader-")


# -- end to end, through the facade -------------------------------------------------


@pytest.fixture
def server() -> Iterator[PhoenixServer]:
    with PhoenixServer(demo=True) as server:
        yield server


def test_twenty_sockets_share_one_reader_and_get_every_broadcast_in_order(
    server: PhoenixServer,
) -> None:
    sockets = [pa.Socket(server.url, timeout=TIMEOUT, transport_options=SHARED) for _ in range(20)]
    try:
        subscriptions = []
        for socket in sockets:
            socket.join("echo:all")
            subscriptions.append(socket.subscribe("echo:all", "news"))
        _no_own_readers()
        assert len(_threads("phoenix_actor-shared-reader")) == 1
        for i in range(50):
            server.broadcast("echo:all", "news", {"i": i})
        for subscription in subscriptions:
            assert [subscription.get(TIMEOUT).payload["i"] for _ in range(50)] == list(range(50))
        replies = [socket.push("echo:all", "echo", {"n": n}) for n, socket in enumerate(sockets)]
        assert [reply.response for reply in replies] == [{"n": n} for n in range(20)]
    finally:
        for socket in sockets:
            socket.close()
    shared = _threads("phoenix_actor-shared-reader")
    for thread in shared:
        thread.join(TIMEOUT)  # it ends with its last connection
    assert not _threads("phoenix_actor-shared-reader")


def test_a_killed_connection_is_reported_and_the_socket_reconnects_and_rejoins(
    server: PhoenixServer,
) -> None:
    options = {**FAST, "push_buffer": 10}
    with pa.Socket(server.url, timeout=TIMEOUT, transport_options=SHARED, **options) as socket:
        socket.join("echo:again")
        first_conn = server.wait_for(lambda r: r.message is not None).conn_id
        mark = len(server.received)
        server.kill_all()
        server.wait_for(
            lambda r: (
                r.conn_id != first_conn and r.message is not None and r.message.event == "phx_join"
            ),
            TIMEOUT,
            start=mark,
        )
        reply = socket.push_future("echo:again", "echo", {"back": True}).get(timeout=TIMEOUT)
        assert reply.response == {"back": True}


def test_max_pending_frames_needs_a_reader_per_connection() -> None:
    with pytest.raises(pa.ConfigError, match="shared_reader"):
        pa.Config(transport_options=SHARED, max_pending_frames=10)


# -- the transport, against a hand-written server -----------------------------------


def _open(server: RawServer) -> tuple[Transport, Listener]:
    listener = Listener()
    transport = websocket_transport(server.url, SHARED, listener)
    assert listener.connected_event.wait(TIMEOUT)
    _no_own_readers()
    return transport, listener


def _answering(**answers: bytes) -> RawServer:
    return RawServer(pong=False, answers={k.encode(): v for k, v in answers.items()})


def _ended(listener: Listener) -> DisconnectReason:
    reason = listener.ended.get(timeout=TIMEOUT)
    assert listener.ended.empty()
    return reason


def test_a_ping_is_answered_by_the_shared_reader() -> None:
    server = _answering(ping=bytes([0x89, 3]) + b"abc")
    try:
        transport, _listener = _open(server)
        transport.send(Frame.text("ping"))
        assert server.frames.get(timeout=TIMEOUT) == (0x1, b"ping")
        assert server.frames.get(timeout=TIMEOUT) == (PONG, b"abc")
        transport.close()
    finally:
        server.close()


@pytest.mark.parametrize(
    ("end", "described", "answered"),
    [
        (bytes([0x88, 2]) + (4001).to_bytes(2, "big"), "4001", 1000),
        (bytes([0x83, 0]), "unknown data opcode", 1002),  # opcode 3 is reserved
    ],
    ids=["a close frame", "a malformed frame"],
)
def test_an_end_from_the_server_is_answered_and_reported_once(
    end: bytes, described: str, answered: int
) -> None:
    server = _answering(end=end)
    try:
        transport, listener = _open(server)
        transport.send(Frame.text("end"))
        reason = _ended(listener)
        assert isinstance(reason, RemoteClosed if answered == 1000 else pa.ProtocolViolation)
        assert described in reason.describe()
        assert server.frames.get(timeout=TIMEOUT) == (0x1, b"end")
        assert server.frames.get(timeout=TIMEOUT) == (0x8, answered.to_bytes(2, "big"))
        transport.close()
    finally:
        server.close()


def test_frames_before_and_after_the_hand_over_arrive_in_order() -> None:
    early = [[None, None, "t", "early", {"n": n}] for n in range(3)]
    late = [[None, None, "t", "late", {"n": n}] for n in range(3)]
    server = RawServer(
        pong=False,
        greeting=b"".join(_text(m) for m in early),
        answers={b"more": b"".join(_text(m) for m in late)},
    )
    try:
        transport, listener = _open(server)
        transport.send(Frame.text("more"))
        got = [json.loads(listener.received.get(timeout=TIMEOUT).data) for _ in range(6)]
        transport.close()
    finally:
        server.close()
    assert got == early + late


def test_the_end_of_the_connection_is_reported_once() -> None:
    server = RawServer(pong=False)
    try:
        transport, listener = _open(server)
        server.drop()
        assert isinstance(_ended(listener), ConnectionLost)
        transport.close()
    finally:
        server.close()


def test_connections_come_and_go_while_the_shared_reader_runs(server: PhoenixServer) -> None:
    """Closed connections leave the selector before their sockets close: new sockets,
    which often get the same file descriptors, are read as well."""
    with pa.Socket(server.url, timeout=TIMEOUT, transport_options=SHARED) as anchor:
        anchor.join("echo:anchor")
        for round_ in range(15):
            with pa.Socket(server.url, timeout=TIMEOUT, transport_options=SHARED) as socket:
                socket.join("echo:come-and-go")
                reply = socket.push("echo:come-and-go", "echo", {"round": round_})
                assert reply.response == {"round": round_}
        assert anchor.push("echo:anchor", "echo", {"still": "here"}).response == {"still": "here"}
        assert len(_threads("phoenix_actor-shared-reader")) == 1


def test_a_ping_that_cannot_be_answered_at_once_is_answered_by_the_transport_actor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shared reader never waits on one connection: when the write lock is taken or
    the kernel's buffer is full, the pong goes to the transport actor."""
    server = _answering(ping=bytes([0x89, 3]) + b"xyz")
    handed: list[bytes] = []
    original = TransportActor.on_receive

    def on_receive(self: TransportActor, message: Any) -> None:
        if isinstance(message, _Send) and not message.counted:  # not one of the owner's
            handed.append(message.data)
        original(self, message)

    try:
        transport, _listener = _open(server)
        monkeypatch.setattr(_Wire, "write_nowait", lambda self, data: False)
        monkeypatch.setattr(TransportActor, "on_receive", on_receive)
        transport.send(Frame.text("ping"))
        assert server.frames.get(timeout=TIMEOUT) == (0x1, b"ping")
        assert server.frames.get(timeout=TIMEOUT) == (PONG, b"xyz")
        assert len(handed) == 1
        transport.close()
    finally:
        server.close()


def test_a_failure_of_the_shared_reader_ends_its_connections_and_they_come_back(
    server: PhoenixServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    original = SharedReader._read
    failures: list[str] = []

    def fails_once(self: SharedReader, conn: Any) -> Any:
        if not failures:
            failures.append("boom")
            raise RuntimeError("boom")
        return original(self, conn)

    options = {**FAST, "push_buffer": 10}
    with pa.Socket(server.url, timeout=TIMEOUT, transport_options=SHARED, **options) as socket:
        socket.join("echo:f")
        mark = len(server.received)
        monkeypatch.setattr(SharedReader, "_read", fails_once)
        server.broadcast("echo:f", "news", {})  # the socket turns readable: the read fails
        server.wait_for(
            lambda r: r.message is not None and r.message.event == "phx_join", TIMEOUT, start=mark
        )
        reply = socket.push_future("echo:f", "echo", {"back": True}).get(timeout=TIMEOUT)
        assert reply.response == {"back": True}
    assert failures == ["boom"]
    assert "the shared reader failed" in caplog.text
