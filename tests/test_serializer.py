"""Unit tests for phoenix_actor.serializer and phoenix_actor._protocol.message (pure).

Expected bytes come from protocol.md sections 3 and 4.2-4.4 and from the Phoenix 1.7.24
wire transcript (shared/spec/phoenix-1.7.24-transcript.md).
"""

from __future__ import annotations

import dataclasses

import pytest

from phoenix_actor._protocol.message import Frame, Message, Opcode
from phoenix_actor.exceptions import DecodeError, EncodeError, ProtocolError, PushError
from phoenix_actor.serializer import JSONSerializer, Serializer, normalize_ref

STRING = JSONSerializer()
INTEGER = JSONSerializer(ref_format="integer")


def hexbin(text: str) -> Frame:
    """A binary frame from the transcript's hex dump."""
    return Frame.binary(bytes.fromhex(text))


# -- _message: Frame, Message, Opcode --------------------------------------------------


def test_opcode_values() -> None:
    assert [op.value for op in Opcode] == ["text", "binary"]


def test_frame_text_encodes_str_as_utf8() -> None:
    frame = Frame.text('["h\u00e9llo \u2603"]')
    assert frame == Frame(Opcode.TEXT, b'["h\xc3\xa9llo \xe2\x98\x83"]')


def test_frame_text_keeps_bytes_as_they_are() -> None:
    data = b'[null,null,"t","e",{}]'
    frame = Frame.text(data)
    assert frame.opcode is Opcode.TEXT
    assert frame.data is data


def test_frame_binary() -> None:
    frame = Frame.binary(b"\x00\x01")
    assert frame == Frame(Opcode.BINARY, b"\x00\x01")
    assert frame != Frame(Opcode.TEXT, b"\x00\x01")


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (Frame.text("[]"), "Frame(text, b'[]')"),
        (Frame.binary(b"\x01\xff"), "Frame(binary, b'\\x01\\xff')"),
        (Frame.binary(b"x" * 200), f"Frame(binary, {b'x' * 200!r})"),
        (Frame.text("y" * 201), f"Frame(text, {b'y' * 200 + b'...'!r})"),
        (Frame.binary(b"z" * 10_000), f"Frame(binary, {b'z' * 200 + b'...'!r})"),
    ],
)
def test_frame_repr_truncates_long_data(frame: Frame, expected: str) -> None:
    assert repr(frame) == expected


