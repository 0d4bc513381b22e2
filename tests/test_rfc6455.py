"""What RFC 6455 asks of a client, through the transport, in both reader modes.

A hand-written server (``RawServer``) sends what Autobahn|Testsuite sends in the cases
that used to fail (see docs/autobahn.rst): text that is not UTF-8 (1007), invalid close
frames (1002), a message over ``max_message_size`` (1009). Each time the client must
close with that code, report a typed reason, and deliver the messages that came before
the error first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import phoenix_actor as pa
from phoenix_actor._protocol.message import Frame
from phoenix_actor._transport.base import Transport
from phoenix_actor._transport.websocket import websocket_transport
from tests.conftest import TIMEOUT
from tests.test_frames import frame as server_frame
from tests.test_keepalive import CLOSE, RawServer
from tests.test_read_ahead import _text
from tests.test_wire_writes import Listener


class Run:
    """A transport to a ``RawServer`` that sends ``sent`` when the client says "go"."""

    def __init__(self, sent: bytes, options: pa.TransportOptions) -> None:
        self.server = RawServer(pong=False, answers={b"go": sent})
        self.listener = Listener()
        self.transport: Transport = websocket_transport(self.server.url, options, self.listener)
        assert self.listener.connected_event.wait(TIMEOUT)
        self.transport.send(Frame.text("go"))
        assert self.server.frames.get(timeout=TIMEOUT) == (0x1, b"go")

    def ended(self) -> pa.DisconnectReason:
        return self.listener.ended.get(timeout=TIMEOUT)

    def close_sent(self) -> bytes:
        """The payload of the close frame the client sent."""
        opcode, payload = self.server.frames.get(timeout=TIMEOUT)
        assert opcode == CLOSE
        return payload

    def received(self) -> list[object]:
        frames = []
        while not self.listener.received.empty():
            frames.append(json.loads(self.listener.received.get_nowait().as_str()))
        return frames

    def close(self) -> None:
        self.transport.close()
        self.server.close()


@pytest.fixture
def run() -> Iterator[list[Run]]:
    runs: list[Run] = []
    yield runs
    for one in runs:
        one.close()


def start(runs: list[Run], sent: bytes, **options: object) -> Run:
    one = Run(sent, pa.TransportOptions(**options))  # type: ignore[arg-type]
    runs.append(one)
    return one


BEFORE = [[None, None, "t", "before", {"n": n}] for n in range(2)]


def test_text_that_is_not_utf8_is_closed_with_1007(run: list[Run]) -> None:
    bad = server_frame(0x1, "κόσμε".encode() + b"\xed\xa0\x80" + b"edited")  # a surrogate
    one = start(run, b"".join(_text(m) for m in BEFORE) + bad)
    reason = one.ended()
    assert isinstance(reason, pa.ProtocolViolation)
    assert reason.code == 1007
    assert "not UTF-8" in reason.describe()
    assert one.close_sent() == (1007).to_bytes(2, "big")
    assert one.received() == BEFORE  # delivered before the connection failed


@pytest.mark.parametrize(
    "payload",
    [
        b"\x03",  # 7.3.2: a 1-byte payload
        (1000).to_bytes(2, "big") + b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80",
        *[code.to_bytes(2, "big") for code in (0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999)],
    ],
    ids=lambda payload: payload.hex(),
)
def test_an_invalid_close_frame_is_closed_with_1002(run: list[Run], payload: bytes) -> None:
    one = start(run, b"".join(_text(m) for m in BEFORE) + server_frame(CLOSE, payload))
    reason = one.ended()
    assert isinstance(reason, pa.ProtocolViolation)
    assert reason.code == 1002
    assert "close frame" in reason.error
    assert one.close_sent() == (1002).to_bytes(2, "big")
    assert one.received() == BEFORE


def test_a_valid_close_frame_is_still_answered_with_1000(run: list[Run]) -> None:
    one = start(run, server_frame(CLOSE, (1012).to_bytes(2, "big") + b"draining"))
    assert one.ended() == pa.RemoteClosed(1012, "draining")
    assert one.close_sent() == (1000).to_bytes(2, "big")


def test_a_message_over_max_message_size_is_closed_with_1009(run: list[Run]) -> None:
    big = server_frame(0x2, b"x" * 600, fin=False) + server_frame(0x0, b"y" * 600)
    one = start(run, b"".join(_text(m) for m in BEFORE) + big, max_message_size=1000)
    reason = one.ended()
    assert reason == pa.MessageTooBig(1200, 1000)
    assert "max_message_size" in reason.describe()
    assert one.close_sent() == (1009).to_bytes(2, "big")
    assert one.received() == BEFORE


def test_a_huge_frame_is_refused_on_its_header(run: list[Run]) -> None:
    """A 1 GiB frame is announced; only its header is sent, and that is enough."""
    header = bytes([0x82, 127]) + (1 << 30).to_bytes(8, "big")
    one = start(run, header)
    assert one.ended() == pa.MessageTooBig(1 << 30, 16 * 1024 * 1024)
    assert one.close_sent() == (1009).to_bytes(2, "big")


def test_a_protocol_error_is_retried_by_the_reconnect_policy() -> None:
    assert pa.reconnect_refusal(pa.ProtocolViolation(1002, "x")) is None
    assert pa.reconnect_refusal(pa.MessageTooBig(2, 1)) is None


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "1"])
def test_max_message_size_is_validated(size: object) -> None:
    with pytest.raises(pa.ConfigError, match="max_message_size"):
        pa.TransportOptions(max_message_size=size)  # type: ignore[arg-type]


def test_max_message_size_defaults_to_16_mib_and_none_turns_it_off() -> None:
    assert pa.TransportOptions().max_message_size == 16 * 1024 * 1024
    assert pa.TransportOptions(max_message_size=None).max_message_size is None
    assert "max_message_size=None" in repr(pa.TransportOptions(max_message_size=None))


def test_a_text_frame_arrives_decoded_once() -> None:
    """The transport hands the text it decoded up: the serializer does not decode again."""
    frame = Frame(pa.Opcode.TEXT, b'[null,null,"t","e",{}]', '[null,null,"t","e",{"x":1}]')
    assert frame.as_str() == '[null,null,"t","e",{"x":1}]'  # the carried str, not data
    assert pa.JSONSerializer().decode(frame).payload == {"x": 1}
    assert Frame.text("ç").as_str() == "ç"  # a frame without it decodes its data
    assert frame == Frame(pa.Opcode.TEXT, b'[null,null,"t","e",{}]')  # not compared
