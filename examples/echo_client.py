"""Push an event, wait for its reply, then stop: the smallest complete client.

Runs against the embedded server (``pip install "phoenix_actor[server]"``).
"""

from __future__ import annotations

import threading
from typing import Any

import phoenix_actor as pa
from phoenix_actor.testing import PhoenixServer


class EchoClient(pa.SocketClient):
    def __init__(self, url: str) -> None:
        self.url = url
        self.answer: Any = None
        self.done = threading.Event()

    def init(self) -> pa.InitResult:
        return pa.Connect(self.url, {"user": "example"})

    def handle_connected(self, conn: pa.Connection) -> None:
        conn.join("echo:example")

    def handle_joined(self, topic: str, response: Any, conn: pa.Connection) -> None:
        conn.push(topic, "echo", {"text": "hello"})

    def handle_reply(
        self, topic: str, ref: pa.WireRef, payload: Any, conn: pa.Connection
    ) -> pa.Stop:
        self.answer = payload
        return pa.Stop("got the reply")

    def handle_disconnected(self, reason: pa.DisconnectReason) -> pa.Stop:
        print("disconnected:", reason.describe())
        return pa.Stop(reason)

    def terminate(self, reason: Any) -> None:
        self.done.set()


def main() -> None:
    with PhoenixServer.with_defaults() as server:
        client = EchoClient(server.url)
        pa.SocketActor.start(client)
        if not client.done.wait(10):
            raise SystemExit("no reply within 10 s")
    print("reply:", client.answer)
    assert client.answer == {"status": "ok", "response": {"text": "hello"}}


if __name__ == "__main__":
    main()
