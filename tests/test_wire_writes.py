"""Direct writes: the socket actor's thread writes a frame itself when that cannot block.

A frame the kernel cannot take whole is finished by the transport actor, every later
frame follows it there until it is written, and the frames reach the server whole and
in the order they were sent, while the sending thread never blocks.
"""

from __future__ import annotations

import os
import queue
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
import websocket

from phoenix_actor._protocol.message import Frame, Opcode
from phoenix_actor._transport.base import Transport
from phoenix_actor._transport.options import TransportOptions, resolve_options
from phoenix_actor._transport.reasons import DisconnectReason
from phoenix_actor._transport.websocket import websocket_transport
from phoenix_actor._transport.wire import _Wire, encode_frame
from tests.conftest import TIMEOUT, is_service
from tests.test_keepalive import RawServer

TEXT, BINARY = 0x1, 0x2


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 125, 126, 127, 65535, 65536, 70001])
@pytest.mark.parametrize("opcode", [0x1, 0x2, 0x8, 0x9, 0xA])
def test_frames_are_encoded_as_websocket_client_encodes_them(size: int, opcode: int) -> None:
    data, key = os.urandom(size), os.urandom(4)
    expected = websocket.ABNF(1, 0, 0, 0, opcode, 1, data)
    expected.get_mask_key = lambda _n: key
    assert encode_frame(data, opcode, key) == expected.format()


def test_every_frame_gets_a_fresh_mask_key() -> None:
    keys = {encode_frame(b"x", TEXT)[2:6] for _ in range(50)}
    assert len(keys) > 45


# -- _Wire on a socket pair ---------------------------------------------------------


@pytest.fixture
def pair() -> Iterator[tuple[_Wire, socket.socket]]:
    ours, theirs = socket.socketpair()
    wire = _Wire(resolve_options(TransportOptions(), "ws://127.0.0.1:1/socket/websocket"))
    wire.ws.sock = ours
    wire.go_live(ours)
    yield wire, theirs
    ours.close()
    theirs.close()


def _fill(wire: _Wire) -> None:
    """Write until the kernel takes no more."""
    chunk = b"x" * 65536
    while wire.write_nowait(chunk) and not wire.has_tail:
        pass


def test_a_direct_write_goes_out_at_once(pair: tuple[_Wire, socket.socket]) -> None:
    wire, theirs = pair
    assert wire.write_nowait(b"hello")
    assert not wire.has_tail
    theirs.settimeout(TIMEOUT)
    assert theirs.recv(16) == b"hello"


def test_a_direct_write_never_overtakes_a_tail(pair: tuple[_Wire, socket.socket]) -> None:
    wire, theirs = pair
    wire._tail = b"tail:"  # as a partial write leaves it
    assert not wire.write_nowait(b"next")
    wire.write(b"next")
    theirs.settimeout(TIMEOUT)
    assert theirs.recv(16) == b"tail:next"


def test_no_direct_write_while_another_thread_writes(pair: tuple[_Wire, socket.socket]) -> None:
    wire, theirs = pair
    with wire.ws.lock:
        assert not wire.write_nowait(b"hello")
    theirs.setblocking(False)
    with pytest.raises(BlockingIOError):
        theirs.recv(16)


def test_no_direct_write_on_tls() -> None:
    ours, theirs = socket.socketpair()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    wrapped = context.wrap_socket(ours, server_hostname="localhost", do_handshake_on_connect=False)
    wire = _Wire(resolve_options(TransportOptions(), "ws://127.0.0.1:1/socket/websocket"))
    wire.ws.sock = wrapped
    try:
        assert not wire.write_nowait(b"hello")
    finally:
        wrapped.close()
        theirs.close()


def test_a_closing_wire_drops_the_frame(pair: tuple[_Wire, socket.socket]) -> None:
    wire, theirs = pair
    wire.closing.set()
    assert wire.write_nowait(b"hello")
    theirs.setblocking(False)
    with pytest.raises(BlockingIOError):
        theirs.recv(16)


def test_a_broken_connection_is_aborted_for_the_reader(pair: tuple[_Wire, socket.socket]) -> None:
    wire, theirs = pair
    theirs.close()
    results = [wire.write_nowait(b"x" * 65536) for _ in range(4)]
    assert all(results)
    sock = wire.ws.sock
    assert sock is not None
    sock.settimeout(TIMEOUT)
    assert sock.recv(16) == b""  # shut down: a reader blocked in recv wakes up


