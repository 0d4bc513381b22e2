"""The server's side of the Phoenix Channels wire format (pure: no I/O, threads or clock).

Two serializers, picked by the ``vsn`` query parameter as Phoenix does:

* :data:`V2` (``vsn=2.0.x``): text frames hold ``[join_ref, ref, topic, event, payload]``;
  ``bytes`` payloads travel in the binary frame kinds push (0), reply (1) and broadcast (2).
* :data:`V1` (no ``vsn``, or ``1.0.x``): text frames hold JSON objects; the server never
  sends ``join_ref`` and cannot send binary payloads.

Unlike the client's serializer, refs are kept exactly as the client sent them (an
``int`` stays an ``int``), because Phoenix echoes them with their JSON type.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from phoenix_actor._protocol.constants import EVENT_REPLY, KEY_RESPONSE, KEY_STATUS

__all__ = [
    "V1",
    "V2",
    "InboundMessage",
    "ProtocolViolation",
    "Serializer",
    "UnsupportedPayload",
    "check_close_code",
    "is_graceful",
    "select_serializer",
    "topic_matches",
]

_KIND_PUSH: Final = 0
_KIND_REPLY: Final = 1
_KIND_BROADCAST: Final = 2
_MAX_FIELD: Final = 255
_V2_VSN: Final = re.compile(r"2\.0\.\d+")
_V1_VSN: Final = re.compile(r"1\.0\.\d+")


class ProtocolViolation(ValueError):
    """A client frame Phoenix could not decode: the server closes the socket with 1011."""


class UnsupportedPayload(ValueError):
    """A payload this connection's serializer cannot carry (``bytes`` on protocol v1)."""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One decoded client message. Refs keep their JSON type; ``payload`` is ``bytes``
    for a binary push."""

    join_ref: Any
    ref: Any
    topic: str
    event: str
    payload: Any


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(data: str | bytes) -> Any:
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ProtocolViolation(f"invalid JSON: {exc}") from exc


def _dumps(value: Any) -> str:
    """Compact JSON with sorted keys (Jason's order for small maps), UTF-8 kept as is."""
    try:
        return json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
        )
    except TypeError:
        # Keys of mixed types cannot be sorted; an unencodable value raises again here.
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _ref_text(value: Any) -> str:
    """A ref as binary frames carry it: a string, ``""`` for null."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return _dumps(value)


def _pack(kind: int, fields: list[str], data: bytes) -> bytes:
    encoded = [field.encode("utf-8") for field in fields]
    for field, raw in zip(fields, encoded, strict=True):
        if len(raw) > _MAX_FIELD:
            raise ValueError(f"binary frame field {field[:40]!r}... is longer than 255 bytes")
    return bytes([kind, *(len(raw) for raw in encoded)]) + b"".join(encoded) + data


def _check_names(topic: Any, event: Any) -> tuple[str, str]:
    if not isinstance(topic, str) or not isinstance(event, str):
        raise ProtocolViolation("topic and event must be strings")
    return topic, event


class Serializer:
    """Encodes server frames and decodes client frames for one protocol version."""

    vsn: str = ""

    def decode(self, data: str | bytes) -> InboundMessage:
        """Decode one client frame (``str`` = text, ``bytes`` = binary)."""
        raise NotImplementedError

    def encode_message(self, join_ref: Any, ref: Any, topic: str, event: str, payload: Any) -> str:
        """A text frame for any message whose payload is JSON."""
        raise NotImplementedError

    def encode_reply(
        self, join_ref: Any, ref: Any, topic: str, status: str, response: Any
    ) -> str | bytes:
        """A ``phx_reply``; ``bytes`` responses become a binary reply where supported."""
        if isinstance(response, bytes | bytearray):
            raise UnsupportedPayload(f"protocol {self.vsn} cannot carry binary replies")
        return self.encode_message(
            join_ref, ref, topic, EVENT_REPLY, {KEY_RESPONSE: response, KEY_STATUS: status}
        )

    def encode_push(self, join_ref: Any, topic: str, event: str, payload: Any) -> str | bytes:
        """A channel push: ``[join_ref, null, topic, event, payload]``."""
        if isinstance(payload, bytes | bytearray):
            raise UnsupportedPayload(f"protocol {self.vsn} cannot carry binary pushes")
        return self.encode_message(join_ref, None, topic, event, payload)

    def encode_broadcast(self, topic: str, event: str, payload: Any) -> str | bytes:
        """A fastlane broadcast: ``[null, null, topic, event, payload]``."""
        if isinstance(payload, bytes | bytearray):
            raise UnsupportedPayload(f"protocol {self.vsn} cannot carry binary broadcasts")
        return self.encode_message(None, None, topic, event, payload)


class _V2Serializer(Serializer):
    vsn = "2.0.0"

    def decode(self, data: str | bytes) -> InboundMessage:
        if isinstance(data, bytes):
            return self._decode_binary(data)
        value = _loads(data)
        if not isinstance(value, list) or len(value) < 5:
            raise ProtocolViolation("expected a JSON array [join_ref, ref, topic, event, payload]")
        join_ref, ref, topic, event, payload = value[:5]
        topic, event = _check_names(topic, event)
        return InboundMessage(join_ref, ref, topic, event, payload)

    @staticmethod
    def _decode_binary(data: bytes) -> InboundMessage:
        if len(data) < 5 or data[0] != _KIND_PUSH:
            raise ProtocolViolation("binary frame is not a client push (kind 0)")
        fields: list[str] = []
        offset = 5
        for size in data[1:5]:
            end = offset + size
            if end > len(data):
                raise ProtocolViolation("binary frame is shorter than its header says")
            try:
                fields.append(data[offset:end].decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise ProtocolViolation("binary frame header is not UTF-8") from exc
            offset = end
        join_ref, ref, topic, event = fields
        return InboundMessage(join_ref, ref, topic, event, data[offset:])

    def encode_message(self, join_ref: Any, ref: Any, topic: str, event: str, payload: Any) -> str:
        return _dumps([join_ref, ref, topic, event, payload])

    def encode_reply(
        self, join_ref: Any, ref: Any, topic: str, status: str, response: Any
    ) -> str | bytes:
        if isinstance(response, bytes | bytearray):
            fields = [_ref_text(join_ref), _ref_text(ref), topic, status]
            return _pack(_KIND_REPLY, fields, bytes(response))
        return super().encode_reply(join_ref, ref, topic, status, response)

    def encode_push(self, join_ref: Any, topic: str, event: str, payload: Any) -> str | bytes:
        if isinstance(payload, bytes | bytearray):
            return _pack(_KIND_PUSH, [_ref_text(join_ref), topic, event], bytes(payload))
        return super().encode_push(join_ref, topic, event, payload)

    def encode_broadcast(self, topic: str, event: str, payload: Any) -> str | bytes:
        if isinstance(payload, bytes | bytearray):
            return _pack(_KIND_BROADCAST, [topic, event], bytes(payload))
        return super().encode_broadcast(topic, event, payload)


class _V1Serializer(Serializer):
    vsn = "1.0.0"

    def decode(self, data: str | bytes) -> InboundMessage:
        # Phoenix's V1 serializer JSON-decodes binary frames too.
        value = _loads(data)
        if not isinstance(value, dict):
            raise ProtocolViolation("expected a JSON object {topic, event, payload, ref}")
        missing = {"topic", "event", "payload", "ref"} - value.keys()
        if missing:
            raise ProtocolViolation(f"message lacks {sorted(missing)}")
        topic, event = _check_names(value["topic"], value["event"])
        return InboundMessage(value.get("join_ref"), value["ref"], topic, event, value["payload"])

    def encode_message(self, join_ref: Any, ref: Any, topic: str, event: str, payload: Any) -> str:
        return _dumps({"event": event, "payload": payload, "ref": ref, "topic": topic})


#: Protocol 2.0.0: arrays and binary frames.
V2: Final[Serializer] = _V2Serializer()
#: Protocol 1.0.0: JSON objects, no join_ref on server frames.
V1: Final[Serializer] = _V1Serializer()


def select_serializer(vsn: str | None) -> Serializer | None:
    """Phoenix's default serializer list: ``~> 1.0.0`` (also when ``vsn`` is missing) and
    ``~> 2.0.0``. ``None`` means no match, which Phoenix answers with HTTP 403."""
    if vsn is None or _V1_VSN.fullmatch(vsn):
        return V1
    if _V2_VSN.fullmatch(vsn):
        return V2
    return None


def topic_matches(pattern: str, topic: str) -> bool:
    """``channel "room:*"`` semantics: a trailing ``*`` matches any suffix, else exact."""
    if pattern.endswith("*"):
        return topic.startswith(pattern[:-1])
    return topic == pattern


def is_graceful(reason: str) -> bool:
    """Whether a channel stopping with ``reason`` sends ``phx_close`` (else ``phx_error``)."""
    return reason in ("normal", "shutdown") or reason.startswith("shutdown:")


def check_close_code(code: int) -> None:
    """Raise :class:`ValueError` unless an endpoint may send ``code`` in a close frame."""
    if not (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999):
        raise ValueError(f"{code} is not a close code a server may send")
