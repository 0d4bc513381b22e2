"""PooledActor: a Pykka actor that runs on a WorkerPool's threads instead of its own.

Pykka's runtimes plug into three hooks of ``pykka.Actor``: ``_create_actor_inbox``,
``_create_future`` and ``_start_actor_loop``. ``ThreadingActor`` gives each actor a
``queue.Queue`` and a thread that runs ``Actor._actor_loop()``: ``on_start``, then
``_actor_loop_running()`` (``while not stopped: handle(inbox.get())``), then
``_actor_loop_teardown()`` (answer what is left with ``ActorDeadError``).

Here an actor has no thread. Its inbox is a ``deque`` plus a *scheduled* flag (a
``threading.Lock`` used as an atomic test-and-set): the ``put`` that finds the actor idle
queues one *turn* on the pool. A turn runs Pykka's own steps unchanged:
``_actor_loop_setup()`` on the first turn, then ``_actor_loop_running()``, whose
``inbox.get()`` hands out up to ``messages_per_turn`` envelopes and then raises
:class:`_EndOfTurn` (``get`` is called outside the loop's ``try``, so the exception
leaves the loop without touching the actor), and once the actor has stopped,
``_actor_loop_teardown()``. Every message, reply, failure, ``on_*`` hook, registry
step and ``BaseException`` rule is therefore Pykka's own code.

This relies on those three private steps and on ``inbox.get()`` sitting outside the
loop's ``try``, true from Pykka 4.0 to 4.5; the semantic suite passes, on both runtimes,
from 4.4.2 (setup.cfg pins ``pykka>=4.4.2,<5``; CI runs it at that lowest version).
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import pykka
from pykka import messages

from phoenix_actor.runtime._future import PooledFuture
from phoenix_actor.runtime._pool import WorkerPool, default_pool

if TYPE_CHECKING:
    from pykka._actor import ActorInbox
    from pykka._envelope import Envelope

logger = logging.getLogger("phoenix_actor.runtime")

#: Messages per turn by default: enough to amortise a hand-off, few enough to be fair.
DEFAULT_MESSAGES_PER_TURN = 32


class _EndOfTurn(BaseException):
    """Raised by ``_PooledInbox.get`` to leave Pykka's message loop at the end of a turn."""


class _PooledInbox:
    """An actor's mailbox: a deque, and a lock held while a turn is queued or running.

    Before the actor starts the lock is held, so early messages wait in the deque.
    After the actor's last turn it stays held for good and ``dead`` is set: a late
    message is answered with ``ActorDeadError`` on the spot.
    """

    __slots__ = ("_budget", "_dead", "_queue", "_scheduled", "_submit", "_turn")

    def __init__(self) -> None:
        self._queue: deque[Envelope[Any]] = deque()
        self._scheduled = threading.Lock()
        self._scheduled.acquire()
        self._budget = 0
        self._dead = False
        self._turn: Callable[[], None] | None = None
        self._submit: Callable[[Callable[[], None]], None] | None = None

    def put(self, envelope: Envelope[Any], /) -> None:
        """Queue ``envelope``; queue a turn if the actor is idle."""
        self._queue.append(envelope)
        if self._scheduled.acquire(blocking=False):
            assert self._submit is not None
            assert self._turn is not None
            try:
                self._submit(self._turn)
            except BaseException:  # the pool is shut down: say so to the sender
                self._scheduled.release()
                raise
        elif self._dead:
            self._reject_all()

    def get(self) -> Envelope[Any]:
        """The next envelope of this turn; :class:`_EndOfTurn` once none is due."""
        if self._budget <= 0:
            raise _EndOfTurn
        self._budget -= 1
        try:
            return self._queue.popleft()
        except IndexError:
            raise _EndOfTurn from None

    def empty(self) -> bool:
        """True when no message waits."""
        return not self._queue

    def __len__(self) -> int:
        return len(self._queue)

    def qsize(self) -> int:
        """How many messages wait, as ``queue.Queue.qsize`` says it."""
        return len(self._queue)

    def take(self, which: Callable[[Envelope[Any]], bool]) -> list[Envelope[Any]]:
        """Remove the waiting envelopes ``which`` accepts and return them; the others,
        and envelopes put meanwhile, keep their order (the actor's own turn only)."""
        popped: list[Envelope[Any]] = []
        queue_ = self._queue
        while queue_:  # put() only appends: what is popped here came before it
            popped.append(queue_.popleft())
        taken = [envelope for envelope in popped if which(envelope)]
        queue_.extendleft(reversed([envelope for envelope in popped if not which(envelope)]))
        return taken

    def get_nowait(self) -> Envelope[Any]:
        """Take the next waiting envelope now, as ``queue.Queue.get_nowait`` does (the
        actor's own turn only, e.g. to answer what waits at ``on_stop``)."""
        try:
            return self._queue.popleft()
        except IndexError:
            raise queue.Empty from None

    def _reject_all(self) -> None:
        """Answer every waiting message as Pykka's teardown does (the actor is gone)."""
        while True:
            try:
                envelope = self._queue.popleft()
            except IndexError:
                return
            if envelope.reply_to is None:
                continue
            if isinstance(envelope.message, messages._ActorStop):
                envelope.reply_to.set(None)
            else:
                error = pykka.ActorDeadError("the actor stopped before handling the message")
                envelope.reply_to.set_exception((pykka.ActorDeadError, error, None))


