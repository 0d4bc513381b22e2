"""Unit tests for V1JSONSerializer (protocol 1.0.0: JSON objects, no binary frames).

Expected bytes come from the ``v1_format`` scenario of the Phoenix 1.7.24 wire transcript
(shared/spec/phoenix-1.7.24-transcript.md) and protocol.md 4.7. The last section runs
the pure Session over v1 frames, to show it needs no change for protocol 1.0.0.
"""

from __future__ import annotations

import pytest

from phoenix_actor._protocol.message import Frame, Message, Opcode
from phoenix_actor._protocol.session import (
    ChannelClosed,
    HeartbeatAcked,
    Joined,
    JoinRefused,
    MessageDropped,
    MessageReceived,
    ReplyReceived,
    Session,
)
from phoenix_actor.exceptions import DecodeError, EncodeError, ProtocolError, PushError
from phoenix_actor.serializer import JSONSerializer, Serializer, V1JSONSerializer

STRING = V1JSONSerializer()
INTEGER = V1JSONSerializer(ref_format="integer")


# -- construction ----------------------------------------------------------------------


def test_vsn_is_protocol_1() -> None:
    assert V1JSONSerializer.vsn == "1.0.0"
    assert STRING.vsn == INTEGER.vsn == "1.0.0"


def test_is_a_serializer_and_not_a_v2_one() -> None:
    assert isinstance(STRING, Serializer)
    assert isinstance(INTEGER, Serializer)
    assert JSONSerializer not in type(STRING).__mro__


@pytest.mark.parametrize("ref_format", ["int", "String", "", None, 1])
def test_ref_format_is_validated(ref_format: object) -> None:
    with pytest.raises(ValueError, match="ref_format must be 'string' or 'integer'") as info:
        V1JSONSerializer(ref_format=ref_format)  # type: ignore[arg-type]
    assert repr(ref_format) in str(info.value)


def test_repr() -> None:
    assert repr(V1JSONSerializer()) == "V1JSONSerializer(ref_format='string')"
    assert repr(V1JSONSerializer("integer")) == "V1JSONSerializer(ref_format='integer')"


def test_slots() -> None:
    with pytest.raises(AttributeError):
        STRING.extra = 1  # type: ignore[attr-defined]


