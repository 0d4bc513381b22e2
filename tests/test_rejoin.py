"""Automatic rejoin: after a reconnect and after phx_error, never after phx_close."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import phoenix_actor as pa
from phoenix_actor.testing import FakeConnection, FakeConnector
from tests.test_socket_actor import URL, Recorder, run

TOPIC = "room:1"


def start(connector: FakeConnector, client: Recorder, **options: Any) -> Any:
    options.setdefault("reconnect_after", [0.0])
    options.setdefault("rejoin_after", [0.0])
    return pa.SocketActor.start(client, transport_factory=connector, **options)


def reconnecting(**actions: Any) -> Recorder:
    actions.setdefault("disconnected", lambda _r: pa.Reconnect())
    return Recorder(pa.Connect(URL), **actions)


def join_first(
    connector: FakeConnector, client: Recorder, ref: Any
) -> tuple[FakeConnection, pa.Message]:
    server = connector.next_connection()
    server.accept()
    client.wait("connected")
    run(ref, lambda conn: conn.join(TOPIC, {"token": "abc"}))
    join = server.expect("phx_join", TOPIC)
    server.reply(join, "ok", {"n": 1})
    client.wait("joined")
    return server, join


@pytest.fixture
def client() -> Recorder:
    return reconnecting()


@pytest.fixture
def ref(connector: FakeConnector, client: Recorder, request: pytest.FixtureRequest) -> Any:
    options = getattr(request, "param", {})
    ref = start(connector, client, **options)
    yield ref
    ref.stop()


def test_joined_topics_are_rejoined_after_a_reconnect(connector, client, ref):
    first, _join = join_first(connector, client, ref)
    first.disconnect(pa.ConnectionLost("reset"))
    second = connector.next_connection()
    second.accept()
    rejoin = second.expect("phx_join", TOPIC)
    assert rejoin.payload == {"token": "abc"}  # the last join payload
    assert (rejoin.join_ref, rejoin.ref) == (1, 1)  # a fresh ref sequence
    names = [e[0] for e in client.events.snapshot()]
    assert names[-2:] == ["disconnected", "connected"]  # rejoined after handle_connected
    second.reply(rejoin, "ok", {"n": 2})
    assert client.wait("joined")[1:3] == (TOPIC, {"n": 2})
    assert run(ref, lambda conn: conn.joined(TOPIC))


def test_a_topic_the_client_joins_itself_on_connect_is_not_joined_twice(connector):
    client = reconnecting(connected=lambda conn: conn.join(TOPIC, {"mine": True}))
    ref = start(connector, client)
    try:
        first = connector.next_connection()
        first.accept()
        first.reply(first.expect("phx_join", TOPIC), "ok")
        client.wait("joined")
        first.disconnect()
        second = connector.next_connection()
        second.accept()
        assert second.expect("phx_join", TOPIC).payload == {"mine": True}
        run(ref, lambda conn: None)  # everything up to here has run
        assert [m.event for m in second.sent.snapshot()] == []
    finally:
        ref.stop()


def test_a_channel_error_is_rejoined_with_backoff(connector, client):
    tries: list[int] = []

    def schedule(n: int) -> float:
        tries.append(n)
        return 0.0

    ref = start(connector, client, rejoin_after=schedule, push_timeout=0.05)
    try:
        server, join = join_first(connector, client, ref)
        server.close_channel(join, error=True, payload={"reason": "channel_crash"})
        assert client.wait("channel_closed")[1:3] == (TOPIC, {"reason": "channel_crash"})
        unanswered = server.expect("phx_join", TOPIC)
        assert unanswered.payload == {"token": "abc"}
        server.expect("phx_leave", TOPIC)  # timed out: abandoned, retried later
        again = server.expect("phx_join", TOPIC)
        server.reply(again, "ok")
        client.wait("joined")
        server.close_channel(again, error=True)
        server.reply(server.expect("phx_join", TOPIC), "ok")
        client.wait("joined")
        assert tries == [1, 2, 1]  # reset once joined
    finally:
        ref.stop()


def test_a_server_close_is_never_rejoined(connector, client, ref):
    server, join = join_first(connector, client, ref)
    server.close_channel(join)  # phx_close
    client.wait("channel_closed")
    server.disconnect()
    second = connector.next_connection()
    second.accept()
    client.wait("connected")
    run(ref, lambda conn: None)
    assert second.sent.snapshot() == []
    assert run(ref, lambda conn: conn._actor._rejoins.topics()) == []


def test_a_left_topic_is_not_rejoined(connector, client, ref):
    server, _join = join_first(connector, client, ref)
    run(ref, lambda conn: conn.leave(TOPIC))
    server.expect("phx_leave", TOPIC)
    server.disconnect()
    second = connector.next_connection()
    second.accept()
    client.wait("connected")
    run(ref, lambda conn: None)
    assert second.sent.snapshot() == []


def test_a_refused_rejoin_is_not_retried(connector, client, ref, caplog):
    caplog.set_level(logging.WARNING, "phoenix_actor")
    first, _join = join_first(connector, client, ref)
    first.disconnect()
    second = connector.next_connection()
    second.accept()
    second.reply(second.expect("phx_join", TOPIC), "error", {"reason": "unauthorized"})
    assert client.wait("join_error")[1:3] == (TOPIC, {"reason": "unauthorized"})
    assert any("not retrying" in m for m in caplog.messages)
    second.disconnect()
    third = connector.next_connection()
    third.accept()
    client.wait("connected")
    run(ref, lambda conn: None)
    assert third.sent.snapshot() == []


@pytest.mark.parametrize("ref", [{"push_timeout": 0.05}], indirect=True)
def test_a_rejoin_that_times_out_is_abandoned_and_retried(connector, client, ref):
    first, _join = join_first(connector, client, ref)
    first.disconnect()
    second = connector.next_connection()
    second.accept()
    unanswered = second.expect("phx_join", TOPIC)
    leave = second.expect("phx_leave", TOPIC)
    assert leave.join_ref == unanswered.join_ref  # closes the abandoned channel
    retry = second.expect("phx_join", TOPIC)
    second.reply(unanswered, "ok")  # too late: dropped
    second.reply(retry, "ok", {"second": True})
    assert client.wait("joined")[1:3] == (TOPIC, {"second": True})
    run(ref, lambda conn: None)
    assert [e for e in client.events.snapshot() if e[0] == "joined"] == []


@pytest.mark.parametrize("ref", [{"rejoin_after": None}], indirect=True)
def test_rejoin_after_none_turns_rejoining_off(connector, client, ref):
    server, join = join_first(connector, client, ref)
    server.close_channel(join, error=True)
    client.wait("channel_closed")
    server.disconnect()
    second = connector.next_connection()
    second.accept()
    client.wait("connected")
    run(ref, lambda conn: None)
    assert second.sent.snapshot() == []


def test_a_crash_can_be_told_from_a_close(connector):
    class Both(Recorder):
        def handle_channel_error(self, topic: str, payload: Any, conn: pa.Connection) -> Any:
            return self._record("channel_error", topic, payload, conn)

    client = Both(pa.Connect(URL))
    ref = start(connector, client, rejoin_after=None)
    try:
        server, join = join_first(connector, client, ref)
        server.close_channel(join, error=True, payload={"reason": "crash"})
        assert client.wait("channel_error")[1:3] == (TOPIC, {"reason": "crash"})
        run(ref, lambda conn: conn.join(TOPIC))
        again = server.expect("phx_join", TOPIC)
        server.reply(again, "ok")
        client.wait("joined")
        server.close_channel(again)
        assert client.wait("channel_closed")[1:3] == (TOPIC, {})
    finally:
        ref.stop()
