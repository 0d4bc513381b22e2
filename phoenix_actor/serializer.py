"""Serializers turn :class:`Message` values into websocket frames and back.

A serializer is any object with a ``vsn`` attribute (the protocol version sent as the
``vsn`` query parameter) and ``encode`` / ``decode`` methods, see :class:`Serializer`.
:class:`JSONSerializer` speaks protocol 2.0.0: JSON arrays in text frames, and the
Phoenix binary frame kinds for ``bytes`` payloads. :class:`V1JSONSerializer` speaks
protocol 1.0.0, for servers that only know it: JSON objects, no binary frames.
"""

from phoenix_actor._protocol.serializer import (
    JSONSerializer,
    Serializer,
    V1JSONSerializer,
    normalize_ref,
)

__all__ = ["JSONSerializer", "Serializer", "V1JSONSerializer", "normalize_ref"]
