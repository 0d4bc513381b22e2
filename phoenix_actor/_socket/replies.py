"""Requests answered through futures: reply matching, timeouts, the push buffer.

A mixin of :class:`~phoenix_actor.SocketActor`; its shared state is declared in
:class:`~phoenix_actor._socket.core.SocketCore`.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Callable

import pykka

from phoenix_actor._protocol import session as s
from phoenix_actor._protocol.logtext import Bounded
from phoenix_actor._protocol.message import ChannelReply, Message
from phoenix_actor._socket.core import SocketCore
from phoenix_actor._socket.mailbox import _DeadlinesDue, _fail, _Request, _Waiter, check_timeout
from phoenix_actor._socket.observer import ChannelState, SocketState
from phoenix_actor._transport.timers import Timer, tell_later
from phoenix_actor.exceptions import (
    BufferFullError,
    ChannelClosedError,
    DisconnectedError,
    NotJoinedError,
    NotSentError,
    PushError,
    PushTimeoutError,
    ReplyLostError,
)

logger = logging.getLogger("phoenix_actor.socket")

#: Deadline entries at which answered ones are swept out (when they are most of them).
_COMPACT_AT = 64


class RepliesMixin(SocketCore):
    """Joins, leaves and pushes whose replies resolve Pykka futures; the push buffer."""

    def _init_replies(self) -> None:
        self._waiting: dict[int, _Waiter] = {}  # sent, by ref
        self._buffer: deque[_Waiter] = deque()  # not sent yet, in order
        # Every waiter's deadline, earliest first, and one timer for the earliest: a
        # request costs no timer of its own (answered ones are dropped lazily).
        self._deadlines: list[tuple[float, int, _Waiter]] = []
        self._deadline_order = itertools.count()
        self._deadline_timer: Timer | None = None
        self._deadline_at = math.inf
        self._deadline_token = 0

    # -- requests answered through futures ----------------------------------------

    def _new_waiter(self, request: _Request) -> _Waiter:
        timeout = request.timeout
        if timeout is None:
            timeout = self.config.push_timeout
        waiter = _Waiter(
            request.kind, request.topic, request.event, request.payload, request.future
        )
        waiter.deadline = deadline = time.monotonic() + timeout
        heap = self._deadlines
        if len(heap) >= _COMPACT_AT and len(heap) > 2 * (len(self._waiting) + len(self._buffer)):
            # Answered requests leave their entry behind; drop them all at once.
            self._deadlines = heap = [entry for entry in heap if not entry[2].done]
            heapq.heapify(heap)
        heapq.heappush(heap, (deadline, next(self._deadline_order), waiter))
        if deadline < self._deadline_at:
            self._arm_deadline(deadline)
        return waiter

    def _arm_deadline(self, deadline: float) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
        self._deadline_token += 1
        self._deadline_at = deadline
        delay = deadline - time.monotonic()
        self._deadline_timer = tell_later(
            self.actor_ref, delay, _DeadlinesDue(self._deadline_token)
        )

    def _deadlines_due(self, token: int) -> None:
        """Time out every waiter whose deadline has passed; arm the timer for the next."""
        if token != self._deadline_token:
            return
        self._deadline_timer = None
        self._deadline_at = math.inf
        heap = self._deadlines
        now = time.monotonic()
        while heap and (heap[0][2].done or heap[0][0] <= now):
            waiter = heapq.heappop(heap)[2]
            if not waiter.done:
                self._timed_out(waiter)
        if heap:
            self._arm_deadline(heap[0][0])

    def _cancel_deadlines(self) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        self._deadline_at = math.inf
        self._deadlines.clear()

    def _track_sent(self, waiter: _Waiter, ref: int) -> None:
        """``waiter``'s request has ref ``ref``; its frame is the next one sent."""
        waiter.ref = ref
        waiter.frame = self._frames_out + 1
        if self._observer is not None:
            waiter.sent_at = time.monotonic()
        self._waiting[ref] = waiter

    def _finish(self, waiter: _Waiter) -> pykka.Future[ChannelReply] | None:
        """Mark ``waiter`` done and forget it; return its future, or None if done already."""
        if waiter.done:
            return None
        waiter.done = True
        if waiter.ref is not None:
            self._waiting.pop(waiter.ref, None)
        return waiter.future

    def _resolve(self, waiter: _Waiter, reply: ChannelReply) -> None:
        if self._observer is not None and not waiter.done:
            latency = time.monotonic() - waiter.sent_at
            self._observe("reply_latency", waiter.topic, waiter.event, reply.status, latency)
        future = self._finish(waiter)
        if future is not None:
            future.set(reply)

    def _reject(self, waiter: _Waiter, error: BaseException) -> None:
        future = self._finish(waiter)
        if future is not None:
            _fail(future, error)

    def _fail_sent(self, error: Callable[[], BaseException]) -> None:
        for waiter in list(self._waiting.values()):
            self._reject(waiter, error())

    def _fail_lost(self, why: str, written: int | None) -> None:
        """The connection closed with requests awaiting their reply: those whose frame
        was never written (beyond the first ``written`` frames; None: unknown, so any
        may have left) fail with NotSentError, the others with ReplyLostError."""
        for waiter in list(self._waiting.values()):
            what = f"{waiter.kind} {waiter.event!r} to {waiter.topic!r}"
            if written is not None and waiter.frame > written:
                error: BaseException = NotSentError(
                    f"{what} was never sent: the connection closed first ({why})"
                )
            else:
                error = ReplyLostError(
                    f"{what} was sent, but the connection closed before its reply came "
                    f"({why}): the server may have handled it"
                )
            self._reject(waiter, error)

    def _fail_buffered(
        self, which: Callable[[_Waiter], bool], error: Callable[[], BaseException]
    ) -> None:
        if not self._buffer:
            return
        keep: deque[_Waiter] = deque()
        for waiter in self._buffer:
            if which(waiter):
                self._reject(waiter, error())
            else:
                keep.append(waiter)
        self._buffer = keep

    def _request(self, request: _Request) -> None:
        """Send a join, leave or push whose reply resolves its future, or buffer it.

        Raises :class:`PushError` (nothing sent, nothing buffered) when it can be neither.
        """
        check_timeout(request.timeout)
        session = self._session
        kind, topic = request.kind, request.topic
        if kind == "push" and self._should_buffer(topic):
            s.check_push(topic, request.event)
            if len(self._buffer) >= self.config.push_buffer:
                raise BufferFullError(
                    f"{len(self._buffer)} pushes are already buffered (push_buffer="
                    f"{self.config.push_buffer}); {request.event!r} to {topic!r} was not sent"
                )
            # Encode once now, so that a payload that cannot be sent fails here.
            self._serializer.encode(Message(None, 0, topic, request.event, request.payload))
            self._buffer.append(self._new_waiter(request))
            return
        if not session.is_connected:
            raise DisconnectedError("the socket is not connected")
        if kind == "join":
            out = session.join(topic, request.payload)
        elif kind == "leave":
            out = session.leave(topic, request.payload)
        else:
            out = session.push(topic, request.event, request.payload)
        self._track_sent(self._new_waiter(request), out.ref)
        if kind == "leave":
            self._left(topic, out)
        elif kind == "join":
            self._joining(topic, out)
        else:
            self._send(out)

    def _should_buffer(self, topic: str) -> bool:
        """A push to ``topic`` should wait: it is joining, or will be rejoined."""
        if self.config.push_buffer == 0:
            return False
        state = self._session.state(topic)
        if state is s.TopicState.JOINING:
            return True
        if state is not None or topic not in self._wanted or self.config.rejoin_after is None:
            return False
        # wanted but not joined: waiting for a rejoin, or for the connection to come back
        return self._session.is_connected or self._state is not SocketState.DISCONNECTED

    def _flush(self, topic: str) -> None:
        """Send the pushes buffered for ``topic``, now joined, in order."""
        if not self._buffer:
            return
        keep: deque[_Waiter] = deque()
        for waiter in self._buffer:
            if waiter.topic != topic:
                keep.append(waiter)
                continue
            try:
                out = self._session.push(topic, waiter.event, waiter.payload)
            except PushError as exc:
                self._reject(waiter, exc)
                continue
            self._track_sent(waiter, out.ref)
            self._send(out)
        self._buffer = keep

    def _timed_out(self, waiter: _Waiter) -> None:
        if waiter.done:
            return
        sent = waiter.ref is not None
        if not sent:
            self._buffer = deque(w for w in self._buffer if w is not waiter)
        what = f"{waiter.kind} {waiter.event!r} to {waiter.topic!r}"
        message = (
            f"no reply to {what} within the timeout"
            if sent
            else f"{what} was never sent: the topic was not joined within the timeout"
        )
        self._reject(waiter, PushTimeoutError(message))
        if waiter.kind != "join" or not self._session.is_connected:
            return
        topic = waiter.topic
        if self._session.state(topic) is s.TopicState.JOINING and (
            self._session.join_ref(topic) == waiter.ref
        ):
            logger.warning("join of %r timed out: abandoning it", topic)
            self._send(self._session.abandon_join(topic))
            self._errored_or_closed(topic)
            if topic in self._wanted and self.config.rejoin_after is not None:
                self._schedule_rejoin(topic)  # joined before: keep trying
            else:
                self._fail_buffered(lambda w: w.topic == topic, lambda: PushTimeoutError(message))

    def _on_joined(self, event: s.Joined) -> None:
        topic = event.topic
        self._wanted[topic] = event.payload
        self._rejoin_tries.pop(topic, None)
        self._set_channel(topic, ChannelState.JOINED)
        waiter = self._waiting.get(event.join_ref)
        if waiter is not None:
            self._resolve(waiter, ChannelReply(topic, event.join_ref, "ok", event.response))
        self._flush(topic)

    def _on_join_refused(self, event: s.JoinRefused) -> None:
        topic = event.topic
        waiter = self._waiting.get(event.join_ref)
        if waiter is not None:
            self._resolve(waiter, ChannelReply(topic, event.join_ref, event.status, event.response))
        if topic in self._wanted:
            logger.warning(
                "rejoin of %r refused (%s): not retrying", topic, Bounded(event.response)
            )
        self._set_channel(topic, ChannelState.CLOSED)
        self._forget(topic, lambda: NotJoinedError(f"the join of {topic!r} was refused"))

    def _on_channel_closed(self, event: s.ChannelClosed) -> None:
        topic = event.topic
        closed = f"the channel of {topic!r} closed ({event.event})"
        for waiter in list(self._waiting.values()):
            if waiter.topic == topic:
                if waiter.kind == "leave" and event.event == "phx_close":
                    reply = waiter.reply or ChannelReply(topic, waiter.ref, "ok", {})
                    self._resolve(waiter, reply)
                else:
                    self._reject(waiter, ChannelClosedError(closed))
        error = lambda: ChannelClosedError(closed)  # noqa: E731
        if event.event == "phx_close":
            self._forget(topic, error)
            self._set_channel(topic, ChannelState.CLOSED)
        else:
            self._errored_or_closed(topic)
            self._schedule_rejoin(topic)

    def _on_reply(self, event: s.ReplyReceived) -> None:
        if type(event.ref) is not int:
            return
        waiter = self._waiting.get(event.ref)
        if waiter is not None and waiter.topic == event.topic:
            reply = ChannelReply(event.topic, event.ref, event.status, event.response)
            if waiter.kind == "leave" and reply.ok:
                waiter.reply = reply  # resolved once the channel is closed
            else:
                self._resolve(waiter, reply)
