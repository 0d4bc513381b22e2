"""Unit tests for phoenix_actor._protocol.session: the pure protocol state machine.

Rules from protocol.md 1.7, 1.8, 4.3 and section 7; inbound frames are taken from the
Phoenix 1.7.24 wire transcript where it has one for the situation.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from phoenix_actor._protocol.message import Frame, Message, Opcode
from phoenix_actor._protocol.session import (
    ChannelClosed,
    HeartbeatAcked,
    Joined,
    JoinRefused,
    MessageDropped,
    MessageReceived,
    Outbound,
    ReplyReceived,
    Session,
    TopicState,
)
from phoenix_actor.exceptions import (
    AlreadyJoinedError,
    DecodeError,
    DisconnectedError,
    EncodeError,
    InvalidMessageError,
    NotJoinedError,
    ProtocolError,
    PushError,
)
from phoenix_actor.serializer import JSONSerializer

TOPIC = "room:lobby"
RESERVED = ["phx_join", "phx_leave", "phx_reply", "phx_close", "phx_error"]
UNENCODABLE = [{"s": "\udca6"}, {"s": set()}, set(), float("nan")]


class RecordingSerializer(JSONSerializer):
    """A JSONSerializer that remembers every message it was asked to encode."""

    def __init__(self, ref_format: Any = "string") -> None:
        super().__init__(ref_format)
        self.encoded: list[Message] = []

    def encode(self, message: Message) -> Frame:
        self.encoded.append(message)
        return super().encode(message)


def text(*items: object) -> Frame:
    """A text frame holding the JSON array ``items``."""
    return Frame.text(json.dumps(list(items), separators=(",", ":"), ensure_ascii=False))


def reply(
    join_ref: object, ref: object, topic: str, status: str = "ok", response: Any = None
) -> Frame:
    payload = {"response": {} if response is None else response, "status": status}
    return text(join_ref, ref, topic, "phx_reply", payload)


def wire(data: str) -> Frame:
    return Frame(Opcode.TEXT, data.encode("utf-8"))


@pytest.fixture
def session() -> Session:
    s = Session(JSONSerializer())
    s.connected()
    return s


def join_ok(session: Session, topic: str = TOPIC, payload: Any = None) -> int:
    """Join ``topic`` and accept it with the server's ok reply; return the join_ref."""
    out = session.join(topic, payload)
    event = session.receive(reply(str(out.ref), str(out.ref), topic))
    assert isinstance(event, Joined)
    assert session.state(topic) is TopicState.JOINED
    return out.ref


def next_ref(session: Session) -> int:
    """The ref the session hands out next (consumes it, via a heartbeat)."""
    return session.heartbeat().ref


# -- connection and queries ------------------------------------------------------------


def test_new_session_is_disconnected_and_empty() -> None:
    serializer = JSONSerializer()
    s = Session(serializer)
    assert s.serializer is serializer
    assert s.is_connected is False
    assert s.pending_heartbeat is None
    assert list(s.topics()) == []
    assert s.state(TOPIC) is None
    assert s.joined(TOPIC) is False
    assert s.join_ref(TOPIC) is None
    assert s.join_payload(TOPIC) is None


def test_connected_and_disconnected_toggle_is_connected(session: Session) -> None:
    assert session.is_connected is True
    assert session.disconnected() == {}
    assert session.is_connected is False
    session.connected()
    assert session.is_connected is True


def test_queries_follow_the_topic_states(session: Session) -> None:
    session.join("a", {"p": 1})
    join_ok(session, "b")
    join_ok(session, "c")
    session.leave("c")
    assert list(session.topics()) == [
        ("a", TopicState.JOINING),
        ("b", TopicState.JOINED),
        ("c", TopicState.LEAVING),
    ]
    assert [session.state(t) for t in "abcd"] == [
        TopicState.JOINING,
        TopicState.JOINED,
        TopicState.LEAVING,
        None,
    ]
    assert [session.joined(t) for t in "abcd"] == [False, True, True, False]
    assert [session.join_ref(t) for t in "abcd"] == [1, 2, 3, None]
    assert [session.join_payload(t) for t in "abcd"] == [{"p": 1}, {}, {}, None]


def test_topic_state_values() -> None:
    assert [s.value for s in TopicState] == ["joining", "joined", "leaving"]


def test_disconnected_forgets_everything_and_reports_what_was_lost(session: Session) -> None:
    session.join("a")
    join_ok(session, "b")
    join_ok(session, "c")
    session.leave("c")
    session.heartbeat()
    assert session.pending_heartbeat == 5
    lost = session.disconnected()
    assert lost == {"a": TopicState.JOINING, "b": TopicState.JOINED, "c": TopicState.LEAVING}
    assert list(session.topics()) == []
    assert session.pending_heartbeat is None
    assert all(session.state(t) is None for t in "abc")
    assert session.disconnected() == {}


def test_connected_starts_afresh_even_without_disconnected(session: Session) -> None:
    join_ok(session)
    session.heartbeat()
    session.connected()
    assert list(session.topics()) == []
    assert session.pending_heartbeat is None
    assert session.join(TOPIC).ref == 1


# -- refs ------------------------------------------------------------------------------


def test_join_encodes_exactly_with_string_refs(session: Session) -> None:
    out = session.join(TOPIC)
    assert out == Outbound(1, 1, Frame(Opcode.TEXT, b'["1","1","room:lobby","phx_join",{}]'))
    assert session.state(TOPIC) is TopicState.JOINING
    assert session.join_ref(TOPIC) == 1
    assert session.join_payload(TOPIC) == {}