# -- encode ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("serializer", "message", "expected"),
    [
        (  # transcript v1_format, client A's join
            STRING,
            Message(1, 1, "echo:v1", "phx_join", {"v": 1}),
            b'{"topic":"echo:v1","event":"phx_join","payload":{"v":1},"ref":"1","join_ref":"1"}',
        ),
        (
            STRING,
            Message(1, 2, "echo:v1", "echo", {"x": 1}),
            b'{"topic":"echo:v1","event":"echo","payload":{"x":1},"ref":"2","join_ref":"1"}',
        ),
        (
            STRING,
            Message(1, 3, "echo:v1", "push", {"p": 1}),
            b'{"topic":"echo:v1","event":"push","payload":{"p":1},"ref":"3","join_ref":"1"}',
        ),
        (  # transcript heartbeat: no join_ref key at all
            STRING,
            Message(None, 5, "phoenix", "heartbeat", {}),
            b'{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"5"}',
        ),
        (
            STRING,
            Message(None, None, "t", "e", None),
            b'{"topic":"t","event":"e","payload":null,"ref":null}',
        ),
        (
            INTEGER,
            Message(1, 1, "echo:v1", "phx_join", {"v": 1}),
            b'{"topic":"echo:v1","event":"phx_join","payload":{"v":1},"ref":1,"join_ref":1}',
        ),
        (
            INTEGER,
            Message(None, 5, "phoenix", "heartbeat", {}),
            b'{"topic":"phoenix","event":"heartbeat","payload":{},"ref":5}',
        ),
        (  # refs that are strings already stay as given, in both formats
            INTEGER,
            Message("a", "b", "t", "e", {}),
            b'{"topic":"t","event":"e","payload":{},"ref":"b","join_ref":"a"}',
        ),
        (  # compact, raw UTF-8, payload keys in the caller's order
            STRING,
            Message(3, 4, "r\u00e9", "\u2603", {"z": [1, "\u00e9"], "a": {}}),
            '{"topic":"r\u00e9","event":"\u2603","payload":{"z":[1,"\u00e9"],"a":{}},'
            '"ref":"4","join_ref":"3"}'.encode(),
        ),
    ],
)
def test_encode(serializer: V1JSONSerializer, message: Message, expected: bytes) -> None:
    frame = serializer.encode(message)
    assert frame == Frame(Opcode.TEXT, expected)
    assert type(frame.data) is bytes


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
@pytest.mark.parametrize("serializer", [STRING, INTEGER], ids=repr)
def test_encode_bytes_payload_is_refused(serializer: V1JSONSerializer, wrap: type) -> None:
    with pytest.raises(EncodeError) as info:
        serializer.encode(Message(1, 2, "echo:a", "bin_echo", wrap(b"\x00\x01")))
    assert str(info.value) == (
        "protocol 1.0.0 has no binary frames, so a bytes payload cannot be sent; "
        "use JSONSerializer (protocol 2.0.0) for binary payloads"
    )
    assert isinstance(info.value, PushError)
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize(
    "payload",
    [
        {"s": "\udca6"},
        {"s": set()},
        float("nan"),
        {"x": float("inf")},
        {"b": b"bytes inside JSON"},
        {(1, 2): "tuple key"},
        object(),
    ],
    ids=repr,
)
def test_encode_unencodable_payload(payload: object) -> None:
    with pytest.raises(EncodeError, match="cannot encode message as JSON") as info:
        STRING.encode(Message(1, 2, "t", "e", payload))
    assert isinstance(info.value.__cause__, (TypeError, ValueError))


def test_encode_lone_surrogate_in_topic_is_an_encode_error() -> None:
    with pytest.raises(EncodeError, match="cannot encode message as JSON"):
        STRING.encode(Message(1, 2, "t\udca6", "e", {}))


