"""A socket that survives its server dropping it: reconnect, rejoin, carry on.

The ``Socket`` facade reconnects with backoff and rejoins its topics by itself; an
``Observer`` prints each state change. The embedded server kills every connection
twice (``pip install "phoenix_actor[server]"``).
"""

from __future__ import annotations

import queue
import sys

import phoenix_actor as pa
from phoenix_actor.testing import PhoenixServer

TIMEOUT = 10.0


class PrintStates(pa.Observer):
    """Prints socket and channel states, and hands channel states to the main thread."""

    def __init__(self) -> None:
        self.joined: queue.Queue[str] = queue.Queue()

    def socket_state(self, change: pa.SocketStateChanged) -> None:
        why = f" ({change.reason.describe()})" if change.reason is not None else ""
        print(f"socket: {change.state.value}{why}")

    def channel_state(self, change: pa.ChannelStateChanged) -> None:
        print(f"channel {change.topic}: {change.state.value}")
        if change.state is pa.ChannelState.JOINED:
            self.joined.put(change.topic)


def main() -> int:
    observer = PrintStates()
    with (
        PhoenixServer.with_defaults() as server,
        pa.Socket(server.url, {"user": "ada"}, observer=observer, timeout=TIMEOUT) as sock,
    ):
        sock.join("echo:ticker", {"since": 0})
        observer.joined.get(timeout=TIMEOUT)
        for round_ in (1, 2):
            server.kill_all()  # the TCP connections drop, no close frame
            observer.joined.get(timeout=TIMEOUT)  # reconnected and rejoined
            reply = sock.push("echo:ticker", "echo", {"round": round_})
            print(f"push after drop {round_}: {reply.status} {reply.response}")
    print("reconnecting client finished")
    return 0


if __name__ == "__main__":
    sys.exit(main())