def test_join_encodes_exactly_with_integer_refs() -> None:
    s = Session(JSONSerializer(ref_format="integer"))
    s.connected()
    out = s.join(TOPIC, {"token": "x"})
    assert out == Outbound(1, 1, Frame(Opcode.TEXT, b'[1,1,"room:lobby","phx_join",{"token":"x"}]'))
    push = (s.receive(wire('[1,1,"room:lobby","phx_reply",{"status":"ok"}]')), s.push(TOPIC, "m"))
    assert push[1].frame == Frame(Opcode.TEXT, b'[1,2,"room:lobby","m",{}]')


def test_refs_are_one_counter_across_topics_and_kinds(session: Session) -> None:
    a = session.join("a")
    b = session.join("b")
    hb = session.heartbeat()
    session.receive(reply("1", "1", "a"))
    session.receive(reply("2", "2", "b"))
    pa = session.push("a", "ev", {"n": 1})
    pb = session.push("b", "ev")
    la = session.leave("a")
    assert [o.ref for o in (a, b, hb, pa, pb, la)] == [1, 2, 3, 4, 5, 6]
    assert [o.join_ref for o in (a, b, hb, pa, pb, la)] == [1, 2, None, 1, 2, 1]
    assert [o.frame.data for o in (a, b, hb, pa, pb, la)] == [
        b'["1","1","a","phx_join",{}]',
        b'["2","2","b","phx_join",{}]',
        b'[null,"3","phoenix","heartbeat",{}]',
        b'["1","4","a","ev",{"n":1}]',
        b'["2","5","b","ev",{}]',
        b'["1","6","a","phx_leave",{}]',
    ]


def test_refs_keep_increasing_across_leave_and_rejoin(session: Session) -> None:
    assert join_ok(session) == 1
    assert session.leave(TOPIC).ref == 2
    assert isinstance(session.receive(wire('["1","1","room:lobby","phx_close",{}]')), ChannelClosed)
    assert session.join(TOPIC).frame.data == b'["3","3","room:lobby","phx_join",{}]'


@pytest.mark.parametrize("reset", ["disconnected", "connected"])
def test_refs_restart_at_1_on_a_new_connection(session: Session, reset: str) -> None:
    join_ok(session)
    session.push(TOPIC, "x")
    session.heartbeat()
    if reset == "disconnected":
        session.disconnected()
    session.connected()
    out = session.join(TOPIC)
    assert (out.ref, out.join_ref) == (1, 1)
    assert out.frame.data == b'["1","1","room:lobby","phx_join",{}]'


def test_refs_compare_numerically_and_inbound_strings_match(session: Session) -> None:
    for expected in range(1, 10):
        assert next_ref(session) == expected
    out = session.join(TOPIC)
    assert out.ref == 10
    assert out.ref > 9
    assert out.frame.data == b'["10","10","room:lobby","phx_join",{}]'
    # the server echoes "10": normalised, it is our int 10
    event = session.receive(
        wire('["10","10","room:lobby","phx_reply",{"response":{},"status":"ok"}]')
    )
    assert event == Joined(TOPIC, {}, 10, {})
    assert session.join_ref(TOPIC) == 10


def test_inbound_integer_refs_match_string_refs(session: Session) -> None:
    session.join(TOPIC)
    assert session.receive(reply(1, 1, TOPIC)) == Joined(TOPIC, {}, 1, {})
    session.push(TOPIC, "e")
    assert session.receive(reply(1, 2, TOPIC)) == ReplyReceived(
        TOPIC, 2, "ok", {}, {"response": {}, "status": "ok"}
    )


# -- failed encodes consume a ref ------------------------------------------------------


@pytest.mark.parametrize("payload", UNENCODABLE, ids=repr)
def test_failed_push_encode_consumes_a_ref(session: Session, payload: object) -> None:
    join_ok(session)
    with pytest.raises(EncodeError):
        session.push(TOPIC, "e", payload)
    out = session.push(TOPIC, "e")
    assert out.ref == 3
    assert out.frame.data == b'["1","3","room:lobby","e",{}]'
    assert session.state(TOPIC) is TopicState.JOINED


@pytest.mark.parametrize("payload", UNENCODABLE, ids=repr)
def test_failed_join_encode_consumes_a_ref_and_records_nothing(
    session: Session, payload: object
) -> None:
    with pytest.raises(EncodeError):
        session.join(TOPIC, payload)
    assert session.state(TOPIC) is None
    out = session.join(TOPIC)
    assert (out.ref, out.join_ref) == (2, 2)
    assert out.frame.data == b'["2","2","room:lobby","phx_join",{}]'


@pytest.mark.parametrize("payload", UNENCODABLE, ids=repr)
def test_failed_leave_encode_consumes_a_ref_and_keeps_the_topic_joined(
    session: Session, payload: object
) -> None:
    join_ok(session)
    with pytest.raises(EncodeError):
        session.leave(TOPIC, payload)
    assert session.state(TOPIC) is TopicState.JOINED
    assert session.leave(TOPIC).frame.data == b'["1","3","room:lobby","phx_leave",{}]'


def test_failed_binary_encode_consumes_a_ref(session: Session) -> None:
    join_ok(session)
    with pytest.raises(EncodeError):
        session.push(TOPIC, "e" * 256, b"data")
    assert next_ref(session) == 3


