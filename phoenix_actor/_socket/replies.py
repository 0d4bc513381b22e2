"""Requests answered through futures: the waiters by ref, the push buffer, the deadlines.

A part of :class:`~phoenix_actor.SocketActor`, testable on its own. It resolves and
fails futures and keeps one deadline timer (``later(delay, _DeadlinesDue(token))``);
which error a request gets, and when, is decided by
:class:`~phoenix_actor._socket.channels.Channels`.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from phoenix_actor._socket.mailbox import (
    Cancellable,
    Later,
    _DeadlinesDue,
    _fail,
    _Request,
    _Waiter,
)
from phoenix_actor.exceptions import BufferFullError, NotSentError, ReplyLostError

if TYPE_CHECKING:
    import pykka

    from phoenix_actor._protocol.message import ChannelReply
    from phoenix_actor._socket.config import Config
    from phoenix_actor._socket.states import States

#: Deadline entries at which answered ones are swept out (when they are most of them).
_COMPACT_AT = 64


class Replies:
    """Joins, leaves and pushes whose replies resolve Pykka futures.

    A request is a :class:`_Waiter`: sent ones are in ``sent`` by ref (read it, change
    it only through these methods), unsent pushes wait in the buffer in order. Every
    waiter's deadline is in one heap with one timer for the earliest: a request costs
    no timer of its own, and answered ones are dropped lazily.
    """

    __slots__ = (
        "_buffer",
        "_clock",
        "_config",
        "_deadline_at",
        "_deadline_timer",
        "_deadline_token",
        "_deadlines",
        "_frames_out",
        "_later",
        "_order",
        "_states",
        "sent",
    )

    def __init__(
        self,
        config: Config,
        later: Later,
        states: States,
        clock: Callable[[], float] = time.monotonic,
        frames_out: Callable[[], int] = lambda: 0,
    ) -> None:
        self._config = config
        self._later = later
        self._states = states
        self._clock = clock
        #: How many frames the connection was given so far (numbers each request's frame).
        self._frames_out = frames_out
        #: The waiters sent and not answered yet, by ref.
        self.sent: dict[int, _Waiter] = {}
        self._buffer: deque[_Waiter] = deque()
        self._deadlines: list[tuple[float, int, _Waiter]] = []
        self._order = itertools.count()
        self._deadline_timer: Cancellable | None = None
        self._deadline_at = math.inf
        self._deadline_token = 0

    # -- waiters and their deadlines ---------------------------------------------------

    def new_waiter(self, request: _Request) -> _Waiter:
        """A waiter for ``request``, due after its timeout (default ``push_timeout``)."""
        timeout = request.timeout
        if timeout is None:
            timeout = self._config.push_timeout
        waiter = _Waiter(
            request.kind, request.topic, request.event, request.payload, request.future
        )
        waiter.deadline = deadline = self._clock() + timeout
        heap = self._deadlines
        if len(heap) >= _COMPACT_AT and len(heap) > 2 * (len(self.sent) + len(self._buffer)):
            # Answered requests leave their entry behind; drop them all at once.
            self._deadlines = heap = [entry for entry in heap if not entry[2].done]
            heapq.heapify(heap)
        heapq.heappush(heap, (deadline, next(self._order), waiter))
        if deadline < self._deadline_at:
            self._arm(deadline)
        return waiter

    def deadline_count(self) -> int:
        """How many deadline entries are kept (answered ones included until swept)."""
        return len(self._deadlines)

    def _arm(self, deadline: float) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
        self._deadline_token += 1
        self._deadline_at = deadline
        delay = deadline - self._clock()
        self._deadline_timer = self._later(delay, _DeadlinesDue(self._deadline_token))

    def expired(self, token: int) -> list[_Waiter]:
        """The unanswered waiters whose deadline has passed, earliest first, taken off
        the heap (still unanswered: the caller fails them); the timer is armed for the
        next. Nothing if ``token`` is not the current timer's."""
        if token != self._deadline_token:
            return []
        self._deadline_timer = None
        self._deadline_at = math.inf
        heap = self._deadlines
        now = self._clock()
        due = []
        while heap and (heap[0][2].done or heap[0][0] <= now):
            waiter = heapq.heappop(heap)[2]
            if not waiter.done:
                due.append(waiter)
        if heap:
            self._arm(heap[0][0])
        return due

    def cancel_deadlines(self) -> None:
        """Drop every deadline and the timer (the socket stops)."""
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        self._deadline_at = math.inf
        self._deadlines.clear()

    # -- sent -----------------------------------------------------------------------

    def track_sent(self, waiter: _Waiter, ref: int) -> None:
        """``waiter`` is sent with ``ref`` (its frame is the connection's next one): its
        reply resolves it."""
        waiter.ref = ref
        waiter.frame = self._frames_out() + 1
        if self._states.observer is not None:
            waiter.sent_at = self._clock()
        self.sent[ref] = waiter

    def sent_to(self, topic: str) -> list[_Waiter]:
        """The waiters sent to ``topic`` and not answered yet, in the order sent."""
        return [waiter for waiter in self.sent.values() if waiter.topic == topic]

    def _finish(self, waiter: _Waiter) -> pykka.Future[ChannelReply] | None:
        """Mark ``waiter`` done and forget it; return its future, or None if done already."""
        if waiter.done:
            return None
        waiter.done = True
        if waiter.ref is not None:
            self.sent.pop(waiter.ref, None)
        return waiter.future

    def resolve(self, waiter: _Waiter, reply: ChannelReply) -> None:
        """Answer ``waiter`` with ``reply`` (once: a done waiter is left alone)."""
        states = self._states
        if states.observer is not None and not waiter.done:
            latency = self._clock() - waiter.sent_at
            states.observe("reply_latency", waiter.topic, waiter.event, reply.status, latency)
        future = self._finish(waiter)
        if future is not None:
            future.set(reply)

    def reject(self, waiter: _Waiter, error: BaseException) -> None:
        """Fail ``waiter`` with ``error`` (once: a done waiter is left alone)."""
        future = self._finish(waiter)
        if future is not None:
            _fail(future, error)

    def fail_sent(self, error: Callable[[], BaseException]) -> None:
        """Fail every sent waiter with a fresh ``error()``: no reply can come now."""
        for waiter in list(self.sent.values()):
            self.reject(waiter, error())

    def fail_lost(self, why: str, written: int | None) -> None:
        """The connection closed with requests awaiting their reply: those whose frame
        was never written (beyond the first ``written`` frames; None: unknown, so any
        may have left) fail with NotSentError, the others with ReplyLostError."""
        for waiter in list(self.sent.values()):
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
            self.reject(waiter, error)

    # -- the push buffer ----------------------------------------------------------------

    def check_room(self, topic: str, event: str) -> None:
        """Raise :class:`BufferFullError` if the buffer holds ``Config.push_buffer`` pushes."""
        limit = self._config.push_buffer
        if len(self._buffer) >= limit:
            raise BufferFullError(
                f"{len(self._buffer)} pushes are already buffered (push_buffer="
                f"{limit}); {event!r} to {topic!r} was not sent"
            )

    def buffer(self, waiter: _Waiter) -> None:
        """Keep an unsent push until its topic is joined (see :meth:`check_room`)."""
        self._buffer.append(waiter)

    def take_buffered(self, topic: str) -> list[_Waiter]:
        """Take the pushes buffered for ``topic`` out of the buffer, in order."""
        if not self._buffer:
            return []
        taken: list[_Waiter] = []
        keep: deque[_Waiter] = deque()
        for waiter in self._buffer:
            (taken if waiter.topic == topic else keep).append(waiter)
        self._buffer = keep
        return taken

    def unbuffer(self, waiter: _Waiter) -> None:
        """Take one push out of the buffer (if it is there)."""
        if waiter.ref is None:
            self._buffer = deque(w for w in self._buffer if w is not waiter)

    def fail_buffered(
        self, which: Callable[[_Waiter], bool], error: Callable[[], BaseException]
    ) -> None:
        """Fail the buffered pushes ``which`` selects with a fresh ``error()``."""
        if not self._buffer:
            return
        keep: deque[_Waiter] = deque()
        for waiter in self._buffer:
            if which(waiter):
                self.reject(waiter, error())
            else:
                keep.append(waiter)
        self._buffer = keep
