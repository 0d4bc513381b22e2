"""The default transport: one websocket connection, owned by a Pykka actor.

It fulfils the contract of :mod:`phoenix_actor._transport.base`.
Every failure becomes a :class:`~phoenix_actor.DisconnectReason` whose text comes from
the exception alone; the URL in log lines goes through ``redact_url``, and header
values and tokens are never logged.

This module holds the default factory; the actor is in ``actor``, the websocket of an
attempt in ``wire``, the translation of failures in ``errors``.
"""

from __future__ import annotations

import logging

from phoenix_actor._protocol.message import Frame
from phoenix_actor._protocol.url import redact_url
from phoenix_actor._transport.actor import TransportActor, _ActorTransport
from phoenix_actor._transport.base import Transport, TransportListener
from phoenix_actor._transport.options import TransportOptions, resolve_options
from phoenix_actor._transport.reasons import ConnectFailed, DisconnectReason
from phoenix_actor._transport.wire import _Wire
from phoenix_actor.exceptions import ConfigError

__all__ = ["websocket_transport"]

logger = logging.getLogger("phoenix_actor.transport")


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
    face = _ActorTransport(wire)
    try:
        face._ref = TransportActor.start(url, options, listener, plan, wire, face=face)
    except BaseException:
        wire.closing.set()  # a connect that began then ends on its own
        wire.abort()
        raise
    return face
