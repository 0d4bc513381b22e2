"""TestSocket: a ready-made client that turns callbacks into blocking calls.

The port of phoenix_gen_socket_client's ``TestSocket``: every callback is forwarded
to an inbox, and the methods wait (with a timeout, never a sleep) for the matching
event. Useful in tests and scripts; services should write their own SocketClient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pykka

from phoenix_actor._protocol.message import WireRef
from phoenix_actor._protocol.url import Params
from phoenix_actor._socket.actor import Caller, Connection, SocketActor
from phoenix_actor._socket.api import call, execute
from phoenix_actor._socket.client import CallResult, Connect, NoConnect, Reply, SocketClient
from phoenix_actor._transport.reasons import DisconnectReason
from phoenix_actor.exceptions import JoinRefusedError
from phoenix_actor.testing._inbox import Inbox

Event = tuple[Any, ...]
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class _ConnectRequest:
    url: str | None
    params: Params | None


class _Forwarder(SocketClient):
    def __init__(self, inbox: Inbox[Event], url: str, params: Params | None, connect: bool):
        self._inbox = inbox
        self._first = Connect(url, params) if connect else NoConnect(url, params)

    def init(self) -> Connect | NoConnect:
        return self._first

    def handle_connected(self, conn: Connection) -> None:
        self._inbox.put(("connected",))

    def handle_disconnected(self, reason: DisconnectReason) -> None:
        self._inbox.put(("disconnected", reason))

    def handle_joined(self, topic: str, response: Any, conn: Connection) -> None:
        self._inbox.put(("joined", topic, response))

    def handle_join_error(self, topic: str, response: Any, conn: Connection) -> None:
        self._inbox.put(("join_error", topic, response))

    def handle_channel_closed(self, topic: str, payload: Any, conn: Connection) -> None:
        self._inbox.put(("channel_closed", topic, payload))

    def handle_message(self, topic: str, event: str, payload: Any, conn: Connection) -> None:
        self._inbox.put(("message", topic, event, payload))

    def handle_reply(self, topic: str, ref: WireRef, payload: Any, conn: Connection) -> None:
        self._inbox.put(("reply", topic, ref, payload))

    def handle_info(self, message: Any, conn: Connection) -> Connect | None:
        if isinstance(message, _ConnectRequest):
            return Connect(message.url, message.params)
        self._inbox.put(("info", message))
        return None

    def handle_call(self, request: Any, caller: Caller, conn: Connection) -> CallResult:
        return Reply(request)


class TestSocket:
    """A socket whose callbacks become blocking, timeout-bounded calls.

    >>> sock = TestSocket(server.url)               # doctest: +SKIP
    >>> sock.wait_connect_status()                  # doctest: +SKIP
    'connected'
    >>> sock.join("room:1")                         # doctest: +SKIP
    {}
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        url: str,
        params: Params | None = None,
        *,
        connect: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        **socket_options: Any,
    ) -> None:
        self.inbox: Inbox[Event] = Inbox()
        self.timeout = timeout
        self.ref: pykka.ActorRef[SocketActor] = SocketActor.start(
            _Forwarder(self.inbox, url, params, connect), **socket_options
        )

    def __enter__(self) -> TestSocket:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _timeout(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else timeout

    def _take(self, accept: Any, timeout: float | None, what: str) -> Event:
        return self.inbox.take(accept, self._timeout(timeout), what)

    def stop(self) -> None:
        """Stop the socket actor (and its connection); idempotent."""
        if self.ref.is_alive():
            self.ref.stop(block=True, timeout=self._timeout(None))

    def connect(self, url: str | None = None, params: Params | None = None) -> None:
        """Ask the socket to connect (optionally elsewhere); see ``wait_connect_status``."""
        self.ref.tell(_ConnectRequest(url, params))

    def wait_connect_status(
        self, timeout: float | None = None
    ) -> Literal["connected"] | DisconnectReason:
        """``"connected"``, or the :class:`DisconnectReason` of a failed or lost connection."""
        event = self._take(
            lambda e: e[0] in ("connected", "disconnected"), timeout, "connect status"
        )
        return "connected" if event[0] == "connected" else event[1]

    def join(self, topic: str, payload: Any = None, timeout: float | None = None) -> Any:
        """Join and wait: the response, or :class:`JoinRefusedError` from the server."""
        execute(self.ref, lambda conn: conn.join(topic, payload), self._timeout(timeout))
        event = self._take(
            lambda e: e[0] in ("joined", "join_error") and e[1] == topic, timeout, f"join {topic!r}"
        )
        if event[0] == "join_error":
            raise JoinRefusedError(topic, event[2])
        return event[2]

    def leave(self, topic: str, payload: Any = None, timeout: float | None = None) -> Any:
        """Leave and wait for the channel to close: the ``phx_close`` payload.

        The leave's own reply stays in the inbox as a ``("reply", ...)`` event.
        """
        execute(self.ref, lambda conn: conn.leave(topic, payload), self._timeout(timeout))
        event = self._take(
            lambda e: e[0] == "channel_closed" and e[1] == topic, timeout, f"close of {topic!r}"
        )
        return event[2]

    def push(self, topic: str, event: str, payload: Any = None) -> int:
        """Push and return the ref (no waiting for a reply)."""
        return execute(self.ref, lambda conn: conn.push(topic, event, payload), self.timeout)

    def push_sync(
        self, topic: str, event: str, payload: Any = None, timeout: float | None = None
    ) -> Any:
        """Push and wait for the reply: ``{"status": ..., "response": ...}``."""
        ref = self.push(topic, event, payload)
        reply = self._take(
            lambda e: e[0] == "reply" and e[1] == topic and e[2] == ref,
            timeout,
            f"reply to ref {ref} on {topic!r}",
        )
        return reply[3]

    def await_message(self, timeout: float | None = None) -> tuple[str, str, Any]:
        """The next server push or broadcast: ``(topic, event, payload)``."""
        event = self._take(lambda e: e[0] == "message", timeout, "message")
        return event[1], event[2], event[3]

    def await_event(self, kind: str, timeout: float | None = None) -> Event:
        """The next event of ``kind`` (``"reply"``, ``"channel_closed"``, ``"info"`` ...)."""
        return self._take(lambda e: e[0] == kind, timeout, f"{kind} event")

    def joined(self, topic: str) -> bool:
        """Whether the socket considers ``topic`` joined."""
        return execute(self.ref, lambda conn: conn.joined(topic), self.timeout)

    def call(self, request: Any, timeout: float | None = None) -> Any:
        """``phoenix_actor.call`` on this socket (the forwarder echoes the request)."""
        return call(self.ref, request, self._timeout(timeout))
