"""The state a socket actor's parts share, declared once for the type checker.

:class:`~phoenix_actor.SocketActor` is built from :class:`SocketCore` and two mixins,
:class:`~phoenix_actor._socket.recovery.RecoveryMixin` (states, reconnect, rejoin) and
:class:`~phoenix_actor._socket.replies.RepliesMixin` (futures, the push buffer). Each part
sets its own attributes; this class only declares what the parts use of each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from phoenix_actor.runtime._choice import RuntimeChoice

if TYPE_CHECKING:
    from phoenix_actor._protocol import session as s
    from phoenix_actor._protocol.serializer import Serializer
    from phoenix_actor._socket.client import Connect
    from phoenix_actor._socket.config import Config
    from phoenix_actor._socket.mailbox import _Request, _Waiter
    from phoenix_actor._socket.observer import ChannelState, Observer, SocketState
    from phoenix_actor._transport.base import Transport
    from phoenix_actor._transport.reasons import DisconnectReason


class SocketCore(RuntimeChoice):
    """Declarations shared by the parts of :class:`~phoenix_actor.SocketActor`."""

    config: Config
    _session: s.Session
    _serializer: Serializer
    _transport: Transport | None
    _state: SocketState
    _observer: Observer | None
    _last_reason: DisconnectReason | None
    _channels: dict[str, ChannelState]
    _wanted: dict[str, Any]
    _rejoin_tries: dict[str, int]
    _frames_out: int  # frames given to the current connection's transport

    if TYPE_CHECKING:
        # the socket itself
        def _send(self, out: s.Outbound) -> None: ...
        def _connect(self, command: Connect) -> None: ...

        # RecoveryMixin
        def _observe(self, hook: str, *args: Any) -> None: ...
        def _set_channel(self, topic: str, state: ChannelState) -> None: ...
        def _errored_or_closed(self, topic: str) -> None: ...
        def _schedule_rejoin(self, topic: str) -> None: ...
        def _forget(self, topic: str, error: Callable[[], BaseException]) -> None: ...
        def _joining(self, topic: str, out: s.Outbound) -> None: ...
        def _left(self, topic: str, out: s.Outbound) -> None: ...

        # RepliesMixin
        def _new_waiter(self, request: _Request) -> _Waiter: ...
        def _track_sent(self, waiter: _Waiter, ref: int) -> None: ...
        def _fail_buffered(
            self, which: Callable[[_Waiter], bool], error: Callable[[], BaseException]
        ) -> None: ...
