"""A hostile or broken server cannot hold a connection attempt, nor fill memory or logs.

Hand-made servers on loopback answer the websocket upgrade their own way: one byte at
a time (the attempt must still end at ``connect_timeout``, one deadline for TCP, TLS
and the upgrade together), or with endless or oversized header lines (the attempt
must fail at once with :class:`~phoenix_actor.HandshakeFailed`, as websockets and h11
refuse such answers). Whatever a server sends, a log record that shows it stays a few
hundred characters long.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

import phoenix_actor as pa
from phoenix_actor._protocol.logtext import bounded_repr
from phoenix_actor._transport.wire import (
    MAX_UPGRADE_HEADERS,
    MAX_UPGRADE_LINE,
    MAX_UPGRADE_RESPONSE,
)
from phoenix_actor.testing import FakeConnection, FakeConnector
from tests.conftest import TIMEOUT
from tests.faults import HostileServer, LogCapture, Probe, running

STATUS = b"HTTP/1.1 101 Switching Protocols\r\n"


def start(client: Probe, connect_timeout: float = 10.0) -> pykka.ActorRef[Any]:
    options = pa.TransportOptions(connect_timeout=connect_timeout)
    return pa.SocketActor.start(client, heartbeat_interval=None, transport_options=options)


def attempt(server: HostileServer, connect_timeout: float = 10.0) -> pa.DisconnectReason:
    """Connect once to ``server`` and return why the attempt failed."""
    client = Probe(pa.Connect(server.url()))
    ref = start(client, connect_timeout)
    with running(ref):
        _, reason = client.wait("disconnected", TIMEOUT)
        assert isinstance(reason, pa.DisconnectReason)
        return reason


# -- a server that trickles its answer ---------------------------------------------------


def trickle(conn: socket.socket, stop: threading.Event) -> None:
    """A 101 and then valid header lines, one byte every 20 ms, until told to stop."""
    answer = STATUS + b"".join(b"X-Pad-%d: 1\r\n" % n for n in range(10_000))
    for byte in answer:
        if stop.wait(0.02):
            return
        conn.sendall(bytes((byte,)))


def test_a_trickled_upgrade_ends_at_connect_timeout() -> None:
    """Every byte comes well within connect_timeout, yet the attempt must end there."""
    with HostileServer(trickle) as server:
        reason = attempt(server, connect_timeout=0.5)
    assert isinstance(reason, pa.ConnectFailed)
    assert reason.kind == "timeout"
    assert "0.5 s" in reason.error


def test_a_trickled_upgrade_through_a_proxy_ends_at_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through a proxy websocket-client opens the socket itself: the deadline still holds."""
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)

    def tunnel_then_trickle(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")  # to the CONNECT
        HostileServer.read_upgrade(conn)
        trickle(conn, stop)

    with HostileServer(tunnel_then_trickle) as proxy:
        client = Probe(pa.Connect("ws://upstream.invalid/socket/websocket"))
        options = pa.TransportOptions(connect_timeout=0.5, proxy=f"http://127.0.0.1:{proxy.port}")
        ref = pa.SocketActor.start(client, heartbeat_interval=None, transport_options=options)
        with running(ref):
            _, reason = client.wait("disconnected", TIMEOUT)
        assert proxy.request.startswith(b"CONNECT upstream.invalid:80 ")
    assert isinstance(reason, pa.ConnectFailed)
    assert reason.kind == "timeout"


# -- oversized answers -------------------------------------------------------------------


def flood(lines: Any) -> Any:
    """An answer: the 101, then ``lines`` as fast as the client takes them."""

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(STATUS)
        for line in lines:
            if stop.is_set():
                return
            conn.sendall(line)

    return answer


def endless_headers() -> Any:
    n = 0
    while True:
        yield b"X-Header-%d: %s\r\n" % (n, b"v" * 20)
        n += 1


def one_endless_line() -> Any:
    yield b"X-Long: "
    while True:
        yield b"v" * 1024


def big_headers() -> Any:
    for n in range(MAX_UPGRADE_HEADERS):  # few enough, each short enough, too many bytes
        yield b"X-Big-%d: %s\r\n" % (n, b"v" * (MAX_UPGRADE_LINE - 100))
    yield b"\r\n"


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        (endless_headers, f"more than {MAX_UPGRADE_HEADERS} headers"),
        (one_endless_line, f"longer than {MAX_UPGRADE_LINE} bytes"),
        (big_headers, f"longer than {MAX_UPGRADE_RESPONSE} bytes"),
    ],
    ids=["endless headers", "endless line", "too many bytes"],
)
def test_an_oversized_upgrade_answer_fails_at_once(lines: Any, words: str) -> None:
    with HostileServer(flood(lines())) as server:
        reason = attempt(server)
        assert server.ended.wait(TIMEOUT)  # the client hung up: the flood stopped
    assert isinstance(reason, pa.HandshakeFailed)
    assert words in reason.error


