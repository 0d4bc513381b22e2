"""The transport: one websocket connection, owned by a Pykka actor with one reader thread.

The socket actor only sees the small contract below: a :class:`TransportFactory` opens
a connection and returns a :class:`Transport` (``send`` a frame, ``close``); the
connection reports back through a :class:`TransportListener` exactly once
``connected`` (or not at all), any number of ``frame`` calls, and exactly one
``disconnected`` -- unless the client closed it, in which case nothing more is said.
A factory may report ``disconnected`` before it returns (the default one does when the
credentials of :class:`TransportOptions` cannot be resolved: nothing is attempted).

Every failure becomes a :class:`~phoenix_actor.DisconnectReason` whose text comes from
the exception alone; the URL in log lines goes through ``redact_url``, and header
values and tokens are never logged.

This module holds that contract and the default factory; the actor is in
``_transport_actor``, the websocket of an attempt in ``_wire``, the translation of
failures in ``_transport_errors``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from phoenix_actor._message import Frame
from phoenix_actor._reasons import ConnectFailed, DisconnectReason
from phoenix_actor._transport_actor import TransportActor, _ActorTransport
from phoenix_actor._transport_options import TransportOptions, resolve_options
from phoenix_actor._url import redact_url
from phoenix_actor._wire import _Wire
from phoenix_actor.exceptions import ConfigError

__all__ = [
    "Transport",
    "TransportActor",
    "TransportFactory",
    "TransportListener",
    "TransportOptions",
    "websocket_transport",
]

logger = logging.getLogger("phoenix_actor.transport")


class TransportListener(Protocol):
    """Where a transport reports what happens to its connection."""

    def connected(self) -> None:
        """The websocket handshake succeeded."""

    def frame(self, frame: Frame) -> None:
        """A data frame arrived."""

    def frames(self, frames: list[Frame]) -> None:
        """Several data frames arrived, in this order (one read from the socket)."""

    def disconnected(self, reason: DisconnectReason) -> None:
        """The attempt failed or the connection ended (said once, never after ``close``)."""


class Transport(Protocol):
    """A live connection as the socket actor uses it."""

    def send(self, frame: Frame) -> None:
        """Send one frame (fire and forget: failures surface as a disconnect)."""

    def close(self) -> None:
        """Close the connection and release every resource; idempotent."""

    # Optional: ``frames_sent() -> int``, how many of the frames given to ``send`` (the
    # first ones, in order) were written to the connection, at least in part. Read
    # after ``close``. Without it, every request awaiting its reply when the
    # connection closes fails with ReplyLostError (it may have left).


TransportFactory = Callable[[str, TransportOptions, TransportListener], Transport]


class _FailedTransport:
    """A connection that could not even be attempted: it reports why, once."""

    __slots__ = ()

    def __init__(self, listener: TransportListener, reason: DisconnectReason) -> None:
        listener.disconnected(reason)

    def send(self, frame: Frame) -> None:
        logger.debug("frame dropped: the connection was never opened")

    def close(self) -> None:
        pass


def websocket_transport(
    url: str, options: TransportOptions, listener: TransportListener
) -> Transport:
    """The default :class:`TransportFactory`: a :class:`TransportActor` on websocket-client.

    Called in the socket actor's thread before every attempt: it calls the credential
    callables of ``options`` and loads its TLS files there. When that fails, the
    listener is told ``ConnectFailed("config", why)`` (before this returns) and no
    connection is attempted.
    """
    try:
        plan = resolve_options(options, url)
    except ConfigError as exc:
        logger.warning("cannot connect to %s: %s", redact_url(url), exc)
        return _FailedTransport(listener, ConnectFailed("config", str(exc)))
    wire = _Wire(plan)
    try:
        ref = TransportActor.start(url, options, listener, plan, wire)
    except BaseException:
        wire.closing.set()  # the reader, started in __init__, then ends on its own
        wire.abort()
        raise
    return _ActorTransport(ref, wire)
