"""A supervised socket: its channel crashes the socket, and a Supervisor restarts it.

The first two sockets ask the ``echo`` channel to crash; the channel's ``phx_error``
makes ``handle_channel_closed`` raise, and with ``callback_errors="stop"`` the socket
stops with that exception. The Supervisor restarts it, with a new client, after its
backoff (0.1 s, then 0.5 s). The third socket gets its echo and stops normally, which a
``transient`` child is not restarted after. Then the supervisor is stopped.

Usage: ``python examples/supervised.py [ws://host:port/socket/websocket]``; without a URL
it runs against the embedded server (``pip install "phoenix_actor[server]"``).
"""

from __future__ import annotations

import itertools
import queue
import sys
from typing import Any

import phoenix_actor as pa
from phoenix_actor.supervision import (
    ChildSpec,
    ChildStarted,
    ChildStopped,
    RestartScheduled,
    Supervisor,
    SupervisorEvent,
    SupervisorStopped,
)
from phoenix_actor.testing import PhoenixServer

TOPIC = "echo:supervised"
CRASHES = 2  # the sockets that crash before one succeeds
TIMEOUT = 20.0


class Worker(pa.SocketClient):
    """Joins TOPIC; early incarnations crash the channel, the last one echoes."""

    def __init__(self, url: str, incarnation: int, replies: queue.Queue[Any]) -> None:
        self.url = url
        self.incarnation = incarnation
        self.replies = replies

    def init(self) -> pa.InitResult:
        return pa.Connect(self.url, {"user": f"worker-{self.incarnation}"})

    def handle_connected(self, conn: pa.Connection) -> None:
        conn.join(TOPIC)

    def handle_joined(self, topic: str, response: Any, conn: pa.Connection) -> None:
        if self.incarnation <= CRASHES:
            conn.push(topic, "crash", {})  # the server's channel raises: phx_error
        else:
            conn.push(topic, "echo", {"incarnation": self.incarnation})

    def handle_channel_closed(self, topic: str, payload: Any, conn: pa.Connection) -> None:
        raise RuntimeError(f"channel {topic!r} crashed")  # stops the socket: a crash

    def handle_reply(
        self, topic: str, ref: pa.WireRef, payload: Any, conn: pa.Connection
    ) -> pa.Stop:
        self.replies.put(payload)
        return pa.Stop()  # reason "normal": not restarted

    def handle_disconnected(self, reason: pa.DisconnectReason) -> pa.Stop:
        return pa.Stop(reason)  # a lost connection is a crash too: restart


def run(url: str) -> int:
    events: queue.Queue[SupervisorEvent] = queue.Queue()
    replies: queue.Queue[Any] = queue.Queue()
    incarnations = itertools.count(1)
    spec = ChildSpec(
        "worker",
        lambda: Worker(url, next(incarnations), replies),
        options={"callback_errors": "stop"},
        restart="transient",
    )
    supervisor = Supervisor.start([spec], name="example", observer=events.put)
    starts, delays = 0, []
    try:
        while True:
            event = events.get(timeout=TIMEOUT)
            if isinstance(event, ChildStarted):
                starts += 1
                print(f"started socket {starts} of {event.name!r}")
            elif isinstance(event, RestartScheduled):
                delays.append(event.delay)
                crash = f"{type(event.reason).__name__}: {event.reason}"
                print(f"  it crashed ({crash}); restarting in {event.delay} s")
            elif isinstance(event, ChildStopped) and not event.crashed:
                print(f"  it stopped normally ({event.reason!r}): not restarted")
                break
            elif isinstance(event, SupervisorStopped):
                print(f"the supervisor stopped: {event.reason}", file=sys.stderr)
                return 1
    except queue.Empty:
        print(f"no supervisor event within {TIMEOUT} s", file=sys.stderr)
        return 1
    finally:
        supervisor.stop(block=True, timeout=TIMEOUT)
    stopped = events.get(timeout=TIMEOUT)
    reply = replies.get(timeout=TIMEOUT)
    print(f"supervisor stopped: {stopped}")
    print(f"reply of the last socket: {reply}")
    print(
        f"summary: {starts} sockets started, {len(delays)} crashed and were restarted "
        f"after {delays} s, the last one finished normally"
    )
    expected = (CRASHES + 1, [0.1, 0.5], {"status": "ok", "response": {"incarnation": 3}})
    if (starts, delays, reply) != expected:
        print(f"unexpected: {(starts, delays, reply)} != {expected}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        return run(argv[1])
    with PhoenixServer.with_defaults() as server:
        return run(server.url)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
