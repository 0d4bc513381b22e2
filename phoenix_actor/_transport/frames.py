"""An incremental parser of the websocket frames a server sends (RFC 6455, section 5).

It is pure (bytes in, messages out), so the reader thread can read large chunks from the
socket and hand every complete message of a chunk to the socket actor at once, which is
where most of the time went with websocket-client's frame-at-a-time reader.

It checks what RFC 6455 asks a client to check: text messages are UTF-8 (section 8.1),
validated as their bytes arrive so that a bad byte fails the connection at once, even in
the middle of a frame; close frames carry no 1-byte payload, a valid code and a UTF-8
reason (sections 5.5.1, 7.4); a 64-bit length has its high bit clear (section 5.2). It
also enforces a limit on the size of a message, checked against each frame's header
before its payload is buffered.
"""

from __future__ import annotations

import codecs
from typing import Final, Union

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA

#: The close codes of RFC 6455, section 7.4.1.
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_INVALID_DATA: Final = 1007
CLOSE_TOO_BIG: Final = 1009

_CONTROL_MAX: Final = 125
_NEW_MESSAGE: Final = (OP_TEXT, OP_BINARY)


class FrameError(Exception):
    """The server broke the protocol: the client closes the connection with ``code``.

    ``code`` is 1002 (protocol error), 1007 (a text message that is not UTF-8) or 1009
    (a message over the size limit: :class:`MessageTooBigError`). ``messages`` are the
    messages :meth:`FrameParser.feed` completed before the error, to be delivered first.
    """

    def __init__(self, message: str, code: int = CLOSE_PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.code = code
        self.messages: list[ParsedMessage] = []


class MessageTooBigError(FrameError):
    """A message grew past the parser's ``max_size`` (close with 1009)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"a message of at least {size} bytes is over the limit of {limit} bytes",
            CLOSE_TOO_BIG,
        )
        self.size = size
        self.limit = limit


#: One message: ``(opcode, payload, text)``, a whole data message or a control frame.
#: ``text`` is the payload decoded (text messages only, else None): the parser has
#: validated it, so nobody needs to decode the payload again. (A plain tuple: a named
#: one costs a microsecond a message.)
ParsedMessage = tuple[int, bytes, Union[str, None]]


def valid_close_code(code: int) -> bool:
    """Whether a server may send ``code`` in a close frame (RFC 6455, section 7.4).

    1000 to 1003 and 1007 to 1014 are defined (1012 to 1014 by IANA's registry; Phoenix
    closes with 1012 while draining), 3000 to 4999 are for libraries and applications.
    1004 is reserved; 1005, 1006 and 1015 must never be sent.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def check_close(payload: bytes) -> None:
    """Raise :class:`FrameError` unless ``payload`` is a valid close frame's payload."""
    if not payload:
        return
    if len(payload) == 1:
        raise FrameError("a close frame with a 1-byte payload (a code takes 2)")
    code = int.from_bytes(payload[:2], "big")
    if not valid_close_code(code):
        raise FrameError(f"a close frame with the invalid code {code}")
    try:
        payload[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FrameError(f"a close frame whose reason is not UTF-8: {exc}") from None


class FrameParser:
    """Feed it the bytes read from the socket; it returns each complete message.

    Messages are ``ParsedMessage`` tuples: fragmented data messages come out
    whole, with the opcode of their first frame; control frames (close, ping, pong)
    come out as they arrive, also between the fragments of a data message. Server
    frames must not be masked and must not use the reserved bits (no extension is
    negotiated). Nothing after a close frame is read.

    Text is checked as it arrives and decoded once, when its message is whole. What a
    :meth:`feed` brought of a text message that is not whole yet (fragments, the part
    of a frame that has arrived) is checked at the end of that feed or before a control
    frame, so that invalid UTF-8 fails when its bytes arrive, not when the message
    ends: ASCII by ``bytes.isascii``, anything else by decoding it (dropping the
    result). Decoding pieces and joining them would be slower: joining str pieces
    costs more than decoding the message again (16 MiB of mixed text, read 64 KiB at a
    time: 180 ms against 110 ms). A message that arrives in one read is decoded once
    and never checked apart.

    ``max_size`` (None: no limit) bounds a data message, fragments included; a frame
    whose header says the message would be larger fails at once, before its payload is
    read. When :meth:`feed` raises, the messages completed before the error are in
    :attr:`FrameError.messages`: deliver them, then fail the connection.
    """

    __slots__ = (
        "_buffer",
        "_checked",
        "_fragmented",
        "_fragments",
        "_limit",
        "_size",
        "_undecoded",
    )

    def __init__(self, max_size: int | None = None) -> None:
        self._buffer = bytearray()
        self._limit = max_size
        self._fragmented: int | None = None  # opcode of the message being reassembled
        self._fragments: list[bytes] = []
        self._size = 0  # bytes of the message being reassembled, so far
        #: What arrived of the text message under way and is not yet checked: the bytes
        #: since the last check, or the start of a character that a read cut in two.
        self._undecoded: list[bytes | bytearray] = []
        #: Payload bytes of the incomplete text frame at the start of the buffer that
        #: are already in ``_undecoded`` or checked.
        self._checked = 0

    def feed(self, data: bytes) -> list[ParsedMessage]:
        """Add ``data``; return the messages it completes.

        Raises :class:`FrameError`, whose ``messages`` are those completed before the
        error.
        """
        messages: list[ParsedMessage] = []
        try:
            self._parse(data, messages)
            if self._undecoded:
                self._validate()  # fail fast: what arrived of a text message
        except FrameError as exc:
            exc.messages = messages
            raise
        return messages

    def _parse(self, data: bytes, messages: list[ParsedMessage]) -> None:
        buffer = self._buffer
        buffer += data
        size = len(buffer)
        position = 0
        limit = self._limit
        try:
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
                    if length >> 63:
                        raise FrameError("a 64-bit frame length with its high bit set")
                    header = 10
                opcode = first & 0x0F
                final = bool(first & 0x80)
                # Checked again each time more of an incomplete frame arrives: the
                # parser's state does not change until the frame is whole. The common
                # case, a new data message under the limit, needs no more checks.
                if not (
                    opcode in _NEW_MESSAGE
                    and self._fragmented is None
                    and (limit is None or length <= limit)
                ):
                    self._check_header(opcode, final, length)
                start = position + header
                end = start + length
                if end > size:
                    if opcode == OP_TEXT or (
                        opcode == OP_CONTINUATION and self._fragmented == OP_TEXT
                    ):
                        begin = start + self._checked
                        if begin < size:  # to be decoded at the end of this feed
                            self._undecoded.append(buffer[begin:size])
                            self._checked = size - start
                    break
                position = end
                # One copy of a large payload; two (but fewer objects) of a small one.
                if length < 4096:
                    payload = bytes(buffer[start:end])
                else:
                    payload = bytes(memoryview(buffer)[start:end])
                self._frame(opcode, final, payload, messages)
                if opcode == OP_CLOSE:
                    break  # nothing may follow a close frame: what does is not read
        finally:
            if position:
                del buffer[:position]

    def _check_header(self, opcode: int, final: bool, length: int) -> None:
        """Fail a frame on its header: a wrong sequence, or a message over the limit."""
        if opcode >= OP_CLOSE:
            if opcode not in (OP_CLOSE, OP_PING, OP_PONG):
                raise FrameError(f"unknown control opcode {opcode:#x}")
            if not final or length > _CONTROL_MAX:
                raise FrameError("control frames must be whole and at most 125 bytes")
            return
        if opcode == OP_CONTINUATION:
            if self._fragmented is None:
                raise FrameError("a continuation frame with no message to continue")
        elif opcode in (OP_TEXT, OP_BINARY):
            if self._fragmented is not None:
                raise FrameError("a new message began before the last one ended")
        else:
            raise FrameError(f"unknown data opcode {opcode:#x}")
        limit = self._limit
        if limit is not None and self._size + length > limit:
            raise MessageTooBigError(self._size + length, limit)

    def _validate(self) -> None:
        """Check that what arrived of the text message so far is UTF-8 (fail fast).

        ASCII, most of JSON, passes at the speed of ``bytes.isascii``; other text is
        decoded and the result dropped: the message is decoded once it is whole.
        """
        undecoded = self._undecoded
        data = undecoded[0] if len(undecoded) == 1 else b"".join(undecoded)
        undecoded.clear()
        if data.isascii():
            return
        try:
            _, used = codecs.utf_8_decode(data, "strict", False)
        except UnicodeDecodeError as exc:
            raise FrameError(
                f"a text message that is not UTF-8: {exc}", CLOSE_INVALID_DATA
            ) from None
        if used < len(data):  # a character cut short, completed by the next bytes
            undecoded.append(data[used:])

    def _frame(
        self, opcode: int, final: bool, payload: bytes, messages: list[ParsedMessage]
    ) -> None:
        """One whole frame (its header already checked)."""
        if final and (opcode == OP_BINARY or (opcode == OP_TEXT and not self._checked)):
            # A whole message in one frame, read whole: the common case, made short.
            messages.append((opcode, payload, _decoded(payload) if opcode == OP_TEXT else None))
            return
        if opcode >= OP_CLOSE:
            if self._undecoded:
                self._validate()  # the text before it is checked first
            if opcode == OP_CLOSE:
                check_close(payload)
            messages.append((opcode, payload, None))
            return
        if opcode != OP_CONTINUATION:
            self._fragmented = opcode
        text = self._fragmented == OP_TEXT
        checked, self._checked = self._checked, 0
        if not final:
            if payload:  # endless empty fragments must not grow the list
                self._fragments.append(payload)
                self._size += len(payload)
                if text:  # checked at the end of this feed, or before a control frame
                    self._undecoded.append(payload[checked:] if checked else payload)
            return
        opcode = self._fragmented  # type: ignore[assignment]  # checked with the header
        fragments = self._fragments
        if fragments:
            fragments.append(payload)
            payload = b"".join(fragments)
            self._fragments = []
        self._fragmented = None
        self._size = 0
        if text:
            self._undecoded.clear()  # decoding the whole message checks it all
            messages.append((opcode, payload, _decoded(payload)))
        else:
            messages.append((opcode, payload, None))


def _decoded(payload: bytes) -> str:
    """A whole text message's payload, decoded."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FrameError(f"a text message that is not UTF-8: {exc}", CLOSE_INVALID_DATA) from None