# -- join_ref rules and payloads -------------------------------------------------------


def test_join_ref_of_a_join_is_its_own_ref(session: Session) -> None:
    session.heartbeat()
    session.heartbeat()
    out = session.join(TOPIC)
    assert out.ref == out.join_ref == 3
    assert session.join_ref(TOPIC) == 3


def test_pushes_and_leaves_carry_the_stored_join_ref(session: Session) -> None:
    join_ok(session, "a")
    join_ok(session, "b")
    push_a = session.push("a", "new_msg", {"body": "hi"})
    push_b = session.push("b", "new_msg")
    leave_b = session.leave("b", {"why": "done"})
    assert push_a == Outbound(3, 1, Frame(Opcode.TEXT, b'["1","3","a","new_msg",{"body":"hi"}]'))
    assert push_b == Outbound(4, 2, Frame(Opcode.TEXT, b'["2","4","b","new_msg",{}]'))
    assert leave_b == Outbound(
        5, 2, Frame(Opcode.TEXT, b'["2","5","b","phx_leave",{"why":"done"}]')
    )


def test_push_bytes_is_the_transcripts_binary_push(session: Session) -> None:
    # transcript "binary": join (1), a text push (2), then a binary push with ref 3
    join_ok(session, "echo:a")
    assert session.push("echo:a", "binary", {"bytes": [0, 1, 2, 254, 255]}).ref == 2
    out = session.push("echo:a", "bin_echo", bytes.fromhex("deadbeef007b"))
    expected = bytes.fromhex(
        "00 01 01 06 08 31 33 65 63 68 6f 3a 61 62 69 6e 5f 65 63 68 6f de ad be ef 00 7b"
    )
    assert out == Outbound(3, 1, Frame(Opcode.BINARY, expected))


def test_non_object_payloads_are_sent_as_given(session: Session) -> None:
    join_ok(session, "echo:m")
    out = session.push("echo:m", "echo", "just a string")
    assert out.frame.data == b'["1","2","echo:m","echo","just a string"]'
    assert session.push("echo:m", "echo", []).frame.data == b'["1","3","echo:m","echo",[]]'


# -- refusals --------------------------------------------------------------------------


def test_join_while_joining_is_already_joined(session: Session) -> None:
    session.join(TOPIC)
    with pytest.raises(AlreadyJoinedError, match="'room:lobby' is a join is already pending"):
        session.join(TOPIC)
    assert next_ref(session) == 2


@pytest.mark.parametrize("leaving", [False, True])
def test_join_while_joined_or_leaving_is_already_joined(session: Session, leaving: bool) -> None:
    join_ok(session)
    if leaving:
        session.leave(TOPIC)
    with pytest.raises(AlreadyJoinedError, match="topic 'room:lobby' is joined") as info:
        session.join(TOPIC)
    assert isinstance(info.value, PushError)
    assert next_ref(session) == 2 + leaving


def test_push_and_leave_while_joining_are_not_joined(session: Session) -> None:
    session.join(TOPIC)
    with pytest.raises(NotJoinedError, match=r"not joined \(its join is still pending\)"):
        session.push(TOPIC, "e")
    with pytest.raises(NotJoinedError, match=r"not joined \(its join is still pending\)"):
        session.leave(TOPIC)
    assert session.state(TOPIC) is TopicState.JOINING
    assert next_ref(session) == 2


def test_push_and_leave_on_an_unknown_topic_are_not_joined(session: Session) -> None:
    with pytest.raises(NotJoinedError, match=r"^topic 'nope' is not joined$"):
        session.push("nope", "e")
    with pytest.raises(NotJoinedError, match=r"^topic 'nope' is not joined$"):
        session.leave("nope")
    assert next_ref(session) == 1


def test_everything_while_disconnected_is_refused_without_encoding() -> None:
    serializer = RecordingSerializer()
    s = Session(serializer)
    with pytest.raises(DisconnectedError, match="the socket is not connected"):
        s.join(TOPIC)
    with pytest.raises(DisconnectedError):
        s.heartbeat()
    s.connected()
    join_ok(s)
    s.disconnected()
    serializer.encoded.clear()
    with pytest.raises(DisconnectedError):
        s.join(TOPIC)
    with pytest.raises(DisconnectedError):
        s.push(TOPIC, "e")
    with pytest.raises(DisconnectedError):
        s.leave(TOPIC)
    with pytest.raises(DisconnectedError) as info:
        s.heartbeat()
    assert isinstance(info.value, PushError)
    assert serializer.encoded == []
    assert s.pending_heartbeat is None
    s.connected()
    assert s.join(TOPIC).ref == 1


@pytest.mark.parametrize("event", RESERVED)
def test_pushing_a_reserved_event_is_invalid_and_uses_no_ref(session: Session, event: str) -> None:
    join_ok(session)
    with pytest.raises(InvalidMessageError, match=f"'{event}' is a protocol event") as info:
        session.push(TOPIC, event)
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, PushError)
    assert next_ref(session) == 2


@pytest.mark.parametrize("event", [None, 1, b"ev", ["ev"]], ids=repr)
def test_non_str_event_is_invalid_and_uses_no_ref(session: Session, event: object) -> None:
    join_ok(session)
    with pytest.raises(
        InvalidMessageError, match=f"event must be a str, not {type(event).__name__}"
    ):
        session.push(TOPIC, event)  # type: ignore[arg-type]
    assert next_ref(session) == 2


