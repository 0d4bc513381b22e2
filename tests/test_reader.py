"""One thread reads every connection of the process, plain and TLS.

The transport actor connects, then hands the socket to the reader. Everything a reader
does must happen: data frames in order (also a frame cut by the upgrade response's
read), pings answered without blocking the thread, a close frame answered and reported
with its code, a malformed frame closed with 1002, the end of the connection reported
once, backpressure by connection, and the thread gone when the last connection is.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

import phoenix_actor as pa
from phoenix_actor._protocol.message import Frame
from phoenix_actor._transport.actor import TransportActor, _Send
from phoenix_actor._transport.base import Transport
from phoenix_actor._transport.reader import Reader
from phoenix_actor._transport.reasons import ConnectionLost, DisconnectReason, RemoteClosed
from phoenix_actor._transport.websocket import websocket_transport
from phoenix_actor._transport.wire import _Wire
from phoenix_actor.testing import PhoenixServer
from tests.conftest import TIMEOUT
from tests.test_keepalive import PONG, RawServer
from tests.test_read_ahead import _text
from tests.test_tls import server_context
from tests.test_wire_writes import Listener

OPTIONS = pa.TransportOptions()
READER_THREAD = "phoenix_actor-reader"
FAST: dict[str, Any] = {"reconnect_after": [0.0, 0.01], "rejoin_after": [0.0, 0.01]}


def _threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name and t.is_alive()]


def _one_reader() -> None:
    """One reader thread, and no thread of any connection's own."""
    assert len(_threads(READER_THREAD)) == 1
    assert not [t for t in threading.enumerate() if t.name.startswith(READER_THREAD + "-")]


# -- end to end, through the facade -------------------------------------------------


@pytest.fixture
def server() -> Iterator[PhoenixServer]:
    with PhoenixServer(demo=True) as server:
        yield server


def test_twenty_sockets_share_one_reader_and_get_every_broadcast_in_order(
    server: PhoenixServer,
) -> None:
    sockets = [pa.Socket(server.url, timeout=TIMEOUT, transport_options=OPTIONS) for _ in range(20)]
    try:
        subscriptions = []
        for socket in sockets:
            socket.join("echo:all")
            subscriptions.append(socket.subscribe("echo:all", "news"))
        _one_reader()
        for i in range(50):
            server.broadcast("echo:all", "news", {"i": i})
        for subscription in subscriptions:
            assert [subscription.get(TIMEOUT).payload["i"] for _ in range(50)] == list(range(50))
        replies = [socket.push("echo:all", "echo", {"n": n}) for n, socket in enumerate(sockets)]
        assert [reply.response for reply in replies] == [{"n": n} for n in range(20)]
    finally:
        for socket in sockets:
            socket.close()
    for thread in _threads(READER_THREAD):
        thread.join(TIMEOUT)  # it ends with its last connection
    assert not _threads(READER_THREAD)


def test_a_killed_connection_is_reported_and_the_socket_reconnects_and_rejoins(
    server: PhoenixServer,
) -> None:
    options = {**FAST, "push_buffer": 10}
    with pa.Socket(server.url, timeout=TIMEOUT, transport_options=OPTIONS, **options) as socket:
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


def test_shared_reader_is_deprecated_and_ignored() -> None:
    with pytest.warns(DeprecationWarning, match="shared_reader"):
        options = pa.TransportOptions(shared_reader=True)
    assert pa.Config(transport_options=options, max_pending_frames=10).max_pending_frames == 10


# -- the transport, against a hand-written server -----------------------------------


def _open(server: RawServer) -> tuple[Transport, Listener]:
    listener = Listener()
    transport = websocket_transport(server.url, OPTIONS, listener)
    assert listener.connected_event.wait(TIMEOUT)
    return transport, listener


def _answering(**answers: bytes) -> RawServer:
    return RawServer(pong=False, answers={k.encode(): v for k, v in answers.items()})


def _ended(listener: Listener) -> DisconnectReason:
    reason = listener.ended.get(timeout=TIMEOUT)
    assert listener.ended.empty()
    return reason


def test_a_ping_is_answered_by_the_reader() -> None:
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


def test_connections_come_and_go_while_the_reader_runs(server: PhoenixServer) -> None:
    """Closed connections leave the selector before their sockets close: new sockets,
    which often get the same file descriptors, are read as well."""
    with pa.Socket(server.url, timeout=TIMEOUT, transport_options=OPTIONS) as anchor:
        anchor.join("echo:anchor")
        for round_ in range(15):
            with pa.Socket(server.url, timeout=TIMEOUT, transport_options=OPTIONS) as socket:
                socket.join("echo:come-and-go")
                reply = socket.push("echo:come-and-go", "echo", {"round": round_})
                assert reply.response == {"round": round_}
        assert anchor.push("echo:anchor", "echo", {"still": "here"}).response == {"still": "here"}
        _one_reader()