def test_a_refusal_with_a_huge_body_fails_at_once() -> None:
    """A 403 that promises a gigabyte of body is not read to the end."""

    def answer(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 1000000000\r\n\r\n")
        while not stop.is_set():
            conn.sendall(b"x" * 65536)

    with HostileServer(answer) as server:
        reason = attempt(server)
        assert server.ended.wait(TIMEOUT)
    assert isinstance(reason, pa.HandshakeFailed)
    assert f"longer than {MAX_UPGRADE_RESPONSE} bytes" in reason.error


def test_an_answer_within_the_limits_is_accepted() -> None:
    """Many headers, long ones, up to the limits: still a handshake (it then fails on
    the missing websocket headers, not on a limit)."""
    lines = [b"X-H-%d: %s\r\n" % (n, b"v" * 300) for n in range(MAX_UPGRADE_HEADERS - 1)]
    lines.append(b"X-Long: " + b"v" * (MAX_UPGRADE_LINE - 10) + b"\r\n\r\n")
    with HostileServer(flood(lines)) as server:
        reason = attempt(server)
    assert isinstance(reason, pa.HandshakeFailed)
    assert "longer" not in reason.error
    assert "more than" not in reason.error


# -- log records stay small whatever the server sends -----------------------------------

URL = "ws://example.invalid/socket/websocket"
TOPIC = "room:1"
HUGE = "y" * 5_000_000
#: A record that shows one value from the network stays below this (a few hundred
#: characters of the value, plus the words around it).
RECORD_BOUND = 2_000


class Plain(pa.SocketClient):
    """The library's default callbacks (they log what they do not handle)."""

    def init(self) -> pa.Connect:
        return pa.Connect(URL)


@contextlib.contextmanager
def fake_socket(client: pa.SocketClient) -> Iterator[tuple[pykka.ActorRef[Any], FakeConnection]]:
    connector = FakeConnector()
    ref = pa.SocketActor.start(client, transport_factory=connector, heartbeat_interval=None)
    with running(ref):
        server = connector.next_connection()
        server.accept()
        yield ref, server


def joined(ref: pykka.ActorRef[Any], server: FakeConnection) -> pa.Message:
    pa.execute(ref, lambda conn: conn.join(TOPIC), TIMEOUT)
    join = server.expect("phx_join", TOPIC)
    server.reply(join, "ok", {})
    return join


def test_a_huge_stale_reply_gives_a_bounded_debug_record() -> None:
    with fake_socket(Plain()) as (ref, server), LogCapture(level=logging.DEBUG) as logs:
        join = joined(ref, server)
        stale = f"{join.join_ref}0"  # an earlier channel session's
        server.send_message(stale, "5", TOPIC, "phx_reply", {"status": "ok", "response": HUGE})
        record = logs.wait_for(lambda r: r.getMessage().startswith("dropped Message("))
    assert "reply of an earlier or unknown channel session" in record.getMessage()
    assert len(record.getMessage()) < RECORD_BOUND


def test_a_huge_refusal_or_unexpected_message_gives_a_bounded_record() -> None:
    with fake_socket(Plain()) as (ref, server), LogCapture() as logs:
        pa.execute(ref, lambda conn: conn.join(TOPIC), TIMEOUT)
        server.reply(server.expect("phx_join", TOPIC), "error", {"reason": HUGE})
        refused = logs.wait_for(lambda r: r.getMessage().startswith(f"join of {TOPIC!r} refused"))
        ref.tell({"unexpected": HUGE})
        unexpected = logs.wait_for(lambda r: "unexpected message" in r.getMessage())
    for record in (refused, unexpected):
        assert "yyyy" in record.getMessage()
        assert len(record.getMessage()) < RECORD_BOUND


def test_a_huge_malformed_frame_gives_a_bounded_record() -> None:
    with fake_socket(Plain()) as (ref, server), LogCapture() as logs:
        joined(ref, server)
        server.send_frame(pa.Frame.text(f'[null, null, "{TOPIC}", "e", "{HUGE}"'))  # cut short
        record = logs.wait_for(lambda r: r.getMessage().startswith("dropped a malformed frame"))
    assert len(record.getMessage()) < RECORD_BOUND


def test_bounded_repr_is_cheap_and_short_for_any_value() -> None:
    deep: list[Any] = []
    for _ in range(10_000):
        deep = [deep]
    values = [HUGE, HUGE.encode(), {HUGE: HUGE}, [HUGE] * 1000, deep, 10**5000 // 7]
    for value in values:
        assert len(bounded_repr(value)) < RECORD_BOUND

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError(HUGE)

    assert bounded_repr(Broken()).startswith("<Broken")  # no exception