@pytest.mark.parametrize("topic", [None, 1, b"room:lobby", ("room", "lobby")], ids=repr)
def test_non_str_topic_is_invalid_and_uses_no_ref(session: Session, topic: object) -> None:
    expected = f"topic must be a str, not {type(topic).__name__}"
    with pytest.raises(InvalidMessageError, match=expected):
        session.join(topic)  # type: ignore[arg-type]
    with pytest.raises(InvalidMessageError, match=expected):
        session.leave(topic)  # type: ignore[arg-type]
    with pytest.raises(InvalidMessageError, match=expected):
        session.push(topic, "e")  # type: ignore[arg-type]
    assert next_ref(session) == 1


def test_invalid_messages_are_reported_even_when_disconnected() -> None:
    s = Session(JSONSerializer())
    with pytest.raises(InvalidMessageError):
        s.join(1)  # type: ignore[arg-type]
    with pytest.raises(InvalidMessageError):
        s.push(TOPIC, "phx_leave")


# -- join replies ----------------------------------------------------------------------


def test_ok_join_reply_is_joined(session: Session) -> None:
    # transcript "join_echo"
    out = session.join("echo:a", {"hello": "world"})
    assert out.frame.data == b'["1","1","echo:a","phx_join",{"hello":"world"}]'
    event = session.receive(
        wire(
            '["1","1","echo:a","phx_reply",{"response":{"joined":"echo:a",'
            '"payload":{"hello":"world"}},"status":"ok"}]'
        )
    )
    assert event == Joined(
        "echo:a", {"joined": "echo:a", "payload": {"hello": "world"}}, 1, {"hello": "world"}
    )
    assert session.state("echo:a") is TopicState.JOINED
    assert session.joined("echo:a") is True
    assert session.join_ref("echo:a") == 1


def test_ok_join_reply_without_response_is_joined_with_none(session: Session) -> None:
    session.join(TOPIC)
    event = session.receive(wire('["1","1","room:lobby","phx_reply",{"status":"ok"}]'))
    assert event == Joined(TOPIC, None, 1, {})


def test_ok_join_reply_with_null_join_ref_is_joined(session: Session) -> None:
    session.join(TOPIC)
    assert session.receive(reply(None, "1", TOPIC)) == Joined(TOPIC, {}, 1, {})
    assert session.joined(TOPIC) is True


@pytest.mark.parametrize(
    ("data", "response"),
    [
        (
            '["1","1","echo:refuse","phx_reply",{"response":{"reason":"refused"},"status":"error"}]',
            {"reason": "refused"},
        ),
        (
            '["1","1","echo:refuse","phx_reply",'
            '{"response":{"reason":"join crashed"},"status":"error"}]',
            {"reason": "join crashed"},
        ),
    ],
)
def test_error_join_reply_is_join_refused(session: Session, data: str, response: Any) -> None:
    session.join("echo:refuse")
    event = session.receive(wire(data))
    assert event == JoinRefused("echo:refuse", response, "error", 1)
    assert session.state("echo:refuse") is None
    assert session.joined("echo:refuse") is False
    assert list(session.topics()) == []
    out = session.join("echo:refuse")  # a fresh join is allowed
    assert (out.ref, out.join_ref) == (2, 2)


def test_unknown_join_reply_status_is_join_refused_with_that_status(session: Session) -> None:
    session.join(TOPIC)
    event = session.receive(reply("1", "1", TOPIC, "weird", {"x": 1}))
    assert event == JoinRefused(TOPIC, {"x": 1}, "weird", 1)
    assert session.state(TOPIC) is None


def test_unmatched_topic_reply_to_a_pending_join_is_join_refused(session: Session) -> None:
    # transcript "unmatched_topic_join": join_ref is null in the reply
    session.join("nope:x")
    event = session.receive(
        wire(
            '[null,"1","nope:x","phx_reply",'
            '{"response":{"reason":"unmatched topic"},"status":"error"}]'
        )
    )
    assert event == JoinRefused("nope:x", {"reason": "unmatched topic"}, "error", 1)
    assert session.state("nope:x") is None


def test_join_replies_are_matched_per_topic(session: Session) -> None:
    session.join("a")
    session.join("b")
    assert session.receive(reply("2", "2", "b", "error")) == JoinRefused("b", {}, "error", 2)
    assert session.state("a") is TopicState.JOINING
    assert session.receive(reply("1", "1", "a")) == Joined("a", {}, 1, {})


def test_reply_with_a_join_ref_for_a_pending_topic_but_another_ref(session: Session) -> None:
    session.join(TOPIC)
    event = session.receive(reply("1", "7", TOPIC))
    assert event == ReplyReceived(TOPIC, 7, "ok", {}, {"response": {}, "status": "ok"})
    assert session.state(TOPIC) is TopicState.JOINING


def test_null_join_ref_reply_with_another_ref_on_a_pending_topic(session: Session) -> None:
    session.join(TOPIC)
    event = session.receive(reply(None, "7", TOPIC, "error", {"reason": "unmatched topic"}))
    assert event == ReplyReceived(
        TOPIC,
        7,
        "error",
        {"reason": "unmatched topic"},
        {"response": {"reason": "unmatched topic"}, "status": "error"},
    )
    assert session.state(TOPIC) is TopicState.JOINING


