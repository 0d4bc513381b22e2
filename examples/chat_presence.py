"""A chat room with presence: two users join, talk, and one leaves.

Each user is a SocketActor whose client keeps the room's presence list with
``phoenix_actor.Presence`` and prints who arrives, who leaves and what is said.
Runs against the embedded server (``pip install "phoenix_actor[server]"``).
"""

from __future__ import annotations

import queue
import sys
from typing import Any

import phoenix_actor as pa
from phoenix_actor.testing import PhoenixServer

ROOM = "room:lobby"
TIMEOUT = 10.0


class ChatUser(pa.SocketClient):
    """One chat user: joins the room, tracks presence, reports what happens."""

    def __init__(self, url: str, name: str, events: queue.Queue[str]) -> None:
        self.url = url
        self.name = name
        self.events = events
        self.presence = pa.Presence(ROOM, on_join=self._arrived, on_leave=self._left)

    def _say(self, text: str) -> None:
        self.events.put(f"[{self.name}] {text}")

    def _arrived(self, key: str, current: Any, _new: Any) -> None:
        if current is None and key != self.name:
            self._say(f"{key} arrived; here now: {', '.join(sorted(self.presence.keys()))}")

    def _left(self, key: str, current: Any, _left: Any) -> None:
        if not current or not current.get("metas"):
            self._say(f"{key} left; here now: {', '.join(sorted(self.presence.keys()))}")

    def init(self) -> pa.InitResult:
        return pa.Connect(self.url, {"user": self.name})

    def handle_connected(self, conn: pa.Connection) -> None:
        conn.join(ROOM, {"user": self.name})

    def handle_joined(self, topic: str, response: Any, conn: pa.Connection) -> None:
        self.presence.reset()
        self._say("joined")

    def handle_message(self, topic: str, event: str, payload: Any, conn: pa.Connection) -> None:
        if self.presence.handle(topic, event, payload):
            return
        if event == "broadcasted":
            self._say(f"{payload['from']} says {payload['body']!r}")

    def handle_info(self, message: Any, conn: pa.Connection) -> None:
        if message == "leave":
            conn.leave(ROOM)
        else:
            conn.push(ROOM, "broadcast", {"from": self.name, "body": message})


def wait_for(events: queue.Queue[str], text: str) -> None:
    """Print events until one containing ``text`` arrives."""
    while True:
        line = events.get(timeout=TIMEOUT)
        print(line)
        if text in line:
            return


def main() -> int:
    events: queue.Queue[str] = queue.Queue()
    with PhoenixServer.with_defaults() as server:
        ada = pa.SocketActor.start(ChatUser(server.url, "ada", events))
        wait_for(events, "[ada] joined")
        bob = pa.SocketActor.start(ChatUser(server.url, "bob", events))
        wait_for(events, "[ada] bob arrived")
        ada.tell("hello bob")
        wait_for(events, "[bob] ada says 'hello bob'")
        bob.tell("leave")
        wait_for(events, "[ada] bob left; here now: ada")
        bob.stop()
        ada.stop()
    print("chat finished")
    return 0


if __name__ == "__main__":
    sys.exit(main())
