"""Bad input never kills the socket: fuzzed frames, unencodable payloads, bad options.

Every malformed inbound frame must come out as one WARNING of ``phoenix_actor.socket``
carrying a :class:`~phoenix_actor.ProtocolError`, and the next valid frame must still
be delivered. Every bad user input must raise a typed error of
``phoenix_actor.exceptions``. The frame strategies run twice: straight into the
protocol core (many examples, no threads) and through a running SocketActor driven by
the FakeConnector. ``PHOENIX_ACTOR_STRESS=1`` multiplies the example counts.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import inspect
import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pykka
import pytest
from hypothesis import given
from hypothesis import strategies as st

import phoenix_actor as pa
from phoenix_actor._protocol import session as _session
from phoenix_actor.serializer import V1JSONSerializer
from phoenix_actor.testing import FakeConnection, FakeConnector
from tests.conftest import TIMEOUT
from tests.faults import FUZZED, STRESS, LogCapture, Probe, fuzz_settings, running

#: The stress mode runs far past the suite's 60 s per-test ceiling.
pytestmark = [pytest.mark.timeout(3600)] if STRESS else []

URL = "ws://example.test/socket/websocket"
TOPIC = "room:1"
SOCKET_LOGGER = "phoenix_actor.socket"
DROPPED = "dropped a malformed frame"


@pytest.fixture(scope="module", autouse=True)
def _report_fuzz_counts(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print how many frames and inputs were fuzzed, for the README's figures."""
    yield
    total = sum(FUZZED.values())
    detail = ", ".join(f"{kind}: {count}" for kind, count in sorted(FUZZED.items()))
    line = f"phoenix_actor fault fuzz: {total} inputs fuzzed ({detail})"
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is None or reporter is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


# -- strategies ------------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=16)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=10,
)
#: Refs as servers write them: null, integers, decimal strings, other strings.
REFS = st.none() | st.integers(0, 10**6) | st.integers(0, 10**6).map(str) | st.text(max_size=6)
#: JSON values that are no ref: booleans, floats, arrays, objects.
NOT_REFS = (
    st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.lists(JSON_SCALARS, max_size=3)
    | st.dictionaries(st.text(max_size=4), JSON_SCALARS, max_size=2)
)
#: JSON values that are no string.
NOT_STRINGS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.lists(JSON_SCALARS, max_size=3)
    | st.dictionaries(st.text(max_size=4), JSON_SCALARS, max_size=2)
)
TOPICS = st.sampled_from([TOPIC, "room:2", "phoenix", "sentinel"]) | st.text(max_size=12)
EVENTS = st.sampled_from(
    ["phx_reply", "phx_close", "phx_error", "phx_join", "phx_leave", "heartbeat"]
) | st.text(max_size=12)
#: ``phx_reply`` payloads without a string status.
BAD_REPLY_PAYLOADS = (
    NOT_STRINGS.filter(lambda v: not isinstance(v, dict))
    | st.dictionaries(st.sampled_from(["response", "x"]), JSON_VALUES, max_size=2)
    | st.builds(lambda status, resp: {"status": status, "response": resp}, NOT_STRINGS, JSON_VALUES)
)


def _text(value: Any) -> pa.Frame:
    return pa.Frame.text(json.dumps(value))


@st.composite
def wrong_field(draw: st.DrawFn) -> tuple[int, pa.Frame]:
    """A ``[join_ref, ref, topic, event, payload]`` frame with one field of a wrong type
    (for the payload: a ``phx_reply`` whose payload has no string status)."""
    message = [draw(REFS), draw(REFS), draw(TOPICS), draw(EVENTS), draw(JSON_VALUES)]
    index = draw(st.integers(0, 4))
    if index < 2:
        message[index] = draw(NOT_REFS)
    elif index < 4:
        message[index] = draw(NOT_STRINGS)
    else:
        message[3] = "phx_reply"
        message[4] = draw(BAD_REPLY_PAYLOADS)
    return index, _text(message)


