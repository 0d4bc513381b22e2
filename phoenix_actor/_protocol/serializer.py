"""Serializers: messages to websocket frames and back.

Public as :mod:`phoenix_actor.serializer`.
"""

from __future__ import annotations

import json
import struct
from typing import Any, Literal, Protocol, runtime_checkable

from phoenix_actor._protocol.constants import (
    EVENT_CLOSE,
    EVENT_ERROR,
    EVENT_REPLY,
    KEY_RESPONSE,
    KEY_STATUS,
    PROTOCOL_V1,
    PROTOCOL_V2,
)
from phoenix_actor._protocol.message import Frame, Message, Opcode, WireRef
from phoenix_actor.exceptions import ConfigError, DecodeError, EncodeError

__all__ = ["JSONSerializer", "Serializer", "V1JSONSerializer", "normalize_ref"]

# Binary frame kinds (Phoenix >= 1.5.7).
_KIND_PUSH = 0
_KIND_REPLY = 1
_KIND_BROADCAST = 2
_MAX_FIELD = 255
# The keys of a protocol 1.0.0 frame that Phoenix requires; "join_ref" is optional.
_V1_KEYS = ("topic", "event", "payload", "ref")
# Longer digit strings stay strings: no ref of ours gets there, and int() refuses
# more than 4300 digits.
_MAX_REF_DIGITS = 40


@runtime_checkable
class Serializer(Protocol):
    """What the socket needs from a serializer."""

    #: The protocol version this serializer speaks, sent as the ``vsn`` query parameter.
    vsn: str

    def encode(self, message: Message) -> Frame:
        """Encode one outbound message; raise :class:`EncodeError` if it cannot be."""
        ...

    def decode(self, frame: Frame) -> Message:
        """Decode one inbound frame; raise :class:`DecodeError` if it is malformed."""
        ...


def normalize_ref(value: Any) -> WireRef:
    """Bring a ref off the wire to the form our refs take.

    ``None`` and ``""`` (binary frames' null) become ``None``; an ``int`` or a decimal
    string becomes ``int``, so that ``"10"`` and ``10`` compare equal and ``10 > 9``;
    any other string is kept as it is. Anything else raises :class:`DecodeError`.
    """
    if value is None:
        return None
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is str:
        if value == "":
            return None
        if value.isascii() and value.isdigit() and len(value) <= _MAX_REF_DIGITS:
            return int(value)
        return value  # type: ignore[no-any-return]
    raise DecodeError(f"a ref must be a string, an integer or null, got {value!r:.200}")


