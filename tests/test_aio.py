"""The asyncio adapter, against the embedded server; each test runs its own event loop."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pykka
import pytest

import phoenix_actor as pa
from phoenix_actor._facade import aio
from phoenix_actor._socket.handles import _Run
from phoenix_actor._socket.mailbox import _Request
from phoenix_actor.aio import AsyncSocket
from phoenix_actor.testing import PhoenixServer, Received
from tests.conftest import TIMEOUT

FAST: dict[str, Any] = {"reconnect_after": [0.0, 0.01], "rejoin_after": [0.0, 0.01]}

Scenario = Callable[[AsyncSocket], Awaitable[None]]


@pytest.fixture
def server() -> Iterator[PhoenixServer]:
    with PhoenixServer(demo=True) as server:
        yield server


def run(server: PhoenixServer, scenario: Scenario, **options: Any) -> None:
    """Run ``scenario(socket)`` in a new event loop, with a connected socket."""

    async def main() -> None:
        async with AsyncSocket(server.url, {"user": "ann"}, timeout=TIMEOUT, **options) as socket:
            await socket.wait_connected()
            await scenario(socket)

    asyncio.run(main())


async def received(server: PhoenixServer, event: str) -> Received:
    """Wait, in a worker thread so that the loop runs on, for the server to get ``event``."""

    def is_event(record: Received) -> bool:
        return record.message is not None and record.message.event == event

    return await asyncio.to_thread(server.wait_for, is_event, TIMEOUT)


def test_join_push_leave(server: PhoenixServer) -> None:
    async def scenario(socket: AsyncSocket) -> None:
        assert await socket.join("echo:1", {"a": 1}) == {"joined": "echo:1", "payload": {"a": 1}}
        assert await socket.joined("echo:1")
        reply = await socket.push("echo:1", "echo", {"n": 1})
        assert reply == pa.ChannelReply("echo:1", 2, "ok", {"n": 1})
        error = await socket.push("echo:1", "error", {"why": "asked"})
        assert (error.ok, error.response) == (False, {"why": "asked"})
        assert (await socket.leave("echo:1")).ok  # joined() stays True until phx_close
        assert socket.is_connected

    run(server, scenario)
    pushed = [r.message for r in server.received if r.message is not None]
    assert [(m.event, m.ref, m.payload) for m in pushed] == [
        ("phx_join", "1", {"a": 1}),
        ("echo", "2", {"n": 1}),
        ("error", "3", {"why": "asked"}),
        ("phx_leave", "4", {}),
    ]


def test_errors_are_typed(server: PhoenixServer) -> None:
    async def scenario(socket: AsyncSocket) -> None:
        with pytest.raises(pa.JoinRefusedError) as refused:
            await socket.join("echo:refuse")
        assert refused.value.response == {"reason": "refused"}
        with pytest.raises(pa.NotJoinedError):
            await socket.push("echo:nowhere", "echo")
        await socket.join("echo:1")
        with pytest.raises(pa.AlreadyJoinedError):
            await socket.join("echo:1")
        with pytest.raises(pa.PushTimeoutError):
            await socket.push("echo:1", "noreply", timeout=0.05)
        with pytest.raises(pa.ConfigError):
            await socket.push("echo:1", "echo", timeout=-1)
        with pytest.raises(pa.InvalidMessageError):
            await socket.push("echo:1", 3)  # type: ignore[arg-type]
        with pytest.raises(ZeroDivisionError):
            await socket.execute(lambda _conn: 1 / 0)
        with pytest.raises(TimeoutError):
            await socket.subscribe("echo:1").get(0.01)
        # the socket is still fine
        assert (await socket.push("echo:1", "echo", {"still": "ok"})).response == {"still": "ok"}

    run(server, scenario)


def test_it_needs_a_running_loop(server: PhoenixServer) -> None:
    with pytest.raises(RuntimeError, match="no running event loop"):
        AsyncSocket(server.url)
    assert pykka.ActorRegistry.get_all() == []  # nothing was started


def test_subscriptions_receive_pushes_and_broadcasts_in_order(server: PhoenixServer) -> None:
    async def scenario(socket: AsyncSocket) -> None:
        await socket.join("echo:sub")
        everything = socket.subscribe("echo:sub")
        bursts = socket.subscribe("echo:sub", "burst")
        other = socket.subscribe("echo:other")
        await socket.push("echo:sub", "burst", {"n": 3})
        await socket.push("echo:sub", "broadcast", {"b": 1})
        got = [await everything.get(TIMEOUT) for _ in range(4)]
        assert [(m.topic, m.event, m.payload) for m in got] == [
            ("echo:sub", "burst", {"i": 1}),
            ("echo:sub", "burst", {"i": 2}),
            ("echo:sub", "burst", {"i": 3}),
            ("echo:sub", "broadcasted", {"b": 1}),
        ]
        assert repr(bursts) == "<AsyncSubscription 'echo:sub' 'burst' waiting=3>"
        assert (await bursts.get()).payload == {"i": 1}
        with bursts:
            pass  # closes it: what is queued can still be read, then iteration ends
        bursts.close()  # idempotent
        assert len(bursts) == 2
        assert [m.payload async for m in bursts] == [{"i": 2}, {"i": 3}]
        with pytest.raises(pa.SocketStoppedError):
            await bursts.get()
        assert repr(other) == "<AsyncSubscription 'echo:other' waiting=0>"

    run(server, scenario)


def test_two_hundred_concurrent_pushes_each_get_their_own_reply(server: PhoenixServer) -> None:
    async def scenario(socket: AsyncSocket) -> None:
        await socket.join("echo:many")
        news = socket.subscribe("echo:many", "news")
        for i in range(20):
            server.broadcast("echo:many", "news", {"i": i})
        pushes = [socket.push("echo:many", "echo", {"i": i}) for i in range(200)]
        replies = await asyncio.gather(*pushes)
        assert [r.response for r in replies] == [{"i": i} for i in range(200)]
        assert all(r.ok and r.topic == "echo:many" for r in replies)
        assert len({r.ref for r in replies}) == 200
        assert [(await news.get(TIMEOUT)).payload["i"] for _ in range(20)] == list(range(20))

    run(server, scenario)


def test_the_loop_runs_on_while_pushes_wait_for_a_slow_reply(server: PhoenixServer) -> None:
    async def scenario(socket: AsyncSocket) -> None:
        await socket.join("echo:slow")
        threads = threading.active_count()  # the heartbeat timer runs by the join reply
        slow = asyncio.ensure_future(socket.push("echo:slow", "slow", {"ms": 200}))
        # the channel answers in order: these wait for the slow reply too
        queued = asyncio.gather(*(socket.push("echo:slow", "echo", {"i": i}) for i in range(8)))
        ticks_while_the_server_sleeps = 0
        thread_counts: set[int] = set()
        while not slow.done():
            # once the server has the push, it sleeps 200 ms before it replies
            if any(r.message is not None and r.message.event == "slow" for r in server.received):
                ticks_while_the_server_sleeps += 1
                thread_counts.add(threading.active_count())
            await asyncio.sleep(0.005)
        assert (await slow).response == {"ms": 200}
        assert [r.response for r in await queued] == [{"i": i} for i in range(8)]
        assert ticks_while_the_server_sleeps >= 3  # a blocked loop would not tick at all
        assert thread_counts == {threads}  # and no thread was started for the requests

    run(server, scenario)


def test_a_cancelled_push_leaves_the_socket_working(
    server: PhoenixServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(socket: AsyncSocket) -> None:
        await socket.join("echo:c")
        slow = asyncio.ensure_future(socket.push("echo:c", "slow", {"ms": 100}))
        await received(server, "slow")
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        # The slow reply comes before this one (the channel answers in order): dropped.
        assert (await socket.push("echo:c", "echo", {"after": 1})).response == {"after": 1}

        messages = socket.subscribe("echo:c")
        getter = asyncio.ensure_future(messages.get(None))
        await socket.push("echo:c", "echo", {})  # meanwhile the getter waits on the queue
        assert not getter.done()
        getter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await getter
        await socket.push("echo:c", "burst", {"n": 1})
        assert (await messages.get(TIMEOUT)).payload == {"i": 1}  # nothing was lost

    with caplog.at_level(logging.WARNING):
        run(server, scenario)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_close_ends_subscriptions_and_fails_what_waits(server: PhoenixServer) -> None:
    async def main() -> None:
        socket = AsyncSocket(server.url, timeout=TIMEOUT)
        await socket.join("echo:x")
        subscription = socket.subscribe("echo:x")
        await socket.push("echo:x", "burst", {"n": 1})
        consumer = asyncio.ensure_future(asyncio.wait_for(_collect(subscription), TIMEOUT))
        pending = asyncio.ensure_future(socket.push("echo:x", "noreply"))
        await received(server, "noreply")
        await socket.close()
        await socket.close()  # idempotent
        assert [m.payload for m in await consumer] == [{"i": 1}]
        with pytest.raises(pa.SocketStoppedError):
            await pending
        with pytest.raises(pa.SocketStoppedError):
            await socket.push("echo:x", "echo")
        with pytest.raises(pa.SocketStoppedError):
            socket.subscribe("echo:x")
        with pytest.raises(pa.SocketStoppedError):
            await socket.wait_connected(TIMEOUT)
        assert socket.sync.state is pa.SocketState.STOPPED

    asyncio.run(main())


def test_requests_the_actor_never_gets_still_end(
    server: PhoenixServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request told just as the actor stops is never answered: the loop side ends it."""

    async def scenario(socket: AsyncSocket) -> None:
        await socket.join("echo:lost")
        told = asyncio.Event()
        tell = socket.sync.ref.tell

        def lose_requests(message: object) -> None:
            if isinstance(message, (_Request, _Run)):
                told.set()
            else:
                tell(message)

        monkeypatch.setattr(socket.sync.ref, "tell", lose_requests)
        monkeypatch.setattr(aio, "_GRACE", 0.05)
        with pytest.raises(pa.PushTimeoutError, match="no answer from the socket actor"):
            await socket.push("echo:lost", "echo", timeout=0.05)
        with pytest.raises(pa.CallTimeoutError, match="no answer from the socket actor"):
            await socket.execute(lambda _conn: None, timeout=0.05)
        told.clear()
        lost = asyncio.ensure_future(socket.push("echo:lost", "echo"))
        await told.wait()
        await socket.close()
        with pytest.raises(pa.SocketStoppedError, match="stopped before answering"):
            await lost

    run(server, scenario)


