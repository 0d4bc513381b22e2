"""Where a socket connects, and the transport of its current connection attempt.

A part of :class:`~phoenix_actor.SocketActor`, testable on its own with a fake
transport factory: it opens, sends through and closes one transport at a time, and
knows nothing of sessions, generations or states.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from phoenix_actor._protocol.url import Params, build_url, resolve_params
from phoenix_actor._transport.websocket import websocket_transport

if TYPE_CHECKING:
    from phoenix_actor._protocol import session as s
    from phoenix_actor._socket.client import Connect
    from phoenix_actor._socket.config import Config
    from phoenix_actor._transport.base import Transport, TransportListener

logger = logging.getLogger("phoenix_actor.socket")


class Link:
    """The URL and params to connect with, and the transport while one is open.

    ``transport`` is None between connections; ``credits`` (with
    ``Config.max_pending_frames``) is the semaphore its reader takes one of per frame.
    """

    __slots__ = ("_config", "_factory", "credits", "params", "transport", "url")

    def __init__(self, config: Config, url: str, params: Params | None) -> None:
        self._config = config
        self._factory = config.transport_factory or websocket_transport
        self.url = url
        self.params = params
        self.transport: Transport | None = None
        self.credits: threading.Semaphore | None = None

    def retarget(self, command: Connect) -> None:
        """Take the url and params a ``Connect(url, params)`` gives (if it gives them)."""
        if command.url is not None:
            self.url = command.url
        if command.params is not None:
            self.params = command.params

    def resolve(self) -> str:
        """The URL to connect to, params resolved (raises ConfigError if they cannot be)."""
        vsn = self._config.serializer.vsn
        return build_url(self.url, resolve_params(self.params), vsn)

    def open(
        self, url: str, listener: Callable[[threading.Semaphore | None], TransportListener]
    ) -> None:
        """Open a transport to ``url`` reporting to ``listener(credits)``; what the
        transport factory raises is raised (nothing is open then)."""
        limit = self._config.max_pending_frames
        credits = None if limit is None else threading.Semaphore(limit)
        self.transport = self._factory(url, self._config.transport_options, listener(credits))
        self.credits = credits

    def send(self, out: s.Outbound) -> None:
        """Send ``out``'s frame on the open transport."""
        transport = self.transport
        assert transport is not None  # the session is connected, so there is a transport
        transport.send(out.frame)

    def close(self) -> None:
        """Close the transport, if one is open; a reader waiting for credit is let go."""
        transport, self.transport = self.transport, None
        credits, self.credits = self.credits, None
        if credits is not None:
            credits.release(1_000_000)  # a reader waiting for credit must not block close
        if transport is not None:
            try:
                transport.close()
            except Exception:
                logger.exception("closing the transport failed")