@st.composite
def binary_frames(draw: st.DrawFn) -> pa.Frame:
    """Phoenix binary frames (push 0, reply 1, broadcast 2, or another kind) whose
    header sizes may claim more than the frame holds, cut anywhere, with any bytes."""
    kind = draw(st.sampled_from([0, 1, 2]) | st.integers(0, 255))
    count = {0: 3, 1: 4, 2: 2}.get(kind, 3)
    sizes = draw(st.lists(st.integers(0, 255), min_size=count, max_size=count))
    body_size = draw(st.integers(0, sum(sizes) + 8))
    body = draw(st.binary(min_size=body_size, max_size=body_size) | st.just(b"a" * body_size))
    data = bytes([kind, *sizes]) + body
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return pa.Frame.binary(data)


@st.composite
def unusual_messages(draw: st.DrawFn) -> pa.Frame:
    """Well-formed frames with unknown events and reply statuses, odd refs and topics."""
    if draw(st.booleans()):
        event = draw(st.text(max_size=12))
        return _text([draw(REFS), draw(REFS), draw(TOPICS), event, draw(JSON_VALUES)])
    payload = {"status": draw(st.text(max_size=8)), "response": draw(JSON_VALUES)}
    return _text([draw(REFS), draw(REFS), draw(TOPICS), "phx_reply", payload])


#: Every kind of inbound frame, tagged with its kind for the counts.
FRAMES = st.one_of(
    st.tuples(st.just("text"), st.text(max_size=200).map(pa.Frame.text)),
    st.tuples(st.just("text-bytes"), st.binary(max_size=200).map(pa.Frame.text)),
    st.tuples(st.just("binary-raw"), st.binary(max_size=200).map(pa.Frame.binary)),
    st.tuples(st.just("binary-header"), binary_frames()),
    st.tuples(st.just("json-shape"), JSON_VALUES.map(_text)),
    st.tuples(st.just("json-array"), st.lists(JSON_VALUES, min_size=4, max_size=6).map(_text)),
    st.tuples(st.just("wrong-field"), wrong_field().map(lambda pair: pair[1])),
    st.tuples(st.just("unusual"), unusual_messages()),
)


def expected_error(frame: pa.Frame) -> pa.ProtocolError | None:
    """What the protocol core says of ``frame``: the ProtocolError it raises, or None.

    Whether a frame is malformed does not depend on the session's state, so a fresh
    session answers for the socket's. Any other exception fails the calling test.
    """
    try:
        _session.Session(pa.JSONSerializer()).receive(frame)
    except pa.ProtocolError as exc:
        return exc
    return None


def busy_session() -> _session.Session:
    """A session with a joined topic, a pending join and a pending heartbeat."""
    session = _session.Session(pa.JSONSerializer())
    session.connected()
    session.join("room:1")
    joined = session.join("room:2")
    session.receive(_text(["2", "2", "room:2", "phx_reply", {"status": "ok", "response": {}}]))
    assert joined.ref == 2
    session.heartbeat()
    return session


# -- the protocol core, fuzzed directly ------------------------------------------------


@fuzz_settings(ci=1000, stress=50_000)
@given(FRAMES)
def test_the_core_answers_any_frame_with_an_event_or_a_protocol_error(
    tagged: tuple[str, pa.Frame],
) -> None:
    kind, frame = tagged
    FUZZED[f"core:{kind}"] += 1
    session = busy_session()
    try:
        event = session.receive(frame)
    except pa.ProtocolError:
        return
    assert isinstance(event, _session.Event.__args__)  # type: ignore[attr-defined]


@fuzz_settings(ci=300, stress=10_000)
@given(wrong_field())
def test_a_wrong_type_in_any_of_the_five_fields_is_a_protocol_error(
    case: tuple[int, pa.Frame],
) -> None:
    index, frame = case
    FUZZED[f"core:wrong-field-{index}"] += 1
    with pytest.raises(pa.ProtocolError) as raised:
        busy_session().receive(frame)
    if index < 4:  # refs, topic and event are checked by the serializer
        assert isinstance(raised.value, pa.DecodeError)
    else:
        assert "status" in str(raised.value)


#: Protocol 1.0.0 frames: JSON objects with any of its keys, of any type.
V1_OBJECTS = st.fixed_dictionaries(
    {},
    optional={
        "topic": TOPICS | NOT_STRINGS,
        "event": EVENTS | NOT_STRINGS,
        "payload": JSON_VALUES,
        "ref": REFS | NOT_REFS,
        "join_ref": REFS | NOT_REFS,
    },
).map(_text)


