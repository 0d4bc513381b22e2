"""Sockets as children of a parent actor: the child socket, its stop message, the mixin.

:class:`SupervisedSocketActor` tells its parent a :class:`ChildStopped` when it ends;
:func:`start_child` starts one, :func:`stop_actors` stops several, and
:class:`SupervisorMixin` gives any Pykka actor children that stop with it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import pykka

from phoenix_actor._protocol.logtext import Bounded
from phoenix_actor._socket.actor import SocketActor
from phoenix_actor._socket.client import SocketClient
from phoenix_actor._socket.config import Config
from phoenix_actor.exceptions import ConfigError

logger = logging.getLogger("phoenix_actor.supervision")

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
        logger.debug("%s has stopped; %s was not delivered", target, Bounded(message))


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