def test_a_full_buffer_writes_nothing_then_the_tail_goes_first(
    pair: tuple[_Wire, socket.socket],
) -> None:
    wire, theirs = pair
    _fill(wire)
    assert not wire.write_nowait(b"later")  # blocked, or behind a tail: not written
    received = bytearray()

    def drain() -> None:
        theirs.settimeout(TIMEOUT)
        while not received.endswith(b"later"):
            chunk = theirs.recv(1 << 20)
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    wire.write(b"later")  # blocks until the peer has read enough
    reader.join(TIMEOUT)
    assert not reader.is_alive()
    assert received.endswith(b"later")
    assert set(received[:-5]) == {ord("x")}  # the tail, whole, before it
    assert len(received) % 65536 == 5
    assert not wire.has_tail


# -- through the transport actor, to a server that is slow to read ------------------


class Listener:
    """A transport's listener that records what it is told."""

    def __init__(self) -> None:
        self.connected_event = threading.Event()
        self.received: queue.Queue[Frame] = queue.Queue()
        self.ended: queue.Queue[DisconnectReason] = queue.Queue()

    def connected(self) -> None:
        self.connected_event.set()

    def frame(self, frame: Frame) -> None:
        self.received.put(frame)

    def frames(self, frames: list[Frame]) -> None:
        for frame in frames:
            self.received.put(frame)

    def disconnected(self, reason: DisconnectReason) -> None:
        self.ended.put(reason)


@pytest.fixture
def gated() -> Iterator[tuple[RawServer, threading.Event]]:
    gate = threading.Event()
    server = RawServer(pong=False, gate=gate)
    yield server, gate
    gate.set()
    server.close()


def _connect(server: RawServer) -> tuple[Transport, Listener]:
    listener = Listener()
    transport = websocket_transport(server.url, TransportOptions(), listener)
    assert listener.connected_event.wait(TIMEOUT)
    return transport, listener


def _spy(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count direct writes that went whole, left a tail, or wrote nothing."""
    seen = {"whole": 0, "tail": 0, "none": 0}
    original = _Wire.write_nowait

    def write_nowait(self: _Wire, data: bytes, counted: bool = True) -> bool:
        taken = original(self, data, counted)
        seen["none" if not taken else "tail" if self.has_tail else "whole"] += 1
        return taken

    monkeypatch.setattr(_Wire, "write_nowait", write_nowait)
    return seen


def _sends(transport: Transport, frames: list[Frame]) -> None:
    """Send ``frames`` from another thread; fail if that thread blocks."""
    sender = threading.Thread(target=lambda: [transport.send(f) for f in frames])
    sender.start()
    sender.join(TIMEOUT)
    assert not sender.is_alive(), "send() blocked on a peer that is not reading"


def test_frames_keep_their_order_and_the_sender_never_blocks(
    gated: tuple[RawServer, threading.Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, gate = gated
    seen = _spy(monkeypatch)
    transport, _listener = _connect(server)
    frames: list[Frame] = []
    for i in range(40):
        frames.append(Frame.binary(bytes([i]) * 300_000))
        frames.append(Frame.text(f'["1","{i}","t","e",{{}}]'))
    try:
        _sends(transport, frames)
        # Some went whole, one at least was cut, and the rest waited their turn.
        assert seen["whole"] > 0
        assert seen["tail"] > 0
        assert sum(seen.values()) < len(frames)
        gate.set()
        got: list[tuple[int, bytes]] = [server.frames.get(timeout=TIMEOUT) for _ in frames]
    finally:
        transport.close()
    want = [(TEXT if f.opcode is Opcode.TEXT else BINARY, f.data) for f in frames]
    assert [(op, len(data)) for op, data in got] == [(op, len(data)) for op, data in want]
    assert got == want


def _own_threads() -> list[threading.Thread]:
    """The threads but the process-wide services (pool, connectors), which outlive it."""
    return [t for t in threading.enumerate() if not is_service(t)]


def test_close_with_a_tail_left_returns_and_leaves_no_thread(
    gated: tuple[RawServer, threading.Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _gate = gated
    seen = _spy(monkeypatch)
    before = _own_threads()
    transport, _listener = _connect(server)
    _sends(transport, [Frame.binary(b"z" * 1_000_000) for _ in range(12)])
    assert seen["tail"] > 0
    closer = threading.Thread(target=transport.close)
    closer.start()
    closer.join(TIMEOUT)
    assert not closer.is_alive()
    assert len(_own_threads()) <= len(before)


def test_a_frame_sent_after_close_is_dropped(gated: tuple[RawServer, threading.Event]) -> None:
    server, gate = gated
    gate.set()
    transport, _listener = _connect(server)
    transport.close()
    transport.send(Frame.text("[]"))  # neither raises nor writes
    assert server.frames.get(timeout=TIMEOUT) == (0x8, (1000).to_bytes(2, "big"))
