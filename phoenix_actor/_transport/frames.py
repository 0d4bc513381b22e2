"""An incremental parser of the websocket frames a server sends (RFC 6455, section 5).

It is pure (bytes in, messages out), so the reader thread can read large chunks from the
socket and hand every complete message of a chunk to the socket actor at once, which is
where most of the time went with websocket-client's frame-at-a-time reader.
"""

from __future__ import annotations

from typing import Final

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA

_CONTROL_MAX: Final = 125


class FrameError(Exception):
    """The server sent bytes that are not valid websocket frames (close with 1002)."""


class FrameParser:
    """Feed it the bytes read from the socket; it returns each complete message.

    Messages are ``(opcode, payload)``: fragmented data messages come out whole, with
    the opcode of their first frame; control frames (close, ping, pong) come out as
    they arrive, also between the fragments of a data message. Server frames must not be
    masked and must not use the reserved bits (no extension is negotiated).
    """

    __slots__ = ("_buffer", "_fragmented", "_fragments")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._fragmented: int | None = None  # opcode of the message being reassembled

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Add ``data``; return the messages it completes. Raises :class:`FrameError`."""
        buffer = self._buffer
        buffer += data
        size = len(buffer)
        position = 0
        messages: list[tuple[int, bytes]] = []
        while size - position >= 2:
            first, second = buffer[position], buffer[position + 1]
            if second & 0x80:
                raise FrameError("the server sent a masked frame")
            if first & 0x70:
                raise FrameError("the server set reserved bits (no extension was agreed)")
            length = second & 0x7F
            header = 2
            if length == 126:
                if size - position < 4:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 4], "big")
                header = 4
            elif length == 127:
                if size - position < 10:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 10], "big")
                header = 10
            end = position + header + length
            if end > size:
                break
            payload = bytes(buffer[position + header : end])
            position = end
            self._message(first & 0x0F, bool(first & 0x80), payload, messages)
        if position:
            del buffer[:position]
        return messages

    def _message(
        self, opcode: int, final: bool, payload: bytes, messages: list[tuple[int, bytes]]
    ) -> None:
        if opcode >= OP_CLOSE:
            if opcode not in (OP_CLOSE, OP_PING, OP_PONG):
                raise FrameError(f"unknown control opcode {opcode:#x}")
            if not final or len(payload) > _CONTROL_MAX:
                raise FrameError("control frames must be whole and at most 125 bytes")
            messages.append((opcode, payload))
        elif opcode == OP_CONTINUATION:
            if self._fragmented is None:
                raise FrameError("a continuation frame with no message to continue")
            self._fragments.append(payload)
            if final:
                messages.append((self._fragmented, b"".join(self._fragments)))
                self._fragmented = None
                self._fragments = []
        elif opcode in (OP_TEXT, OP_BINARY):
            if self._fragmented is not None:
                raise FrameError("a new message began before the last one ended")
            if final:
                messages.append((opcode, payload))
            else:
                self._fragmented = opcode
                self._fragments = [payload]
        else:
            raise FrameError(f"unknown data opcode {opcode:#x}")
