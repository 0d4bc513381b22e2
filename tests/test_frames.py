"""The websocket frame parser the reader thread uses (RFC 6455 section 5, server side)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phoenix_actor._transport.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameError,
    FrameParser,
    MessageTooBigError,
    ParsedMessage,
)


def frame(opcode: int, payload: bytes, *, fin: bool = True, first_byte: int | None = None) -> bytes:
    """An unmasked frame as a server sends it."""
    head = bytes([first_byte if first_byte is not None else (0x80 if fin else 0) | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([size])
    elif size < 1 << 16:
        head += bytes([126]) + size.to_bytes(2, "big")
    else:
        head += bytes([127]) + size.to_bytes(8, "big")
    return head + payload


def pairs(messages: list[ParsedMessage]) -> list[tuple[int, bytes]]:
    """``(opcode, payload)`` of each message; a text message's text is its payload decoded."""
    for opcode, payload, text in messages:
        if opcode == OP_TEXT:
            assert text == payload.decode("utf-8")
        else:
            assert text is None
    return [(opcode, payload) for opcode, payload, _ in messages]


def feed(parser: FrameParser, data: bytes) -> list[tuple[int, bytes]]:
    return pairs(parser.feed(data))


def test_one_text_frame_and_the_three_length_forms() -> None:
    parser = FrameParser()
    for size in (0, 125, 126, 65535, 65536):
        payload = b"x" * size
        assert feed(parser, frame(OP_TEXT, payload)) == [(OP_TEXT, payload)]


def test_bytes_split_anywhere_give_the_same_messages() -> None:
    data = frame(OP_TEXT, b"hello") + frame(OP_BINARY, b"\x00" * 300) + frame(OP_PING, b"p")
    for cut in range(len(data) + 1):
        parser = FrameParser()
        got = feed(parser, data[:cut]) + feed(parser, data[cut:])
        assert got == [(OP_TEXT, b"hello"), (OP_BINARY, b"\x00" * 300), (OP_PING, b"p")]


def test_fragments_are_joined_and_control_frames_pass_between_them() -> None:
    data = (
        frame(OP_TEXT, b"he", fin=False)
        + frame(OP_PING, b"")
        + frame(0x0, b"ll", fin=False)
        + frame(0x0, b"o")
        + frame(OP_CLOSE, b"\x03\xe8bye")
    )
    assert feed(FrameParser(), data) == [
        (OP_PING, b""),
        (OP_TEXT, b"hello"),
        (OP_CLOSE, b"\x03\xe8bye"),
    ]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (bytes([0x81, 0x81, 0, 0, 0, 0, 0x41]), "masked"),
        (bytes([0xC1, 0x00]), "reserved bits"),
        (frame(0x3, b""), "unknown data opcode"),
        (frame(0xB, b""), "unknown control opcode"),
        (frame(OP_PING, b"", fin=False), "control frames"),
        (frame(OP_PONG, b"x" * 126), "control frames"),
        (frame(0x0, b"x"), "no message to continue"),
        (frame(OP_TEXT, b"a", fin=False) + frame(OP_BINARY, b"b"), "before the last one ended"),
    ],
)
def test_invalid_frames_raise(data: bytes, problem: str) -> None:
    with pytest.raises(FrameError, match=problem):
        FrameParser().feed(data)


messages = st.lists(
    st.one_of(
        st.tuples(st.just(OP_BINARY), st.binary(max_size=70_000), st.integers(1, 3)),
        # Text is UTF-8; its fragments and chunks may cut a character in two.
        st.tuples(st.just(OP_TEXT), st.text(max_size=20_000).map(str.encode), st.integers(1, 3)),
    ),
    max_size=6,
)