def test_join_reply_with_a_foreign_join_ref_is_dropped(session: Session) -> None:
    session.join(TOPIC)
    frame = reply("9", "1", TOPIC)
    event = session.receive(frame)
    assert event == MessageDropped(
        Message(9, 1, TOPIC, "phx_reply", {"response": {}, "status": "ok"}),
        "reply of an earlier or unknown channel session",
    )
    assert session.state(TOPIC) is TopicState.JOINING


def test_second_join_reply_is_a_plain_reply(session: Session) -> None:
    join_ok(session)
    event = session.receive(reply("1", "1", TOPIC))
    assert event == ReplyReceived(TOPIC, 1, "ok", {}, {"response": {}, "status": "ok"})
    assert session.state(TOPIC) is TopicState.JOINED


# -- replies to pushes and leaves ------------------------------------------------------


def test_reply_to_a_push(session: Session) -> None:
    # transcript "echo_error_noreply"
    join_ok(session, "echo:a")
    session.push("echo:a", "echo", {"x": 1})
    session.push("echo:a", "error", {"why": "because"})
    ok = session.receive(wire('["1","2","echo:a","phx_reply",{"response":{"x":1},"status":"ok"}]'))
    error = session.receive(
        wire('["1","3","echo:a","phx_reply",{"response":{"why":"because"},"status":"error"}]')
    )
    assert ok == ReplyReceived("echo:a", 2, "ok", {"x": 1}, {"response": {"x": 1}, "status": "ok"})
    assert error == ReplyReceived(
        "echo:a",
        3,
        "error",
        {"why": "because"},
        {"response": {"why": "because"}, "status": "error"},
    )
    assert session.state("echo:a") is TopicState.JOINED


def test_reply_keeps_non_object_responses(session: Session) -> None:
    join_ok(session, "echo:m")
    session.push("echo:m", "echo", "just a string")
    event = session.receive(
        wire('["1","2","echo:m","phx_reply",{"response":"just a string","status":"ok"}]')
    )
    assert event == ReplyReceived(
        "echo:m", 2, "ok", "just a string", {"response": "just a string", "status": "ok"}
    )


def test_reply_without_response_has_none(session: Session) -> None:
    join_ok(session)
    event = session.receive(wire('["1","2","room:lobby","phx_reply",{"status":"custom"}]'))
    assert event == ReplyReceived(TOPIC, 2, "custom", None, {"status": "custom"})


def test_null_join_ref_reply_to_a_normal_push_is_a_reply_not_a_join_error(
    session: Session,
) -> None:
    # transcript "crash": the server dropped the channel, our push gets "unmatched topic"
    join_ok(session, "echo:crash")
    session.push("echo:crash", "echo", {"after": "crash"})
    event = session.receive(
        wire(
            '[null,"2","echo:crash","phx_reply",'
            '{"response":{"reason":"unmatched topic"},"status":"error"}]'
        )
    )
    assert event == ReplyReceived(
        "echo:crash",
        2,
        "error",
        {"reason": "unmatched topic"},
        {"response": {"reason": "unmatched topic"}, "status": "error"},
    )
    assert session.state("echo:crash") is TopicState.JOINED


def test_null_join_ref_reply_for_an_unknown_topic_is_a_reply(session: Session) -> None:
    event = session.receive(reply(None, "3", "echo:leave", "error", {"reason": "unmatched topic"}))
    assert isinstance(event, ReplyReceived)
    assert (event.topic, event.ref, event.status) == ("echo:leave", 3, "error")


def test_reply_with_a_stale_join_ref_is_dropped(session: Session) -> None:
    join_ok(session)
    frame = reply("7", "2", TOPIC)
    event = session.receive(frame)
    assert event == MessageDropped(
        Message(7, 2, TOPIC, "phx_reply", {"response": {}, "status": "ok"}),
        "reply of an earlier or unknown channel session",
    )


def test_reply_with_a_join_ref_for_an_unknown_topic_is_dropped(session: Session) -> None:
    event = session.receive(reply("1", "2", "elsewhere"))
    assert isinstance(event, MessageDropped)
    assert event.reason == "reply of an earlier or unknown channel session"


def test_reply_with_a_non_decimal_ref_is_kept_as_str(session: Session) -> None:
    join_ok(session)
    event = session.receive(reply("1", "abc", TOPIC))
    assert event == ReplyReceived(TOPIC, "abc", "ok", {}, {"response": {}, "status": "ok"})


# -- leave -----------------------------------------------------------------------------


def test_leave_then_reply_then_close(session: Session) -> None:
    # transcript "leave"
    join_ok(session, "echo:leave")
    out = session.leave("echo:leave")
    assert out == Outbound(2, 1, Frame(Opcode.TEXT, b'["1","2","echo:leave","phx_leave",{}]'))
    assert session.state("echo:leave") is TopicState.LEAVING
    assert session.joined("echo:leave") is True
    assert session.join_ref("echo:leave") == 1

    event = session.receive(
        wire('["1","2","echo:leave","phx_reply",{"response":{},"status":"ok"}]')
    )
    assert event == ReplyReceived("echo:leave", 2, "ok", {}, {"response": {}, "status": "ok"})
    assert session.state("echo:leave") is TopicState.LEAVING
    assert session.joined("echo:leave") is True

    event = session.receive(wire('["1","1","echo:leave","phx_close",{}]'))
    assert event == ChannelClosed("echo:leave", {}, "phx_close", 1)
    assert session.state("echo:leave") is None
    assert session.joined("echo:leave") is False
    with pytest.raises(NotJoinedError):
        session.push("echo:leave", "echo", {"after": "leave"})


