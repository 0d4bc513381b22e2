"""The Phoenix heartbeat of a socket's open connection.

A part of :class:`~phoenix_actor.SocketActor`, testable on its own: one timer telling
the actor ``_HeartbeatDue(generation)`` through ``later``, and the time the last
heartbeat was sent (for its round trip).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from phoenix_actor._socket.mailbox import Cancellable, Later, _HeartbeatDue

if TYPE_CHECKING:
    from phoenix_actor._protocol import session as s


class Heartbeat:
    """Sends a heartbeat every ``interval`` seconds (never when ``interval`` is None)."""

    __slots__ = ("_clock", "_later", "_send", "_sent_at", "_session", "_timer", "interval")

    def __init__(
        self,
        interval: float | None,
        session: s.Session,
        send: Callable[[s.Outbound], None],
        later: Later,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self._session = session
        self._send = send
        self._later = later
        self._clock = clock
        self._sent_at = 0.0
        self._timer: Cancellable | None = None

    def start(self, generation: int) -> None:
        """Schedule the next heartbeat of connection ``generation``."""
        if self.interval is not None:
            self._timer = self._later(self.interval, _HeartbeatDue(generation))

    def stop(self) -> None:
        """Cancel the scheduled heartbeat (the connection is closing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def beat(self, generation: int) -> bool:
        """A heartbeat of connection ``generation`` is due: send it and schedule the next.
        False (nothing sent) if the previous one is still unanswered: the connection is
        to be closed."""
        session = self._session
        if session.pending_heartbeat is not None:
            return False
        self._send(session.heartbeat())
        self._sent_at = self._clock()
        self.start(generation)
        return True

    def rtt(self) -> float:
        """Seconds since the last heartbeat was sent (its round trip, once acked)."""
        return self._clock() - self._sent_at
