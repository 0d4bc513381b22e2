"""Observable state and metrics, and backpressure for slow callbacks."""

from __future__ import annotations

import queue
import threading
from typing import Any

import pykka
import pytest

import phoenix_actor as pa
from phoenix_actor.testing import FakeConnector, Inbox, PhoenixServer
from tests.conftest import TIMEOUT
from tests.test_socket_actor import URL, Recorder, run

TOPIC = "room:1"
S = pa.SocketState
C = pa.ChannelState


class Watcher(pa.Observer):
    """Puts every hook call in an inbox."""

    def __init__(self) -> None:
        self.calls: Inbox[tuple[Any, ...]] = Inbox()

    def socket_state(self, change: pa.SocketStateChanged) -> None:
        self.calls.put(("socket", change.state))

    def channel_state(self, change: pa.ChannelStateChanged) -> None:
        self.calls.put(("channel", change.topic, change.state))

    def connect_attempt(self, attempt: int) -> None:
        self.calls.put(("attempt", attempt))

    def connected(self, seconds: float) -> None:
        self.calls.put(("connected", seconds))

    def reconnect_scheduled(self, attempt: int, delay: float) -> None:
        self.calls.put(("reconnect", attempt, delay))

    def heartbeat_rtt(self, seconds: float) -> None:
        self.calls.put(("rtt", seconds))

    def reply_latency(self, topic: str, event: str, status: str, seconds: float) -> None:
        self.calls.put(("latency", topic, event, status, seconds))

    def mailbox_depth(self, depth: int) -> None:
        self.calls.put(("depth", depth))

    def states(self, kind: str) -> list[Any]:
        return [c[1:] if kind == "channel" else c[1] for c in self.calls.snapshot() if c[0] == kind]

    def take(self, kind: str) -> tuple[Any, ...]:
        return self.calls.take(lambda c: c[0] == kind, TIMEOUT, kind)


def test_socket_and_channel_states_are_reported(connector: FakeConnector) -> None:
    watcher = Watcher()
    client = Recorder(pa.Connect(URL), disconnected=lambda _r: pa.Reconnect())
    ref = pa.SocketActor.start(
        client,
        transport_factory=connector,
        observer=watcher,
        reconnect_after=[0.0],
        rejoin_after=[0.0],
    )
    try:
        first = connector.next_connection()
        first.accept()
        client.wait("connected")
        future = run(ref, lambda conn: conn.join_future(TOPIC))
        first.reply(first.expect("phx_join"), "ok")
        assert future.get(timeout=TIMEOUT).ok
        first.disconnect(pa.ConnectionLost("reset"))
        second = connector.next_connection()
        second.accept()
        second.reply(second.expect("phx_join"), "ok")
        client.wait("joined")
        client.wait("joined")
        assert run(ref, lambda conn: conn._actor.channel_states()) == {TOPIC: C.JOINED}
        run(ref, lambda conn: conn.leave(TOPIC))
        leave = second.expect("phx_leave")
        second.reply(leave, "ok")
        second.send_message(leave.join_ref, leave.join_ref, TOPIC, "phx_close", {})
        client.wait("channel_closed")
        assert run(ref, lambda conn: conn._actor.channel_states()) == {}
    finally:
        ref.stop()
    assert watcher.states("socket") == [
        S.CONNECTING, S.CONNECTED, S.DISCONNECTED, S.WAITING, S.CONNECTING, S.CONNECTED,
        S.STOPPED,
    ]  # fmt: skip
    assert watcher.states("channel") == [
        (TOPIC, C.JOINING), (TOPIC, C.JOINED), (TOPIC, C.ERRORED), (TOPIC, C.JOINING),
        (TOPIC, C.JOINED), (TOPIC, C.LEAVING), (TOPIC, C.CLOSED),
    ]  # fmt: skip
    assert [c[1] for c in watcher.calls.snapshot() if c[0] == "attempt"] == [1, 2]
    assert [c[1] for c in watcher.calls.snapshot() if c[0] == "reconnect"] == [1]
    latency = watcher.take("latency")
    assert latency[1:4] == (TOPIC, "phx_join", "ok")
    assert latency[4] >= 0


def test_a_crashed_or_refused_channel_is_errored_or_closed(connector: FakeConnector) -> None:
    watcher = Watcher()
    client = Recorder(pa.Connect(URL))
    ref = pa.SocketActor.start(
        client, transport_factory=connector, observer=watcher, rejoin_after=[60]
    )
    try:
        server = connector.next_connection()
        server.accept()
        client.wait("connected")
        run(ref, lambda conn: (conn.join(TOPIC), conn.join("refused:1")))
        join = server.expect("phx_join", TOPIC)
        server.reply(join, "ok")
        server.reply(server.expect("phx_join", "refused:1"), "error")
        client.wait("join_error")
        server.close_channel(join, error=True)
        client.wait("channel_closed")
        assert run(ref, lambda conn: conn._actor.channel_states()) == {TOPIC: C.ERRORED}
    finally:
        ref.stop()
    assert (TOPIC, C.ERRORED) in watcher.states("channel")
    assert ("refused:1", C.CLOSED) in watcher.states("channel")


