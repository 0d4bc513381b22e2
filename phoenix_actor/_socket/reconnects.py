"""When a socket reconnects: the backoff, the close-code policy, the one reconnect timer.

A part of :class:`~phoenix_actor.SocketActor`, testable on its own: it tells the actor
``_ReconnectDue(token)`` through ``later`` and never connects by itself.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from phoenix_actor._socket.config import backoff_delay, jittered
from phoenix_actor._socket.mailbox import Cancellable, Later, _ReconnectDue
from phoenix_actor._socket.observer import SocketState
from phoenix_actor._transport.reasons import LATER_CLOSE_CODES, RemoteClosed, reconnect_refusal

if TYPE_CHECKING:
    from phoenix_actor._socket.config import Config
    from phoenix_actor._socket.states import States
    from phoenix_actor._transport.reasons import DisconnectReason

logger = logging.getLogger("phoenix_actor.socket")


class Reconnects:
    """The reconnect attempts since the last connection, and the scheduled one.

    :meth:`start` plans and schedules one (:meth:`plan` chooses a delay or refuses,
    :meth:`schedule` arms the one timer), :meth:`due` tells whether a fired timer is
    still the current one.
    """

    __slots__ = (
        "_clock",
        "_config",
        "_later",
        "_rng",
        "_states",
        "_timer",
        "_token",
        "_tokens",
        "at",
        "tries",
    )

    def __init__(
        self,
        config: Config,
        later: Later,
        states: States,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._config = config
        self._later = later
        self._states = states
        self._clock = clock
        self._rng = rng
        #: Attempts since the last successful connection.
        self.tries = 0
        #: ``clock()`` time of the scheduled attempt, or None.
        self.at: float | None = None
        self._timer: Cancellable | None = None
        self._tokens = itertools.count(1)
        self._token = 0

    def start(self, after: float | None) -> bool:
        """Schedule a reconnect (``Reconnect(after)``) and enter WAITING; False (logged)
        if there is to be none."""
        states = self._states
        delay = self.plan(after, states.last_reason)
        if delay is None:
            return False
        self.schedule(delay)
        states.set_socket(SocketState.WAITING, max(delay, 0.0))
        logger.info("reconnecting in %.3f s (attempt %d)", delay, self.tries)
        states.observe("reconnect_scheduled", self.tries, delay)
        return True

    def plan(self, after: float | None, last_reason: DisconnectReason | None) -> float | None:
        """The delay before the next attempt, or None (logged) if there is to be none.

        ``after`` is ``Reconnect(after=...)``: used as it is. Otherwise the delay comes
        from ``Config.reconnect_after`` (counting one more try), at least its longest
        step after a "try again later" close (1012, 1013), jittered; None when that
        is off, the callable fails, or ``last_reason`` says not to come back.
        """
        if after is not None:
            return after
        schedule = self._config.reconnect_after
        if schedule is None:
            logger.info("not reconnecting: reconnect_after is None")
            return None
        refusal = reconnect_refusal(last_reason)
        if refusal is not None:
            logger.warning("not reconnecting: %s", refusal)
            return None
        self.tries += 1
        try:
            delay = backoff_delay(schedule, self.tries)
        except Exception:
            logger.exception("the reconnect_after callable failed: not reconnecting")
            return None
        if (
            isinstance(last_reason, RemoteClosed)
            and last_reason.code in LATER_CLOSE_CODES
            and not callable(schedule)
        ):
            delay = max(delay, *schedule)
        return jittered(delay, self._config.reconnect_jitter, self._rng)

    def schedule(self, delay: float) -> None:
        """Arm the reconnect timer (replacing any) to fire in ``delay`` seconds."""
        self.cancel()
        self._token = token = next(self._tokens)
        self._timer = self._later(delay, _ReconnectDue(token))
        self.at = self._clock() + delay

    def due(self, token: int) -> bool:
        """True if ``token`` is the scheduled attempt's and the socket still WAITING for
        it: then connect (it is no longer scheduled)."""
        if token != self._token or self._states.socket is not SocketState.WAITING:
            return False
        self._timer = None
        return True

    def cancel(self) -> None:
        """Drop the scheduled attempt, if any."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.at = None
        self._token = 0

    def connected(self) -> None:
        """A connection opened: the next disconnect starts the backoff again."""
        self.tries = 0
