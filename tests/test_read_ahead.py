"""The upgrade response is read ahead, and what came after it is not lost.

websocket-client reads the HTTP upgrade response one byte per ``recv``; the transport
hands it a socket that reads 4 KiB at a time instead, then gives what it read past the
response to the frame parser. A server may send its first frames in the same TCP
segment as the response: they must arrive, whole and in order.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from phoenix_actor._protocol.message import Frame
from phoenix_actor._transport.options import TransportOptions
from phoenix_actor._transport.websocket import websocket_transport
from tests.conftest import TIMEOUT
from tests.test_keepalive import RawServer
from tests.test_wire_writes import Listener


def _text(payload: object) -> bytes:
    """An unmasked server text frame (RFC 6455) of ``payload`` as JSON."""
    data = json.dumps(payload).encode()
    assert len(data) < 126
    return bytes([0x81, len(data)]) + data


GREETING = [[None, None, "room:lobby", "hello", {"n": n}] for n in range(3)]


@pytest.fixture
def eager() -> Iterator[RawServer]:
    server = RawServer(pong=False, greeting=b"".join(_text(m) for m in GREETING))
    yield server
    server.close()


def test_frames_sent_with_the_upgrade_response_arrive_in_order(eager: RawServer) -> None:
    listener = Listener()
    transport = websocket_transport(eager.url, TransportOptions(), listener)
    try:
        assert listener.connected_event.wait(TIMEOUT)
        got = [listener.received.get(timeout=TIMEOUT) for _ in GREETING]
        transport.send(Frame.text("[]"))  # the connection still works both ways
        assert eager.frames.get(timeout=TIMEOUT) == (0x1, b"[]")
    finally:
        transport.close()
    assert [json.loads(frame.data) for frame in got] == GREETING


def test_a_frame_cut_by_the_end_of_the_upgrade_read_is_not_lost() -> None:
    """The read that took the 101 response ends in the middle of a frame: the reader
    that goes on (the process's one reader) gets the rest of it."""
    first, cut, last = (_text([None, None, "t", "e", {"n": n}]) for n in range(3))
    server = RawServer(pong=False, greeting=first + cut[:7], answers={b"more": cut[7:] + last})
    listener = Listener()
    transport = websocket_transport(server.url, TransportOptions(), listener)
    try:
        assert listener.connected_event.wait(TIMEOUT)
        got = [listener.received.get(timeout=TIMEOUT)]
        transport.send(Frame.text("more"))
        got += [listener.received.get(timeout=TIMEOUT) for _ in range(2)]
    finally:
        transport.close()
        server.close()
    assert [json.loads(frame.data)[4] for frame in got] == [{"n": 0}, {"n": 1}, {"n": 2}]
