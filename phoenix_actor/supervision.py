"""Supervision: sockets as children of a parent actor, and a one-for-one supervisor.

The Elixir original runs its socket process under an OTP supervisor: linked to its
parent, with an exit reason that tells a crash from a normal stop, and restarted when
it crashes. Pykka has neither links nor supervisors; this module adds them for sockets.

* :func:`start_child` starts a socket whose end is told to a parent actor, in the
  parent's own mailbox, as :class:`ChildStopped` (``ref``, ``reason``, ``crashed``).
* :class:`SupervisorMixin` makes a parent actor stop its children, and so close their
  websockets, when it stops or fails.
* :class:`Supervisor` is a one-for-one supervisor: it starts sockets from
  :class:`ChildSpec`\\ s, restarts a crashed one after a backoff, and gives up after
  ``max_restarts`` restarts within ``period`` seconds: it then stops every child and
  itself, with :class:`RestartLimitExceeded` as its reason.

A reason is *normal*, as in OTP, when it is ``"normal"`` (``Stop()``), ``"shutdown"``
(``ref.stop()``) or a ``("shutdown", detail)`` tuple; anything else, exceptions and
disconnect reasons included, is a crash (:func:`is_crash`).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, Literal, Union

import pykka

from phoenix_actor._client import SocketClient
from phoenix_actor._config import Backoff, Config, _check_backoff, backoff_delay
from phoenix_actor._socket import SocketActor
from phoenix_actor._timers import SCHEDULER, Timer
from phoenix_actor.exceptions import ConfigError, PhoenixActorError

__all__ = [
    "DEFAULT_STOP_TIMEOUT",
    "RESTART_BACKOFF",
    "ChildInfo",
    "ChildSpec",
    "ChildStarted",
    "ChildState",
    "ChildStopped",
    "RestartLimitExceeded",
    "RestartPolicy",
    "RestartScheduled",
    "SupervisedSocketActor",
    "Supervisor",
    "SupervisorEvent",
    "SupervisorMixin",
    "SupervisorStopped",
    "is_crash",
    "start_child",
    "stop_actors",
]

logger = logging.getLogger("phoenix_actor.supervision")

#: ``"permanent"``: restart after any stop; ``"transient"``: after a crash only;
#: ``"temporary"``: never.
RestartPolicy = Literal["permanent", "transient", "temporary"]
#: Where a supervised child stands.
ChildState = Literal["running", "restarting", "stopped"]
_POLICIES = ("permanent", "transient", "temporary")

#: The default restart backoff of :class:`Supervisor`: 0.1, 0.5, 1, then 5 s.
RESTART_BACKOFF: tuple[float, ...] = (0.1, 0.5, 1.0, 5.0)
#: Seconds to wait for children to stop.
DEFAULT_STOP_TIMEOUT = 5.0


def is_crash(reason: object) -> bool:
    """False for ``"normal"``, ``"shutdown"`` and ``("shutdown", detail)``; else True."""
    if isinstance(reason, str):
        return reason not in ("normal", "shutdown")
    if isinstance(reason, tuple) and len(reason) == 2 and isinstance(reason[0], str):
        return reason[0] != "shutdown"
    return True


def _describe(reason: object) -> str:
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}"
    describe = getattr(reason, "describe", None)
    if callable(describe):  # a DisconnectReason
        return str(describe())
    return repr(reason)


def _tell(target: pykka.ActorRef[Any] | None, message: object) -> None:
    if target is None:
        return
    try:
        target.tell(message)
    except pykka.ActorDeadError:
        logger.debug("%s has stopped; %r was not delivered", target, message)


@dataclass(frozen=True, slots=True)
class ChildStopped:
    """Told to a parent actor when its child ``ref`` stopped with ``reason``.

    ``crashed`` is ``is_crash(reason)``; ``name`` is the name given when it started.
    """

    ref: pykka.ActorRef[Any]
    reason: Any
    crashed: bool
    name: str | None = None


class SupervisedSocketActor(SocketActor):
    """A :class:`SocketActor` that tells ``parent`` a :class:`ChildStopped` when it ends.

    Start it with :func:`start_child`. The message is told once the socket has closed its
    transport and called ``terminate``, whatever stopped it: ``Stop(reason)`` from a
    callback, ``ref.stop()`` (``"shutdown"``), a callback error under
    ``callback_errors="stop"`` (the exception), or a failure Pykka reports through
    ``on_start`` or ``on_failure`` (the exception).
    """

    def __init__(
        self,
        client: SocketClient,
        config: Config | None = None,
        *,
        parent: pykka.ActorRef[Any],
        name: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(client, config, **options)
        self.parent = parent
        self.name = name
        self._told = False

    def on_start(self) -> None:
        try:
            super().on_start()
        except Exception as exc:
            # Pykka calls neither on_stop nor on_failure when on_start raises.
            self.on_failure(type(exc), exc, exc.__traceback__)
            raise

    def on_stop(self) -> None:
        try:
            super().on_stop()
        finally:
            self._tell_parent(self.stop_reason)

    def on_failure(self, *exc_info: object) -> None:
        try:
            super().on_failure(*exc_info)
        finally:
            error = exc_info[1] if len(exc_info) > 1 else None
            self._tell_parent(error if error is not None else "failure")

    def _tell_parent(self, reason: Any) -> None:
        if self._told:
            return
        self._told = True
        crashed = is_crash(reason)
        logger.info(
            "socket %s stopped (%s)%s",
            self.name or self.actor_urn,
            _describe(reason),
            ": a crash" if crashed else "",
        )
        _tell(self.parent, ChildStopped(self.actor_ref, reason, crashed, self.name))


def start_child(
    parent: pykka.ActorRef[Any],
    client: SocketClient,
    config: Config | None = None,
    *,
    name: str | None = None,
    **options: Any,
) -> pykka.ActorRef[SupervisedSocketActor]:
    """Start ``client`` as a socket whose end is told to ``parent`` as :class:`ChildStopped`.

    Arguments are those of ``SocketActor.start(client, config, **options)``, which
    raises here, in the caller's thread, if ``client.init()`` is bad. Call it from the
    parent's own thread (in a message handler or ``on_start``) so that the parent knows
    the ref before it can handle the child's :class:`ChildStopped`. The parent must stop
    its children itself, or use :class:`SupervisorMixin`.
    """
    if not isinstance(parent, pykka.ActorRef):
        raise ConfigError(f"parent must be a pykka.ActorRef, not {parent!r}")
    return SupervisedSocketActor.start(client, config, parent=parent, name=name, **options)


def stop_actors(
    refs: Iterable[pykka.ActorRef[Any]], timeout: float | None = DEFAULT_STOP_TIMEOUT
) -> list[pykka.ActorRef[Any]]:
    """Stop ``refs``, asking the last one first, and wait up to ``timeout`` s in all.

    Returns the actors that had not stopped in time (logged as warnings). Actors that
    have stopped already are skipped.
    """
    asked = [(ref, ref.stop(block=False)) for ref in reversed(list(refs))]
    deadline = None if timeout is None else time.monotonic() + timeout
    late: list[pykka.ActorRef[Any]] = []
    for ref, future in asked:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            future.get(timeout=remaining)
        except pykka.Timeout:
            logger.warning("%s did not stop within %s s", ref, timeout)
            late.append(ref)
    return late


class SupervisorMixin(pykka.Actor):
    """Lets a Pykka actor start sockets as children, and stops them when it stops.

    Put it before the actor base: ``class Parent(SupervisorMixin, pykka.ThreadingActor)``.
    ``self.start_child(client, ...)`` starts a socket (see :func:`start_child`) whose
    :class:`ChildStopped` arrives in this actor's ``on_receive``; ``self.adopt(ref)``
    adds any other actor, such as a :class:`Supervisor` started with
    ``parent=self.actor_ref``. When this actor stops or fails, its ``on_stop`` /
    ``on_failure`` stop every child still running, last started first, waiting up to
    ``child_stop_timeout`` seconds; overrides of those hooks must call ``super()``.
    """

    #: Seconds ``stop_children`` waits for the children (``None``: for ever).
    child_stop_timeout: float | None = DEFAULT_STOP_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._supervised: dict[str, pykka.ActorRef[Any]] = {}

    def start_child(
        self,
        client: SocketClient,
        config: Config | None = None,
        *,
        name: str | None = None,
        **options: Any,
    ) -> pykka.ActorRef[SupervisedSocketActor]:
        """Start ``client`` as a socket child of this actor (call it in this actor's thread)."""
        ref = start_child(self.actor_ref, client, config, name=name, **options)
        self.adopt(ref)
        return ref

    def adopt(self, ref: pykka.ActorRef[Any]) -> None:
        """Stop the actor ``ref`` when this actor stops."""
        self._prune()
        self._supervised[ref.actor_urn] = ref

    @property
    def children(self) -> list[pykka.ActorRef[Any]]:
        """The children still running, in the order they started."""
        self._prune()
        return list(self._supervised.values())

    def stop_children(self) -> None:
        """Stop every child, last started first (see :func:`stop_actors`)."""
        refs = list(self._supervised.values())
        self._supervised.clear()
        stop_actors(refs, self.child_stop_timeout)

    def _prune(self) -> None:
        for urn, ref in list(self._supervised.items()):
            if not ref.is_alive():
                del self._supervised[urn]

    def on_stop(self) -> None:
        self.stop_children()
        super().on_stop()

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_children()
        super().on_failure(exception_type, exception_value, traceback)


# -- the one-for-one supervisor ------------------------------------------------------


class RestartLimitExceeded(PhoenixActorError):
    """A :class:`Supervisor`'s stop reason: a child needed more restarts than allowed."""

    def __init__(
        self, supervisor: str, child: str, reason: Any, max_restarts: int, period: float
    ) -> None:
        super().__init__(
            f"supervisor {supervisor!r} gives up: child {child!r} stopped "
            f"({_describe(reason)}) after {max_restarts} restart(s) within {period} s "
            f"(max_restarts={max_restarts}, period={period}); stopping every child"
        )
        self.supervisor = supervisor
        self.child = child
        self.reason = reason
        self.max_restarts = max_restarts
        self.period = period


@dataclass(frozen=True)
class ChildSpec:
    """How a :class:`Supervisor` starts, and restarts, one socket.

    ``factory()`` returns a new :class:`SocketClient` for every start, so no state
    survives a crash by accident. ``config`` and ``options`` go to the socket as in
    ``SocketActor.start(client, config, **options)`` and are validated here. ``restart``
    is ``"transient"`` (restart after a crash only; the default), ``"permanent"``
    (restart after any stop) or ``"temporary"`` (never restart).
    """

    name: str
    factory: Callable[[], SocketClient]
    config: Config | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    restart: RestartPolicy = "transient"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"a child's name must be a non-empty str, not {self.name!r}")
        if not callable(self.factory):
            raise ConfigError(f"factory must be callable, not {self.factory!r}")
        if self.restart not in _POLICIES:
            raise ConfigError(f"restart must be one of {_POLICIES}, not {self.restart!r}")
        if self.config is not None and not isinstance(self.config, Config):
            raise ConfigError(f"config must be a phoenix_actor.Config, not {self.config!r}")
        options = dict(self.options)
        for reserved in ("parent", "name"):
            if reserved in options:
                raise ConfigError(f"{reserved!r} is not a socket option")
        (self.config or Config()).replace(**options)  # raises ConfigError now
        object.__setattr__(self, "options", MappingProxyType(options))


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """One child of a :class:`Supervisor`, as ``which_children()`` reports it."""

    name: str
    ref: pykka.ActorRef[SupervisedSocketActor] | None  #: None unless running
    state: ChildState
    restarts: int  #: restart attempts so far
    last_reason: Any  #: why it last stopped (None if it never did)


