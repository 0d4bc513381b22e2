"""Which topics a socket rejoins, with what payload, and when.

A part of :class:`~phoenix_actor.SocketActor`, testable on its own: it tells the actor
``_RejoinDue(topic, token)`` through ``later`` and never joins by itself.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING, Any

from phoenix_actor._socket.config import backoff_delay
from phoenix_actor._socket.mailbox import Cancellable, Later, _RejoinDue

if TYPE_CHECKING:
    from phoenix_actor._socket.config import Config

logger = logging.getLogger("phoenix_actor.socket")


class Rejoins:
    """The topics joined once (to rejoin, with their last join payload), the rejoin
    attempts of each since it was last joined, and the scheduled rejoin timers."""

    __slots__ = ("_config", "_later", "_scheduled", "_tokens", "_tries", "_wanted")

    def __init__(self, config: Config, later: Later) -> None:
        self._config = config
        self._later = later
        self._wanted: dict[str, Any] = {}  # topic -> join payload
        self._tries: dict[str, int] = {}
        self._scheduled: dict[str, tuple[int, Cancellable]] = {}  # topic -> (token, timer)
        self._tokens = itertools.count(1)

    def want(self, topic: str, payload: Any) -> None:
        """``topic`` was joined with ``payload``: rejoin it so, and reset its tries."""
        self._wanted[topic] = payload
        self._tries.pop(topic, None)

    def wanted(self, topic: str) -> bool:
        """True if ``topic`` was joined and not left since (whether or not rejoins are on)."""
        return topic in self._wanted

    def wants(self, topic: str) -> bool:
        """True if ``topic`` is to be rejoined: wanted, and ``Config.rejoin_after`` is on."""
        return topic in self._wanted and self._config.rejoin_after is not None

    def payload(self, topic: str) -> Any:
        """The payload of the last accepted join of a wanted ``topic``."""
        return self._wanted[topic]

    def topics(self) -> list[str]:
        """The wanted topics, in the order they were first joined."""
        return list(self._wanted)

    def forget(self, topic: str) -> None:
        """Never rejoin ``topic`` (left, refused or closed by the server)."""
        self._wanted.pop(topic, None)
        self._tries.pop(topic, None)
        self.cancel(topic)

    def schedule(self, topic: str) -> float | None:
        """Arm a rejoin of ``topic`` after the next backoff step; return the delay,
        or None if it is not to be rejoined (or the ``rejoin_after`` callable failed)."""
        schedule = self._config.rejoin_after
        if schedule is None or topic not in self._wanted:
            return None
        tries = self._tries.get(topic, 0) + 1
        self._tries[topic] = tries
        try:
            delay = backoff_delay(schedule, tries)
        except Exception:
            logger.exception("the rejoin_after callable failed: not rejoining %r", topic)
            return None
        self.cancel(topic)
        token = next(self._tokens)
        self._scheduled[topic] = (token, self._later(delay, _RejoinDue(topic, token)))
        logger.info("rejoining %r in %.3f s (attempt %d)", topic, delay, tries)
        return delay

    def fired(self, topic: str, token: int) -> bool:
        """True if ``token`` is the scheduled rejoin of ``topic`` (no longer scheduled
        then); False for a timer cancelled or replaced after it fired."""
        scheduled = self._scheduled.get(topic)
        if scheduled is None or scheduled[0] != token:
            return False
        del self._scheduled[topic]
        return True

    def cancel(self, topic: str) -> None:
        """Drop the scheduled rejoin of ``topic``, if any."""
        scheduled = self._scheduled.pop(topic, None)
        if scheduled is not None:
            scheduled[1].cancel()

    def cancel_all(self) -> None:
        """Drop every scheduled rejoin (the wanted topics stay wanted)."""
        for _token, timer in self._scheduled.values():
            timer.cancel()
        self._scheduled.clear()
