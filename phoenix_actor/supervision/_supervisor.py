"""The one-for-one :class:`Supervisor` of sockets and its default restart backoff."""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import pykka

from phoenix_actor._protocol.logtext import Bounded
from phoenix_actor._socket import exit as _exit
from phoenix_actor._socket.config import Backoff, _check_backoff, backoff_delay
from phoenix_actor._transport.timers import Timer, tell_later
from phoenix_actor.exceptions import ConfigError
from phoenix_actor.supervision._child import (
    DEFAULT_STOP_TIMEOUT,
    ChildStopped,
    SupervisedSocketActor,
    _describe,
    _tell,
    is_crash,
    start_child,
    stop_actors,
)
from phoenix_actor.supervision._spec import (
    ChildInfo,
    ChildSpec,
    ChildStarted,
    ChildState,
    RestartLimitExceeded,
    RestartScheduled,
    SupervisorEvent,
    SupervisorStopped,
)

logger = logging.getLogger("phoenix_actor.supervision")

#: The default restart backoff of :class:`Supervisor`: 0.1, 0.5, 1, then 5 s.
RESTART_BACKOFF: tuple[float, ...] = (0.1, 0.5, 1.0, 5.0)


@dataclass(frozen=True, slots=True)
class _RestartDue:
    name: str
    token: int


@dataclass(eq=False, slots=True)
class _Child:
    spec: ChildSpec
    ref: pykka.ActorRef[SupervisedSocketActor] | None = None
    state: ChildState = "stopped"
    started_at: float = 0.0
    failures: int = 0  # the backoff step: stops in a row, each sooner than `period`
    restarts: int = 0
    last_reason: Any = None
    timer: Timer | None = None
    token: int = 0