def test_frame_and_message_are_frozen() -> None:
    frame = Frame.text("[]")
    message = Message(1, 2, "t", "e", {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.data = b"x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.ref = 3  # type: ignore[misc]


def test_message_fields_and_equality() -> None:
    message = Message(1, None, "room:lobby", "new_msg", {"body": "hi"})
    assert (message.join_ref, message.ref, message.topic, message.event, message.payload) == (
        1,
        None,
        "room:lobby",
        "new_msg",
        {"body": "hi"},
    )
    assert message == Message(1, None, "room:lobby", "new_msg", {"body": "hi"})
    assert message != Message("1", None, "room:lobby", "new_msg", {"body": "hi"})


# -- normalize_ref ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),  # binary frames' null
        (0, 0),
        (7, 7),
        (-3, -3),
        (10**30, 10**30),
        ("1", 1),
        ("10", 10),
        ("007", 7),
        ("abc", "abc"),
        ("GOtdJZmBrHShxgay", "GOtdJZmBrHShxgay"),
        ("-1", "-1"),
        ("+1", "+1"),
        ("1.5", "1.5"),
        (" 1", " 1"),
        ("1 ", "1 "),
        ("\u0661\u0662", "\u0661\u0662"),  # Arabic-Indic digits: not ASCII, kept as str
        ("\u00b2", "\u00b2"),  # superscript two: isdigit() but not a decimal ref
    ],
)
def test_normalize_ref(value: object, expected: object) -> None:
    result = normalize_ref(value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize("value", [True, False, 1.5, 1.0, [], [1], {}, b"1", object()])
def test_normalize_ref_rejects_other_types(value: object) -> None:
    with pytest.raises(DecodeError, match="a ref must be a string, an integer or null"):
        normalize_ref(value)


def test_normalized_refs_compare_numerically() -> None:
    ten, nine = normalize_ref("10"), normalize_ref("9")
    assert isinstance(ten, int)
    assert isinstance(nine, int)
    assert ten > nine  # "10" < "9" as strings
    assert normalize_ref("10") == normalize_ref(10) == 10


# -- JSONSerializer: construction ------------------------------------------------------


def test_vsn_is_protocol_2() -> None:
    assert JSONSerializer.vsn == "2.0.0"
    assert STRING.vsn == INTEGER.vsn == "2.0.0"


def test_is_a_serializer() -> None:
    assert isinstance(STRING, Serializer)
    assert isinstance(INTEGER, Serializer)
    assert not isinstance(object(), Serializer)


@pytest.mark.parametrize("ref_format", ["int", "integers", "String", "", None, 1])
def test_ref_format_is_validated(ref_format: object) -> None:
    with pytest.raises(ValueError, match="ref_format must be 'string' or 'integer'") as info:
        JSONSerializer(ref_format=ref_format)  # type: ignore[arg-type]
    assert repr(ref_format) in str(info.value)


def test_repr() -> None:
    assert repr(JSONSerializer()) == "JSONSerializer(ref_format='string')"
    assert repr(JSONSerializer("string")) == "JSONSerializer(ref_format='string')"
    assert repr(JSONSerializer(ref_format="integer")) == "JSONSerializer(ref_format='integer')"


# -- JSONSerializer.encode: text frames ------------------------------------------------


@pytest.mark.parametrize(
    ("serializer", "message", "expected"),
    [
        (
            STRING,
            Message(1, 1, "room:lobby", "phx_join", {}),
            b'["1","1","room:lobby","phx_join",{}]',
        ),
        (
            INTEGER,
            Message(1, 1, "room:lobby", "phx_join", {}),
            b'[1,1,"room:lobby","phx_join",{}]',
        ),
        (
            INTEGER,
            Message(1, 1, "room:lobby", "phx_join", {"token": "x"}),
            b'[1,1,"room:lobby","phx_join",{"token":"x"}]',
        ),
        (
            INTEGER,
            Message(1, 2, "room:lobby", "new_msg", {"body": "hi"}),
            b'[1,2,"room:lobby","new_msg",{"body":"hi"}]',
        ),
        (
            STRING,
            Message(None, 5, "phoenix", "heartbeat", {}),
            b'[null,"5","phoenix","heartbeat",{}]',
        ),
        (
            INTEGER,
            Message(None, 2, "phoenix", "heartbeat", {}),
            b'[null,2,"phoenix","heartbeat",{}]',
        ),
        (
            STRING,
            Message(None, None, "t", "e", {}),
            b'[null,null,"t","e",{}]',
        ),
        (
            STRING,
            Message(10, 12, "echo:dup", "echo", {"stale": True}),
            b'["10","12","echo:dup","echo",{"stale":true}]',
        ),
        (
            STRING,
            Message(1, 2, "echo:m", "echo", "just a string"),
            b'["1","2","echo:m","echo","just a string"]',
        ),
        (
            STRING,
            Message(1, 2, "echo:a", "echo", [1, None]),
            b'["1","2","echo:a","echo",[1,null]]',
        ),
    ],
)
def test_encode_text(serializer: JSONSerializer, message: Message, expected: bytes) -> None:
    assert serializer.encode(message) == Frame(Opcode.TEXT, expected)


def test_encode_text_is_compact_raw_utf8_in_key_order() -> None:
    # Transcript "echo_error_noreply": the exact frame phoenix.js-style refs produce.
    payload = {"x": 1, "nested": {"a": [1, 2.5, None, True]}, "s": "h\u00e9llo \u2603"}
    frame = STRING.encode(Message(1, 2, "echo:a", "echo", payload))
    expected = (
        '["1","2","echo:a","echo",{"x":1,"nested":{"a":[1,2.5,null,true]},"s":"h\u00e9llo \u2603"}]'
    )
    assert frame == Frame(Opcode.TEXT, expected.encode("utf-8"))


def test_encode_text_keeps_string_refs_as_given() -> None:
    frame = INTEGER.encode(Message("a", "b", "t", "e", {}))
    assert frame == Frame(Opcode.TEXT, b'["a","b","t","e",{}]')


def _circular() -> list[object]:
    loop: list[object] = []
    loop.append(loop)
    return loop


@pytest.mark.parametrize(
    "payload",
    [
        {"s": "\udca6"},  # lone surrogate: not encodable as UTF-8
        "\udca6",
        {"s": set()},
        set(),
        float("nan"),
        {"x": float("inf")},
        {"x": float("-inf")},
        {"b": b"bytes inside JSON"},
        {(1, 2): "tuple key"},
        object(),
        _circular(),
    ],
    ids=repr,
)
@pytest.mark.parametrize("serializer", [STRING, INTEGER], ids=repr)
def test_encode_unencodable_payload(serializer: JSONSerializer, payload: object) -> None:
    with pytest.raises(EncodeError, match="cannot encode payload as JSON") as info:
        serializer.encode(Message(1, 2, "t", "e", payload))
    assert isinstance(info.value, PushError)
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value.__cause__, (TypeError, ValueError))


