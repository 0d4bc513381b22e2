"""What a socket reports about itself: its state, each channel's state, the observer calls.

A part of :class:`~phoenix_actor.SocketActor`, testable on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from phoenix_actor._socket.observer import (
    ChannelState,
    ChannelStateChanged,
    Observer,
    SocketState,
    SocketStateChanged,
)

if TYPE_CHECKING:
    from phoenix_actor._transport.reasons import DisconnectReason

logger = logging.getLogger("phoenix_actor.socket")


class States:
    """The socket's state, each open channel's state and the last disconnect reason.

    Every change is reported to the observer (if any); an observer that raises is
    logged and ignored. ``socket`` and ``last_reason`` are read freely; they change
    through :meth:`set_socket` and by assigning ``last_reason``.
    """

    __slots__ = ("_changed", "_channels", "last_reason", "observer", "socket")

    def __init__(
        self, observer: Observer | None, changed: Callable[[SocketState], None] | None = None
    ) -> None:
        self.observer = observer
        #: Told every new socket state, before the observer (the facade keeps a copy).
        self._changed = changed
        self.socket = SocketState.DISCONNECTED
        #: Why the last connection ended (None once connected again).
        self.last_reason: DisconnectReason | None = None
        self._channels: dict[str, ChannelState] = {}

    def observe(self, hook: str, *args: Any) -> None:
        """Call the observer's ``hook(*args)``, shielding the socket from its errors."""
        observer = self.observer
        if observer is None:
            return
        try:
            getattr(observer, hook)(*args)
        except Exception:
            logger.exception("the observer's %s raised", hook)

    def set_socket(self, state: SocketState, reconnect_in: float | None = None) -> None:
        """Enter ``state`` (``reconnect_in``: seconds to the next attempt, when WAITING)."""
        if state is self.socket:
            return
        self.socket = state
        if self._changed is not None:
            self._changed(state)
        if self.observer is not None:
            if state is not SocketState.WAITING:
                reconnect_in = None
            self.observe("socket_state", SocketStateChanged(state, self.last_reason, reconnect_in))

    def set_channel(self, topic: str, state: ChannelState) -> None:
        """Enter ``state`` for ``topic``; a CLOSED topic is forgotten."""
        channels = self._channels
        if channels.get(topic) is state:
            return
        if state is ChannelState.CLOSED:
            if channels.pop(topic, None) is None:
                return
        else:
            channels[topic] = state
        if self.observer is not None:
            self.observe("channel_state", ChannelStateChanged(topic, state))

    def channels(self) -> dict[str, ChannelState]:
        """Each topic that is not closed, with its state (a copy)."""
        return dict(self._channels)
