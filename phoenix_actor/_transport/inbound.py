"""What arrives on one connection, chunk by chunk, for whichever thread reads it.

A connection's own reader thread and the shared reader (``_shared_reader``) both hand
each chunk they read to an :class:`Inbound`: it parses the frames, reports the data
frames to the listener in one batch, answers pings, counts pongs, and on a close frame
answers it and returns why the connection ended.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable

import websocket

from phoenix_actor._protocol.message import Frame, Opcode
from phoenix_actor._transport.errors import _close_reason
from phoenix_actor._transport.frames import (
    OP_BINARY,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameError,
    FrameParser,
    MessageTooBigError,
    ParsedMessage,
)
from phoenix_actor._transport.reasons import DisconnectReason, MessageTooBig, ProtocolViolation
from phoenix_actor._transport.wire import encode_frame

logger = logging.getLogger("phoenix_actor.transport")

CLOSE_NORMAL = 1000
#: How much a reader asks the socket for at once.
READ_SIZE = 65536
#: Why a connection ended when the socket said no more (websocket-client's words).
LOST = "Connection to remote host was lost."


def close_frame(code: int) -> bytes:
    """A client close frame with ``code`` and no reason."""
    return encode_frame(struct.pack("!H", code), websocket.ABNF.OPCODE_CLOSE)


class Inbound:
    """Parses one connection's chunks (see the module).

    ``report`` takes a batch of data frames; ``answer`` writes a control frame (a pong
    or a close) and must not raise; ``closing`` is called before a close frame is
    answered; ``pong`` counts a pong. ``max_message_size`` bounds an inbound message
    (None: no limit).
    """

    __slots__ = ("_answer", "_closing", "_feed", "_pong", "_report")

    def __init__(
        self,
        report: Callable[[list[Frame]], None],
        answer: Callable[[bytes], None],
        closing: Callable[[], None],
        pong: Callable[[], None],
        max_message_size: int | None = None,
    ) -> None:
        self._feed = FrameParser(max_message_size).feed
        self._report = report
        self._answer = answer
        self._closing = closing
        self._pong = pong

    def __call__(self, data: bytes) -> DisconnectReason | None:
        """Take one chunk; the reason the connection ended, if this chunk ended it."""
        try:
            messages = self._feed(data)
        except FrameError as exc:
            # What came before the error is delivered first (and a close frame among
            # it ends the connection as usual).
            reason = self._deliver(exc.messages)
            if reason is not None:
                return reason
            logger.warning(
                "the server broke the websocket protocol; closing with %d: %s", exc.code, exc
            )
            self._closing()
            self._answer(close_frame(exc.code))
            if isinstance(exc, MessageTooBigError):
                return MessageTooBig(exc.size, exc.limit)
            return ProtocolViolation(exc.code, str(exc))
        return self._deliver(messages)

    def _deliver(self, messages: list[ParsedMessage]) -> DisconnectReason | None:
        """Report the data messages, answer the control frames; a close frame's reason."""
        batch: list[Frame] = []
        for opcode, payload, text in messages:
            if opcode == OP_TEXT:
                batch.append(Frame(Opcode.TEXT, payload, text))
            elif opcode == OP_BINARY:
                batch.append(Frame(Opcode.BINARY, payload))
            elif opcode == OP_PING:
                self._answer(encode_frame(payload, websocket.ABNF.OPCODE_PONG))
            elif opcode == OP_PONG:
                self._pong()
            else:  # close (valid: the parser checked it): answer it, after what came before
                if batch:
                    self._report(batch)
                self._closing()
                self._answer(close_frame(CLOSE_NORMAL))
                return _close_reason(payload)
        if batch:
            self._report(batch)
        return None