def test_a_ping_that_cannot_be_answered_at_once_is_answered_by_the_transport_actor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reader never waits on one connection: when the write lock is taken or
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
        monkeypatch.setattr(_Wire, "write_nowait", lambda self, data, counted=True: False)
        monkeypatch.setattr(TransportActor, "on_receive", on_receive)
        transport.send(Frame.text("ping"))
        assert server.frames.get(timeout=TIMEOUT) == (0x1, b"ping")
        assert server.frames.get(timeout=TIMEOUT) == (PONG, b"xyz")
        assert len(handed) == 1
        transport.close()
    finally:
        server.close()


def test_a_failure_of_the_reader_ends_its_connections_and_they_come_back(
    server: PhoenixServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    original = Reader._read
    failures: list[str] = []

    def fails_once(self: Reader, conn: Any) -> Any:
        if not failures:
            failures.append("boom")
            raise RuntimeError("boom")
        return original(self, conn)

    options = {**FAST, "push_buffer": 10}
    with pa.Socket(server.url, timeout=TIMEOUT, transport_options=OPTIONS, **options) as socket:
        socket.join("echo:f")
        mark = len(server.received)
        monkeypatch.setattr(Reader, "_read", fails_once)
        server.broadcast("echo:f", "news", {})  # the socket turns readable: the read fails
        server.wait_for(
            lambda r: r.message is not None and r.message.event == "phx_join", TIMEOUT, start=mark
        )
        reply = socket.push_future("echo:f", "echo", {"back": True}).get(timeout=TIMEOUT)
        assert reply.response == {"back": True}
    assert failures == ["boom"]
    assert "the reader failed" in caplog.text


def test_a_frame_cut_by_the_upgrade_responses_read_is_read_whole() -> None:
    """The read that ends the upgrade response may end inside a frame: the reader goes on
    with the same parser, so the frame's rest completes it."""
    message = [None, None, "t", "cut", {"text": "x" * 60}]
    frame = _text(message)
    server = RawServer(pong=False, greeting=frame[:7], answers={b"rest": frame[7:]})
    try:
        transport, listener = _open(server)
        transport.send(Frame.text("rest"))
        assert json.loads(listener.received.get(timeout=TIMEOUT).data) == message
        assert listener.ended.empty()
        transport.close()
    finally:
        server.close()


def test_tls_connections_are_read_by_the_one_reader(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    options = pa.TransportOptions(ca_file=ca_file)
    with PhoenixServer.with_defaults(ssl_context=server_context(ca, "127.0.0.1")) as wss_server:
        _broadcast_over_tls(wss_server, options)


def _broadcast_over_tls(wss_server: PhoenixServer, options: pa.TransportOptions) -> None:
    sockets = [
        pa.Socket(wss_server.url, timeout=TIMEOUT, transport_options=options) for _ in range(3)
    ]
    try:
        subscriptions = []
        for socket in sockets:
            socket.join("echo:tls")
            subscriptions.append(socket.subscribe("echo:tls", "news"))
        _one_reader()
        big = "y" * 50_000  # several TLS records a message
        for i in range(20):
            wss_server.broadcast("echo:tls", "news", {"i": i, "big": big})
        for subscription in subscriptions:
            got = [subscription.get(TIMEOUT).payload for _ in range(20)]
            assert [p["i"] for p in got] == list(range(20))
            assert all(p["big"] == big for p in got)
    finally:
        for socket in sockets:
            socket.close()


def test_a_held_connection_is_not_read_and_others_are(server: PhoenixServer) -> None:
    """max_pending_frames holds the reading of the slow socket only; it resumes, and
    every message arrives in order."""
    release = threading.Event()
    seen: list[int] = []
    joined = threading.Event()
    done = threading.Event()

    class Slow(pa.SocketClient):
        def init(self) -> pa.Connect:
            return pa.Connect(server.url)

        def handle_connected(self, conn: pa.Connection) -> None:
            conn.join("echo:held")

        def handle_joined(self, topic: str, response: Any, conn: Any) -> None:
            joined.set()

        def handle_message(self, topic: str, event: str, payload: Any, conn: Any) -> None:
            release.wait(TIMEOUT)
            seen.append(payload["i"])
            if len(seen) == 300:
                done.set()

    slow = pa.SocketActor.start(Slow(), max_pending_frames=8)
    try:
        with pa.Socket(server.url, timeout=TIMEOUT) as fast:
            fast.join("echo:held")
            news = fast.subscribe("echo:held", "news")
            assert joined.wait(TIMEOUT)  # both joined: each gets every broadcast
            for i in range(300):
                server.broadcast("echo:held", "news", {"i": i, "pad": "p" * 1000})
            assert [news.get(TIMEOUT).payload["i"] for _ in range(300)] == list(range(300))
            depth = pa.mailbox_depth(slow)
            assert depth < 100  # held: the rest waits in the kernel, not in the mailbox
            release.set()
            assert done.wait(TIMEOUT)
            assert seen == list(range(300))
    finally:
        release.set()
        slow.stop()
