"""Values that cross the wire: frames (bytes with an opcode) and decoded messages."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Union

#: A ref as it comes off the wire after normalisation: our own refs are ``int``; a
#: ref that is not a decimal number (another client's, or a server's) stays ``str``.
WireRef = Union[int, str, None]


class Opcode(enum.Enum):
    """The two kinds of websocket data frames."""

    TEXT = "text"
    BINARY = "binary"


@dataclass(frozen=True, slots=True)
class Frame:
    """One websocket data frame. ``data`` is always bytes (UTF-8 for text frames).

    A text frame the transport received also carries its data decoded (the transport
    validates every text message as UTF-8 as it arrives): :meth:`as_str` returns it,
    so that a serializer does not decode the data a second time.
    """

    opcode: Opcode
    data: bytes
    _decoded: str | None = field(default=None, compare=False, repr=False)

    def as_str(self) -> str:
        """The data as str: what the transport decoded, else ``data`` decoded as UTF-8
        (which raises :class:`UnicodeDecodeError` when it is not UTF-8)."""
        decoded = self._decoded
        return decoded if decoded is not None else self.data.decode("utf-8")

    @classmethod
    def text(cls, data: str | bytes) -> Frame:
        """A text frame; ``str`` data is encoded as UTF-8."""
        return cls(Opcode.TEXT, data.encode("utf-8") if isinstance(data, str) else data)

    @classmethod
    def binary(cls, data: bytes) -> Frame:
        """A binary frame."""
        return cls(Opcode.BINARY, data)

    def __repr__(self) -> str:
        shown = self.data if len(self.data) <= 200 else self.data[:200] + b"..."
        return f"Frame({self.opcode.value}, {shown!r})"


@dataclass(frozen=True, slots=True)
class Message:
    """One Phoenix message: ``[join_ref, ref, topic, event, payload]``.

    ``payload`` is whatever the JSON decoded to (normally a dict), or ``bytes`` for a
    binary frame. For a reply (``event == "phx_reply"``) it is
    ``{"status": str, "response": Any}``.
    """

    join_ref: WireRef
    ref: WireRef
    topic: str
    event: str
    payload: Any


@dataclass(frozen=True, slots=True)
class ChannelReply:
    """The server's answer to a join, leave or push: what a reply future resolves to.

    ``status`` is the reply's status (``"ok"``, ``"error"`` or whatever the channel
    chose) and ``response`` its response; ``ref`` is the request's ref.
    """

    topic: str
    ref: WireRef
    status: str
    response: Any

    @property
    def ok(self) -> bool:
        """True when ``status`` is ``"ok"``."""
        return self.status == "ok"