@given(messages, st.lists(st.integers(1, 5000), min_size=1, max_size=20))
def test_any_messages_in_any_chunks_come_out_whole_and_in_order(
    sent: list[tuple[int, bytes, int]], chunk_sizes: list[int]
) -> None:
    wire = b""
    for opcode, payload, parts in sent:
        step = max(1, len(payload) // parts)
        pieces = [payload[i : i + step] for i in range(0, len(payload), step)] or [b""]
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            wire += frame(opcode if index == 0 else 0x0, piece, fin=last)
    parser = FrameParser()
    got: list[tuple[int, bytes]] = []
    position, turn = 0, 0
    while position < len(wire):
        size = chunk_sizes[turn % len(chunk_sizes)]
        got += feed(parser, wire[position : position + size])
        position += size
        turn += 1
    assert got == [(opcode, payload) for opcode, payload, _ in sent]


# -- RFC 6455 as Autobahn|Testsuite checks it -----------------------------------------

CLOSE_INVALID_DATA = 1007


def test_a_text_message_that_is_not_utf8_fails_with_1007() -> None:
    with pytest.raises(FrameError, match="not UTF-8") as caught:
        FrameParser().feed(frame(OP_TEXT, b"caf\xc3"))  # a character cut short at the end
    assert caught.value.code == CLOSE_INVALID_DATA


def test_a_binary_message_is_not_checked_as_utf8() -> None:
    assert feed(FrameParser(), frame(OP_BINARY, b"\xff\xc3")) == [(OP_BINARY, b"\xff\xc3")]


def test_a_bad_fragment_fails_as_it_arrives_not_at_the_end_of_the_message() -> None:
    parser = FrameParser()
    assert parser.feed(frame(OP_TEXT, "κόσμε".encode(), fin=False)) == []
    with pytest.raises(FrameError) as caught:
        parser.feed(frame(0x0, b"\xf4\x90\x80\x80", fin=False))  # above U+10FFFF
    assert caught.value.code == CLOSE_INVALID_DATA


def test_a_bad_byte_fails_even_before_its_frame_is_whole() -> None:
    parser = FrameParser()
    data = frame(OP_TEXT, "κόσμε".encode() + b"\xf4\x90\x80\x80" + b"edited")
    assert parser.feed(data[:8]) == []
    with pytest.raises(FrameError) as caught:
        parser.feed(data[8:16])  # the frame's last bytes are still to come
    assert caught.value.code == CLOSE_INVALID_DATA


def test_a_character_cut_by_chunks_and_fragments_is_decoded_once_whole() -> None:
    text = "añ€😀" * 50
    encoded = text.encode()
    data = frame(OP_TEXT, encoded[:7], fin=False) + frame(0x0, encoded[7:])
    parser = FrameParser()
    got: list[ParsedMessage] = []
    for i in range(0, len(data), 3):
        got += parser.feed(data[i : i + 3])
    assert got == [(OP_TEXT, encoded, text)]


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"\x03", "1-byte payload"),
        *[
            (code.to_bytes(2, "big"), f"invalid code {code}")
            for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535)
        ],
        ((1000).to_bytes(2, "big") + b"bad \xce\xba\xe1\xbd", "not UTF-8"),
    ],
)
def test_invalid_close_frames_fail_with_1002(payload: bytes, problem: str) -> None:
    with pytest.raises(FrameError, match=problem) as caught:
        FrameParser().feed(frame(OP_CLOSE, payload))
    assert caught.value.code == 1002


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]
)
def test_valid_close_codes_pass(code: int) -> None:
    payload = code.to_bytes(2, "big") + "à bientôt".encode()
    assert feed(FrameParser(), frame(OP_CLOSE, payload)) == [(OP_CLOSE, payload)]


def test_an_empty_close_frame_passes() -> None:
    assert feed(FrameParser(), frame(OP_CLOSE, b"")) == [(OP_CLOSE, b"")]


def test_nothing_after_a_close_frame_is_parsed() -> None:
    data = frame(OP_TEXT, b"a") + frame(OP_CLOSE, b"") + frame(0x3, b"junk")
    assert feed(FrameParser(), data) == [(OP_TEXT, b"a"), (OP_CLOSE, b"")]


@pytest.mark.parametrize(
    "bad",
    [
        frame(0x3, b""),  # reserved opcode
        frame(OP_TEXT, b"\xff"),  # not UTF-8
        frame(OP_CLOSE, b"\x03"),  # invalid close frame
        frame(OP_PING, b"x" * 126),  # control frame too long
    ],
)
def test_the_messages_before_an_error_are_kept_for_delivery(bad: bytes) -> None:
    good = frame(OP_TEXT, b"one") + frame(OP_PING, b"p") + frame(OP_BINARY, b"two")
    with pytest.raises(FrameError) as caught:
        FrameParser().feed(good + bad + frame(OP_TEXT, b"never"))
    assert pairs(caught.value.messages) == [(OP_TEXT, b"one"), (OP_PING, b"p"), (OP_BINARY, b"two")]


