"""The demo: an embedded Phoenix server and a client that walks through the protocol."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from phoenix_actor._cli.output import EXIT_TIMEOUT
from phoenix_actor._protocol.message import WireRef
from phoenix_actor._socket.actor import Connection, SocketActor
from phoenix_actor._socket.client import Connect, InitResult, SocketClient, Stop
from phoenix_actor._transport.reasons import DisconnectReason

if TYPE_CHECKING:
    from phoenix_actor.testing import PhoenixServer


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if not isinstance(value, bytes) else repr(value)


class DemoClient(SocketClient):
    """Each callback prints what happened and takes the next step of the tour."""

    def __init__(self, server: PhoenixServer, say: Callable[[str], None]) -> None:
        self.server = server
        self.say = say
        self.done = threading.Event()
        self.finished = False

    def init(self) -> InitResult:
        self.say(f"-> connecting to {self.server.url} (params: user=demo)")
        return Connect(self.server.url, {"user": "demo"})

    def handle_connected(self, conn: Connection) -> None:
        self.say("<- connected")
        self.say('-> join "room:lobby"')
        conn.join("room:lobby", {"nick": "demo"})

    def handle_disconnected(self, reason: DisconnectReason) -> Stop:
        self.say(f"<- disconnected: {reason.describe()}")
        return Stop("disconnected")

    def handle_joined(self, topic: str, response: Any, conn: Connection) -> None:
        self.say(f"<- joined {topic!r}: {_show(response)}")
        if topic == "room:lobby":
            ref = conn.push(topic, "echo", {"text": "hello"})
            self.say(f'-> push "echo" {{"text": "hello"}} on {topic!r} (ref {ref})')
        elif topic == "echo:demo":
            self.say('-> (server side) the "echo:demo" channel pushes "news"')
            self.server.send_info(topic, ("push", "news", {"headline": "channels work"}))

    def handle_join_error(self, topic: str, response: Any, conn: Connection) -> None:
        self.say(f"<- join of {topic!r} refused: {_show(response)}")
        ref = conn.push("echo:demo", "stop", {})
        self.say(f'-> push "stop" on "echo:demo" (ref {ref}): the channel stops itself')

    def handle_reply(self, topic: str, ref: WireRef, payload: Any, conn: Connection) -> None:
        self.say(f"<- reply to ref {ref} on {topic!r}: {_show(payload)}")
        if topic == "room:lobby" and payload.get("response") == {"text": "hello"}:
            ref = conn.push(topic, "broadcast", {"text": "hi, everyone"})
            self.say(f'-> push "broadcast" on {topic!r} (ref {ref})')

    def handle_message(self, topic: str, event: str, payload: Any, conn: Connection) -> None:
        self.say(f"<- {event!r} on {topic!r}: {_show(payload)}")
        if event == "broadcasted":
            self.say('-> join "echo:demo"')
            conn.join("echo:demo")
        elif event == "news":
            self.say('-> join "echo:refuse" (this channel refuses every join)')
            conn.join("echo:refuse")

    def handle_channel_closed(self, topic: str, payload: Any, conn: Connection) -> Stop:
        self.say(f"<- channel {topic!r} closed by the server: {_show(payload)}")
        self.finished = True
        return Stop("demo finished")

    def terminate(self, reason: Any) -> None:
        self.say(f"   socket stopped ({reason})")
        self.done.set()


def run_demo(out: TextIO, timeout: float = 10.0) -> int:
    """Run the tour against an embedded server; return the process exit status."""
    from phoenix_actor.testing import PhoenixServer  # the "server" extra

    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            print(line, file=out, flush=True)

    with PhoenixServer.with_defaults() as server:
        say(f"phoenix_actor demo: embedded Phoenix server at {server.url}")
        client = DemoClient(server, say)
        ref = SocketActor.start(client)
        finished = client.done.wait(timeout)
        if ref.is_alive():
            ref.stop(block=True, timeout=timeout)
    if not (finished and client.finished):
        say(f"demo did not finish within {timeout} s")
        return EXIT_TIMEOUT
    say("demo finished: connect, joins, push and reply, broadcast, server push,")
    say("a refused join and a channel close, all through one socket actor")
    return 0