class _JSONBase:
    """What the JSON serializers share: the ref format and a compact JSON encoder."""

    __slots__ = ("_dumps", "_string_refs")

    def __init__(self, ref_format: Literal["string", "integer"] = "string") -> None:
        if ref_format not in ("string", "integer"):
            raise ConfigError(f"ref_format must be 'string' or 'integer', not {ref_format!r:.100}")
        self._string_refs = ref_format == "string"
        self._dumps = json.JSONEncoder(
            ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode

    def __repr__(self) -> str:
        ref_format = "string" if self._string_refs else "integer"
        return f"{type(self).__name__}(ref_format={ref_format!r})"

    def _wire_ref(self, ref: WireRef) -> WireRef:
        if ref is None or not self._string_refs:
            return ref
        return str(ref)


class JSONSerializer(_JSONBase):
    """Protocol 2.0.0: ``[join_ref, ref, topic, event, payload]`` as JSON text frames.

    ``bytes`` payloads are sent as binary push frames; inbound binary push, reply and
    broadcast frames are decoded, their payload (or reply response) being ``bytes``.

    ``ref_format`` picks how our integer refs are written: ``"string"`` (``"12"``, as
    phoenix.js does; the default) or ``"integer"`` (``12``, as phoenix_gen_socket_client
    does). Either way inbound refs are normalised by :func:`normalize_ref`.
    """

    vsn = PROTOCOL_V2

    __slots__ = ()

    def encode(self, message: Message) -> Frame:
        """Encode ``message``; ``bytes`` payloads become a binary push frame."""
        join_ref = self._wire_ref(message.join_ref)
        ref = self._wire_ref(message.ref)
        if isinstance(message.payload, (bytes, bytearray, memoryview)):
            return _encode_binary_push(join_ref, ref, message.topic, message.event, message.payload)
        try:
            text = self._dumps([join_ref, ref, message.topic, message.event, message.payload])
            return Frame(Opcode.TEXT, text.encode("utf-8"))
        except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError: ValueError
            raise EncodeError(f"cannot encode payload as JSON: {exc}") from exc

    def decode(self, frame: Frame) -> Message:
        """Decode a text frame (JSON array) or a binary frame (push, reply, broadcast)."""
        if frame.opcode is Opcode.BINARY:
            return _decode_binary(frame.data)
        try:
            # As str: json.loads(bytes) would also accept UTF-16/32. The transport has
            # already decoded (and validated) the text: as_str does not decode it again.
            decoded = json.loads(frame.as_str())
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
            raise DecodeError(f"text frame is not valid JSON: {exc}") from exc
        if type(decoded) is not list or len(decoded) < 5:
            raise DecodeError(
                "expected a JSON array [join_ref, ref, topic, event, payload], "
                f"got {decoded!r:.200}"
            )
        join_ref, ref, topic, event, payload = decoded[:5]
        if type(topic) is not str or type(event) is not str:
            raise DecodeError(
                f"topic and event must be strings, got {topic!r:.200} and {event!r:.200}"
            )
        return Message(normalize_ref(join_ref), normalize_ref(ref), topic, event, payload)


class V1JSONSerializer(_JSONBase):
    """Protocol 1.0.0: each message is a JSON object in a text frame.

    Outbound frames are ``{"topic", "event", "payload", "ref", "join_ref"}`` in that
    key order; ``join_ref`` is left out when it is null (heartbeats). Phoenix reads
    ``join_ref`` when present, and Phoenix 1.8.3 to 1.8.11 drop pushes that lack it,
    so it is always sent when there is one. Server frames carry exactly ``topic``,
    ``event``, ``payload`` and ``ref`` (all required; ``join_ref`` is read when a
    server sends it): a reply is event ``phx_reply`` with payload
    ``{"status", "response"}``, pushes and broadcasts have ``ref: null``.

    Protocol 1.0.0 has no ``join_ref`` on server frames, so the socket cannot tell an
    earlier channel session's pushes and replies from the current one's. The one
    exception is ``phx_close`` and ``phx_error``, whose ``ref`` Phoenix sets to the
    channel's join ref: for those two events the decoded message's ``join_ref`` is
    that ref, so that a close of an earlier session is told apart from the current
    one exactly as with protocol 2.0.0.

    There are no binary frames in protocol 1.0.0: a ``bytes`` payload is an
    :class:`EncodeError` and an inbound binary frame a :class:`DecodeError`.
    ``ref_format`` is as for :class:`JSONSerializer`.
    """

    vsn = PROTOCOL_V1

    __slots__ = ()

    def encode(self, message: Message) -> Frame:
        """Encode ``message`` as a JSON object; ``bytes`` payloads are refused."""
        if isinstance(message.payload, (bytes, bytearray, memoryview)):
            raise EncodeError(
                f"protocol {PROTOCOL_V1} has no binary frames, so a bytes payload cannot be "
                f"sent; use JSONSerializer (protocol {PROTOCOL_V2}) for binary payloads"
            )
        frame: dict[str, Any] = {
            "topic": message.topic,
            "event": message.event,
            "payload": message.payload,
            "ref": self._wire_ref(message.ref),
        }
        if message.join_ref is not None:
            frame["join_ref"] = self._wire_ref(message.join_ref)
        try:
            return Frame(Opcode.TEXT, self._dumps(frame).encode("utf-8"))
        except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError: ValueError
            raise EncodeError(f"cannot encode message as JSON: {exc}") from exc

    def decode(self, frame: Frame) -> Message:
        """Decode a text frame holding a JSON object; binary frames are refused."""
        if frame.opcode is Opcode.BINARY:
            raise DecodeError(
                f"protocol {PROTOCOL_V1} has no binary frames, got {len(frame.data)} bytes"
            )
        try:
            decoded = json.loads(frame.as_str())
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
            raise DecodeError(f"text frame is not valid JSON: {exc}") from exc
        if type(decoded) is not dict:
            raise DecodeError(
                f"expected a JSON object {{topic, event, payload, ref}}, got {decoded!r:.200}"
            )
        missing = [key for key in _V1_KEYS if key not in decoded]
        if missing:
            raise DecodeError(f"message lacks {', '.join(missing)}: {decoded!r:.200}")
        topic = decoded["topic"]
        event = decoded["event"]
        if type(topic) is not str or type(event) is not str:
            raise DecodeError(
                f"topic and event must be strings, got {topic!r:.200} and {event!r:.200}"
            )
        ref = normalize_ref(decoded["ref"])
        join_ref = normalize_ref(decoded.get("join_ref"))
        if join_ref is None and event in (EVENT_CLOSE, EVENT_ERROR):
            join_ref = ref  # Phoenix sends these with ref = the channel's join ref
        return Message(join_ref, ref, topic, event, decoded["payload"])


def _field(value: WireRef, name: str) -> bytes:
    encoded = b"" if value is None else str(value).encode("utf-8")
    if len(encoded) > _MAX_FIELD:
        raise EncodeError(
            f"binary frame {name} is {len(encoded)} bytes long; Phoenix allows at most {_MAX_FIELD}"
        )
    return encoded


def _encode_binary_push(
    join_ref: WireRef, ref: WireRef, topic: str, event: str, payload: bytes | bytearray | memoryview
) -> Frame:
    try:
        fields = (
            _field(join_ref, "join_ref"),
            _field(ref, "ref"),
            _field(topic, "topic"),
            _field(event, "event"),
        )
    except UnicodeEncodeError as exc:
        raise EncodeError(f"cannot encode binary frame header: {exc}") from exc
    header = struct.pack("!5B", _KIND_PUSH, *(len(field) for field in fields))
    return Frame(Opcode.BINARY, b"".join((header, *fields, bytes(payload))))


def _split(data: bytes, sizes_at: int, count: int) -> tuple[list[str], bytes]:
    """Read ``count`` size bytes at ``sizes_at``, then that many UTF-8 strings."""
    start = sizes_at + count
    if len(data) < start:
        raise DecodeError(f"binary frame too short for its header: {data[:32]!r}")
    fields: list[str] = []
    for size in data[sizes_at:start]:
        end = start + size
        if len(data) < end:
            raise DecodeError(f"binary frame truncated inside its header: {data[:32]!r}")
        try:
            fields.append(data[start:end].decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise DecodeError(f"binary frame header is not UTF-8: {exc}") from exc
        start = end
    return fields, data[start:]


def _decode_binary(data: bytes) -> Message:
    if not data:
        raise DecodeError("empty binary frame")
    kind = data[0]
    if kind == _KIND_PUSH:
        (join_ref, topic, event), body = _split(data, 1, 3)
        return Message(normalize_ref(join_ref), None, topic, event, body)
    if kind == _KIND_REPLY:
        (join_ref, ref, topic, status), body = _split(data, 1, 4)
        payload = {KEY_STATUS: status, KEY_RESPONSE: body}
        return Message(normalize_ref(join_ref), normalize_ref(ref), topic, EVENT_REPLY, payload)
    if kind == _KIND_BROADCAST:
        (topic, event), body = _split(data, 1, 2)
        return Message(None, None, topic, event, body)
    raise DecodeError(f"unknown binary frame kind {kind}")
