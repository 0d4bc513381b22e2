"""The user's :class:`SocketClient`, shielded: its callbacks, their results, its calls.

A part of :class:`~phoenix_actor.SocketActor`, testable on its own: a callback that
raises is logged (and stops the socket under ``callback_errors="stop"``), a result is
handed to ``apply``, and the callers of ``handle_call`` still unanswered are kept so
that they can be failed when the socket stops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from phoenix_actor._socket.client import NoReply, Reply, Stop
from phoenix_actor._socket.handles import Caller

if TYPE_CHECKING:
    from phoenix_actor._socket.client import CallbackResult, SocketClient
    from phoenix_actor._socket.handles import Connection
    from phoenix_actor._socket.mailbox import _Call

logger = logging.getLogger("phoenix_actor.socket")


class Callbacks:
    """Runs a client's callbacks; ``apply(name, result)`` acts on a result that is not
    None, ``stop(reason)`` stops the socket (a callback error, a ``Stop`` from a call)."""

    __slots__ = ("_apply", "_client", "_stop", "_stop_on_error", "pending")

    def __init__(
        self,
        client: SocketClient,
        callback_errors: Literal["log", "stop"],
        *,
        apply: Callable[[str, object], None],
        stop: Callable[[Any], None],
    ) -> None:
        self._client = client
        self._stop_on_error = callback_errors == "stop"
        self._apply = apply
        self._stop = stop
        #: The callers of ``handle_call`` not answered yet.
        self.pending: set[Caller] = set()

    def run(self, name: str, *args: Any) -> None:
        """Call the client's ``name(*args)``; apply its result."""
        try:
            result: CallbackResult = getattr(self._client, name)(*args)
        except Exception as exc:  # noqa: BLE001 -- user code is shielded
            self.failed(name, exc)
            return
        if result is not None:
            self._apply(name, result)

    def failed(self, name: str, exc: Exception) -> None:
        """The callback ``name`` raised ``exc``: log it (and stop, if configured to)."""
        logger.error(
            "%s.%s raised %s: %s",
            type(self._client).__name__,
            name,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
        if self._stop_on_error:
            self._stop(exc)

    def call(self, message: _Call, conn: Connection) -> None:
        """Run ``handle_call`` for ``message``; answer its caller as the result says."""
        caller = Caller(message.future, self.pending)
        self.pending.add(caller)
        name = type(self._client).__name__
        try:
            result = self._client.handle_call(message.request, caller, conn)
        except Exception as exc:  # noqa: BLE001 -- user code is shielded
            caller.fail(exc)
            self.failed("handle_call", exc)
            return
        if isinstance(result, Reply):
            caller.reply(result.value)
        elif isinstance(result, Stop):
            if result.has_reply:
                caller.reply(result.reply)
            self._stop(result.reason)
        elif not isinstance(result, NoReply):
            error = TypeError(  # type: ignore[unreachable]
                f"{name}.handle_call returned {result!r}; expected Reply(value), NoReply() "
                "or Stop(reason)"
            )
            logger.error("%s", error)
            caller.fail(error)

    def fail_pending(self, error: Callable[[], BaseException]) -> None:
        """Fail every caller still waiting for an answer with a fresh ``error()``."""
        for caller in list(self.pending):
            caller.fail(error())

    def terminate(self, reason: Any) -> None:
        """Call the client's ``terminate(reason)``, logging an error it raises."""
        try:
            self._client.terminate(reason)
        except Exception:
            logger.exception("%s.terminate raised", type(self._client).__name__)