# -- decode ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (  # transcript: join reply
            b'{"event":"phx_reply","payload":{"response":{"joined":"echo:v1","payload":{"v":1}},'
            b'"status":"ok"},"ref":"1","topic":"echo:v1"}',
            Message(
                None,
                1,
                "echo:v1",
                "phx_reply",
                {"response": {"joined": "echo:v1", "payload": {"v": 1}}, "status": "ok"},
            ),
        ),
        (  # transcript: server push, ref null
            b'{"event":"pushed","payload":{"p":1},"ref":null,"topic":"echo:v1"}',
            Message(None, None, "echo:v1", "pushed", {"p": 1}),
        ),
        (  # transcript: broadcast
            b'{"event":"broadcasted","payload":{"b":1},"ref":null,"topic":"echo:v1"}',
            Message(None, None, "echo:v1", "broadcasted", {"b": 1}),
        ),
        (  # transcript: heartbeat reply
            b'{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"5",'
            b'"topic":"phoenix"}',
            Message(None, 5, "phoenix", "phx_reply", {"response": {}, "status": "ok"}),
        ),
        (  # transcript: unmatched topic
            b'{"event":"phx_reply","payload":{"response":{"reason":"unmatched topic"},'
            b'"status":"error"},"ref":"6","topic":"nope:x"}',
            Message(
                None,
                6,
                "nope:x",
                "phx_reply",
                {"response": {"reason": "unmatched topic"}, "status": "error"},
            ),
        ),
        (  # transcript: phx_error carries ref = the join ref, which becomes the join_ref
            b'{"event":"phx_error","payload":{},"ref":"1","topic":"echo:v1"}',
            Message(1, 1, "echo:v1", "phx_error", {}),
        ),
        (
            b'{"event":"phx_close","payload":{},"ref":"3","topic":"echo:v1"}',
            Message(3, 3, "echo:v1", "phx_close", {}),
        ),
        (  # a join_ref a server does send is read as it is
            b'{"event":"phx_close","payload":{},"ref":"3","topic":"t","join_ref":"2"}',
            Message(2, 3, "t", "phx_close", {}),
        ),
        (
            b'{"event":"e","payload":[],"ref":7,"topic":"t","join_ref":"x"}',
            Message("x", 7, "t", "e", []),
        ),
        (  # extra keys are ignored; any JSON payload passes through
            b'{"event":"e","payload":"just a string","ref":null,"topic":"t","more":1}',
            Message(None, None, "t", "e", "just a string"),
        ),
        (
            '{"event":"\u00e9","payload":{"k":"\u2603"},"ref":"a","topic":"r\u00e9"}'.encode(),
            Message(None, "a", "r\u00e9", "\u00e9", {"k": "\u2603"}),
        ),
    ],
)
@pytest.mark.parametrize("serializer", [STRING, INTEGER], ids=repr)
def test_decode(serializer: V1JSONSerializer, data: bytes, expected: Message) -> None:
    message = serializer.decode(Frame.text(data))
    assert message == expected
    assert type(message.ref) is type(expected.ref)
    assert type(message.join_ref) is type(expected.join_ref)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"not json", "text frame is not valid JSON"),
        (b"", "text frame is not valid JSON"),
        (b'{"event":"e"', "text frame is not valid JSON"),
        (b'{"event":"\xff"}', "text frame is not valid JSON"),
        (b'[null,null,"t","e",{}]', r"expected a JSON object \{topic, event, payload, ref\}"),
        (b'"text"', "expected a JSON object"),
        (b"null", "expected a JSON object"),
        (b'{"event":"e","payload":{},"ref":null}', "message lacks topic: "),
        (b'{"topic":"t","payload":{},"ref":null}', "message lacks event: "),
        (b'{"topic":"t","event":"e","ref":null}', "message lacks payload: "),
        (b'{"topic":"t","event":"e","payload":{}}', "message lacks ref: "),
        (b"{}", "message lacks topic, event, payload, ref: "),
        (b'{"topic":1,"event":"e","payload":{},"ref":null}', "topic and event must be strings"),
        (b'{"topic":"t","event":null,"payload":{},"ref":null}', "topic and event must be strings"),
        (b'{"topic":"t","event":"e","payload":{},"ref":1.5}', "a ref must be a string"),
        (
            b'{"topic":"t","event":"e","payload":{},"ref":null,"join_ref":[]}',
            "a ref must be a string",
        ),
    ],
)
def test_decode_malformed(data: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match) as info:
        STRING.decode(Frame.text(data))
    assert isinstance(info.value, ProtocolError)


def test_decode_error_message_is_bounded() -> None:
    with pytest.raises(DecodeError) as info:
        STRING.decode(Frame.text("[" + "1," * 10_000 + "1]"))
    assert len(str(info.value)) < 300