@fuzz_settings(ci=300, stress=10_000)
@given(st.one_of(FRAMES.map(lambda tagged: tagged[1]), V1_OBJECTS))
def test_the_core_with_the_v1_serializer_answers_any_frame(frame: pa.Frame) -> None:
    FUZZED["core:v1"] += 1
    session = _session.Session(V1JSONSerializer())
    session.connected()
    session.join("room:1")
    try:
        event = session.receive(frame)
    except pa.ProtocolError:
        return
    assert isinstance(event, _session.Event.__args__)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty"),
        (b"\x00", "too short"),
        (b"\x00\x05\x00", "too short"),
        (b"\x00\x05\x00\x00ab", "truncated"),
        (b"\x01\x01\x01\x05\x02" + b"1" * 3, "truncated"),
        (b"\x02\xff\xff" + b"t" * 300, "truncated"),
        (b"\x02\x02\x01\xff\xfe" + b"e", "UTF-8"),
        (b"\x03\x00\x00\x00", "unknown binary frame kind"),
        (b"\xff" * 8, "unknown binary frame kind"),
    ],
)
def test_oversized_and_truncated_binary_headers(data: bytes, problem: str) -> None:
    with pytest.raises(pa.DecodeError, match=problem):
        pa.JSONSerializer().decode(pa.Frame.binary(data))


# -- through a running socket actor ----------------------------------------------------


@dataclass
class Harness:
    """A running socket joined to TOPIC on a fake connection."""

    ref: pykka.ActorRef[Any]
    client: Probe
    server: FakeConnection
    join: pa.Message
    sentinels: int = 0

    def sentinel(self) -> None:
        """Deliver a valid broadcast and wait for its handle_message (the socket lives)."""
        self.sentinels += 1
        number = self.sentinels
        self.server.push("sentinel", "after", {"n": number})
        self.client.events.take(
            lambda e: e[0] == "message" and e[1] == "sentinel" and e[3] == {"n": number},
            TIMEOUT,
            f"sentinel {number}",
        )
        self.client.events.clear()

    def run(self, function: Any) -> Any:
        return pa.execute(self.ref, function, TIMEOUT)


@contextlib.contextmanager
def joined_socket() -> Iterator[Harness]:
    connector = FakeConnector()
    client = Probe(pa.Connect(URL), connected=lambda conn: conn.join(TOPIC))
    ref = pa.SocketActor.start(client, transport_factory=connector, heartbeat_interval=None)
    with running(ref):
        server = connector.next_connection()
        server.accept()
        join = server.expect("phx_join", TOPIC)
        server.reply(join, "ok", {})
        client.wait("joined")
        client.events.clear()
        yield Harness(ref, client, server, join)


def malformed_records(logs: LogCapture) -> list[logging.LogRecord]:
    return [r for r in logs.records() if r.getMessage().startswith(DROPPED)]


def test_the_socket_actor_survives_fuzzed_frames_and_delivers_the_next_one() -> None:
    outcomes: collections.Counter[str] = collections.Counter()
    with joined_socket() as harness, LogCapture() as logs:

        @fuzz_settings(ci=300, stress=20_000)
        @given(FRAMES)
        def one_frame(tagged: tuple[str, pa.Frame]) -> None:
            kind, frame = tagged
            FUZZED[f"actor:{kind}"] += 1
            expected = expected_error(frame)
            logs.clear()
            harness.server.send_frame(frame)
            harness.sentinel()
            dropped = malformed_records(logs)
            outcomes["valid" if expected is None else "malformed"] += 1
            if expected is None:
                assert dropped == []
            else:
                assert len(dropped) == 1, [r.getMessage() for r in dropped]
                record = dropped[0]
                assert (record.name, record.levelno) == (SOCKET_LOGGER, logging.WARNING)
                error = record.args[0]  # type: ignore[index]
                assert type(error) is type(expected)
                assert isinstance(error, pa.ProtocolError)
                assert str(expected) in record.getMessage()
            assert logs.records(logging.ERROR) == []

        one_frame()
        assert harness.ref.is_alive()
    assert outcomes["valid"] > 0
    assert outcomes["malformed"] > 0