def test_encode_lone_surrogate_in_topic_is_an_encode_error() -> None:
    with pytest.raises(EncodeError):
        STRING.encode(Message(1, 2, "t\udca6", "e", {}))


# -- JSONSerializer.encode: binary push frames -----------------------------------------

# Transcript "binary": client push kind 0, join_ref '1', ref '3', topic 'echo:a',
# event 'bin_echo', data de ad be ef 00 7b.
BIN_PUSH = "00 01 01 06 08 31 33 65 63 68 6f 3a 61 62 69 6e 5f 65 63 68 6f de ad be ef 00 7b"
BIN_PUSH_EMPTY = "00 01 01 06 08 31 34 65 63 68 6f 3a 61 62 69 6e 5f 65 63 68 6f"
BIN_PUSH_UNJOINED = "00 01 01 08 08 31 33 65 63 68 6f 3a 7a 7a 7a 62 69 6e 5f 65 63 68 6f 01 02"


@pytest.mark.parametrize("serializer", [STRING, INTEGER], ids=repr)
@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_encode_bytes_payload_as_binary_push(serializer: JSONSerializer, wrap: type) -> None:
    data = wrap(bytes.fromhex("deadbeef007b"))
    frame = serializer.encode(Message(1, 3, "echo:a", "bin_echo", data))
    assert frame == hexbin(BIN_PUSH)
    assert type(frame.data) is bytes


@pytest.mark.parametrize("serializer", [STRING, INTEGER], ids=repr)
def test_encode_binary_push_transcript_frames(serializer: JSONSerializer) -> None:
    empty = serializer.encode(Message(1, 4, "echo:a", "bin_echo", b""))
    assert empty == hexbin(BIN_PUSH_EMPTY)
    unjoined = serializer.encode(Message(1, 3, "echo:zzz", "bin_echo", b"\x01\x02"))
    assert unjoined == hexbin(BIN_PUSH_UNJOINED)


def test_encode_binary_push_null_refs_are_empty_fields() -> None:
    frame = STRING.encode(Message(None, None, "t", "ev", b"\xff"))
    assert frame == Frame(Opcode.BINARY, b"\x00\x00\x00\x01\x02tev\xff")


def test_encode_binary_push_field_sizes_are_utf8_byte_lengths() -> None:
    topic = "\u00e9" * 127  # 254 bytes
    frame = STRING.encode(Message(12, 345, topic, "e", b"!"))
    assert frame.data == b"\x00\x02\x03\xfe\x01" + b"12345" + topic.encode() + b"e!"