def test_a_64_bit_length_with_its_high_bit_set_fails() -> None:
    data = bytes([0x82, 127]) + (1 << 63).to_bytes(8, "big")
    with pytest.raises(FrameError, match="high bit") as caught:
        FrameParser().feed(data)
    assert caught.value.code == 1002


def test_a_frame_over_the_limit_fails_on_its_header_alone() -> None:
    header = bytes([0x82, 127]) + (50_000_000).to_bytes(8, "big")
    with pytest.raises(MessageTooBigError) as caught:
        FrameParser(max_size=1 << 20).feed(header)  # no payload byte was sent
    assert (caught.value.code, caught.value.size, caught.value.limit) == (1009, 50_000_000, 1 << 20)


def test_fragments_count_towards_the_limit_together() -> None:
    parser = FrameParser(max_size=100)
    assert parser.feed(frame(OP_TEXT, b"x" * 60, fin=False)) == []
    assert parser.feed(frame(OP_PING, b"")) != []  # control frames do not count
    with pytest.raises(MessageTooBigError) as caught:
        parser.feed(frame(0x0, b"x" * 41, fin=False)[:2])
    assert caught.value.size == 101


def test_a_message_of_exactly_the_limit_passes_and_the_count_starts_again() -> None:
    parser = FrameParser(max_size=100)
    one = frame(OP_BINARY, b"x" * 50, fin=False) + frame(0x0, b"y" * 50)
    assert feed(parser, one + one) == [(OP_BINARY, b"x" * 50 + b"y" * 50)] * 2


def test_endless_empty_fragments_hold_no_memory() -> None:
    parser = FrameParser(max_size=10)
    parser.feed(frame(OP_BINARY, b"", fin=False))
    for _ in range(1000):
        parser.feed(frame(0x0, b"", fin=False))
    assert parser._fragments == []
    assert feed(parser, frame(0x0, b"end")) == [(OP_BINARY, b"end")]


def test_no_limit_with_none() -> None:
    payload = b"x" * (3 << 20)
    assert feed(FrameParser(max_size=None), frame(OP_BINARY, payload)) == [(OP_BINARY, payload)]


def test_a_bad_fragment_fails_before_the_control_frame_that_follows_it() -> None:
    data = frame(OP_TEXT, b"ok", fin=False) + frame(0x0, b"\xff", fin=False)
    with pytest.raises(FrameError) as caught:
        FrameParser().feed(data + frame(OP_PING, b"p") + frame(OP_CLOSE, b""))
    assert caught.value.code == CLOSE_INVALID_DATA
    assert caught.value.messages == []  # neither the ping nor the close


def test_a_character_cut_by_a_read_is_checked_whole() -> None:
    """A valid character split between two reads is no error; an invalid one is."""
    parser = FrameParser()
    data = frame(OP_TEXT, "€uro".encode())
    assert parser.feed(data[:3]) == []  # the header and the first byte of €
    assert parser.feed(data[3:]) == [(OP_TEXT, "€uro".encode(), "€uro")]
    parser = FrameParser()
    bad = frame(OP_TEXT, b"\xe2\x82" + b"x" * 10)  # € cut short, then more
    assert parser.feed(bad[:4]) == []
    with pytest.raises(FrameError):
        parser.feed(bad[4:6])  # the frame is not whole yet


@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.builds(
                frame,
                st.sampled_from([0x0, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, 0x3]),
                st.one_of(st.binary(max_size=200), st.text(max_size=50).map(str.encode)),
                fin=st.booleans(),
            ),
        ),
        max_size=12,
    ),
    st.integers(1, 64),
)
def test_any_bytes_give_messages_or_a_frame_error_and_nothing_else(
    pieces: list[bytes], step: int
) -> None:
    parser = FrameParser(max_size=300)
    data = b"".join(pieces)
    code = None
    try:
        for i in range(0, len(data), step):
            for opcode, payload, text in parser.feed(data[i : i + step]):
                if opcode == OP_TEXT:
                    assert text == payload.decode("utf-8")
    except FrameError as exc:
        code = exc.code
    assert code in (None, 1002, 1007, 1009)