def test_unknown_events_reach_handle_message() -> None:
    with joined_socket() as harness:
        harness.server.push(TOPIC, "no such event", {"a": 1}, join_ref=harness.join.join_ref)
        harness.server.push(TOPIC, "", [1, 2])
        got = [harness.client.wait("message")[1:4] for _ in range(2)]
        assert got == [(TOPIC, "no such event", {"a": 1}), (TOPIC, "", [1, 2])]


def test_unknown_reply_statuses() -> None:
    """A push reply with any status reaches handle_reply whole; a join reply whose
    status is neither ok nor error is a join error, with a warning."""
    with joined_socket() as harness, LogCapture() as logs:
        harness.run(lambda conn: conn.push(TOPIC, "ping", {}))
        push = harness.server.expect("ping")
        harness.server.reply(push, "maybe", {"x": 1})
        _, topic, ref, payload, _conn = harness.client.wait("reply")
        assert (topic, ref, payload) == (TOPIC, push.ref, {"status": "maybe", "response": {"x": 1}})
        harness.run(lambda conn: conn.join("room:odd"))
        join = harness.server.expect("phx_join", "room:odd")
        harness.server.reply(join, "later", {"why": "busy"})
        assert harness.client.wait("join_error")[1:3] == ("room:odd", {"why": "busy"})
        record = logs.wait_for(lambda r: "treated as an error" in r.getMessage())
        assert (record.name, record.levelno) == (SOCKET_LOGGER, logging.WARNING)
        assert "'later'" in record.getMessage()
        harness.sentinel()


def _nested_list(depth: int) -> list[Any]:
    outer: list[Any] = []
    inner = outer
    for _ in range(depth):
        inner.append([])
        inner = inner[0]
    return outer


DEEP = 100_000


@pytest.mark.parametrize(
    "text",
    ["[" * DEEP, '[null,null,"room:1","e",' + "[" * DEEP + "]" * DEEP + "]"],
    ids=["unclosed", "deep-payload"],
)
def test_deeply_nested_json_is_a_decode_error(text: str) -> None:
    with joined_socket() as harness, LogCapture() as logs:
        FUZZED["actor:deep-json"] += 1
        harness.server.send_frame(pa.Frame.text(text))
        harness.sentinel()  # passes today: the actor survives
        dropped = malformed_records(logs)
        assert len(dropped) == 1, [r.getMessage()[:120] for r in logs.records()]
        assert isinstance(dropped[0].args[0], pa.DecodeError)  # type: ignore[index]


@pytest.mark.parametrize("serializer", [pa.JSONSerializer, V1JSONSerializer])
def test_deeply_nested_json_is_a_decode_error_in_every_serializer(serializer: Any) -> None:
    with pytest.raises(pa.DecodeError):
        serializer().decode(pa.Frame.text("[" * DEEP))


@pytest.mark.parametrize(
    "message",
    [
        [{"k": "x" * 100_000}, None, TOPIC, "e", {}],
        [None, ["x" * 100_000], TOPIC, "e", {}],
        [None, None, {"k": "x" * 100_000}, "e", {}],
    ],
    ids=["join_ref", "ref", "topic"],
)
def test_a_malformed_frame_is_logged_in_bounded_size(message: list[Any]) -> None:
    with joined_socket() as harness, LogCapture() as logs:
        harness.server.send_frame(_text(message))
        harness.sentinel()
        (record,) = malformed_records(logs)
        assert len(record.getMessage()) < 2_000


# -- bad user input: payloads, topics, events ------------------------------------------


class Opaque:
    """Not JSON."""


class HugeInt(int):
    """An int longer than the 4300 digits Python turns into text; a short repr."""

    def __repr__(self) -> str:
        return "HugeInt(10**5000)"


