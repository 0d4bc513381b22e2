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


def test_one_text_frame_and_the_three_length_forms() -> None:
    parser = FrameParser()
    for size in (0, 125, 126, 65535, 65536):
        payload = b"x" * size
        assert parser.feed(frame(OP_TEXT, payload)) == [(OP_TEXT, payload)]


def test_bytes_split_anywhere_give_the_same_messages() -> None:
    data = frame(OP_TEXT, b"hello") + frame(OP_BINARY, b"\x00" * 300) + frame(OP_PING, b"p")
    for cut in range(len(data) + 1):
        parser = FrameParser()
        got = parser.feed(data[:cut]) + parser.feed(data[cut:])
        assert got == [(OP_TEXT, b"hello"), (OP_BINARY, b"\x00" * 300), (OP_PING, b"p")]


def test_fragments_are_joined_and_control_frames_pass_between_them() -> None:
    data = (
        frame(OP_TEXT, b"he", fin=False)
        + frame(OP_PING, b"")
        + frame(0x0, b"ll", fin=False)
        + frame(0x0, b"o")
        + frame(OP_CLOSE, b"\x03\xe8bye")
    )
    assert FrameParser().feed(data) == [
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
    st.tuples(st.sampled_from([OP_TEXT, OP_BINARY]), st.binary(max_size=70_000), st.integers(1, 3)),
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
        got += parser.feed(wire[position : position + size])
        position += size
        turn += 1
    assert got == [(opcode, payload) for opcode, payload, _ in sent]
