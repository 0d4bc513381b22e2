"""User code that raises never kills the socket, and each error is logged once.

A client whose every callback raises is driven through a hundred socket lifetimes
(connect, join, join error, reply, message, channel crash, channel close, info, call,
disconnect, stop): 1,100 exceptions, 100 per callback. Each must appear in exactly one
ERROR record of ``phoenix_actor.socket`` with its traceback, and the socket must carry
on after each. Observer hooks and ``Socket.on`` callbacks are held to the same rule.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import pykka
import pytest

import phoenix_actor as pa
from phoenix_actor.testing import FakeConnection, FakeConnector, Inbox
from tests.conftest import TIMEOUT
from tests.faults import LogCapture, Probe, barrier, running

URL = "ws://example.test/socket/websocket"
ROUNDS = 100
KINDS = (
    "handle_connected",
    "handle_joined",
    "handle_join_error",
    "handle_reply",
    "handle_message",
    "handle_channel_error",
    "handle_channel_closed",
    "handle_info",
    "handle_call",
    "handle_disconnected",
    "terminate",
)


class Boom(Exception):
    """Raised by user code; ``where`` names the callback that raised it."""

    def __init__(self, where: str, number: int) -> None:
        super().__init__(f"{where} failed (#{number})")
        self.where = where


class Raiser(pa.SocketClient):
    """A client whose every callback raises a fresh :class:`Boom`.

    The exceptions: ``handle_info("connect")`` returns ``Connect()``, how each round
    opens its connection, and the join of ``room:2`` (the channel closed with
    ``phx_close``) is accepted quietly, so that each callback raises once per round.
    """

    def __init__(self, raised: list[Boom]) -> None:
        self.raised = raised
        self.inbox: Inbox[Boom] = Inbox()

    def _boom(self, where: str) -> None:
        error = Boom(where, len(self.raised) + 1)
        self.raised.append(error)
        self.inbox.put(error)
        raise error

    def wait(self, where: str) -> Boom:
        return self.inbox.take(lambda e: e.where == where, TIMEOUT, f"{where} raising")

    def init(self) -> pa.InitResult:
        return pa.NoConnect(URL)

    def handle_connected(self, conn: pa.Connection) -> None:
        self._boom("handle_connected")

    def handle_disconnected(self, reason: pa.DisconnectReason) -> None:
        self._boom("handle_disconnected")

    def handle_joined(self, topic: str, response: Any, conn: pa.Connection) -> None:
        if topic == "room:2":
            self.inbox.put(Boom("quiet join", 0))  # a marker to wait for, never raised
            return
        self._boom("handle_joined")

    def handle_join_error(self, topic: str, response: Any, conn: pa.Connection) -> None:
        self._boom("handle_join_error")

    def handle_channel_closed(self, topic: str, payload: Any, conn: pa.Connection) -> None:
        self._boom("handle_channel_closed")

    def handle_channel_error(self, topic: str, payload: Any, conn: pa.Connection) -> None:
        self._boom("handle_channel_error")

    def handle_message(self, topic: str, event: str, payload: Any, conn: pa.Connection) -> None:
        self._boom("handle_message")

    def handle_reply(self, topic: str, ref: Any, payload: Any, conn: pa.Connection) -> None:
        self._boom("handle_reply")

    def handle_info(self, message: Any, conn: pa.Connection) -> pa.Connect | None:
        if message == "connect":
            return pa.Connect()
        self._boom("handle_info")
        return None

    def handle_call(self, request: Any, caller: pa.Caller, conn: pa.Connection) -> pa.Reply:
        self._boom("handle_call")
        return pa.Reply(None)  # not reached

    def terminate(self, reason: Any) -> None:
        self._boom("terminate")


def one_lifetime(raised: list[Boom]) -> None:
    """One socket lifetime in which each of the ten callbacks raises once.

    Every step after the first needs the socket to have survived the step before.
    """
    connector = FakeConnector()
    client = Raiser(raised)
    ref = pa.SocketActor.start(
        client, transport_factory=connector, heartbeat_interval=None, rejoin_after=None
    )
    with running(ref):
        ref.tell("connect")
        server: FakeConnection = connector.next_connection()
        server.accept()
        client.wait("handle_connected")

        pa.execute(ref, lambda conn: conn.join("room:1", {}), TIMEOUT)
        join = server.expect("phx_join", "room:1")
        server.reply(join, "ok", {})
        client.wait("handle_joined")

        pa.execute(ref, lambda conn: conn.join("room:refused", {}), TIMEOUT)
        server.reply(server.expect("phx_join", "room:refused"), "error", {"reason": "no"})
        client.wait("handle_join_error")

        pa.execute(ref, lambda conn: conn.push("room:1", "ping", {}), TIMEOUT)
        server.reply(server.expect("ping", "room:1"), "ok", {"pong": True})
        client.wait("handle_reply")

        server.push("room:1", "news", {"n": 1}, join_ref=join.join_ref)
        client.wait("handle_message")

        server.close_channel(join, error=True)  # phx_error: the channel crashed
        client.wait("handle_channel_error")

        pa.execute(ref, lambda conn: conn.join("room:2", {}), TIMEOUT)
        join = server.expect("phx_join", "room:2")
        server.reply(join, "ok", {})
        client.wait("quiet join")
        server.close_channel(join)  # phx_close
        client.wait("handle_channel_closed")

        ref.tell("anything")
        client.wait("handle_info")

        with pytest.raises(Boom) as failed:
            pa.call(ref, "request", TIMEOUT)
        assert failed.value is client.wait("handle_call")  # the caller gets that error

        server.disconnect(pa.RemoteClosed(1011))
        client.wait("handle_disconnected")
        server.wait_closed()

        barrier(ref)  # still answering
        assert ref.stop(block=True, timeout=TIMEOUT)
        client.wait("terminate")


def test_over_a_thousand_raising_callbacks_each_logged_once_with_its_traceback() -> None:
    raised: list[Boom] = []
    with LogCapture(level=logging.ERROR) as logs:
        for _ in range(ROUNDS):
            one_lifetime(raised)
    records = logs.records(logging.ERROR)

    assert len(raised) == ROUNDS * len(KINDS) >= 1000
    assert sorted({e.where for e in raised}) == sorted(KINDS)
    by_error: dict[int, list[logging.LogRecord]] = {}
    for record in records:
        assert record.exc_info is not None, record.getMessage()
        by_error.setdefault(id(record.exc_info[1]), []).append(record)
    for error in raised:
        logged = by_error.get(id(error), [])
        assert len(logged) == 1, f"{error} logged {len(logged)} times"
        (record,) = logged
        assert (record.name, record.levelno) == ("phoenix_actor.socket", logging.ERROR)
        assert f"Raiser.{error.where} raised" in record.getMessage()
        assert record.exc_info is not None
        frames = traceback.extract_tb(record.exc_info[2])
        assert [frame.name for frame in frames[-2:]] == [error.where, "_boom"]
    assert len(records) == len(raised)  # nothing else was logged as an error


class RaisingObserver(pa.Observer):
    """An observer whose every hook raises."""

    def __init__(self) -> None:
        self.raised: list[Boom] = []

    def _boom(self, hook: str) -> None:
        error = Boom(hook, len(self.raised) + 1)
        self.raised.append(error)
        raise error

    def socket_state(self, change: Any) -> None:
        self._boom("socket_state")

    def channel_state(self, change: Any) -> None:
        self._boom("channel_state")

    def connect_attempt(self, attempt: int) -> None:
        self._boom("connect_attempt")

    def connected(self, seconds: float) -> None:
        self._boom("connected")

    def reconnect_scheduled(self, attempt: int, delay: float) -> None:
        self._boom("reconnect_scheduled")

    def heartbeat_rtt(self, seconds: float) -> None:
        self._boom("heartbeat_rtt")

    def reply_latency(self, topic: str, event: str, status: str, seconds: float) -> None:
        self._boom("reply_latency")

    def mailbox_depth(self, depth: int) -> None:
        self._boom("mailbox_depth")


def test_an_observer_raising_in_every_hook_is_logged_once_per_error() -> None:
    observer = RaisingObserver()
    connector = FakeConnector()
    client = Probe(
        pa.Connect(URL),
        connected=lambda conn: conn.join("room:1"),
        disconnected=lambda reason: pa.Reconnect(after=0),
    )
    with LogCapture(level=logging.ERROR) as logs:
        ref = pa.SocketActor.start(
            client, transport_factory=connector, heartbeat_interval=0.1, observer=observer
        )
        with running(ref):
            for attempt in range(3):
                server = connector.next_connection()
                server.accept()
                server.reply(server.expect("phx_join", "room:1"), "ok", {})
                client.wait("joined")
                server.reply(server.expect("heartbeat", "phoenix"))
                future = pa.execute(
                    ref, lambda conn: conn.push_future("room:1", "ping", {}), TIMEOUT
                )
                server.reply(server.expect("ping"), "ok", {"attempt": attempt})
                assert future.get(timeout=TIMEOUT).response == {"attempt": attempt}
                server.reply(server.expect("heartbeat", "phoenix"))
                server.disconnect(pa.RemoteClosed(1011))
                client.wait("disconnected")
            connector.next_connection()  # the socket still reconnects
            barrier(ref)
    hooks = {error.where for error in observer.raised}
    assert {"socket_state", "channel_state", "connect_attempt", "connected"} <= hooks
    assert {"reconnect_scheduled", "heartbeat_rtt", "reply_latency", "mailbox_depth"} <= hooks
    records = logs.records(logging.ERROR)
    for error in observer.raised:
        logged = [r for r in records if r.exc_info is not None and r.exc_info[1] is error]
        assert len(logged) == 1, f"{error} logged {len(logged)} times"
        assert logged[0].name == "phoenix_actor.socket"
        assert error.where in logged[0].getMessage()
    assert len(records) == len(observer.raised)


def test_socket_on_callbacks_that_raise_are_logged_once_and_delivery_goes_on() -> None:
    connector = FakeConnector()
    raised: list[Boom] = []

    def boom(message: pa.ChannelMessage) -> None:
        error = Boom("on", len(raised) + 1)
        raised.append(error)
        raise error

    with LogCapture(level=logging.ERROR) as logs:
        socket = pa.Socket(URL, transport_factory=connector, heartbeat_interval=None)
        try:
            server = connector.next_connection()
            server.accept()
            socket.wait_connected(TIMEOUT)
            socket.on("room:1", None, boom)
            subscription = socket.subscribe("room:1")
            for n in range(100):
                server.push("room:1", "tick", {"n": n})
            assert [subscription.get(TIMEOUT).payload["n"] for _ in range(100)] == list(range(100))
        finally:
            socket.close(TIMEOUT)
    assert len(raised) == 100
    records = logs.records(logging.ERROR)
    assert len(records) == 100
    for error, record in zip(raised, records, strict=True):
        assert record.exc_info is not None
        assert record.exc_info[1] is error
        assert "Socket.on callback" in record.getMessage()


def test_a_raising_callback_with_the_stop_policy_is_logged_once_then_stops() -> None:
    raised: list[Boom] = []
    connector = FakeConnector()
    client = Raiser(raised)
    with LogCapture(level=logging.ERROR) as logs:
        ref: pykka.ActorRef[Any] = pa.SocketActor.start(
            client, transport_factory=connector, callback_errors="stop"
        )
        ref.tell("anything")
        assert ref.actor_stopped.wait(TIMEOUT)
        last = client.wait("terminate")
        logs.wait_for(lambda r: r.exc_info is not None and r.exc_info[1] is last)
    assert [e.where for e in raised] == ["handle_info", "terminate"]
    records = logs.records(logging.ERROR)
    assert [r.exc_info[1] for r in records if r.exc_info] == raised
    assert len(records) == 2
