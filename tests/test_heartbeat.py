"""Phoenix heartbeats: sent on schedule, matched by ref, and a missing reply closes."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import phoenix_actor as pa
from phoenix_actor._transport.timers import Scheduler
from phoenix_actor.testing import FakeConnector, PhoenixServer, TestSocket
from tests.conftest import TIMEOUT
from tests.test_socket_actor import URL, Recorder

INTERVAL = 0.05


@pytest.fixture
def connector() -> FakeConnector:
    return FakeConnector()


@pytest.fixture
def client() -> Recorder:
    return Recorder(pa.Connect(URL))


def _start(client: Recorder, connector: FakeConnector, **options: Any) -> Any:
    return pa.SocketActor.start(client, transport_factory=connector, **options)


def test_heartbeats_are_sent_and_their_replies_consumed(client, connector) -> None:
    ref = _start(client, connector, heartbeat_interval=INTERVAL)
    try:
        server = connector.next_connection()
        server.accept()
        first = server.expect("heartbeat", "phoenix")
        assert server.frames[0] == pa.Frame.text('[null,"1","phoenix","heartbeat",{}]')
        server.reply(first)
        second = server.expect("heartbeat", "phoenix")
        assert (second.join_ref, second.ref) == (None, 2)
        server.reply(second)
        server.expect("heartbeat", "phoenix")
        assert client.wait("connected")
        assert [e[0] for e in client.events.snapshot()] == []  # no handle_reply for them
    finally:
        ref.stop(block=True, timeout=TIMEOUT)


def test_a_missing_heartbeat_reply_closes_the_connection(client, connector) -> None:
    ref = _start(client, connector, heartbeat_interval=INTERVAL)
    try:
        server = connector.next_connection()
        server.accept()
        client.wait("connected")
        server.expect("heartbeat")
        assert client.wait("disconnected")[1] == pa.HeartbeatTimeout(INTERVAL)
        assert server.closed
    finally:
        ref.stop(block=True, timeout=TIMEOUT)


def test_heartbeats_can_be_turned_off(client, connector) -> None:
    ref = _start(client, connector, heartbeat_interval=None)
    try:
        server = connector.next_connection()
        server.accept()
        client.wait("connected")
        with pytest.raises(TimeoutError):
            server.expect("heartbeat", timeout=4 * INTERVAL)
    finally:
        ref.stop(block=True, timeout=TIMEOUT)


@pytest.mark.parametrize("interval", [0, -1, True, "30", float("nan")])
def test_bad_heartbeat_intervals_are_rejected(interval: Any) -> None:
    with pytest.raises(pa.ConfigError, match="heartbeat_interval"):
        pa.SocketActor.start(Recorder(pa.NoConnect(URL)), heartbeat_interval=interval)


def test_against_the_embedded_server_heartbeats_keep_and_detect() -> None:
    def is_heartbeat(received: Any) -> bool:
        return received.message is not None and received.message.event == "heartbeat"

    with (
        PhoenixServer.with_defaults() as server,
        TestSocket(server.url, timeout=TIMEOUT, heartbeat_interval=INTERVAL) as sock,
    ):
        assert sock.wait_connect_status() == "connected"
        for _ in range(3):  # three answered heartbeats in a row, still connected
            server.wait_for(is_heartbeat, TIMEOUT, start=len(server.received))
        assert sock.joined("echo:none") is False
        server.ignore_heartbeats = True
        assert sock.wait_connect_status() == pa.HeartbeatTimeout(INTERVAL)


def test_scheduler_runs_in_deadline_order_skips_cancelled_and_idles_out() -> None:
    scheduler = Scheduler()
    ran: list[str] = []
    done = threading.Event()
    scheduler.call_later(0.02, lambda: ran.append("second"))
    scheduler.call_later(0.0, lambda: ran.append("first"))
    scheduler.call_later(0.01, lambda: ran.append("cancelled")).cancel()
    scheduler.call_later(0.03, lambda: (_ for _ in ()).throw(RuntimeError("logged")))
    scheduler.call_later(0.04, done.set)
    assert done.wait(TIMEOUT)
    assert ran == ["first", "second"]