@pytest.mark.parametrize(
    "data", [b"", b"\x00\x01\x01\x06\x02", b'{"topic":"t","event":"e","payload":{},"ref":null}']
)
def test_decode_binary_frames_are_refused(data: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        STRING.decode(Frame.binary(data))
    assert str(info.value) == f"protocol 1.0.0 has no binary frames, got {len(data)} bytes"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_decode_is_utf8_only(encoding: str) -> None:
    data = '{"topic":"t","event":"e","payload":{},"ref":null}'.encode(encoding)
    with pytest.raises(DecodeError, match="not valid JSON"):
        STRING.decode(Frame.text(data))


@pytest.mark.parametrize("serializer", [STRING, INTEGER], ids=repr)
@pytest.mark.parametrize(
    "message",
    [
        Message(1, 1, "echo:v1", "phx_join", {"v": 1}),
        Message(None, 9, "phoenix", "heartbeat", {}),
        Message(4, 4, "t", "phx_close", {}),
        Message(None, None, "t", "e", {"nested": [1, None, "x"]}),
    ],
)
def test_round_trip(serializer: V1JSONSerializer, message: Message) -> None:
    assert serializer.decode(serializer.encode(message)) == message


# -- the Session over protocol 1.0.0 ---------------------------------------------------


def v1(data: str) -> Frame:
    return Frame.text(data)


def test_session_speaks_v1_as_in_the_transcript() -> None:
    session = Session(V1JSONSerializer())
    session.connected()
    join = session.join("echo:v1", {"v": 1})
    assert join.frame.data == (
        b'{"topic":"echo:v1","event":"phx_join","payload":{"v":1},"ref":"1","join_ref":"1"}'
    )
    event = session.receive(
        v1(
            '{"event":"phx_reply","payload":{"response":{"joined":"echo:v1","payload":{"v":1}},'
            '"status":"ok"},"ref":"1","topic":"echo:v1"}'
        )
    )
    assert event == Joined("echo:v1", {"joined": "echo:v1", "payload": {"v": 1}}, 1, {"v": 1})
    push = session.push("echo:v1", "echo", {"x": 1})
    assert push.frame.data == (
        b'{"topic":"echo:v1","event":"echo","payload":{"x":1},"ref":"2","join_ref":"1"}'
    )
    reply = {"response": {"x": 1}, "status": "ok"}
    event = session.receive(
        v1(
            '{"event":"phx_reply","payload":{"response":{"x":1},"status":"ok"},"ref":"2",'
            '"topic":"echo:v1"}'
        )
    )
    assert event == ReplyReceived("echo:v1", 2, "ok", {"x": 1}, reply)
    event = session.receive(v1('{"event":"pushed","payload":{"p":1},"ref":null,"topic":"echo:v1"}'))
    assert event == MessageReceived("echo:v1", "pushed", {"p": 1}, None)
    beat = session.heartbeat()
    assert beat.frame.data == b'{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"3"}'
    event = session.receive(
        v1(
            '{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"3",'
            '"topic":"phoenix"}'
        )
    )
    assert event == HeartbeatAcked(3)
    event = session.receive(v1('{"event":"phx_error","payload":{},"ref":"1","topic":"echo:v1"}'))
    assert event == ChannelClosed("echo:v1", {}, "phx_error", 1)
    assert session.state("echo:v1") is None


def test_session_v1_refused_join_and_unmatched_topic() -> None:
    session = Session(V1JSONSerializer())
    session.connected()
    session.join("nope:x")
    event = session.receive(
        v1(
            '{"event":"phx_reply","payload":{"response":{"reason":"unmatched topic"},'
            '"status":"error"},"ref":"1","topic":"nope:x"}'
        )
    )
    assert event == JoinRefused("nope:x", {"reason": "unmatched topic"}, "error", 1)


def test_session_v1_leave_then_close_and_a_stale_close_is_dropped() -> None:
    session = Session(V1JSONSerializer())
    session.connected()
    session.join("t")
    session.receive(v1('{"event":"phx_reply","payload":{"status":"ok"},"ref":"1","topic":"t"}'))
    # A phx_close of an earlier session of "t": its ref is not the current join ref.
    stale = session.receive(v1('{"event":"phx_close","payload":{},"ref":"7","topic":"t"}'))
    assert isinstance(stale, MessageDropped)
    assert session.joined("t")
    leave = session.leave("t")
    assert (
        leave.frame.data
        == b'{"topic":"t","event":"phx_leave","payload":{},"ref":"2","join_ref":"1"}'
    )
    event = session.receive(
        v1('{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"2","topic":"t"}')
    )
    assert event == ReplyReceived("t", 2, "ok", {}, {"response": {}, "status": "ok"})
    event = session.receive(v1('{"event":"phx_close","payload":{},"ref":"1","topic":"t"}'))
    assert event == ChannelClosed("t", {}, "phx_close", 1)
    assert session.state("t") is None
