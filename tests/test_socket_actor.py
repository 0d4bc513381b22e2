"""The socket actor's behaviour, driven through the fake transport (no network)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest

import phoenix_actor as pa
from phoenix_actor.testing import FakeConnection, FakeConnector, Inbox
from tests.conftest import TIMEOUT

URL = "ws://example.test/socket/websocket"
Action = Callable[..., Any]


class Recorder(pa.SocketClient):
    """Records every callback; ``actions[name](*args)`` runs inside it and gives its result."""

    def __init__(self, first: Any = None, **actions: Action) -> None:
        self.first = first if first is not None else pa.Connect(URL, {"token": "t"})
        self.actions = actions
        self.events: Inbox[tuple[Any, ...]] = Inbox()
        self.thread: threading.Thread | None = None

    def _record(self, name: str, *args: Any) -> Any:
        self.thread = threading.current_thread()
        self.events.put((name, *args))
        action = self.actions.get(name)
        return action(*args) if action is not None else None

    def init(self) -> Any:
        return self.first

    def handle_connected(self, conn: pa.Connection) -> Any:
        return self._record("connected", conn)

    def handle_disconnected(self, reason: pa.DisconnectReason) -> Any:
        return self._record("disconnected", reason)

    def handle_joined(self, topic: str, response: Any, conn: pa.Connection) -> Any:
        return self._record("joined", topic, response, conn)

    def handle_join_error(self, topic: str, response: Any, conn: pa.Connection) -> Any:
        return self._record("join_error", topic, response, conn)

    def handle_channel_closed(self, topic: str, payload: Any, conn: pa.Connection) -> Any:
        return self._record("channel_closed", topic, payload, conn)

    def handle_message(self, topic: str, event: str, payload: Any, conn: pa.Connection) -> Any:
        return self._record("message", topic, event, payload, conn)

    def handle_reply(self, topic: str, ref: Any, payload: Any, conn: pa.Connection) -> Any:
        return self._record("reply", topic, ref, payload, conn)

    def handle_info(self, message: Any, conn: pa.Connection) -> Any:
        return self._record("info", message, conn)

    def handle_call(self, request: Any, caller: pa.Caller, conn: pa.Connection) -> Any:
        return self._record("call", request, caller, conn)

    def terminate(self, reason: Any) -> None:
        self._record("terminate", reason)

    def wait(self, name: str) -> tuple[Any, ...]:
        return self.events.take(lambda e: e[0] == name, TIMEOUT, name)


@pytest.fixture
def connector() -> FakeConnector:
    return FakeConnector()


@pytest.fixture
def start(connector: FakeConnector) -> Iterator[Callable[..., pykka.ActorRef[Any]]]:
    refs: list[pykka.ActorRef[Any]] = []

    def _start(client: pa.SocketClient, **options: Any) -> pykka.ActorRef[Any]:
        ref = pa.SocketActor.start(client, transport_factory=connector, **options)
        refs.append(ref)
        return ref

    yield _start
    for ref in refs:
        if ref.is_alive():
            ref.stop(block=True, timeout=TIMEOUT)


def connected(
    start: Callable[..., pykka.ActorRef[Any]], connector: FakeConnector, client: Recorder
) -> tuple[pykka.ActorRef[Any], FakeConnection]:
    ref = start(client)
    server = connector.next_connection()
    server.accept()
    client.wait("connected")
    return ref, server


def joined(
    start: Callable[..., pykka.ActorRef[Any]], connector: FakeConnector, topic: str = "room:1"
) -> tuple[Recorder, pykka.ActorRef[Any], FakeConnection, pa.Message]:
    client = Recorder(connected=lambda conn: conn.join(topic, {"hi": 1}))
    ref, server = connected(start, connector, client)
    join = server.expect("phx_join", topic)
    server.reply(join, "ok", {"welcome": True})
    client.wait("joined")
    return client, ref, server, join


def do(*_effects: object) -> None:
    """For lambdas with several effects: the arguments ran; return None."""


def run(ref: pykka.ActorRef[Any], function: Callable[[pa.Connection], Any]) -> Any:
    return pa.execute(ref, function, TIMEOUT)


# -- connecting ----------------------------------------------------------------------


def test_init_connect_builds_the_url_with_params_and_vsn(start, connector):
    client = Recorder()
    start(client)
    server = connector.next_connection()
    assert server.url == URL + "?token=t&vsn=2.0.0"
    server.accept()
    (_, conn) = client.wait("connected")
    assert conn.is_connected
    assert client.thread is not threading.current_thread()


def test_user_vsn_wins(start, connector):
    start(Recorder(pa.Connect(URL, [("vsn", "2.0.1"), ("a", "b c")])))
    assert connector.next_connection().url == URL + "?vsn=2.0.1&a=b+c"


def test_params_callable_is_called_for_every_attempt(start, connector):
    tokens = iter(["one", "two"])
    client = Recorder(
        pa.Connect(URL, lambda: {"token": next(tokens)}),
        disconnected=lambda reason: pa.Connect(),
    )
    start(client)
    first = connector.next_connection()
    assert first.params["token"] == "one"
    first.refuse()
    assert connector.next_connection().params["token"] == "two"


def test_noconnect_waits_until_a_callback_returns_connect(start, connector):
    client = Recorder(pa.NoConnect(URL), info=lambda message, conn: pa.Connect(URL + "2", {"x": 1}))
    ref = start(client)
    with pytest.raises(TimeoutError):
        connector.next_connection(timeout=0.05)
    ref.tell("go")
    _, message, conn = client.wait("info")
    assert message == "go"
    assert not conn.is_connected
    assert connector.next_connection().url == URL + "2?x=1&vsn=2.0.0"


@pytest.mark.parametrize(
    "first",
    [None, "ws://x", pa.Stop(), pa.Connect()],
    ids=["none", "string", "stop", "connect-without-url"],
)
def test_init_must_return_connect_or_noconnect(first):
    class Bad(pa.SocketClient):
        def init(self) -> Any:
            return first

    with pytest.raises(pa.ConfigError):
        pa.SocketActor.start(Bad())


@pytest.mark.parametrize(
    "url",
    ["http://host/socket/websocket", "ws://host/socket/websocket?token=x", "ws:///nohost"],
)
def test_bad_urls_are_rejected_where_they_are_written(url):
    with pytest.raises(pa.InvalidURLError):
        pa.Connect(url)


def test_refused_connect_reports_the_reason_and_no_connected(start, connector):
    client = Recorder()
    start(client)
    connector.next_connection().refuse(pa.HandshakeRejected(403))
    _, reason = client.wait("disconnected")
    assert reason == pa.HandshakeRejected(403)
    assert reason.reason_phrase == "Forbidden"
    assert [e[0] for e in client.events.snapshot()] == []


def test_connect_while_connected_is_ignored_with_a_warning(start, connector, caplog):
    client = Recorder(info=lambda message, conn: pa.Connect())
    ref, _server = connected(start, connector, client)
    with caplog.at_level(logging.WARNING, "phoenix_actor"):
        ref.tell("again")
        client.wait("info")
        run(ref, lambda conn: None)
    assert "Connect ignored" in caplog.text
    assert len(connector.all) == 1


def test_pushes_while_connecting_raise_disconnected(start, connector):
    ref = start(Recorder())
    connector.next_connection()
    with pytest.raises(pa.DisconnectedError):
        run(ref, lambda conn: conn.join("room:1"))


# -- joining, pushing, replies -------------------------------------------------------


def test_join_push_leave_exact_frames_and_callbacks(start, connector):
    client, ref, server, join = joined(start, connector)
    assert server.frames[0] == pa.Frame.text('["1","1","room:1","phx_join",{"hi":1}]')
    assert client.events.snapshot() == []
    ref_push = run(ref, lambda conn: conn.push("room:1", "ping", {"n": 1}))
    assert ref_push == 2
    assert server.frames[1] == pa.Frame.text('["1","2","room:1","ping",{"n":1}]')
    push = server.expect("ping")
    server.reply(push, "ok", {"pong": 1})
    _, topic, reply_ref, payload, _conn = client.wait("reply")
    assert (topic, reply_ref, payload) == ("room:1", 2, {"status": "ok", "response": {"pong": 1}})
    assert run(ref, lambda conn: conn.joined("room:1"))
    assert run(ref, lambda conn: conn.leave("room:1")) == 3
    assert server.frames[2] == pa.Frame.text('["1","3","room:1","phx_leave",{}]')
    assert run(ref, lambda conn: conn.joined("room:1"))  # until phx_close
    server.close_channel(join)
    assert client.wait("channel_closed")[1:3] == ("room:1", {})
    assert not run(ref, lambda conn: conn.joined("room:1"))


def test_join_error_and_unknown_status(start, connector):
    client = Recorder(
        connected=lambda conn: do(conn.join("a:1"), conn.join("b:1")),
    )
    ref, server = connected(start, connector, client)
    server.reply(server.expect("phx_join", "a:1"), "error", {"reason": "nope"})
    server.reply(server.expect("phx_join", "b:1"), "weird", {"reason": "??"})
    assert client.wait("join_error")[1:3] == ("a:1", {"reason": "nope"})
    assert client.wait("join_error")[1:3] == ("b:1", {"reason": "??"})
    assert run(ref, lambda conn: conn.join("a:1")) == 3  # refused topics can be joined again


def test_local_errors(start, connector):
    _client, ref, _server, _join = joined(start, connector)
    with pytest.raises(pa.AlreadyJoinedError):
        run(ref, lambda conn: conn.join("room:1"))
    with pytest.raises(pa.NotJoinedError):
        run(ref, lambda conn: conn.push("room:2", "x", {}))
    with pytest.raises(pa.NotJoinedError):
        run(ref, lambda conn: conn.leave("room:2"))
    with pytest.raises(pa.EncodeError):
        run(ref, lambda conn: conn.push("room:1", "x", {"bad": "\udca6"}))
    # the failed encode consumed ref 2, as the original does
    assert run(ref, lambda conn: conn.push("room:1", "x", {})) == 3


def test_messages_broadcasts_and_stale_sessions(start, connector):
    client, _ref, server, join = joined(start, connector)
    server.push("room:1", "pushed", {"a": 1}, join_ref=join.join_ref)
    server.push("room:1", "old", {"a": 2}, join_ref=99)  # an earlier session: dropped
    server.push("room:1", "broadcasted", {"b": 1})
    server.send_message(99, 99, "room:1", "phx_close", {})  # an earlier session: dropped
    assert client.wait("message")[1:4] == ("room:1", "pushed", {"a": 1})
    assert client.wait("message")[1:4] == ("room:1", "broadcasted", {"b": 1})
    server.close_channel(join, error=True, payload={"reason": "channel_crash"})
    assert client.wait("channel_closed")[1:3] == ("room:1", {"reason": "channel_crash"})
    assert [e[0] for e in client.events.snapshot()] == []


def test_malformed_frames_are_logged_and_the_next_frame_is_delivered(start, connector, caplog):
    client, _ref, server, _join = joined(start, connector)
    with caplog.at_level(logging.WARNING, "phoenix_actor"):
        server.send_frame(pa.Frame.text("not json"))
        server.send_frame(pa.Frame.text('{"topic":"room:1"}'))
        server.send_frame(pa.Frame.binary(b"\x07\x00"))
        server.send_message(None, 5, "room:1", "phx_reply", "no status")
        server.push("room:1", "after", {})
        client.wait("message")
    assert caplog.text.count("dropped a malformed frame") == 4


# -- disconnects ---------------------------------------------------------------------


def test_disconnect_forgets_topics_resets_refs_and_stales_handles(start, connector):
    held: list[pa.Connection] = []
    client = Recorder(
        connected=lambda conn: do(held.append(conn), conn.join("room:1")),
        disconnected=lambda reason: pa.Connect(),
    )
    ref = start(client)
    first = connector.next_connection()
    first.accept()
    client.wait("connected")
    first.reply(first.expect("phx_join"), "ok")
    client.wait("joined")
    first.disconnect(pa.RemoteClosed(1011))
    assert client.wait("disconnected")[1] == pa.RemoteClosed(1011)
    assert [e[0] for e in client.events.snapshot()] == []  # no channel_closed on disconnect
    assert first.closed
    second = connector.next_connection()
    first.push("room:1", "late", {})  # an old connection's frame: dropped
    second.accept()
    client.wait("connected")
    assert second.expect("phx_join").ref == 1  # refs restart at 1
    with pytest.raises(pa.DisconnectedError, match="has closed"):
        run(ref, lambda conn: held[0].push("room:1", "x", {}))
    assert not held[0].is_connected


def test_stale_transport_reports_are_ignored(start, connector):
    client = Recorder(disconnected=lambda reason: pa.Connect())
    start(client)
    first = connector.next_connection()
    first.refuse()
    client.wait("disconnected")
    second = connector.next_connection()
    first.accept()  # a late report from the first attempt
    first._over = False
    first.disconnect()
    second.accept()
    client.wait("connected")
    assert [e[0] for e in client.events.snapshot()] == []


# -- callbacks that misbehave --------------------------------------------------------


def test_a_raising_callback_is_logged_and_the_socket_carries_on(start, connector, caplog):
    def boom(*_args: Any) -> None:
        raise RuntimeError("boom")

    client = Recorder(message=boom)
    ref, server = connected(start, connector, client)
    with caplog.at_level(logging.ERROR, "phoenix_actor"):
        server.push("t", "e", {})
        server.push("t", "e2", {})
        client.wait("message")
        client.wait("message")
        run(ref, lambda conn: None)  # the mailbox is in order: both were handled
    errors = [r for r in caplog.records if "handle_message raised" in r.getMessage()]
    assert len(errors) == 2
    assert errors[0].exc_info is not None


def test_callback_errors_stop_policy(start, connector):
    def boom(*_args: Any) -> None:
        raise RuntimeError("boom")

    client = Recorder(message=boom)
    ref = start(client, callback_errors="stop")
    server = connector.next_connection()
    server.accept()
    server.push("t", "e", {})
    _, reason = client.wait("terminate")
    assert isinstance(reason, RuntimeError)
    server.wait_closed()
    assert ref.actor_stopped.wait(TIMEOUT)


def test_invalid_return_values_are_logged(start, connector, caplog):
    client = Recorder(connected=lambda conn: 42)
    with caplog.at_level(logging.ERROR, "phoenix_actor"):
        ref, _server = connected(start, connector, client)
        run(ref, lambda conn: None)
    assert "returned 42, which is ignored" in caplog.text


def test_wrong_thread_use_of_a_connection(start, connector):
    held: list[pa.Connection] = []
    client = Recorder(connected=held.append)
    connected(start, connector, client)
    with pytest.raises(pa.WrongThreadError):
        held[0].push("room:1", "x", {})


def test_bad_callback_errors_option():
    with pytest.raises(pa.ConfigError):
        pa.SocketActor.start(Recorder(), callback_errors="ignore")


# -- call ----------------------------------------------------------------------------


def test_call_reply_noreply_stop_and_errors(start, connector):
    later: list[pa.Caller] = []

    def on_call(request: Any, caller: pa.Caller, conn: pa.Connection) -> Any:
        if request == "now":
            return pa.Reply(("now", conn.is_connected))
        if request == "later":
            later.append(caller)
            return pa.NoReply()
        if request == "raise":
            raise ValueError("bad request")
        if request == "invalid":
            return "oops"
        return pa.Stop("asked", reply="bye")

    client = Recorder(call=on_call)
    ref = start(client)
    assert pa.call(ref, "now", TIMEOUT) == ("now", False)
    answer: list[Any] = []
    waiter = threading.Thread(target=lambda: answer.append(pa.call(ref, "later", TIMEOUT)))
    waiter.start()
    client.wait("call")
    client.wait("call")
    later[0].reply("done")
    later[0].reply("twice")  # ignored
    waiter.join(TIMEOUT)
    assert answer == ["done"]
    with pytest.raises(ValueError, match="bad request"):
        pa.call(ref, "raise", TIMEOUT)
    with pytest.raises(TypeError, match="expected Reply"):
        pa.call(ref, "invalid", TIMEOUT)
    with pytest.raises(pa.CallTimeoutError):
        pa.call(ref, "later", 0.05)
    assert pa.call(ref, "stop", TIMEOUT) == "bye"
    assert client.wait("terminate")[1] == "asked"
    with pytest.raises(pa.SocketStoppedError):
        pa.call(ref, "now", TIMEOUT)


def test_pending_calls_fail_when_the_socket_stops(start, connector):
    client = Recorder(call=lambda request, caller, conn: pa.NoReply())
    ref = start(client)
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            pa.call(ref, "x", TIMEOUT)
        except pa.PhoenixActorError as exc:
            errors.append(exc)

    waiter = threading.Thread(target=ask)
    waiter.start()
    client.wait("call")
    ref.stop(block=True, timeout=TIMEOUT)
    waiter.join(TIMEOUT)
    assert len(errors) == 1
    assert isinstance(errors[0], pa.SocketStoppedError)


def test_default_handle_call_raises_not_implemented(start, connector):
    class Plain(pa.SocketClient):
        def init(self) -> pa.InitResult:
            return pa.NoConnect(URL)

    ref = start(Plain())
    with pytest.raises(NotImplementedError):
        pa.call(ref, "x", TIMEOUT)


# -- stopping ------------------------------------------------------------------------


def test_stop_from_a_callback_closes_the_transport_and_terminates(start, connector):
    client = Recorder(connected=lambda conn: pa.Stop("done"))
    ref = start(client)
    server = connector.next_connection()
    server.accept()
    assert client.wait("terminate")[1] == "done"
    server.wait_closed()
    ref.stop(block=True, timeout=TIMEOUT)
    assert not ref.is_alive()


def test_stop_from_outside_terminates_with_shutdown(start, connector):
    client = Recorder()
    ref, server = connected(start, connector, client)
    ref.stop(block=True, timeout=TIMEOUT)
    assert client.wait("terminate")[1] == "shutdown"
    assert server.closed
    assert [e[0] for e in client.events.snapshot()] == []  # no handle_disconnected on stop


def test_a_failing_transport_close_is_logged_and_the_disconnect_reported(caplog):
    class BrokenClose(FakeConnector):
        def __call__(self, url: str, options: Any, listener: Any) -> Any:
            connection = super().__call__(url, options, listener)

            def close() -> None:
                raise OSError("close failed")

            connection.close = close  # type: ignore[method-assign]
            return connection

    connector = BrokenClose()
    client = Recorder()
    ref = pa.SocketActor.start(client, transport_factory=connector)
    try:
        server = connector.next_connection()
        server.accept()
        client.wait("connected")
        with caplog.at_level(logging.ERROR, "phoenix_actor"):
            server.disconnect()
            assert client.wait("disconnected")[1] == pa.RemoteClosed(1000)
        assert "closing the transport failed" in caplog.text
    finally:
        ref.stop(block=True, timeout=TIMEOUT)


def test_an_internal_error_is_logged_and_the_actor_survives(start, connector, caplog):
    class Fragile(pa.JSONSerializer):
        def decode(self, frame: pa.Frame) -> pa.Message:
            if frame.data == b"boom":
                raise RuntimeError("serializer bug")
            return super().decode(frame)

    client = Recorder()
    start(client, serializer=Fragile())
    server = connector.next_connection()
    server.accept()
    client.wait("connected")
    with caplog.at_level(logging.ERROR, "phoenix_actor"):
        server.send_frame(pa.Frame.text("boom"))
        server.push("t", "after", {})
        assert client.wait("message")[2] == "after"
    assert "internal error while handling" in caplog.text
