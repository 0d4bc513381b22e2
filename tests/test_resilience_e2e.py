"""Reconnect, rejoin and reply futures against the embedded server and its fault knobs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

import phoenix_actor as pa
from phoenix_actor.testing import PhoenixServer
from tests.conftest import TIMEOUT
from tests.test_socket_actor import Recorder, run

FAST = {"reconnect_after": [0.0, 0.01], "rejoin_after": [0.0, 0.01]}


@pytest.fixture
def server() -> Iterator[PhoenixServer]:
    with PhoenixServer(demo=True, max_channels=2) as server:
        yield server


def start(server: PhoenixServer, params: Any = None, **options: Any) -> tuple[Recorder, Any]:
    client = Recorder(
        pa.Connect(server.url, params or {"user": "ann"}), disconnected=lambda _r: pa.Reconnect()
    )
    ref = pa.SocketActor.start(client, **{**FAST, **options})
    return client, ref


@pytest.fixture
def socket(server: PhoenixServer) -> Iterator[tuple[Recorder, Any]]:
    client, ref = start(server)
    client.wait("connected")
    yield client, ref
    ref.stop(timeout=TIMEOUT)


def join(ref: Any, topic: str, payload: Any = None) -> pa.ChannelReply:
    future: pykka.Future[pa.ChannelReply] = run(ref, lambda c: c.join_future(topic, payload))
    return future.get(timeout=TIMEOUT)


def push(ref: Any, topic: str, event: str, payload: Any = None, **kw: Any) -> pa.ChannelReply:
    future = run(ref, lambda c: c.push_future(topic, event, payload, **kw))
    result: pa.ChannelReply = future.get(timeout=TIMEOUT)
    return result


@pytest.mark.parametrize("fault", ["kill", "close_1000", "close_1001", "close_1011"])
def test_a_lost_connection_is_reconnected_and_its_topics_rejoined(server, socket, fault):
    client, ref = socket
    assert join(ref, "echo:a", {"v": 1}).response == {"joined": "echo:a", "payload": {"v": 1}}
    client.wait("joined")
    if fault == "kill":
        server.kill_all()
    else:
        server.close_all(int(fault.rpartition("_")[2]))
    client.wait("disconnected")
    client.wait("connected")
    assert client.wait("joined")[1:3] == ("echo:a", {"joined": "echo:a", "payload": {"v": 1}})
    assert push(ref, "echo:a", "echo", {"after": fault}).response == {"after": fault}


def test_repeated_kills_are_survived(server, socket):
    client, ref = socket
    join(ref, "echo:a")
    client.wait("joined")
    for _ in range(10):
        server.kill_all()
        client.wait("disconnected")
        client.wait("joined")
    assert push(ref, "echo:a", "echo", {"n": 10}).ok


def test_a_policy_close_is_not_reconnected(server, socket, caplog):
    caplog.set_level(logging.WARNING, "phoenix_actor")
    client, ref = socket
    server.close_all(1008, "go away")
    assert client.wait("disconnected")[1] == pa.RemoteClosed(1008, "go away")
    assert run(ref, lambda c: c._actor.state) is pa.SocketState.DISCONNECTED
    assert any("not reconnecting" in m and "1008" in m for m in caplog.messages)


def test_a_refused_connect_is_not_retried(server):
    client, ref = start(server, {"token": "bad"})
    try:
        reason = client.wait("disconnected")[1]
        assert isinstance(reason, pa.HandshakeRejected)
        assert reason.status == 403
        assert run(ref, lambda c: c._actor.state) is pa.SocketState.DISCONNECTED
    finally:
        ref.stop()


def test_a_crashed_channel_is_rejoined_and_a_stopped_one_is_not(server, socket):
    client, ref = socket
    join(ref, "echo:crashy")
    join(ref, "echo:stoppy")
    client.wait("joined")
    client.wait("joined")
    run(ref, lambda c: c.push("echo:crashy", "crash"))
    assert client.wait("channel_closed")[1] == "echo:crashy"
    assert client.wait("joined")[1] == "echo:crashy"
    with pytest.raises(pa.ChannelClosedError, match="phx_close"):
        push(ref, "echo:stoppy", "stop")  # the channel stops without replying
    assert client.wait("channel_closed")[1] == "echo:stoppy"
    assert push(ref, "echo:crashy", "echo", {"alive": True}).ok
    assert run(ref, lambda c: (c.joined("echo:crashy"), c.joined("echo:stoppy"))) == (True, False)


def test_a_dropped_reply_is_a_push_timeout(server, socket):
    _client, ref = socket
    join(ref, "echo:a")
    with pytest.raises(pa.PushTimeoutError):
        push(ref, "echo:a", "noreply", {}, timeout=0.1)
    assert push(ref, "echo:a", "slow", {"ms": 1}).ok


def test_an_unanswered_heartbeat_reconnects(server):
    server.ignore_heartbeats = True
    client, ref = start(server, heartbeat_interval=0.05)
    try:
        client.wait("connected")
        assert isinstance(client.wait("disconnected")[1], pa.HeartbeatTimeout)
        server.ignore_heartbeats = False
        client.wait("connected")
    finally:
        ref.stop()


def test_join_errors_the_server_gives(server, socket):
    client, ref = socket
    unmatched = join(ref, "nowhere:1")
    assert (unmatched.status, unmatched.response) == ("error", {"reason": "unmatched topic"})
    assert client.wait("join_error")[1:3] == ("nowhere:1", {"reason": "unmatched topic"})
    join(ref, "echo:1")
    join(ref, "echo:2")
    too_many = join(ref, "echo:3")
    assert (too_many.status, too_many.response) == (
        "error",
        {"reason": "too many channels joined"},
    )