class PooledActor(pykka.Actor):
    """A :class:`pykka.Actor` that shares a :class:`WorkerPool`'s threads with others.

    Use it as :class:`pykka.ThreadingActor`: subclass it, ``start()`` it, ``tell``,
    ``ask``, ``proxy()``, ``stop()``. Everything Pykka promises of an actor holds: one
    message at a time in the order sent, ``on_start`` before the first message,
    ``on_stop``/``on_failure``, the registry, replies and ``ActorDeadError``. What
    differs is the thread: each message runs on one of the pool's workers (not always
    the same one), so 10,000 actors cost no more threads than 10.

    Do not block in a message for long: a wait on a :class:`PooledFuture` (``ask``,
    a proxy call's ``get()``) is fine, since the pool runs a spare worker meanwhile;
    other blocking (sockets, ``time.sleep``, locks) holds a worker until the monitor
    notices it after ``stall_timeout`` and logs a WARNING.
    """

    #: The pool this actor runs on; None means :func:`default_pool`. Read at ``start()``;
    #: set it on a subclass, or on the instance in ``__init__``.
    worker_pool: WorkerPool | None = None
    #: At most this many messages per turn before other actors get a worker.
    messages_per_turn: ClassVar[int] = DEFAULT_MESSAGES_PER_TURN

    actor_inbox: _PooledInbox
    _pooled_started = False
    _pooled_warned = False

    @staticmethod
    def _create_actor_inbox() -> ActorInbox:
        return _PooledInbox()

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return PooledFuture()

    def _start_actor_loop(self) -> None:
        try:
            submit = self._pooled_check()._start()
        except (RuntimeError, TypeError, ValueError):
            pykka.ActorRegistry.unregister(self.actor_ref)
            self.actor_stopped.set()
            raise
        inbox = self.actor_inbox
        inbox._turn = self._pooled_turn
        inbox._submit = submit
        submit(self._pooled_turn)  # the inbox lock is held: this turn owns it

    def _pooled_check(self) -> WorkerPool:
        """The pool to start on, once ``worker_pool`` and ``messages_per_turn`` are checked."""
        turn = self.messages_per_turn
        if not isinstance(turn, int) or isinstance(turn, bool) or turn < 1:
            raise ValueError(f"messages_per_turn must be an int >= 1, not {turn!r}")
        pool = self.worker_pool if self.worker_pool is not None else default_pool()
        if not isinstance(pool, WorkerPool):
            raise TypeError(f"worker_pool must be a WorkerPool or None, not {pool!r}")
        return pool

    def _pooled_progress(self) -> tuple[bool, int]:
        """Changes with every message taken; the pool's monitor watches it."""
        return (self._pooled_started, self.actor_inbox._budget)

    def _pooled_turn(self) -> None:
        """One turn on a pool worker: ``on_start`` or up to ``messages_per_turn`` messages."""
        inbox = self.actor_inbox
        try:
            if not self._pooled_started:
                self._pooled_started = True
                self._actor_loop_setup()  # on_start; it ends the turn
            elif not self.actor_stopped.is_set():
                inbox._budget = self.messages_per_turn
                try:
                    self._actor_loop_running()
                except _EndOfTurn:
                    pass
        except BaseException:  # noqa: BLE001
            # Only on_start lets a BaseException out (the loop handles its own). Pykka's
            # thread would die and leave a registered actor that never answers; do what
            # the loop does with one instead: stop this actor, then all actors.
            logger.debug("%r in on_start of %s. Stopping all actors.", sys.exc_info()[1], self)
            self._stop()
            pykka.ActorRegistry.stop_all()
        if self.actor_stopped.is_set():
            self._pooled_end()
            return
        if inbox._queue:
            self._pooled_again()  # more mail: keep the lock, go to the back of the queue
            return
        inbox._scheduled.release()
        # A put between our last look and the release found the lock held: take it back.
        if inbox._queue and inbox._scheduled.acquire(blocking=False):
            self._pooled_again()

    def _pooled_again(self) -> None:
        """Queue another turn (the inbox lock is held by this turn)."""
        inbox = self.actor_inbox
        try:
            inbox._submit(self._pooled_turn)  # type: ignore[misc]
        except RuntimeError:
            # The pool was shut down under a live actor: free the lock, so that the next
            # tell raises RuntimeError instead of queueing mail nobody will read.
            inbox._scheduled.release()
            logger.debug("%s: its pool was shut down with mail waiting", self)

    def _pooled_end(self) -> None:
        """The last turn: Pykka's teardown, then refuse late mail; the lock stays held."""
        inbox = self.actor_inbox
        inbox._budget = sys.maxsize  # teardown calls get() only after empty() is False
        self._actor_loop_teardown()
        inbox._dead = True
        inbox._reject_all()
        inbox._turn = None  # nothing left points from the ref to this actor
        inbox._submit = None
