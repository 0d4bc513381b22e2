"""Where a socket connects, and the transport of its current connection attempt.

A part of :class:`~phoenix_actor.SocketActor`, testable on its own with a fake
transport factory: it opens, sends through and closes one transport at a time, and
knows nothing of sessions, generations or states.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from phoenix_actor._protocol.url import Params, build_url, resolve_params
from phoenix_actor._socket.mailbox import Flow
from phoenix_actor._transport.websocket import websocket_transport

if TYPE_CHECKING:
    from phoenix_actor._protocol import session as s
    from phoenix_actor._socket.client import Connect
    from phoenix_actor._socket.config import Config
    from phoenix_actor._transport.base import Transport, TransportListener

logger = logging.getLogger("phoenix_actor.socket")


class Link:
    """The URL and params to connect with, and the transport while one is open.

    ``transport`` is None between connections; ``flow`` (with
    ``Config.max_pending_frames``) is the backpressure of its reader. ``frames_out``
    counts the frames given to the transport, ``frames_written`` how many of them it
    had written when it closed (None: it cannot tell).
    """

    __slots__ = (
        "_config",
        "_factory",
        "flow",
        "frames_out",
        "frames_written",
        "params",
        "transport",
        "url",
    )

    def __init__(self, config: Config, url: str, params: Params | None) -> None:
        self._config = config
        self._factory = config.transport_factory or websocket_transport
        self.url = url
        self.params = params
        self.transport: Transport | None = None
        self.flow: Flow | None = None
        self.frames_out = 0
        self.frames_written: int | None = None

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

    def open(self, url: str, listener: Callable[[Flow | None], TransportListener]) -> None:
        """Open a transport to ``url`` reporting to ``listener(flow)``; what the
        transport factory raises is raised (nothing is open then)."""
        limit = self._config.max_pending_frames
        flow = None if limit is None else Flow(limit)
        self.frames_out = 0
        self.transport = self._factory(url, self._config.transport_options, listener(flow))
        self.flow = flow

    def send(self, out: s.Outbound) -> None:
        """Send ``out``'s frame on the open transport."""
        transport = self.transport
        assert transport is not None  # the session is connected, so there is a transport
        self.frames_out += 1
        transport.send(out.frame)

    def resume_reading(self) -> None:
        """Read again: the backlog held by ``flow`` is short now (if the transport can)."""
        resume = getattr(self.transport, "resume_reading", None)
        if resume is not None:
            resume()

    def close(self) -> None:
        """Close the transport, if one is open, and learn how many frames it wrote."""
        transport, self.transport = self.transport, None
        self.flow = None
        if transport is not None:
            try:
                transport.close()
            except Exception:
                logger.exception("closing the transport failed")
            # Once closed, no frame starts to be written any more: what it says is final.
            frames_sent = getattr(transport, "frames_sent", None)
            self.frames_written = frames_sent() if callable(frames_sent) else None