UNENCODABLE_LEAVES = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, HugeInt(10**5000), 1j, {1, 2}]),
    st.builds(Opaque),
    st.builds(object),
    st.just({(1, 2): "a tuple key"}),
    st.text(max_size=8).map(lambda t: t + "\ud800"),  # a lone surrogate: not UTF-8
)
#: Payloads that hold at least one value JSON cannot carry, somewhere inside.
UNENCODABLE = st.recursive(
    UNENCODABLE_LEAVES,
    lambda kids: st.one_of(
        st.tuples(st.lists(JSON_SCALARS, max_size=3), kids).map(lambda t: [*t[0], t[1]]),
        st.tuples(JSON_VALUES, kids).map(lambda t: {"fine": t[0], "bad": t[1]}),
    ),
    max_leaves=4,
)


@fuzz_settings(ci=400, stress=20_000)
@given(UNENCODABLE)
def test_the_serializer_refuses_unencodable_payloads_with_encode_error(payload: Any) -> None:
    FUZZED["core:unencodable-payload"] += 1
    with pytest.raises(pa.EncodeError):
        pa.JSONSerializer().encode(pa.Message(1, 2, TOPIC, "event", payload))


def test_nan_and_infinity_are_refused_not_sent_as_invalid_json() -> None:
    """Python's json writes NaN and Infinity, which are not JSON and which Phoenix's
    Jason refuses (the server would close with 1011): the serializer refuses them."""
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(pa.EncodeError, match="JSON"):
            pa.JSONSerializer().encode(pa.Message(1, 2, TOPIC, "event", {"v": value}))


def test_unencodable_payloads_through_the_actor() -> None:
    attempts = 0
    with joined_socket() as harness:

        @fuzz_settings(ci=150, stress=5_000)
        @given(UNENCODABLE, st.sampled_from(["push", "join", "leave"]))
        def one_payload(payload: Any, how: str) -> None:
            nonlocal attempts
            attempts += 1
            FUZZED[f"actor:unencodable-{how}"] += 1
            if how == "push":
                call: Any = lambda conn: conn.push(TOPIC, "event", payload)  # noqa: E731
            elif how == "join":
                call = lambda conn: conn.join("room:other", payload)  # noqa: E731
            else:
                call = lambda conn: conn.leave(TOPIC, payload)  # noqa: E731
            with pytest.raises(pa.EncodeError):
                harness.run(call)
            # nothing changed: the topic is still joined, room:other can be joined later
            assert harness.run(lambda conn: (conn.joined(TOPIC), conn.joined("room:other"))) == (
                True,
                False,
            )
            ref = harness.run(lambda conn: conn.push(TOPIC, "after", {}))
            assert harness.server.expect("after").ref == ref

        one_payload()
        # each failed encode consumed a ref, as the original does (join ref 1, then two
        # refs per attempt: the failed one and "after")
        assert harness.run(lambda conn: conn.push(TOPIC, "last", {})) == 2 + 2 * attempts


def test_a_deeply_nested_payload_is_an_encode_error() -> None:
    with joined_socket() as harness:
        payload = _nested_list(DEEP)
        with pytest.raises(pa.EncodeError):
            harness.run(lambda conn: conn.push(TOPIC, "deep", payload))


class TopicStr(str):
    """A str subclass: refused, as the session requires exact str topics."""


BAD_NAMES: list[Any] = [None, 1, 1.5, True, b"room:1", ["room:1"], {"t": 1}, TopicStr("room:1")]


@pytest.mark.parametrize("topic", BAD_NAMES, ids=repr)
def test_wrong_topic_types_are_invalid_message_errors_and_use_no_ref(topic: Any) -> None:
    with joined_socket() as harness:
        first = harness.run(lambda conn: conn.push(TOPIC, "before", {}))
        for call in (
            lambda conn: conn.join(topic, {}),
            lambda conn: conn.push(topic, "event", {}),
            lambda conn: conn.leave(topic),
        ):
            FUZZED["actor:bad-topic"] += 1
            with pytest.raises(pa.InvalidMessageError, match="topic"):
                harness.run(call)
        assert harness.run(lambda conn: conn.push(TOPIC, "after", {})) == first + 1


@pytest.mark.parametrize("event", [*BAD_NAMES, "phx_join", "phx_leave", "phx_reply"], ids=repr)
def test_wrong_event_types_and_protocol_events_are_invalid_message_errors(event: Any) -> None:
    with joined_socket() as harness:
        first = harness.run(lambda conn: conn.push(TOPIC, "before", {}))
        FUZZED["actor:bad-event"] += 1
        with pytest.raises(pa.InvalidMessageError):
            harness.run(lambda conn: conn.push(TOPIC, event, {}))
        assert harness.run(lambda conn: conn.push(TOPIC, "after", {})) == first + 1