def test_pushes_and_another_leave_are_allowed_while_leaving(session: Session) -> None:
    join_ok(session)
    session.leave(TOPIC)
    assert session.push(TOPIC, "e").frame.data == b'["1","3","room:lobby","e",{}]'
    assert session.leave(TOPIC).frame.data == b'["1","4","room:lobby","phx_leave",{}]'
    assert session.state(TOPIC) is TopicState.LEAVING


def test_messages_are_delivered_while_leaving(session: Session) -> None:
    join_ok(session)
    session.leave(TOPIC)
    event = session.receive(text("1", None, TOPIC, "late", {}))
    assert event == MessageReceived(TOPIC, "late", {}, 1)


# -- phx_close / phx_error -------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_name", "payload"),
    [
        ("phx_close", {}),
        ("phx_error", {}),
        ("phx_error", {"reason": "channel_crash"}),  # Phoenix >= 1.8.10
    ],
)
def test_close_or_error_with_the_join_ref_closes_the_channel(
    session: Session, event_name: str, payload: dict[str, str]
) -> None:
    join_ok(session, "echo:crash")
    join_ok(session, "echo:other")
    session.push("echo:crash", "crash")
    event = session.receive(text("1", "1", "echo:crash", event_name, payload))
    assert event == ChannelClosed("echo:crash", payload, event_name, 1)  # type: ignore[arg-type]
    assert session.state("echo:crash") is None
    assert session.joined("echo:crash") is False
    assert session.state("echo:other") is TopicState.JOINED
    with pytest.raises(NotJoinedError):
        session.push("echo:crash", "echo")
    assert session.push("echo:other", "echo").ref == 4
    # rejoin gets a fresh join_ref
    out = session.join("echo:crash")
    assert out.frame.data == b'["5","5","echo:crash","phx_join",{}]'


def test_duplicate_joins_old_close_is_dropped(session: Session) -> None:
    # transcript "duplicate_join", with the client's refs brought to the same values:
    # the new join (11) is accepted, then the old channel's (10) phx_close arrives.
    session.connected()
    for _ in range(10):
        session.heartbeat()
    session.join("echo:dup", {"n": 2})
    joined = session.receive(
        wire(
            '["11","11","echo:dup","phx_reply",{"response":{"joined":"echo:dup",'
            '"payload":{"n":2}},"status":"ok"}]'
        )
    )
    assert joined == Joined("echo:dup", {"joined": "echo:dup", "payload": {"n": 2}}, 11, {"n": 2})
    old_close = wire('["10","10","echo:dup","phx_close",{}]')
    assert session.receive(old_close) == MessageDropped(
        Message(10, 10, "echo:dup", "phx_close", {}),
        "phx_close of an earlier or unknown channel session",
    )
    assert session.state("echo:dup") is TopicState.JOINED
    assert session.join_ref("echo:dup") == 11
    assert session.push("echo:dup", "echo", {"current": True}).frame.data == (
        b'["11","12","echo:dup","echo",{"current":true}]'
    )
    event = session.receive(
        wire('["11","12","echo:dup","phx_reply",{"response":{"current":true},"status":"ok"}]')
    )
    assert isinstance(event, ReplyReceived)


@pytest.mark.parametrize("event_name", ["phx_close", "phx_error"])
@pytest.mark.parametrize(
    ("setup", "join_ref"),
    [
        ("joined", "7"),  # wrong join_ref
        ("joined", None),  # no join_ref at all
        ("joining", "1"),  # the pending join's own ref: the topic is not joined yet
        ("unknown", "1"),  # topic never joined
    ],
)
def test_stale_close_or_error_is_dropped(
    session: Session, event_name: str, setup: str, join_ref: str | None
) -> None:
    if setup == "joined":
        join_ok(session)
    elif setup == "joining":
        session.join(TOPIC)
    before = session.state(TOPIC)
    event = session.receive(text(join_ref, join_ref, TOPIC, event_name, {}))
    expected_ref = None if join_ref is None else int(join_ref)
    assert event == MessageDropped(
        Message(expected_ref, expected_ref, TOPIC, event_name, {}),
        f"{event_name} of an earlier or unknown channel session",
    )
    assert session.state(TOPIC) is before


def test_close_after_reconnect_does_not_touch_the_new_session(session: Session) -> None:
    join_ok(session)
    session.disconnected()
    session.connected()
    session.join(TOPIC)
    event = session.receive(wire('["1","1","room:lobby","phx_close",{}]'))
    assert isinstance(event, MessageDropped)
    assert session.state(TOPIC) is TopicState.JOINING


# -- heartbeats ------------------------------------------------------------------------


def test_heartbeat_frame_and_pending_ref(session: Session) -> None:
    out = session.heartbeat()
    assert out == Outbound(1, None, Frame(Opcode.TEXT, b'[null,"1","phoenix","heartbeat",{}]'))
    assert session.pending_heartbeat == 1


def test_heartbeat_frame_with_integer_refs() -> None:
    s = Session(JSONSerializer(ref_format="integer"))
    s.connected()
    s.heartbeat()
    assert s.heartbeat().frame.data == b'[null,2,"phoenix","heartbeat",{}]'
    assert s.pending_heartbeat == 2


