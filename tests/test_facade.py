"""The thread-safe facade, against the embedded server: blocking calls from any thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import phoenix_actor as pa
from phoenix_actor.testing import PhoenixServer
from tests.conftest import TIMEOUT


@pytest.fixture
def server() -> Iterator[PhoenixServer]:
    with PhoenixServer(demo=True) as server:
        yield server


@pytest.fixture
def socket(server: PhoenixServer) -> Iterator[pa.Socket]:
    with pa.Socket(server.url, {"user": "ann"}, timeout=TIMEOUT, **FAST) as socket:
        yield socket


FAST: dict[str, Any] = {"reconnect_after": [0.0, 0.01], "rejoin_after": [0.0, 0.01]}


def test_join_push_leave(socket: pa.Socket) -> None:
    assert socket.join("echo:1", {"a": 1}) == {"joined": "echo:1", "payload": {"a": 1}}
    assert socket.joined("echo:1")
    reply = socket.push("echo:1", "echo", {"n": 1})
    assert reply == pa.ChannelReply("echo:1", 2, "ok", {"n": 1})
    error = socket.push("echo:1", "error", {"why": "asked"})
    assert (error.ok, error.response) == (False, {"why": "asked"})
    assert socket.channel_states() == {"echo:1": pa.ChannelState.JOINED}
    assert socket.leave("echo:1").ok
    assert not socket.joined("echo:1")
    assert socket.channel_states() == {}
    assert socket.state is pa.SocketState.CONNECTED


def test_errors_are_typed(server: PhoenixServer, socket: pa.Socket) -> None:
    with pytest.raises(pa.JoinRefusedError) as refused:
        socket.join("echo:refuse")
    assert refused.value.response == {"reason": "refused"}
    with pytest.raises(pa.NotJoinedError):
        socket.push("echo:nowhere", "echo")
    socket.join("echo:1")
    with pytest.raises(pa.AlreadyJoinedError):
        socket.join("echo:1")
    with pytest.raises(pa.PushTimeoutError):
        socket.push("echo:1", "noreply", timeout=0.05)
    with pytest.raises(pa.ConfigError):
        socket.push("echo:1", "echo", timeout=-1)
    with pytest.raises(pa.InvalidMessageError):
        socket.push("echo:1", 3)  # type: ignore[arg-type]


def test_subscriptions_receive_pushes_and_broadcasts_in_order(socket: pa.Socket) -> None:
    socket.join("echo:sub")
    everything = socket.subscribe("echo:sub")
    bursts = socket.subscribe("echo:sub", "burst")
    socket.push("echo:sub", "burst", {"n": 3})
    socket.push("echo:sub", "broadcast", {"b": 1})
    got = [everything.get(TIMEOUT) for _ in range(4)]
    assert [(m.event, m.payload) for m in got] == [
        ("burst", {"i": 1}),
        ("burst", {"i": 2}),
        ("burst", {"i": 3}),
        ("broadcasted", {"b": 1}),
    ]
    assert [bursts.get(TIMEOUT).payload["i"] for _ in range(3)] == [1, 2, 3]
    assert len(bursts) == 0
    with pytest.raises(TimeoutError):
        bursts.get(0.01)
    bursts.close()
    assert list(bursts) == []


def test_on_callbacks_run_for_matching_messages(socket: pa.Socket) -> None:
    seen: list[pa.ChannelMessage] = []
    done = threading.Event()

    def record(message: pa.ChannelMessage) -> None:
        seen.append(message)
        if message.event == "pushed":
            done.set()

    def broken(_message: pa.ChannelMessage) -> None:
        raise RuntimeError("callback bug")

    socket.on("echo:cb", "pushed", record)
    socket.on("echo:cb", None, broken)  # logged, does not disturb the others
    socket.join("echo:cb")
    socket.push_future("echo:cb", "push", {"x": 1})  # the channel pushes, never replies
    assert done.wait(TIMEOUT)
    assert seen == [pa.ChannelMessage("echo:cb", "pushed", {"x": 1})]


def test_close_ends_subscriptions_and_later_calls_fail(server: PhoenixServer) -> None:
    socket = pa.Socket(server.url, timeout=TIMEOUT)
    socket.wait_connected()
    subscription = socket.subscribe("echo:x")
    ended = threading.Event()

    def consume() -> None:
        for _ in subscription:
            pass
        ended.set()

    consumer = threading.Thread(target=consume)
    consumer.start()
    socket.close()
    socket.close()  # idempotent
    assert ended.wait(TIMEOUT)
    consumer.join(TIMEOUT)
    assert socket.state is pa.SocketState.STOPPED
    with pytest.raises(pa.SocketStoppedError):
        socket.push("echo:x", "echo")
    with pytest.raises(pa.SocketStoppedError):
        socket.subscribe("echo:x")
    with pytest.raises(pa.SocketStoppedError):
        socket.wait_connected(0.01)


def test_a_refused_connect_times_out_wait_connected_with_the_reason(server: PhoenixServer):
    with pa.Socket(server.url, {"token": "bad"}, timeout=TIMEOUT) as socket:
        with pytest.raises(pa.CallTimeoutError, match="403"):
            socket.wait_connected(0.2)
        assert isinstance(socket.last_disconnect_reason, pa.HandshakeRejected)
        assert not socket.is_connected


def test_connect_false_waits_for_connect(server: PhoenixServer) -> None:
    with pa.Socket(server.url, connect=False, timeout=TIMEOUT) as socket:
        assert socket.state is pa.SocketState.DISCONNECTED
        socket.connect()
        assert socket.is_connected


def test_the_socket_rejoins_after_the_server_drops_it(server: PhoenixServer) -> None:
    with pa.Socket(server.url, timeout=TIMEOUT, push_buffer=10, **FAST) as socket:
        socket.join("echo:r", {"v": 2})
        messages = socket.subscribe("echo:r")
        first_conn = server.wait_for(lambda r: r.message is not None).conn_id
        mark = len(server.received)
        server.kill_all()
        rejoin = server.wait_for(
            lambda r: (
                r.conn_id != first_conn and r.message is not None and r.message.event == "phx_join"
            ),
            TIMEOUT,
            start=mark,
        )
        assert rejoin.message is not None
        assert rejoin.message.payload == {"v": 2}
        # the rejoin may still be pending: the push is buffered until it is accepted
        socket.push_future("echo:r", "push", {"back": True})
        assert messages.get(TIMEOUT).payload == {"back": True}


def test_fifty_threads_share_one_socket(server: PhoenixServer, socket: pa.Socket) -> None:
    socket.join("echo:many")
    broadcasts = socket.subscribe("echo:many", "news")
    threads, pushes = 50, 20
    stop = threading.Event()

    def broadcaster() -> int:
        sent = 0
        while not stop.is_set() and sent < 500:
            sent += 1
            server.broadcast("echo:many", "news", {"i": sent})
        return sent

    def worker(n: int) -> list[pa.ChannelReply]:
        return [socket.push("echo:many", "echo", {"t": n, "i": i}) for i in range(pushes)]

    with ThreadPoolExecutor(threads + 1) as pool:
        news = pool.submit(broadcaster)
        results = list(pool.map(worker, range(threads)))
        stop.set()
        sent = news.result(TIMEOUT)
    for n, replies in enumerate(results):
        assert [r.response for r in replies] == [{"t": n, "i": i} for i in range(pushes)]
    refs = [r.ref for replies in results for r in replies]
    assert len(set(refs)) == threads * pushes
    received = [broadcasts.get(TIMEOUT).payload["i"] for _ in range(sent)]
    assert received == list(range(1, sent + 1))


def test_presence_views_follow_who_is_in_a_room(server: PhoenixServer) -> None:
    arrivals: queue.Queue[str] = queue.Queue()
    departures: queue.Queue[str] = queue.Queue()
    with (
        pa.Socket(server.url, {"user": "ann"}, timeout=TIMEOUT) as ann,
        pa.Socket(server.url, {"user": "bob"}, timeout=TIMEOUT) as bob,
    ):
        room = ann.presence(
            "room:1",
            on_join=lambda key, current, _new: arrivals.put(key) if current is None else None,
            on_leave=lambda key, current, _left: departures.put(key),
        )
        assert isinstance(room, pa.PresenceView)
        ann.join("room:1")
        assert arrivals.get(timeout=TIMEOUT) == "ann"
        bob.join("room:1")
        assert arrivals.get(timeout=TIMEOUT) == "bob"
        assert sorted(room.keys()) == ["ann", "bob"]
        assert "bob" in room
        assert len(room) == 2
        assert room.get("bob") is not None
        assert room.get("bob")["metas"][0]["user"] == "bob"  # type: ignore[index]
        bob.leave("room:1")
        assert departures.get(timeout=TIMEOUT) == "bob"
        assert room.keys() == ["ann"]
        assert [entry["metas"][0]["user"] for entry in room.list()] == ["ann"]
        assert "PresenceView 'room:1'" in repr(room)