async def _collect(subscription: aio.AsyncSubscription) -> list[pa.ChannelMessage]:
    return [message async for message in subscription]


def test_a_stop_from_another_thread_ends_the_subscriptions(server: PhoenixServer) -> None:
    async def scenario(socket: AsyncSocket) -> None:
        subscription = socket.subscribe("echo:y")
        consumer = asyncio.ensure_future(asyncio.wait_for(_collect(subscription), TIMEOUT))
        await asyncio.to_thread(socket.sync.close)
        assert await consumer == []
        with pytest.raises(pa.SocketStoppedError):
            await socket.wait_connected()

    run(server, scenario)


def test_threads_and_tasks_share_one_socket(server: PhoenixServer) -> None:
    async def scenario(socket: AsyncSocket) -> None:
        await socket.join("echo:mix")
        from_loop = socket.subscribe("echo:mix", "burst")
        from_thread = socket.sync.subscribe("echo:mix", "burst")

        def blocking_pushes() -> list[Any]:
            return [socket.sync.push("echo:mix", "echo", {"t": i}).response for i in range(20)]

        in_thread = asyncio.to_thread(blocking_pushes)
        in_tasks = asyncio.gather(*(socket.push("echo:mix", "echo", {"a": i}) for i in range(20)))
        thread_replies, task_replies = await asyncio.gather(in_thread, in_tasks)
        assert thread_replies == [{"t": i} for i in range(20)]
        assert [r.response for r in task_replies] == [{"a": i} for i in range(20)]
        await socket.push("echo:mix", "burst", {"n": 1})
        assert (await from_loop.get(TIMEOUT)).payload == {"i": 1}
        assert (await asyncio.to_thread(from_thread.get, TIMEOUT)).payload == {"i": 1}

    run(server, scenario)


