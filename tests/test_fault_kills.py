"""The server killed mid-stream, again and again: reconnect, rejoin, nothing lost or doubled.

Each round joins a fresh topic, asks the server for a burst of numbered pushes and
kills every TCP connection while the burst is on the wire. What reached the client
before the kill must be delivered once, in wire order (a prefix 1..k of the burst); a
reply future still pending must fail with ConnectionClosedError, never hang. The
number of rounds is 50, or PHOENIX_ACTOR_STRESS_KILLS.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Iterator
from typing import Any

import pytest

import phoenix_actor as pa
from phoenix_actor.testing import PhoenixServer
from tests.conftest import TIMEOUT

ROUNDS = int(os.environ.get("PHOENIX_ACTOR_STRESS_KILLS", "50"))
BURST = 300


class Joins(pa.Observer):
    """Hands every JOINED channel state to the test thread."""

    def __init__(self) -> None:
        self.joined: queue.Queue[str] = queue.Queue()

    def channel_state(self, change: pa.ChannelStateChanged) -> None:
        if change.state is pa.ChannelState.JOINED:
            self.joined.put(change.topic)

    def wait(self, topic: str) -> None:
        while self.joined.get(timeout=TIMEOUT) != topic:
            pass


@pytest.fixture
def server() -> Iterator[PhoenixServer]:
    with PhoenixServer(demo=True, max_channels=ROUNDS + 10) as server:
        yield server


def test_kills_mid_stream_lose_and_double_nothing(server: PhoenixServer) -> None:
    joins = Joins()
    fast: dict[str, Any] = {"reconnect_after": [0.0, 0.01], "rejoin_after": [0.0, 0.01]}
    delivered_total = 0
    with pa.Socket(server.url, observer=joins, timeout=TIMEOUT, **fast) as socket:
        for round_ in range(ROUNDS):
            topic = f"echo:round-{round_}"
            socket.join(topic)
            joins.wait(topic)
            burst = socket.subscribe(topic, "burst")
            pending = socket.push_future(topic, "noreply", {})
            socket.push_future(topic, "burst", {"n": BURST})
            first = burst.get(TIMEOUT)  # the burst is on the wire
            server.kill_all()
            with pytest.raises(pa.ConnectionClosedError):
                pending.get(timeout=TIMEOUT)
            joins.wait(topic)  # reconnected and rejoined: the old frames are all handled
            got = [first.payload["i"]]
            while True:
                try:
                    got.append(burst.get(0).payload["i"])
                except TimeoutError:
                    break
            assert got == list(range(1, len(got) + 1)), f"round {round_}: {got[:20]}..."
            delivered_total += len(got)
            burst.close()
            socket.leave(topic)
    print(f"{ROUNDS} kills survived, {delivered_total} of {ROUNDS * BURST} burst pushes delivered")
    assert ROUNDS <= delivered_total < ROUNDS * BURST  # the kills did cut bursts short
