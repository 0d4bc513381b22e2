"""One API for Socket and AsyncSocket: on/off, presence, channel states, a push that is
not waited for, states read without the mailbox, closed sockets that fail at once, and
typed errors for a socket that cannot connect or a subscription that gets nothing.

"At once" is checked without measuring anything: the sockets here have a timeout far
longer than the test run's own (60 s), so a call that waited for it would fail the test.
"""

from __future__ import annotations

import asyncio
import queue
import socket as std_socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import phoenix_actor as pa
from phoenix_actor.aio import AsyncSocket
from phoenix_actor.testing import PhoenixServer
from tests.conftest import TIMEOUT

#: Longer than the run's per-test timeout: a call that waits for it fails the test.
FOREVER = 1000.0


@pytest.fixture
def server() -> Iterator[PhoenixServer]:
    with PhoenixServer(demo=True) as server:
        yield server


def refused_url() -> str:
    """A websocket URL on a loopback port where nothing listens."""
    with std_socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"ws://127.0.0.1:{port}/socket/websocket"


# -- a closed Socket fails at once (issue 15, item 5) -----------------------------------


def test_every_call_on_a_closed_socket_fails_at_once(server: PhoenixServer) -> None:
    socket = pa.Socket(server.url, timeout=FOREVER)
    socket.wait_connected(TIMEOUT)
    socket.close(TIMEOUT)
    with pytest.raises(pa.SocketStoppedError):
        socket.wait_connected()
    with pytest.raises(pa.SocketStoppedError):
        socket.join("echo:1")
    with pytest.raises(pa.SocketStoppedError):
        socket.push("echo:1", "echo")
    with pytest.raises(pa.SocketStoppedError):
        socket.leave("echo:1")
    with pytest.raises(pa.SocketStoppedError):
        socket.push_future("echo:1", "echo")
    with pytest.raises(pa.SocketStoppedError):
        socket.channel_states()
    with pytest.raises(pa.SocketStoppedError):
        socket.on("echo:1", None, print)
    with pytest.raises(pa.SocketStoppedError):
        socket.subscribe("echo:1")