def test_heartbeat_reply_is_acked_and_clears_pending(session: Session) -> None:
    join_ok(session, "echo:refuse")
    session.join("echo:crash_on_join")
    out = session.heartbeat()
    assert out.ref == 3
    event = session.receive(wire('[null,"3","phoenix","phx_reply",{"response":{},"status":"ok"}]'))
    assert event == HeartbeatAcked(3)
    assert session.pending_heartbeat is None
    # the same reply again is no longer the pending heartbeat: a plain reply
    event = session.receive(wire('[null,"3","phoenix","phx_reply",{"response":{},"status":"ok"}]'))
    assert event == ReplyReceived("phoenix", 3, "ok", {}, {"response": {}, "status": "ok"})


def test_heartbeat_reply_with_integer_ref_is_acked(session: Session) -> None:
    session.heartbeat()
    assert session.receive(reply(None, 1, "phoenix")) == HeartbeatAcked(1)


def test_heartbeat_reply_with_error_status_still_acks(session: Session) -> None:
    session.heartbeat()
    assert session.receive(reply(None, "1", "phoenix", "error")) == HeartbeatAcked(1)


def test_heartbeat_reply_with_another_ref_is_a_reply(session: Session) -> None:
    session.heartbeat()
    session.heartbeat()
    assert session.pending_heartbeat == 2
    event = session.receive(reply(None, "1", "phoenix"))
    assert event == ReplyReceived("phoenix", 1, "ok", {}, {"response": {}, "status": "ok"})
    assert session.pending_heartbeat == 2
    assert session.receive(reply(None, "2", "phoenix")) == HeartbeatAcked(2)


def test_phoenix_reply_with_null_ref_and_nothing_pending_is_a_reply(session: Session) -> None:
    event = session.receive(reply(None, None, "phoenix"))
    assert event == ReplyReceived("phoenix", None, "ok", {}, {"response": {}, "status": "ok"})


def test_reply_on_another_topic_with_the_heartbeat_ref_is_not_an_ack(session: Session) -> None:
    session.heartbeat()
    event = session.receive(reply(None, "1", TOPIC))
    assert isinstance(event, ReplyReceived)
    assert session.pending_heartbeat == 1


# -- server pushes and broadcasts ------------------------------------------------------


def test_broadcast_with_null_join_ref_is_delivered(session: Session) -> None:
    join_ok(session, "echo:b")
    event = session.receive(wire('[null,null,"echo:b","broadcasted",{"msg":"hi"}]'))
    assert event == MessageReceived("echo:b", "broadcasted", {"msg": "hi"}, None)


def test_broadcast_for_a_topic_not_joined_is_delivered(session: Session) -> None:
    event = session.receive(text(None, None, "elsewhere", "news", {"n": 1}))
    assert event == MessageReceived("elsewhere", "news", {"n": 1}, None)


def test_push_with_the_current_join_ref_is_delivered(session: Session) -> None:
    # transcript "push"
    join_ok(session, "echo:a")
    event = session.receive(wire('["1",null,"echo:a","pushed",{"p":1}]'))
    assert event == MessageReceived("echo:a", "pushed", {"p": 1}, 1)


def test_push_with_a_stale_join_ref_is_dropped(session: Session) -> None:
    join_ok(session)
    event = session.receive(text("7", None, TOPIC, "pushed", {"p": 1}))
    assert event == MessageDropped(
        Message(7, None, TOPIC, "pushed", {"p": 1}),
        "message of an earlier or unknown channel session",
    )


def test_push_with_a_join_ref_for_an_unknown_topic_is_dropped(session: Session) -> None:
    event = session.receive(text("1", None, "elsewhere", "pushed", {}))
    assert isinstance(event, MessageDropped)
    assert event.reason == "message of an earlier or unknown channel session"


def test_push_with_the_pending_join_ref_is_delivered(session: Session) -> None:
    session.join(TOPIC)
    event = session.receive(text("1", None, TOPIC, "early", {}))
    assert event == MessageReceived(TOPIC, "early", {}, 1)


def test_presence_diff_before_state_are_both_delivered(session: Session) -> None:
    # transcript "presence": the own-join diff (broadcast) arrives before the state (push)
    join_ok(session)
    diff = session.receive(
        wire(
            '[null,null,"room:lobby","presence_diff",{"joins":{"alice":{"metas":'
            '[{"phx_ref":"GOtdJZmBrHShxgay","user":"alice"}]}},"leaves":{}}]'
        )
    )
    state = session.receive(
        wire(
            '["1",null,"room:lobby","presence_state",{"alice":{"metas":'
            '[{"phx_ref":"GOtdJZmBrHShxgay","user":"alice"}]}}]'
        )
    )
    assert isinstance(diff, MessageReceived)
    assert (diff.event, diff.join_ref) == ("presence_diff", None)
    assert isinstance(state, MessageReceived)
    assert (state.event, state.join_ref) == ("presence_state", 1)
    assert state.payload == {"alice": {"metas": [{"phx_ref": "GOtdJZmBrHShxgay", "user": "alice"}]}}


# -- binary frames through the session -------------------------------------------------