def test_a_refused_connect_times_out_wait_connected_with_the_reason(
    server: PhoenixServer,
) -> None:
    async def main() -> None:
        async with AsyncSocket(server.url, {"token": "bad"}, timeout=TIMEOUT) as socket:
            with pytest.raises(pa.CallTimeoutError, match="403"):
                await socket.wait_connected(0.2)
            assert isinstance(socket.last_disconnect_reason, pa.HandshakeRejected)
            assert not socket.is_connected

    asyncio.run(main())


def test_connect_false_waits_for_connect(server: PhoenixServer) -> None:
    async def main() -> None:
        async with AsyncSocket(server.url, connect=False, timeout=TIMEOUT) as socket:
            with pytest.raises(pa.CallTimeoutError):
                await socket.wait_connected(0.01)
            await socket.connect()
            assert socket.is_connected

    asyncio.run(main())


def test_the_socket_rejoins_and_the_subscription_carries_on(server: PhoenixServer) -> None:
    async def scenario(socket: AsyncSocket) -> None:
        await socket.join("echo:r", {"v": 2})
        messages = socket.subscribe("echo:r")
        first = server.connections
        server.kill_all()
        await asyncio.to_thread(
            server.wait_for,
            lambda r: r.conn_id not in first and r.message is not None,
            TIMEOUT,
        )
        # the rejoin may still be pending: the push is buffered until it is accepted
        reply = await socket.push("echo:r", "burst", {"n": 1})
        assert reply.response == {"n": 1}
        assert (await messages.get(TIMEOUT)).payload == {"i": 1}

    run(server, scenario, push_buffer=10, **FAST)


