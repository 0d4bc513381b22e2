"""Functions other threads use to talk to a running socket actor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pykka

from phoenix_actor._socket.handles import Connection, _Run
from phoenix_actor._socket.mailbox import _Call
from phoenix_actor.exceptions import CallTimeoutError, SocketStoppedError

T = TypeVar("T")

DEFAULT_CALL_TIMEOUT = 5.0


def _ask(ref: pykka.ActorRef[Any], message: _Call | _Run, timeout: float | None) -> Any:
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        raise SocketStoppedError(f"{ref} is not running") from None
    try:
        return message.future.get(timeout=timeout)
    except pykka.Timeout:
        raise CallTimeoutError(f"no answer from {ref} within {timeout} s") from None


def call(
    ref: pykka.ActorRef[Any], request: Any, timeout: float | None = DEFAULT_CALL_TIMEOUT
) -> Any:
    """Send ``request`` to the client's ``handle_call`` and wait for its reply.

    The port of ``GenSocketClient.call/3``. Raises :class:`CallTimeoutError` after
    ``timeout`` seconds (``None`` waits forever), :class:`SocketStoppedError` if the
    socket is not running or stops first, and re-raises what ``handle_call`` raised.
    """
    return _ask(ref, _Call(request, pykka.ThreadingFuture()), timeout)


def execute(
    ref: pykka.ActorRef[Any],
    function: Callable[[Connection], T],
    timeout: float | None = DEFAULT_CALL_TIMEOUT,
) -> T:
    """Run ``function(conn)`` in the socket actor's thread and return its result.

    This is how code outside the actor joins, leaves or pushes without writing a
    ``handle_call``: ``execute(ref, lambda conn: conn.push("room:1", "ping", {}))``.
    Exceptions raised by ``function`` are re-raised here.
    """
    result: T = _ask(ref, _Run(function, pykka.ThreadingFuture()), timeout)
    return result


def mailbox_depth(ref: pykka.ActorRef[Any]) -> int:
    """How many messages wait in the socket actor's mailbox, read from any thread.

    A depth that keeps growing means callbacks are slower than the server: see
    ``Config.max_pending_frames``.
    """
    size: int = ref.actor_inbox.qsize()  # type: ignore[attr-defined]
    return size