def test_heartbeat_rtt_and_mailbox_depth_are_reported(server: PhoenixServer) -> None:
    watcher = Watcher()
    with pa.Socket(server.url, observer=watcher, heartbeat_interval=0.02, timeout=TIMEOUT):
        assert watcher.take("rtt")[1] >= 0
        assert watcher.take("depth")[1] >= 0
        connected = watcher.take("connected")
        assert connected[1] >= 0


def test_a_raising_observer_is_logged_and_ignored(connector, caplog) -> None:
    class Broken(pa.Observer):
        def socket_state(self, change: pa.SocketStateChanged) -> None:
            raise RuntimeError("observer bug")

    client = Recorder(pa.Connect(URL))
    ref = pa.SocketActor.start(client, transport_factory=connector, observer=Broken())
    try:
        connector.next_connection().accept()
        client.wait("connected")
        assert any("socket_state raised" in m for m in caplog.messages)
    finally:
        ref.stop()


def test_tell_observer_tells_another_actor(connector) -> None:
    received: queue.Queue[Any] = queue.Queue()

    class Parent(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> None:
            received.put(message)

    parent = Parent.start()
    client = Recorder(pa.Connect(URL))
    ref = pa.SocketActor.start(
        client, transport_factory=connector, observer=pa.TellObserver(parent)
    )
    try:
        connector.next_connection().accept()
        assert received.get(timeout=TIMEOUT) == pa.SocketStateChanged(S.CONNECTING)
        assert received.get(timeout=TIMEOUT) == pa.SocketStateChanged(S.CONNECTED)
    finally:
        ref.stop()
        parent.stop()


def test_a_dead_observer_actor_is_ignored(connector) -> None:
    class Parent(pykka.ThreadingActor):
        pass

    parent = Parent.start()
    parent.stop()
    client = Recorder(pa.Connect(URL))
    ref = pa.SocketActor.start(
        client, transport_factory=connector, observer=pa.TellObserver(parent)
    )
    try:
        connector.next_connection().accept()
        client.wait("connected")
    finally:
        ref.stop()


def test_bad_observer_and_limits_are_config_errors() -> None:
    with pytest.raises(pa.ConfigError, match="observer"):
        pa.Config(observer=object())  # type: ignore[arg-type]
    with pytest.raises(pa.ConfigError, match="max_pending_frames"):
        pa.Config(max_pending_frames=0)


# -- slow consumers --------------------------------------------------------------------


def test_without_a_limit_the_mailbox_grows_and_the_depth_shows_it(connector) -> None:
    release = threading.Event()
    client = Recorder(pa.Connect(URL), message=lambda *_: release.wait(TIMEOUT) and None)
    ref = pa.SocketActor.start(client, transport_factory=connector)
    try:
        server = connector.next_connection()
        server.accept()
        client.wait("connected")
        for i in range(50):
            server.push(TOPIC, "news", {"i": i})
        client.wait("message")  # the first is being handled; the others wait
        assert pa.mailbox_depth(ref) == 49
        release.set()
    finally:
        ref.stop()


def test_max_pending_frames_makes_the_reader_wait(connector) -> None:
    release = threading.Event()
    client = Recorder(pa.Connect(URL), message=lambda *_: release.wait(TIMEOUT) and None)
    ref = pa.SocketActor.start(client, transport_factory=connector, max_pending_frames=2)
    sent: queue.Queue[int] = queue.Queue()
    try:
        server = connector.next_connection()
        server.accept()
        client.wait("connected")

        def reader() -> None:  # plays the transport's reader thread
            for i in range(10):
                server.push(TOPIC, "news", {"i": i})
                sent.put(i)

        thread = threading.Thread(target=reader)
        thread.start()
        client.wait("message")  # frame 0 is being handled; frames 1 and 2 hold the credits
        assert [sent.get(timeout=TIMEOUT) for _ in range(3)] == [0, 1, 2]
        thread.join(0.2)
        assert thread.is_alive()  # frame 3 waits for a credit
        assert sent.empty()
        assert pa.mailbox_depth(ref) == 2
        release.set()
        thread.join(TIMEOUT)
        got = [client.wait("message")[3]["i"] for _ in range(9)]
        assert got == list(range(1, 10))
    finally:
        release.set()
        ref.stop()


def test_stop_is_prompt_while_the_reader_waits_for_credit(server: PhoenixServer) -> None:
    release = threading.Event()
    handled = threading.Event()

    def slow(*_args: Any) -> None:
        handled.set()
        release.wait(TIMEOUT)

    client = Recorder(pa.Connect(server.url), message=slow)
    ref = pa.SocketActor.start(client, max_pending_frames=3)
    try:
        client.wait("connected")
        run(ref, lambda conn: conn.join("echo:slow"))
        client.wait("joined")
        run(ref, lambda conn: conn.push("echo:slow", "burst", {"n": 200}))
        assert handled.wait(TIMEOUT)
    finally:
        stopping = threading.Thread(target=ref.stop)
        stopping.start()
        release.set()
        stopping.join(TIMEOUT)
        assert not stopping.is_alive()


@pytest.fixture
def server() -> Any:
    with PhoenixServer(demo=True) as server:
        yield server