def test_binary_reply_push_and_broadcast(session: Session) -> None:
    # transcripts "binary" and "binary_server_push_broadcast"
    join_ok(session, "echo:a")
    session.push("echo:a", "binary", {"bytes": [0, 1, 2, 254, 255]})
    event = session.receive(
        Frame.binary(bytes.fromhex("01 01 01 06 02 31 32 65 63 68 6f 3a 61 6f 6b 00 01 02 fe ff"))
    )
    assert event == ReplyReceived(
        "echo:a",
        2,
        "ok",
        b"\x00\x01\x02\xfe\xff",
        {"status": "ok", "response": b"\x00\x01\x02\xfe\xff"},
    )
    event = session.receive(
        Frame.binary(
            bytes.fromhex("00 01 06 0a 31 65 63 68 6f 3a 61 62 69 6e 5f 70 75 73 68 65 64 01 02 03")
        )
    )
    assert event == MessageReceived("echo:a", "bin_pushed", b"\x01\x02\x03", 1)
    event = session.receive(
        Frame.binary(
            bytes.fromhex(
                "02 07 0f 65 63 68 6f 3a 62 62 62 69 6e 5f 62 72 6f 61 64 63 61 73 74 65 64 "
                "09 08 07"
            )
        )
    )
    assert event == MessageReceived("echo:bb", "bin_broadcasted", b"\t\x08\x07", None)


def test_binary_push_with_a_stale_join_ref_is_dropped(session: Session) -> None:
    join_ok(session)
    join_ok(session, "echo:a")  # join_ref 2
    frame = Frame.binary(
        bytes.fromhex("00 01 06 0a 31 65 63 68 6f 3a 61 62 69 6e 5f 70 75 73 68 65 64 01 02 03")
    )
    event = session.receive(frame)
    assert isinstance(event, MessageDropped)
    assert event.message == Message(1, None, "echo:a", "bin_pushed", b"\x01\x02\x03")


# -- malformed input -------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        '"just a string"',
        "null",
        "[]",
        '["ok"]',
        "{}",
        '{"response":{}}',
        '{"status":1,"response":{}}',
        '{"status":null,"response":{}}',
        '{"status":true}',
        '{"status":["ok"]}',
    ],
)
@pytest.mark.parametrize("setup", ["joining", "joined", "heartbeat"])
def test_malformed_reply_payload_is_a_protocol_error(
    session: Session, payload: str, setup: str
) -> None:
    if setup == "joining":
        session.join(TOPIC)
    elif setup == "joined":
        join_ok(session)
    else:
        session.heartbeat()
    state, pending = session.state(TOPIC), session.pending_heartbeat
    topic = "phoenix" if setup == "heartbeat" else TOPIC
    data = f'["1","1","{topic}","phx_reply",{payload}]'
    if setup == "heartbeat":
        data = f'[null,"1","{topic}","phx_reply",{payload}]'
    with pytest.raises(ProtocolError, match="a phx_reply payload needs a string status"):
        session.receive(wire(data))
    assert (session.state(TOPIC), session.pending_heartbeat) == (state, pending)


def test_malformed_reply_error_message_is_bounded(session: Session) -> None:
    with pytest.raises(ProtocolError) as info:
        session.receive(text(None, "1", TOPIC, "phx_reply", {"big": "x" * 1000}))
    assert len(str(info.value)) < 300


@pytest.mark.parametrize(
    "frame",
    [
        Frame.text("not json"),
        Frame.text('["1","2","echo:m"]'),
        Frame.text('{"topic":"echo:m","event":"echo","payload":{},"ref":"2"}'),
        Frame.binary(b"\x05\x00\x01"),
        Frame.binary(b""),
    ],
)
def test_undecodable_frames_raise_decode_error(session: Session, frame: Frame) -> None:
    join_ok(session)
    with pytest.raises(DecodeError) as info:
        session.receive(frame)
    assert isinstance(info.value, ProtocolError)
    assert session.state(TOPIC) is TopicState.JOINED


# -- events ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        Outbound(1, 1, Frame.text("[]")),
        Joined("t", {}, 1, {}),
        JoinRefused("t", {}, "error", 1),
        ChannelClosed("t", {}, "phx_close", 1),
        ReplyReceived("t", 1, "ok", {}, {"status": "ok", "response": {}}),
        MessageReceived("t", "e", {}, None),
        HeartbeatAcked(1),
        MessageDropped(Message(None, None, "t", "e", {}), "why"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_results_are_frozen(value: object) -> None:
    field = dataclasses.fields(value)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, field, None)


# -- abandoning a join that timed out ---------------------------------------------------


def test_abandon_join_sends_a_leave_with_the_join_ref_and_forgets_the_topic(
    session: Session,
) -> None:
    session.join(TOPIC)
    out = session.abandon_join(TOPIC)
    assert out == Outbound(2, 1, Frame(Opcode.TEXT, b'["1","2","room:lobby","phx_leave",{}]'))
    assert session.state(TOPIC) is None
    # the late join reply and the close of the abandoned channel are dropped
    assert isinstance(session.receive(reply("1", "1", TOPIC)), MessageDropped)
    assert isinstance(session.receive(text("1", "1", TOPIC, "phx_close", {})), MessageDropped)
    # and the topic can be joined again, with a new join_ref
    assert session.join(TOPIC).join_ref == 3


@pytest.mark.parametrize("joined", [False, True])
def test_abandon_join_needs_a_pending_join(session: Session, joined: bool) -> None:
    if joined:
        join_ok(session)
    with pytest.raises(NotJoinedError, match="no pending join"):
        session.abandon_join(TOPIC)


def test_abandon_join_checks_topic_and_connection(session: Session) -> None:
    with pytest.raises(InvalidMessageError):
        session.abandon_join(1)  # type: ignore[arg-type]
    session.disconnected()
    with pytest.raises(DisconnectedError):
        session.abandon_join(TOPIC)