def test_close_times_out_while_the_actor_is_busy(server: PhoenixServer) -> None:
    async def scenario(socket: AsyncSocket) -> None:
        gate = threading.Event()
        socket.sync.ref.tell(_Run(lambda _conn: gate.wait(TIMEOUT), pykka.ThreadingFuture()))
        with pytest.raises(pa.CallTimeoutError, match="did not stop in time"):
            await socket.close(timeout=0.05)
        assert repr(socket) == "<AsyncSocket connected>"
        gate.set()
        await socket.close()
        assert repr(socket) == "<AsyncSocket stopped>"

    run(server, scenario)


def test_a_request_after_a_stop_from_this_thread_fails_at_once(server: PhoenixServer) -> None:
    async def scenario(socket: AsyncSocket) -> None:
        socket.sync.close()  # blocks the loop, so the socket's stop is not seen yet
        with pytest.raises(pa.SocketStoppedError, match="closed"):
            await socket.push("echo:1", "echo")
        with pytest.raises(pa.SocketStoppedError):
            await socket.wait_connected()

    run(server, scenario)


def test_a_socket_outliving_its_loop_drops_what_it_cannot_post(
    server: PhoenixServer, caplog: pytest.LogCaptureFixture
) -> None:
    sockets: list[AsyncSocket] = []

    async def main() -> None:
        socket = AsyncSocket(server.url, timeout=TIMEOUT)
        await socket.join("echo:z")
        socket.subscribe("echo:z")
        sockets.append(socket)  # and never closed: the loop ends first

    asyncio.run(main())
    socket = sockets[0]
    with caplog.at_level(logging.DEBUG, logger="phoenix_actor.aio"):
        socket.sync.push("echo:z", "burst", {"n": 1})  # the burst comes before the reply
        socket.sync.close()
    assert "the event loop is closed" in caplog.text
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_the_loop_future_hands_over_what_the_actor_sets() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in range(3)]
        value, error, bare = (aio._LoopFuture(loop, target) for target in futures)
        value.set(1)
        error.set_exception((KeyError, KeyError("k"), None))
        bare.set_exception((ValueError, None, None))
        with pytest.raises(queue.Full):
            value.set(2)  # a second answer is refused before it reaches the loop
        assert await futures[0] == 1
        assert value.get(timeout=0) == 1
        with pytest.raises(KeyError):
            await futures[1]
        with pytest.raises(ValueError):  # noqa: PT011 -- built from the bare class
            await futures[2]

        target = loop.create_future()
        in_except = aio._LoopFuture(loop, target)
        try:
            int("not a number")
        except ValueError:
            in_except.set_exception()  # takes sys.exc_info()
        with pytest.raises(ValueError, match="not a number"):
            await target

    asyncio.run(main())