def test_encode_binary_push_accepts_255_byte_fields() -> None:
    name = "t" * 255
    frame = STRING.encode(Message(1, 2, name, name, b""))
    assert frame.data[:5] == b"\x00\x01\x01\xff\xff"
    assert len(frame.data) == 5 + 2 + 2 * 255


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (Message(1, 2, "t" * 256, "e", b""), "topic is 256 bytes"),
        (Message(1, 2, "t", "e" * 300, b""), "event is 300 bytes"),
        (Message(1, 2, "\u00e9" * 128, "e", b""), "topic is 256 bytes"),
        (Message("j" * 256, 2, "t", "e", b""), "join_ref is 256 bytes"),
        (Message(1, "r" * 256, "t", "e", b""), "ref is 256 bytes"),
        (Message(1, 10**256, "t", "e", b""), "ref is 257 bytes"),
    ],
)
def test_encode_binary_push_field_over_255_bytes(message: Message, field: str) -> None:
    with pytest.raises(EncodeError, match=f"binary frame {field} long; Phoenix allows at most 255"):
        STRING.encode(message)


@pytest.mark.parametrize(
    "message",
    [Message(1, 2, "t\udca6", "e", b""), Message(1, 2, "t", "\ud800", b"x")],
)
def test_encode_binary_push_header_not_utf8(message: Message) -> None:
    with pytest.raises(EncodeError, match="cannot encode binary frame header") as info:
        STRING.encode(message)
    assert isinstance(info.value.__cause__, UnicodeEncodeError)


# -- JSONSerializer.decode: text frames ------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            b'["1","1","echo:a","phx_reply",'
            b'{"response":{"joined":"echo:a","payload":{"hello":"world"}},"status":"ok"}]',
            Message(
                1,
                1,
                "echo:a",
                "phx_reply",
                {"response": {"joined": "echo:a", "payload": {"hello": "world"}}, "status": "ok"},
            ),
        ),
        (
            b'[1,2,"echo:int","phx_reply",{"response":{"a":1},"status":"ok"}]',
            Message(1, 2, "echo:int", "phx_reply", {"response": {"a": 1}, "status": "ok"}),
        ),
        (
            b'[null,"5","phoenix","phx_reply",{"response":{},"status":"ok"}]',
            Message(None, 5, "phoenix", "phx_reply", {"response": {}, "status": "ok"}),
        ),
        (
            b'["1",null,"echo:a","pushed",{"p":1}]',
            Message(1, None, "echo:a", "pushed", {"p": 1}),
        ),
        (
            b'[null,null,"echo:b","broadcasted",{"msg":"hi"}]',
            Message(None, None, "echo:b", "broadcasted", {"msg": "hi"}),
        ),
        (
            b'["1","1","echo:crash","phx_error",{}]',
            Message(1, 1, "echo:crash", "phx_error", {}),
        ),
        (
            b'["1","2","echo:m","phx_reply",{"response":"just a string","status":"ok"}]',
            Message(1, 2, "echo:m", "phx_reply", {"response": "just a string", "status": "ok"}),
        ),
        (  # a 6th element is ignored, as the server does
            b'[1,3,"echo:int","echo",{"b":2},"extra"]',
            Message(1, 3, "echo:int", "echo", {"b": 2}),
        ),
        (
            b'[1,3,"t","e",{},"extra",7]',
            Message(1, 3, "t", "e", {}),
        ),
        (  # refs of other clients are not decimal: kept as strings
            b'["abc","","t","e",null]',
            Message("abc", None, "t", "e", None),
        ),
        (
            '[null,null,"h\u00e9","\u2603",{"s":"\u00e9"}]'.encode(),
            Message(None, None, "h\u00e9", "\u2603", {"s": "\u00e9"}),
        ),
        (  # whitespace is fine
            b' [ "10" , "11" , "t" , "e" , { } ] ',
            Message(10, 11, "t", "e", {}),
        ),
    ],
)
@pytest.mark.parametrize("serializer", [STRING, INTEGER], ids=repr)
def test_decode_text(serializer: JSONSerializer, data: bytes, expected: Message) -> None:
    message = serializer.decode(Frame.text(data))
    assert message == expected
    assert type(message.ref) is type(expected.ref)
    assert type(message.join_ref) is type(expected.join_ref)