def test_a_binary_push_with_an_oversized_header_field_is_an_encode_error() -> None:
    long_topic = "room:" + "é" * 130  # 265 bytes of UTF-8: over the binary header's 255
    with joined_socket() as harness:
        harness.run(lambda conn: conn.join(long_topic))
        harness.server.reply(harness.server.expect("phx_join", long_topic), "ok", {})
        harness.client.wait("joined")
        with pytest.raises(pa.EncodeError, match="255"):
            harness.run(lambda conn: conn.push(long_topic, "bin", b"\x00\x01"))
        with pytest.raises(pa.EncodeError, match="255"):
            harness.run(lambda conn: conn.push(TOPIC, "e" * 256, b"\x00"))
        harness.run(lambda conn: conn.push(long_topic, "text", {}))  # JSON has no limit
        assert harness.server.expect("text").topic == long_topic


@fuzz_settings(ci=200, stress=10_000)
@given(st.text(max_size=40) | st.binary(max_size=10) | NOT_STRINGS)
def test_any_url_is_accepted_or_an_invalid_url_error(url: Any) -> None:
    FUZZED["core:url"] += 1
    try:
        pa.Connect(url)
    except pa.InvalidURLError:
        pass


@fuzz_settings(ci=200, stress=10_000)
@given(JSON_VALUES | st.lists(st.tuples(JSON_SCALARS, JSON_SCALARS), max_size=3))
def test_any_params_are_accepted_or_a_config_error(params: Any) -> None:
    FUZZED["core:params"] += 1
    try:
        pa.Connect(URL, params)
    except pa.ConfigError:
        pass


# -- bad configuration -----------------------------------------------------------------


def known_options() -> set[str]:
    """The keyword options ``SocketActor.start`` accepts today."""
    config = getattr(pa, "Config", None)
    if config is not None:
        return {field.name for field in dataclasses.fields(config)}
    parameters = inspect.signature(pa.SocketActor.__init__).parameters.values()
    return {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


NOT_SECONDS: list[Any] = [0, -1, True, "30", math.nan, [1]]
NOT_SCHEDULES: list[Any] = ["10", 5, [], [-1], [True], [math.nan], ["1"], {"a": 1}]

#: Bad values for every option of SocketActor.start.
BAD_OPTIONS: dict[str, list[Any]] = {
    "serializer": ["json", 42, object(), pa.Frame],
    "transport_options": [{"headers": {}}, "ws", 10],
    "transport_factory": [42, "websocket", object()],
    "callback_errors": ["ignore", "", None, 1],
    "heartbeat_interval": NOT_SECONDS,
    "reconnect_after": NOT_SCHEDULES,
    "reconnect_jitter": [-0.1, 1.5, True, "0.1", math.nan, None],
    "rejoin_after": NOT_SCHEDULES,
    "push_timeout": [*NOT_SECONDS, None],
    "push_buffer": [-1, 1.5, True, "3", None],
    "observer": [42, print, object()],
    "max_pending_frames": [0, -1, True, 1.5, "10"],
    "runtime": ["pool", None, 4, "THREADS"],
}


def test_every_option_has_bad_value_cases() -> None:
    missing = known_options() - set(BAD_OPTIONS)
    assert not missing, f"add bad values for the new options {sorted(missing)} to BAD_OPTIONS"


def _start_expecting_config_error(**options: Any) -> None:
    ref: pykka.ActorRef[Any] | None = None
    try:
        with pytest.raises(pa.ConfigError):
            ref = pa.SocketActor.start(Probe(pa.NoConnect(URL)), **options)
    finally:
        if ref is not None:
            ref.stop(block=True, timeout=TIMEOUT)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param(name, value, id=f"{name}={value!r:.30}")
        for name, values in BAD_OPTIONS.items()
        for value in values
    ],
)
def test_bad_option_values_are_config_errors(name: str, value: Any) -> None:
    if name not in known_options():
        pytest.skip(f"SocketActor has no {name} option")
    FUZZED["config:option"] += 1
    _start_expecting_config_error(**{name: value})


