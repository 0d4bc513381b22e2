"""A request whose connection closes says whether it left.

A join, leave or push awaiting its reply when the connection closes fails with
:class:`~phoenix_actor.NotSentError` when its frame was never written to the
connection (the server cannot have seen it: safe to retry) and with
:class:`~phoenix_actor.ReplyLostError` when it was (the server may have handled it).
Both are :class:`~phoenix_actor.ConnectionClosedError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import phoenix_actor as pa
from phoenix_actor.testing import PhoenixServer
from tests.conftest import TIMEOUT
from tests.faults import BlackholeProxy, barrier, needs_proc

pytestmark = needs_proc

TOPIC = "echo:lost"
#: Pushes large enough that a peer that stops reading fills every buffer on the way.
PUSHES = 64
PAYLOAD = "x" * 256 * 1024


@pytest.fixture
def server() -> Iterator[PhoenixServer]:
    with PhoenixServer.with_defaults() as server:
        yield server


def is_noreply(number: int) -> Any:
    def match(received: Any) -> bool:
        message = received.message
        return bool(
            message is not None
            and message.event == "noreply"
            and message.payload.get("n") == number
        )

    return match


def test_a_push_the_server_received_fails_with_reply_lost(server: PhoenixServer) -> None:
    with pa.Socket(server.url, reconnect=False, timeout=TIMEOUT, heartbeat_interval=None) as socket:
        socket.join(TOPIC)
        pending = socket.push_future(TOPIC, "noreply", {"n": 1})  # the server never answers
        server.wait_for(is_noreply(1), TIMEOUT)  # it reached the server
        server.kill_all()
        with pytest.raises(pa.ReplyLostError, match="may have handled it") as info:
            pending.get(timeout=TIMEOUT)
    assert isinstance(info.value, pa.ConnectionClosedError)  # existing handlers still catch it


def test_pushes_never_written_fail_with_not_sent(server: PhoenixServer) -> None:
    """The route dies (nothing is read any more) while pushes are being written: those
    that went into the connection may have left; those still waiting to be written
    cannot have, and say so."""
    with (
        BlackholeProxy(server.port, recv_buffer=4096) as proxy,
        pa.Socket(proxy.url(), reconnect=False, timeout=TIMEOUT, heartbeat_interval=None) as socket,
    ):
        socket.join(TOPIC)
        proxy.blackhole()
        futures = [
            socket.push_future(TOPIC, "noreply", {"n": n, "pad": PAYLOAD}) for n in range(PUSHES)
        ]
        barrier(socket._ref)  # every push was handed to the transport
        proxy.close()  # the connection is reset with pushes in flight and queued
        outcomes: list[type[BaseException]] = []
        for future in futures:
            with pytest.raises(pa.ConnectionClosedError) as info:
                future.get(timeout=TIMEOUT)
            outcomes.append(type(info.value))
    assert set(outcomes) == {pa.ReplyLostError, pa.NotSentError}, outcomes
    first_unsent = outcomes.index(pa.NotSentError)
    # Frames are written in order: those that may have left come first.
    assert outcomes == [pa.ReplyLostError] * first_unsent + [pa.NotSentError] * (
        PUSHES - first_unsent
    )
    assert not any(is_noreply(n)(r) for r in server.received for n in range(first_unsent, PUSHES))