def test_decode_string_and_integer_refs_are_equal() -> None:
    as_strings = STRING.decode(Frame.text('["10","10","t","phx_close",{}]'))
    as_integers = STRING.decode(Frame.text('[10,10,"t","phx_close",{}]'))
    assert as_strings == as_integers == Message(10, 10, "t", "phx_close", {})


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"not json", "text frame is not valid JSON"),
        (b"", "text frame is not valid JSON"),
        (b'["1","1","t","e",{}', "text frame is not valid JSON"),
        (b'[null,null,"t\xff","e",{}]', "text frame is not valid JSON"),  # invalid UTF-8
        (b'[null,null,"t","e",{}]\xc3', "text frame is not valid JSON"),  # truncated UTF-8
        (b'{"topic":"echo:m","event":"echo","payload":{},"ref":"2"}', "expected a JSON array"),
        (b'["1","2","echo:m"]', "expected a JSON array"),
        (b'[null,null,"t","e"]', "expected a JSON array"),
        (b"[]", "expected a JSON array"),
        (b'"a string"', "expected a JSON array"),
        (b"5", "expected a JSON array"),
        (b"null", "expected a JSON array"),
        (b'[null,null,1,"e",{}]', "topic and event must be strings"),
        (b'[null,null,null,"e",{}]', "topic and event must be strings"),
        (b'[null,null,"t",null,{}]', "topic and event must be strings"),
        (b'[null,null,"t",["e"],{}]', "topic and event must be strings"),
        (b'[1.5,null,"t","e",{}]', "a ref must be"),
        (b'[null,1.5,"t","e",{}]', "a ref must be"),
        (b'[null,true,"t","e",{}]', "a ref must be"),
        (b'[false,null,"t","e",{}]', "a ref must be"),
        (b'[null,[],"t","e",{}]', "a ref must be"),
        (b'[{},null,"t","e",{}]', "a ref must be"),
        (b'[null,1e2,"t","e",{}]', "a ref must be"),
    ],
)
def test_decode_text_malformed(data: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match) as info:
        STRING.decode(Frame.text(data))
    assert isinstance(info.value, ProtocolError)


def test_decode_text_error_message_is_bounded() -> None:
    with pytest.raises(DecodeError) as info:
        STRING.decode(Frame.text('{"k":"' + "v" * 1000 + '"}'))
    assert len(str(info.value)) < 300


def test_decode_phoenix_binary_bytes_in_a_text_frame_is_an_error() -> None:
    with pytest.raises(DecodeError):
        STRING.decode(Frame(Opcode.TEXT, bytes.fromhex("02 01 01 74 65")))


def test_decode_huge_decimal_ref_is_not_a_bare_value_error() -> None:
    digits = "1" * 5000
    frame = Frame.text('[null,"' + digits + '","t","e",{}]')
    try:
        message = STRING.decode(frame)
    except DecodeError:
        return  # rejecting it is fine
    assert message.ref == digits  # so is keeping it as an opaque string


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-16", "utf-32"])
def test_decode_text_frame_is_utf8_only(encoding: str) -> None:
    data = '[null,null,"t","e",{}]'.encode(encoding)
    with pytest.raises(DecodeError):
        STRING.decode(Frame(Opcode.TEXT, data))


# -- JSONSerializer.decode: binary frames ----------------------------------------------