def _seconds(name: str, value: object, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{name} must be a number of seconds > 0, not {value!r}")


class Supervisor(pykka.ThreadingActor):
    """A one-for-one supervisor of sockets, in the spirit of OTP's.

    ``Supervisor.start(children, ...)`` starts a socket for each :class:`ChildSpec`, in
    order, in the caller's thread (a bad ``init()`` raises there, and the sockets already
    started are stopped). When a child stops, its spec's ``restart`` policy decides:
    a restarted child gets a new client from its factory and a new ``SocketActor``
    after ``backoff`` (a :data:`~phoenix_actor.Backoff`: 0.1, 0.5, 1, then 5 s by default;
    the step goes back to the first once a child had run ``period`` s before it
    stopped). A factory or start that fails counts as another crash.

    More than ``max_restarts`` restarts (of all children) within ``period`` seconds and
    the supervisor gives up: it logs the :class:`RestartLimitExceeded` at ERROR, stops
    every child and itself, and tells its ``parent`` (if any) a :class:`ChildStopped`
    with that reason. Stopped from outside, its reason is ``"shutdown"``. Either way its
    children are stopped (last started first, up to ``stop_timeout`` s) and restarts
    still waiting are cancelled.

    ``observer`` (for example ``ref.tell`` or ``queue.put``) is given every
    :data:`SupervisorEvent`, in the supervisor's thread (the first starts' events in the
    caller's). ``clock`` (monotonic seconds, for the period) is for tests.
    ``which_children``, ``add_child`` and ``stop_child`` run in the supervisor's thread:
    call them through ``ref.proxy()``, e.g. ``ref.proxy().which_children().get()``.
    The supervisor is one more actor thread; restarts wait on the shared timer thread.
    """

    def __init__(
        self,
        children: Sequence[ChildSpec] = (),
        *,
        max_restarts: int = 5,
        period: float = 30.0,
        backoff: Backoff = RESTART_BACKOFF,
        parent: pykka.ActorRef[Any] | None = None,
        name: str = "supervisor",
        observer: Callable[[SupervisorEvent], object] | None = None,
        stop_timeout: float | None = DEFAULT_STOP_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        _exit.install(Supervisor, first=True)  # stopped at exit before its sockets
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) or max_restarts < 0:
            raise ConfigError(f"max_restarts must be an int >= 0, not {max_restarts!r}")
        _seconds("period", period)
        _seconds("stop_timeout", stop_timeout, allow_none=True)
        if backoff is None:
            raise ConfigError("backoff must be a sequence of seconds or a callable, not None")
        _check_backoff("backoff", backoff)
        if parent is not None and not isinstance(parent, pykka.ActorRef):
            raise ConfigError(f"parent must be a pykka.ActorRef or None, not {parent!r}")
        if observer is not None and not callable(observer):
            raise ConfigError(f"observer must be callable or None, not {observer!r}")
        self.name = name
        self.max_restarts = max_restarts
        self.period = period
        self.backoff = backoff
        self.parent = parent
        self.observer = observer
        self.stop_timeout = stop_timeout
        self._clock = clock
        self._children: dict[str, _Child] = {}
        self._by_urn: dict[str, _Child] = {}
        self._restarts: deque[float] = deque()
        self._tokens = itertools.count(1)
        self._stopping = False
        self._stop_reason: Any = "shutdown"
        self._down = False
        try:
            for spec in children:
                self._add(spec)
        except BaseException:
            stop_actors([c.ref for c in self._children.values() if c.ref], stop_timeout)
            raise

    def __repr__(self) -> str:
        return f"<Supervisor {self.name!r} children={list(self._children)}>"

    # -- API (in the supervisor's thread: use ref.proxy()) ---------------------------

    def which_children(self) -> list[ChildInfo]:
        """Every child, in the order of its spec."""
        return [
            ChildInfo(name, c.ref, c.state, c.restarts, c.last_reason)
            for name, c in self._children.items()
        ]

    def add_child(self, spec: ChildSpec) -> pykka.ActorRef[SupervisedSocketActor]:
        """Start and supervise one more child; raises if it cannot start."""
        return self._add(spec)

    def stop_child(self, name: str) -> bool:
        """Stop child ``name`` without restarting it; False if it was not running."""
        child = self._children.get(name)
        if child is None:
            raise LookupError(f"supervisor {self.name!r} has no child {name!r}")
        self._cancel_restart(child)
        ref, child.ref, child.state = child.ref, None, "stopped"
        if ref is None:
            return False
        self._by_urn.pop(ref.actor_urn, None)
        logger.info("stopping child %r of supervisor %r", name, self.name)
        stop_actors([ref], self.stop_timeout)
        return True

    # -- children ------------------------------------------------------------------

    def _add(self, spec: ChildSpec) -> pykka.ActorRef[SupervisedSocketActor]:
        if not isinstance(spec, ChildSpec):
            raise ConfigError(f"children must be ChildSpec objects, not {spec!r}")
        if spec.name in self._children:
            raise ConfigError(f"supervisor {self.name!r} already has a child {spec.name!r}")
        child = _Child(spec)
        ref = self._start(child)
        self._children[spec.name] = child
        return ref

    def _start(self, child: _Child) -> pykka.ActorRef[SupervisedSocketActor]:
        spec = child.spec
        child.started_at = self._clock()
        client = spec.factory()
        ref = start_child(self.actor_ref, client, spec.config, name=spec.name, **spec.options)
        child.ref, child.state = ref, "running"
        self._by_urn[ref.actor_urn] = child
        logger.info("supervisor %r started child %r (%s)", self.name, spec.name, ref)
        self._emit(ChildStarted(spec.name, ref, child.restarts))
        return ref

    def _cancel_restart(self, child: _Child) -> None:
        if child.timer is not None:
            child.timer.cancel()
            child.timer = None
        child.token = 0

    def _child_stopped(self, message: ChildStopped) -> None:
        child = self._by_urn.pop(message.ref.actor_urn, None)
        if child is None or self._stopping:
            logger.debug("supervisor %r ignores %s", self.name, Bounded(message))
            return
        child.ref, child.state, child.last_reason = None, "stopped", message.reason
        self._emit(message)
        policy = child.spec.restart
        if policy == "temporary" or (policy == "transient" and not message.crashed):
            logger.info(
                "child %r of supervisor %r stopped (%s); not restarted (restart=%r)",
                child.spec.name,
                self.name,
                _describe(message.reason),
                policy,
            )
            return
        self._schedule_restart(child, message.reason)

    def _schedule_restart(self, child: _Child, reason: Any) -> None:
        now = self._clock()
        while self._restarts and self._restarts[0] <= now - self.period:
            self._restarts.popleft()
        if len(self._restarts) >= self.max_restarts:
            error = RestartLimitExceeded(
                self.name, child.spec.name, reason, self.max_restarts, self.period
            )
            logger.error("%s", error)
            self._begin_stop(error)
            return
        self._restarts.append(now)
        if now - child.started_at >= self.period:
            child.failures = 0
        child.failures += 1
        delay = backoff_delay(self.backoff, child.failures)
        child.state = "restarting"
        child.token = token = next(self._tokens)
        child.timer = tell_later(self.actor_ref, delay, _RestartDue(child.spec.name, token))
        logger.warning(
            "child %r of supervisor %r stopped (%s); restarting in %.3f s (attempt %d)",
            child.spec.name,
            self.name,
            _describe(reason),
            delay,
            child.failures,
        )
        self._emit(RestartScheduled(child.spec.name, reason, delay, child.failures))

    def _restart_due(self, message: _RestartDue) -> None:
        child = self._children.get(message.name)
        if self._stopping or child is None or child.token != message.token:
            return
        child.timer, child.token = None, 0
        child.restarts += 1
        try:
            self._start(child)
        except Exception as exc:  # a failed start is one more crash
            logger.exception("supervisor %r could not restart child %r", self.name, message.name)
            child.state, child.last_reason = "stopped", exc
            self._schedule_restart(child, exc)

    def _emit(self, event: SupervisorEvent) -> None:
        if self.observer is None:
            return
        try:
            self.observer(event)
        except Exception:
            logger.exception("the observer of supervisor %r raised on %r", self.name, event)

    # -- lifecycle -----------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ChildStopped):
            self._child_stopped(message)
        elif isinstance(message, _RestartDue):
            self._restart_due(message)
        else:
            return super().on_receive(message)
        return None

    def _begin_stop(self, reason: Any) -> None:
        if not self._stopping:
            self._stopping = True
            self._stop_reason = reason
            self.stop()

    def on_stop(self) -> None:
        self._shut_down(self._stop_reason)

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._shut_down(exception_value if exception_value is not None else "failure")

    def _shut_down(self, reason: Any) -> None:
        if self._down:
            return
        self._down = self._stopping = True
        refs = []
        for child in self._children.values():
            self._cancel_restart(child)
            if child.ref is not None:
                refs.append(child.ref)
            child.ref, child.state = None, "stopped"
        self._by_urn.clear()
        stop_actors(refs, self.stop_timeout)
        crashed = is_crash(reason)
        logger.info("supervisor %r stopped (%s)", self.name, _describe(reason))
        self._emit(SupervisorStopped(self.name, reason, crashed))
        _tell(self.parent, ChildStopped(self.actor_ref, reason, crashed, self.name))
