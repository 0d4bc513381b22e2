"""Values in log records, bounded: what came off the network (a frame, a payload, a
reply) or from user code never makes a record longer than a few hundred characters.

Wrap the value, not its text: ``logger.debug("dropped %s", Bounded(message))``. The
text is made only if the record is emitted, and its cost is bounded too (``reprlib``
looks at no more than a few items of each container and characters of each string).
"""

from __future__ import annotations

import reprlib
from typing import Any

from phoenix_actor._protocol.message import ChannelReply, Frame, Message

#: The most characters one value takes in a log record.
LOG_VALUE_LIMIT = 500


class _Repr(reprlib.Repr):
    """``reprlib`` with room for a useful look at a message, and bounded bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 4
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = 8
        self.maxstring = self.maxother = 100
        self.maxlong = 40

    def repr_bytes(self, value: bytes, level: int) -> str:
        if len(value) <= self.maxstring:
            return repr(value)
        return f"{value[: self.maxstring]!r}... ({len(value)} bytes)"

    def repr_Frame(self, frame: Frame, level: int) -> str:
        return f"Frame({frame.opcode.value}, {self.repr_bytes(frame.data, level)})"

    def repr_Message(self, message: Message, level: int) -> str:
        fields = (message.join_ref, message.ref, message.topic, message.event, message.payload)
        return f"Message({', '.join(self.repr1(f, level - 1) for f in fields)})"

    def repr_ChannelReply(self, reply: ChannelReply, level: int) -> str:
        fields = (reply.topic, reply.ref, reply.status, reply.response)
        return f"ChannelReply({', '.join(self.repr1(f, level - 1) for f in fields)})"


_REPR = _Repr()


def shorten(text: str, limit: int = LOG_VALUE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def bounded_repr(value: Any) -> str:
    """A repr of ``value`` of at most about :data:`LOG_VALUE_LIMIT` characters."""
    try:
        text = _REPR.repr(value)
    except Exception as exc:  # noqa: BLE001 -- a user's __repr__ may raise
        text = f"<{type(value).__name__} whose repr raised {type(exc).__name__}>"
    return shorten(text)


class Bounded:
    """A log argument showing :func:`bounded_repr` of ``value`` (for ``%s`` or ``%r``)."""

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def __str__(self) -> str:
        return bounded_repr(self._value)

    __repr__ = __str__