@pytest.mark.parametrize(
    ("hexdata", "expected"),
    [
        (  # transcript "binary": reply kind 1 to a text push
            "01 01 01 06 02 31 32 65 63 68 6f 3a 61 6f 6b 00 01 02 fe ff",
            Message(
                1, 2, "echo:a", "phx_reply", {"status": "ok", "response": b"\x00\x01\x02\xfe\xff"}
            ),
        ),
        (
            "01 01 01 06 02 31 33 65 63 68 6f 3a 61 6f 6b de ad be ef 00 7b",
            Message(
                1, 3, "echo:a", "phx_reply", {"status": "ok", "response": b"\xde\xad\xbe\xef\x00{"}
            ),
        ),
        (  # empty data
            "01 01 01 06 02 31 34 65 63 68 6f 3a 61 6f 6b",
            Message(1, 4, "echo:a", "phx_reply", {"status": "ok", "response": b""}),
        ),
        (  # server push kind 0: no ref
            "00 01 06 0a 31 65 63 68 6f 3a 61 62 69 6e 5f 70 75 73 68 65 64 01 02 03",
            Message(1, None, "echo:a", "bin_pushed", b"\x01\x02\x03"),
        ),
        (
            "00 01 07 0a 31 65 63 68 6f 3a 62 62 62 69 6e 5f 70 75 73 68 65 64 01 02 03",
            Message(1, None, "echo:bb", "bin_pushed", b"\x01\x02\x03"),
        ),
        (  # broadcast kind 2: no join_ref, no ref
            "02 07 0f 65 63 68 6f 3a 62 62 62 69 6e 5f 62 72 6f 61 64 63 61 73 74 65 64 09 08 07",
            Message(None, None, "echo:bb", "bin_broadcasted", b"\t\x08\x07"),
        ),
        (  # null refs are empty strings in binary frames
            "01 00 00 01 05 74 65 72 72 6f 72 ff",
            Message(None, None, "t", "phx_reply", {"status": "error", "response": b"\xff"}),
        ),
        ("00 00 00 00", Message(None, None, "", "", b"")),
        ("02 00 00", Message(None, None, "", "", b"")),
        (  # non-decimal refs stay strings; UTF-8 header fields
            "01 01 01 02 03 61 62 c3 a9 6f 6b 21 7b 7d",
            Message("a", "b", "\u00e9", "phx_reply", {"status": "ok!", "response": b"{}"}),
        ),
    ],
)
@pytest.mark.parametrize("serializer", [STRING, INTEGER], ids=repr)
def test_decode_binary(serializer: JSONSerializer, hexdata: str, expected: Message) -> None:
    message = serializer.decode(hexbin(hexdata))
    assert message == expected
    assert type(message.ref) is type(expected.ref)
    assert type(message.join_ref) is type(expected.join_ref)


def test_decode_binary_payload_is_bytes() -> None:
    message = STRING.decode(hexbin("02 01 01 74 65 7b 7d"))
    assert type(message.payload) is bytes
    assert message.payload == b"{}"  # not parsed as JSON


@pytest.mark.parametrize(
    ("hexdata", "match"),
    [
        ("", "empty binary frame"),
        ("05 00 01", "unknown binary frame kind 5"),
        ("03", "unknown binary frame kind 3"),
        ("ff 00 00 00 00", "unknown binary frame kind 255"),
        ("00", "binary frame too short for its header"),
        ("00 01 01", "binary frame too short for its header"),
        ("01 01 01 01", "binary frame too short for its header"),
        ("02 07", "binary frame too short for its header"),
        ("00 01 06 0a 31 65 63 68 6f", "binary frame truncated inside its header"),
        ("01 01 01 06 02 31 32 65 63 68 6f 3a 61 6f", "binary frame truncated inside its header"),
        ("02 07 0f 65 63 68 6f 3a 62 62", "binary frame truncated inside its header"),
        ("00 05 00 00", "binary frame truncated inside its header"),
        ("02 01 01 ff 65", "binary frame header is not UTF-8"),
        ("02 01 01 74 c3", "binary frame header is not UTF-8"),
        ("01 01 00 00 00 80", "binary frame header is not UTF-8"),
    ],
)
def test_decode_binary_malformed(hexdata: str, match: str) -> None:
    with pytest.raises(DecodeError, match=match) as info:
        STRING.decode(hexbin(hexdata))
    assert isinstance(info.value, ProtocolError)