def test_unknown_options_are_config_errors() -> None:
    _start_expecting_config_error(heartbeat_intervall=5)


#: Seconds that pass validation today but make the process-wide timer thread raise
#: OverflowError and die once scheduled (see test_fault_blackhole's scheduler test).
UNSCHEDULABLE = [math.inf, 1e12]


_UNSCHEDULABLE = (
    "bug: infinite or huge seconds (> threading.TIMEOUT_MAX) pass validation; once "
    "scheduled they kill the shared timer thread, stopping every timer of the process"
)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param(name, value, id=f"{name}={value}")
        for name in ("heartbeat_interval", "push_timeout")
        for value in UNSCHEDULABLE
    ]
    + [pytest.param("reconnect_after", (0.1, math.inf), id="reconnect_after=(0.1, inf)")],
)
def test_unschedulable_seconds_are_config_errors(name: str, value: Any) -> None:
    _start_expecting_config_error(**{name: value})


_LATE = (
    "bug: accepted by TransportOptions, then every connection attempt fails with an "
    "untyped TransportDown('{}') (and the default Reconnect retries it for ever)"
)

#: Bad values for every TransportOptions field.
BAD_TRANSPORT_FIELDS: dict[str, list[Any]] = {
    "connect_timeout": [
        0,
        -1,
        math.nan,
        "10",
        True,
        math.inf,
    ],
    "headers": ["Authorization: x", {"x-n": 1}, [("a", "b")], {"bad name": "v"}, {"x": "a\r\nb"}],
    "origin": [5, b"http://example.test"],
    "subprotocols": ["phoenix", [1], ["a b"]],
    "sslopt": [None, "CERT_NONE"],
    "extra": [
        None,
        "x",
        {"timeout": 1},
        {"sockopt": 5},
        {"redirect_limt": 3},
    ],
    "auth_token": ["", 5, b"token"],
    "ca_file": [5, b"/ca.pem"],
    "client_cert": [5],
    "client_key": ["/key.pem"],
    "client_key_password": ["secret", 5],
    "ssl_context": ["context", 5],
    "proxy": ["proxy:8080", "ftp://proxy:21", "http://proxy", 5],
    "no_proxy": ["localhost", [1]],
    "ping_interval": [
        0,
        -1,
        math.nan,
        "5",
        True,
        *(value for value in UNSCHEDULABLE),
    ],
    "ping_timeout": [0, -1, math.nan, "5", True, 5],
    "shared_reader": [1, 0, "yes", None],
    "max_message_size": [0, -1, 1.5, math.inf, True, "1024", [1]],
}


def test_every_transport_option_has_bad_value_cases() -> None:
    fields = {field.name for field in dataclasses.fields(pa.TransportOptions)}
    missing = fields - set(BAD_TRANSPORT_FIELDS)
    assert not missing, f"add bad values for {sorted(missing)} to BAD_TRANSPORT_FIELDS"


def _transport_cases() -> list[Any]:
    cases = []
    for name, values in BAD_TRANSPORT_FIELDS.items():
        for value in values:
            if isinstance(value, type(pytest.param(None))):
                (inner,) = value.values
                cases.append(
                    pytest.param(name, inner, marks=value.marks, id=f"{name}={inner!r:.30}")
                )
            else:
                cases.append(pytest.param(name, value, id=f"{name}={value!r:.30}"))
    return cases


@pytest.mark.parametrize(("name", "value"), _transport_cases())
def test_bad_transport_option_values_are_config_errors(name: str, value: Any) -> None:
    FUZZED["config:transport-option"] += 1
    with pytest.raises(pa.ConfigError):
        pa.TransportOptions(**{name: value})


def test_a_bad_ref_format_is_a_config_error() -> None:
    with pytest.raises(pa.ConfigError):
        pa.JSONSerializer(ref_format="hex")  # type: ignore[arg-type]


def test_a_serializer_class_instead_of_an_instance_is_a_config_error() -> None:
    """Found by this suite: the class passed Config's hasattr checks and join() then
    raised TypeError."""
    _start_expecting_config_error(serializer=pa.JSONSerializer)