def test_a_wait_in_progress_ends_when_the_socket_closes() -> None:
    socket = pa.Socket(refused_url(), timeout=FOREVER, reconnect_after=[FOREVER])
    errors: queue.Queue[BaseException] = queue.Queue()

    def wait() -> None:
        try:
            socket.join("echo:1")
        except BaseException as exc:
            errors.put(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    socket.close(TIMEOUT)
    waiter.join(TIMEOUT)
    assert isinstance(errors.get(timeout=TIMEOUT), pa.SocketStoppedError)


# -- state and repr never wait (issue 15, item 6) ---------------------------------------


def test_state_and_repr_do_not_wait_for_a_busy_callback(server: PhoenixServer) -> None:
    busy = threading.Event()
    release = threading.Event()

    def slow(_message: pa.ChannelMessage) -> None:
        busy.set()
        release.wait(2 * TIMEOUT)

    with pa.Socket(server.url, timeout=TIMEOUT) as socket:
        socket.on("echo:busy", "pushed", slow)
        socket.join("echo:busy")
        socket.push_future("echo:busy", "push", {})  # the channel pushes "pushed" back
        assert busy.wait(TIMEOUT)
        try:
            # The actor is stuck in ``slow``: anything through its mailbox would wait.
            assert socket.state is pa.SocketState.CONNECTED
            assert repr(socket) == "<Socket connected>"
        finally:
            release.set()
    assert socket.state is pa.SocketState.STOPPED
    assert repr(socket) == "<Socket stopped>"


def test_state_follows_the_connection_without_the_mailbox(server: PhoenixServer) -> None:
    with pa.Socket(server.url, connect=False, timeout=TIMEOUT) as socket:
        assert socket.state is pa.SocketState.DISCONNECTED
        socket.connect()
        assert socket.state is pa.SocketState.CONNECTED


# -- on / off ----------------------------------------------------------------------------


def test_off_removes_a_callback_and_on_returns_distinct_refs(server: PhoenixServer) -> None:
    removed: list[pa.ChannelMessage] = []
    kept: queue.Queue[pa.ChannelMessage] = queue.Queue()
    with pa.Socket(server.url, timeout=TIMEOUT) as socket:
        first = socket.on("echo:off", None, removed.append)
        second = socket.on("echo:off", None, kept.put)
        assert first != second
        assert socket.off(first) is True
        assert socket.off(first) is False  # already removed
        assert socket.off(12345) is False
        socket.join("echo:off")
        socket.push_future("echo:off", "push", {"n": 1})
        assert kept.get(timeout=TIMEOUT).payload == {"n": 1}
        assert removed == []  # both run in one delivery: the first would have run by now


def test_a_raising_on_callback_is_logged_at_error_with_its_traceback(
    server: PhoenixServer, caplog: pytest.LogCaptureFixture
) -> None:
    after: queue.Queue[pa.ChannelMessage] = queue.Queue()

    def broken(_message: pa.ChannelMessage) -> None:
        raise RuntimeError("callback bug")

    with pa.Socket(server.url, timeout=TIMEOUT) as socket:
        socket.on("echo:raise", None, broken)
        socket.on("echo:raise", None, after.put)
        socket.join("echo:raise")
        socket.push_future("echo:raise", "push", {})
        after.get(timeout=TIMEOUT)
    [record] = [r for r in caplog.records if r.name == "phoenix_actor.facade"]
    assert record.levelname == "ERROR"
    assert record.exc_info is not None
    assert "callback bug" in str(record.exc_info[1])


# -- typed errors ------------------------------------------------------------------------


def test_subscription_get_raises_the_librarys_timeout_error(server: PhoenixServer) -> None:
    with pa.Socket(server.url, timeout=TIMEOUT) as socket:
        subscription = socket.subscribe("echo:quiet")
        with pytest.raises(pa.MessageTimeoutError, match="no message on 'echo:quiet'") as timed:
            subscription.get(timeout=0.01)
    assert isinstance(timed.value, TimeoutError)  # code catching the builtin still works
    assert isinstance(timed.value, pa.PhoenixActorError)


def test_a_join_against_a_refused_port_raises_a_connection_error() -> None:
    with (
        pa.Socket(refused_url(), timeout=0.2, reconnect_after=[0.01]) as socket,
        pytest.raises(pa.NotConnectedError, match="connection refused") as failed,
    ):
        socket.join("echo:1")
    assert isinstance(failed.value.reason, pa.ConnectionRefused)
    assert isinstance(failed.value, ConnectionError)
    assert isinstance(failed.value, pa.CallTimeoutError)  # what it raised before


def test_without_reconnect_a_refused_port_fails_the_join_at_once() -> None:
    with (
        pa.Socket(refused_url(), timeout=FOREVER, reconnect=False) as socket,
        pytest.raises(pa.NotConnectedError, match="not retried: reconnect=False") as failed,
    ):
        socket.join("echo:1")
    assert isinstance(failed.value.reason, pa.ConnectionRefused)


def test_a_refusal_that_is_not_retried_fails_the_join_at_once(server: PhoenixServer) -> None:
    with pa.Socket(server.url, {"token": "bad"}, timeout=FOREVER) as socket:
        with pytest.raises(pa.NotConnectedError, match="HTTP 403") as failed:
            socket.join("echo:1")
        assert isinstance(failed.value.reason, pa.HandshakeRejected)
        # connect() tries again, and waits for the new attempt's outcome.
        with pytest.raises(pa.NotConnectedError, match="HTTP 403"):
            socket.connect()


# -- AsyncSocket has the same API --------------------------------------------------------


def arun(server: PhoenixServer, scenario: Any, **options: Any) -> None:
    async def main() -> None:
        async with AsyncSocket(server.url, {"user": "ann"}, timeout=TIMEOUT, **options) as sock:
            await sock.wait_connected()
            await scenario(sock)

    asyncio.run(main())


def test_async_on_off_runs_callbacks_in_the_loop(server: PhoenixServer) -> None:
    async def scenario(socket: AsyncSocket) -> None:
        loop_thread = threading.current_thread()
        seen: list[tuple[str, threading.Thread]] = []
        removed: list[pa.ChannelMessage] = []
        arrived = asyncio.Event()

        def record(message: pa.ChannelMessage) -> None:
            seen.append((message.event, threading.current_thread()))
            arrived.set()

        def broken(_message: pa.ChannelMessage) -> None:
            raise RuntimeError("callback bug")

        gone = socket.on("echo:a", None, removed.append)
        socket.on("echo:a", None, broken)  # logged; the others still run
        socket.on("echo:a", "pushed", record)
        assert socket.off(gone)
        assert not socket.off(gone)
        await socket.join("echo:a")
        socket.push_future("echo:a", "push", {"x": 1})
        await asyncio.wait_for(arrived.wait(), TIMEOUT)
        assert seen == [("pushed", loop_thread)]
        assert removed == []

    arun(server, scenario)


def test_async_push_future_starts_the_push_at_once(server: PhoenixServer) -> None:
    async def scenario(socket: AsyncSocket) -> None:
        await socket.join("echo:f")
        future = socket.push_future("echo:f", "echo", {"n": 7})
        assert isinstance(future, asyncio.Future)
        # The push is in the mailbox already: the server gets it without an await here.
        record = await asyncio.to_thread(
            server.wait_for,
            lambda r: r.message is not None and r.message.event == "echo",
            TIMEOUT,
        )
        assert record.message is not None
        assert record.message.payload == {"n": 7}
        reply = await future
        assert (reply.ok, reply.response) == (True, {"n": 7})
        timed_out = socket.push_future("echo:f", "noreply", {}, timeout=0.05)
        with pytest.raises(pa.PushTimeoutError):
            await timed_out

    arun(server, scenario)


def test_async_channel_states_state_and_presence(server: PhoenixServer) -> None:
    async def scenario(socket: AsyncSocket) -> None:
        assert socket.state is pa.SocketState.CONNECTED
        arrived = threading.Event()
        room = socket.presence("room:p", on_join=lambda *_: arrived.set())
        assert isinstance(room, pa.PresenceView)
        await socket.join("room:p")
        assert await socket.channel_states() == {"room:p": pa.ChannelState.JOINED}
        assert await asyncio.to_thread(arrived.wait, TIMEOUT)
        assert room.keys() == ["ann"]

    arun(server, scenario)


def test_async_closed_socket_fails_at_once(server: PhoenixServer) -> None:
    async def main() -> None:
        socket = AsyncSocket(server.url, timeout=FOREVER)
        await socket.wait_connected(TIMEOUT)
        subscription = socket.subscribe("echo:s")
        with pytest.raises(pa.MessageTimeoutError):
            await subscription.get(timeout=0.01)
        await socket.close(TIMEOUT)
        assert socket.state is pa.SocketState.STOPPED
        with pytest.raises(pa.SocketStoppedError):
            await socket.wait_connected()
        with pytest.raises(pa.SocketStoppedError):
            await socket.join("echo:1")
        with pytest.raises(pa.SocketStoppedError):
            socket.on("echo:1", None, print)
        with pytest.raises(pa.SocketStoppedError):
            socket.push_future("echo:1", "echo")

    asyncio.run(main())


def test_async_join_against_a_refused_port_raises_a_connection_error() -> None:
    async def main() -> None:
        async with AsyncSocket(refused_url(), timeout=FOREVER, reconnect=False) as socket:
            with pytest.raises(pa.NotConnectedError, match="connection refused") as failed:
                await socket.join("echo:1")
            assert isinstance(failed.value.reason, pa.ConnectionRefused)
        async with AsyncSocket(refused_url(), timeout=0.2, reconnect_after=[0.01]) as socket:
            with pytest.raises(pa.NotConnectedError, match="connection refused"):
                await socket.join("echo:1")

    asyncio.run(main())


# -- the embedded server's results have names of their own -------------------------------


def test_the_servers_reply_classes_are_not_the_clients() -> None:
    from phoenix_actor import testing

    assert testing.ServerReply is not pa.Reply
    assert testing.ServerNoReply is not pa.NoReply
    assert "Reply" not in testing.__all__
    with pytest.warns(DeprecationWarning, match="use phoenix_actor.testing.ServerReply"):
        from phoenix_actor.testing import Reply
    assert Reply is testing.ServerReply
    with pytest.warns(DeprecationWarning, match="ServerNoReply"):
        assert testing.NoReply is testing.ServerNoReply
    with pytest.raises(AttributeError):
        testing.Nothing  # noqa: B018


def test_async_on_takes_coroutine_functions_too(
    server: PhoenixServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(socket: AsyncSocket) -> None:
        seen: asyncio.Queue[pa.ChannelMessage] = asyncio.Queue()

        async def record(message: pa.ChannelMessage) -> None:
            await seen.put(message)

        async def broken(_message: pa.ChannelMessage) -> None:
            raise RuntimeError("async callback bug")

        socket.on("echo:co", "pushed", broken)
        socket.on("echo:co", "pushed", record)
        await socket.join("echo:co")
        socket.push_future("echo:co", "push", {"y": 2})
        message = await asyncio.wait_for(seen.get(), TIMEOUT)
        assert message.payload == {"y": 2}

    arun(server, scenario)
    [record] = [r for r in caplog.records if r.name == "phoenix_actor.aio"]
    assert record.levelname == "ERROR"
    assert record.exc_info is not None
    assert "async callback bug" in str(record.exc_info[1])