@dataclass(frozen=True, slots=True)
class ChildStarted:
    """Event: child ``name`` started as ``ref`` (``restarts`` is 0 at the first start)."""

    name: str
    ref: pykka.ActorRef[SupervisedSocketActor]
    restarts: int


@dataclass(frozen=True, slots=True)
class RestartScheduled:
    """Event: child ``name`` stopped with ``reason``; it restarts in ``delay`` s.

    ``attempt`` is the backoff step: 1 after a crash of a child that had run for at
    least the supervisor's ``period``, then 2, 3 ... while it keeps crashing sooner.
    """

    name: str
    reason: Any
    delay: float
    attempt: int


@dataclass(frozen=True, slots=True)
class SupervisorStopped:
    """Event: the supervisor ``name`` stopped with ``reason``, its children stopped."""

    name: str
    reason: Any
    crashed: bool


#: What a supervisor's ``observer`` is given. :class:`ChildStopped` is the message a
#: child told the supervisor (stops the supervisor itself caused are not reported).
SupervisorEvent = Union[ChildStarted, ChildStopped, RestartScheduled, SupervisorStopped]


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
            logger.debug("supervisor %r ignores %r", self.name, message)
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
        ref, due = self.actor_ref, _RestartDue(child.spec.name, token)
        child.timer = SCHEDULER.call_later(delay, lambda: _tell(ref, due))
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
