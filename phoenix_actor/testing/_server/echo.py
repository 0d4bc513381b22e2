"""A scripted channel reproducing the ``echo:*`` channel of the Phoenix 1.7.24 transcript."""

from __future__ import annotations

import logging
from typing import Any

from phoenix_actor._protocol.logtext import Bounded
from phoenix_actor.testing._server.channel import (
    Channel,
    ChannelSocket,
    JoinError,
    JoinOk,
    ServerNoReply,
    ServerReply,
    StopChannel,
)

__all__ = ["EchoChannel", "demo_connect"]

logger = logging.getLogger("phoenix_actor.testing.server")


def _bytes_of(payload: Any) -> bytes:
    """``{"bytes": [0, 1, 255]}`` -> ``b"\\x00\\x01\\xff"``."""
    return bytes(payload["bytes"])


class EchoChannel(Channel):
    """Join, events and server messages scripted as in the transcript's test app.

    Join: the sub-topic ``refuse`` (``echo:refuse``) is refused with
    ``{"reason": "refused"}``, ``crash_on_join`` raises (``"join crashed"``); any other
    topic is joined with ``{"joined": topic, "payload": payload}``.

    Events (``handle_in``):

    ==================== ===============================================================
    ``echo``             reply ok with the payload
    ``error``            reply error with the payload
    ``noreply``          nothing
    ``push``             push ``pushed`` with the payload, no reply
    ``broadcast``        broadcast ``broadcasted`` with the payload, reply ok ``{}``
    ``binary``           binary reply ok with ``bytes(payload["bytes"])``
    ``bin_echo``         reply ok with the payload (binary in, binary out)
    ``binary_push``      binary push ``bin_pushed`` of ``bytes(payload["bytes"])``
    ``binary_broadcast`` binary broadcast ``bin_broadcasted``, reply ok ``{}``
    ``crash``            raise: ``phx_error``
    ``stop``             stop ``normal`` without reply: ``phx_close``
    ``stop_reply``       reply ok ``{}``, then ``phx_close``
    ``burst``            ``{"n": N}``: push ``burst`` ``{"i": 1..N}``, reply ok with payload
    ``slow``             ``{"ms": M}``: wait M ms (blocking this connection's channel
                         work, not its heartbeats), then reply ok with the payload
    ``disconnect_me``    force-disconnect this socket id (an error reply if anonymous)
    anything else        reply error ``{"reason": "unknown event", "event": event}``
    ==================== ===============================================================

    Server messages (``socket.send_info`` / ``server.send_info``): ``("push", event,
    payload)``, ``("broadcast", event, payload)``, ``("stop", reason)``, ``("crash",)``.
    """

    def join(self, topic: str, payload: Any, socket: ChannelSocket) -> JoinOk | JoinError:
        subtopic = topic.partition(":")[2]
        if subtopic == "refuse":
            return JoinError({"reason": "refused"})
        if subtopic == "crash_on_join":
            raise RuntimeError("join crash requested")
        return JoinOk({"joined": topic, "payload": payload})

    def handle_in(
        self, event: str, payload: Any, socket: ChannelSocket
    ) -> ServerReply | ServerNoReply | StopChannel:
        match event:
            case "echo" | "bin_echo":
                return ServerReply("ok", payload)
            case "error":
                return ServerReply("error", payload)
            case "noreply":
                return ServerNoReply()
            case "push":
                socket.push("pushed", payload)
                return ServerNoReply()
            case "broadcast":
                socket.broadcast("broadcasted", payload)
                return ServerReply()
            case "binary":
                return ServerReply("ok", _bytes_of(payload))
            case "binary_push":
                socket.push("bin_pushed", _bytes_of(payload))
                return ServerNoReply()
            case "binary_broadcast":
                socket.broadcast("bin_broadcasted", _bytes_of(payload))
                return ServerReply()
            case "crash":
                raise RuntimeError("crash requested")
            case "stop":
                return StopChannel("normal")
            case "stop_reply":
                return StopChannel("normal", ServerReply())
            case "burst":
                for i in range(1, int(payload["n"]) + 1):
                    socket.push("burst", {"i": i})
                return ServerReply("ok", payload)
            case "slow":
                socket.sleep(payload["ms"] / 1000)
                return ServerReply("ok", payload)
            case "disconnect_me":
                if socket.socket_id is None:
                    return ServerReply("error", {"reason": "anonymous socket"})
                socket.server.disconnect(socket.socket_id)
                return ServerNoReply()
            case _:
                return ServerReply("error", {"reason": "unknown event", "event": event})

    def handle_info(self, message: Any, socket: ChannelSocket) -> StopChannel | None:
        match message:
            case ("push", str(event), payload):
                socket.push(event, payload)
            case ("broadcast", str(event), payload):
                socket.broadcast(event, payload)
            case ("stop", str(reason)):
                return StopChannel(reason)
            case ("crash",):
                raise RuntimeError("crash requested")
            case _:
                logger.debug("EchoChannel %r ignored %s", socket.topic, Bounded(message))
        return None


def demo_connect(params: dict[str, str], headers: dict[str, str]) -> bool | str | None:
    """The transcript app's ``UserSocket.connect``: ``token=bad`` is refused (403); a
    ``user`` param becomes the socket id ``user_socket:<user>``."""
    if params.get("token") == "bad":
        return False
    user = params.get("user")
    return f"user_socket:{user}" if user else None
