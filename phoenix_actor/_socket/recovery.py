"""What a socket does when things go wrong: state changes, reconnecting, rejoining.

A mixin of :class:`~phoenix_actor.SocketActor`; its shared state is declared in
:class:`~phoenix_actor._socket.core.SocketCore`.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from phoenix_actor._protocol import session as s
from phoenix_actor._socket.client import Connect, Reconnect
from phoenix_actor._socket.config import backoff_delay, jittered
from phoenix_actor._socket.core import SocketCore
from phoenix_actor._socket.mailbox import _ReconnectDue, _RejoinDue, _Request
from phoenix_actor._socket.observer import (
    ChannelState,
    ChannelStateChanged,
    SocketState,
    SocketStateChanged,
)
from phoenix_actor._transport.reasons import LATER_CLOSE_CODES, RemoteClosed, reconnect_refusal
from phoenix_actor._transport.timers import Timer, tell_later
from phoenix_actor.exceptions import NotJoinedError, PushError

logger = logging.getLogger("phoenix_actor.socket")


class RecoveryMixin(SocketCore):
    """Socket and channel states, reconnect with backoff, rejoin of wanted topics."""

    def _init_recovery(self) -> None:
        self._channels: dict[str, ChannelState] = {}
        self._last_reason = None
        self._reconnect_tries = 0
        self._reconnect_timer: Timer | None = None
        self._reconnect_token = itertools.count(1)
        self._reconnect_due_token = 0
        self.reconnect_at: float | None = None  #: ``time.monotonic()`` of the next attempt
        # topics joined once, to rejoin: topic -> join payload
        self._wanted: dict[str, Any] = {}
        self._rejoin_tries: dict[str, int] = {}
        # a scheduled rejoin: topic -> (its token, its timer)
        self._rejoins: dict[str, tuple[int, Timer]] = {}
        self._rejoin_token = itertools.count(1)

    # -- observing --------------------------------------------------------------

    def _observe(self, hook: str, *args: Any) -> None:
        observer = self._observer
        if observer is None:
            return
        try:
            getattr(observer, hook)(*args)
        except Exception:
            logger.exception("the observer's %s raised", hook)

    def _set_state(self, state: SocketState) -> None:
        if state is self._state:
            return
        self._state = state
        if self._observer is not None:
            reconnect_in = None
            if state is SocketState.WAITING and self.reconnect_at is not None:
                reconnect_in = max(self.reconnect_at - time.monotonic(), 0.0)
            change = SocketStateChanged(state, self._last_reason, reconnect_in)
            self._observe("socket_state", change)

    def _set_channel(self, topic: str, state: ChannelState) -> None:
        if self._channels.get(topic) is state:
            return
        if state is ChannelState.CLOSED:
            if self._channels.pop(topic, None) is None:
                return
        else:
            self._channels[topic] = state
        if self._observer is not None:
            self._observe("channel_state", ChannelStateChanged(topic, state))

    def _errored_or_closed(self, topic: str) -> None:
        """The topic's channel is gone: ERRORED if it will be rejoined, else CLOSED."""
        will_rejoin = topic in self._wanted and self.config.rejoin_after is not None
        self._set_channel(topic, ChannelState.ERRORED if will_rejoin else ChannelState.CLOSED)

    # -- reconnecting -----------------------------------------------------------

    def _cancel_reconnect(self) -> None:
        if self._reconnect_timer is not None:
            self._reconnect_timer.cancel()
            self._reconnect_timer = None
        self.reconnect_at = None
        self._reconnect_due_token = 0

    def _reconnect(self, command: Reconnect) -> None:
        if self._transport is not None or self._state is SocketState.CONNECTING:
            logger.warning("Reconnect ignored: the socket is already %s", self._state.value)
            return
        delay = command.after
        if delay is None:
            schedule = self.config.reconnect_after
            if schedule is None:
                logger.info("not reconnecting: reconnect_after is None")
                return
            refusal = reconnect_refusal(self._last_reason)
            if refusal is not None:
                logger.warning("not reconnecting: %s", refusal)
                return
            self._reconnect_tries += 1
            try:
                delay = backoff_delay(schedule, self._reconnect_tries)
            except Exception:
                logger.exception("the reconnect_after callable failed: not reconnecting")
                return
            reason = self._last_reason
            if (
                isinstance(reason, RemoteClosed)
                and reason.code in LATER_CLOSE_CODES
                and not callable(schedule)
            ):
                delay = max(delay, *schedule)
            delay = jittered(delay, self.config.reconnect_jitter)
        self._cancel_reconnect()
        token = next(self._reconnect_token)
        self._reconnect_due_token = token
        self._reconnect_timer = tell_later(self.actor_ref, delay, _ReconnectDue(token))
        self.reconnect_at = time.monotonic() + delay
        self._set_state(SocketState.WAITING)
        logger.info("reconnecting in %.3f s (attempt %d)", delay, self._reconnect_tries)
        self._observe("reconnect_scheduled", self._reconnect_tries, delay)

    def _reconnect_due(self, token: int) -> None:
        if token != self._reconnect_due_token or self._state is not SocketState.WAITING:
            return
        self._reconnect_timer = None
        self._connect(Connect())

    # -- rejoining --------------------------------------------------------------

    def _rejoin(self, topic: str) -> None:
        """Join ``topic`` again with its last payload, if it is still wanted and unjoined."""
        self._cancel_rejoin(topic)
        if (
            self.config.rejoin_after is None
            or topic not in self._wanted
            or not self._session.is_connected
            or self._session.state(topic) is not None
        ):
            return
        logger.info("rejoining %r", topic)
        try:
            out = self._session.join(topic, self._wanted[topic])
        except PushError as exc:
            problem = f"cannot rejoin {topic!r}: {exc}"
            logger.error("%s", problem)  # noqa: TRY400 -- the message says it all
            self._forget(topic, lambda: NotJoinedError(problem))
            return
        self._joining(topic, out)
        waiter = self._new_waiter(_Request("join", topic, "phx_join", None, None, None))
        self._track_sent(waiter, out.ref)

    def _schedule_rejoin(self, topic: str) -> None:
        schedule = self.config.rejoin_after
        if schedule is None or topic not in self._wanted:
            return
        tries = self._rejoin_tries.get(topic, 0) + 1
        self._rejoin_tries[topic] = tries
        try:
            delay = backoff_delay(schedule, tries)
        except Exception:
            logger.exception("the rejoin_after callable failed: not rejoining %r", topic)
            return
        self._cancel_rejoin(topic)
        token = next(self._rejoin_token)
        timer = tell_later(self.actor_ref, delay, _RejoinDue(topic, token))
        self._rejoins[topic] = (token, timer)
        logger.info("rejoining %r in %.3f s (attempt %d)", topic, delay, tries)

    def _rejoin_timer_fired(self, topic: str, token: int) -> None:
        scheduled = self._rejoins.get(topic)
        if scheduled is not None and scheduled[0] == token:
            self._rejoin(topic)

    def _cancel_rejoin(self, topic: str) -> None:
        scheduled = self._rejoins.pop(topic, None)
        if scheduled is not None:
            scheduled[1].cancel()

    def _cancel_rejoins(self) -> None:
        for _token, timer in self._rejoins.values():
            timer.cancel()
        self._rejoins.clear()

    def _forget(self, topic: str, error: Callable[[], BaseException]) -> None:
        """Stop rejoining ``topic``; fail the pushes buffered for it."""
        self._wanted.pop(topic, None)
        self._rejoin_tries.pop(topic, None)
        self._cancel_rejoin(topic)
        self._fail_buffered(lambda w: w.topic == topic, error)

    def _joining(self, topic: str, out: s.Outbound) -> None:
        self._send(out)
        self._set_channel(topic, ChannelState.JOINING)

    def _left(self, topic: str, out: s.Outbound) -> None:
        self._send(out)
        self._set_channel(topic, ChannelState.LEAVING)
        self._forget(topic, lambda: NotJoinedError(f"{topic!r} was left before the push was sent"))
