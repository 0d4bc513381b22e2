"""Automatic reconnection: Reconnect(), its backoff, and the close-code policy."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

import phoenix_actor as pa
from phoenix_actor._socket.config import backoff_delay, jittered
from tests.conftest import TIMEOUT
from tests.test_socket_actor import URL, Recorder, run


class Default(pa.SocketClient):
    """A client that keeps every default callback (so it reconnects)."""

    def init(self) -> pa.Connect:
        return pa.Connect(URL)


def state(ref: Any) -> Any:
    """(state, reconnect_at) read in the actor thread, after everything before it ran."""
    return run(ref, lambda conn: (conn._actor.state, conn._actor.reconnect_at))


def test_the_default_schedule_is_phoenix_js():
    assert [backoff_delay(pa.RECONNECT_AFTER, n) for n in range(1, 13)] == [
        0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 5.0, 5.0,
    ]  # fmt: skip
    assert [backoff_delay(pa.REJOIN_AFTER, n) for n in range(1, 6)] == [1, 2, 5, 10, 10]
    assert backoff_delay(lambda n: n * 2, 3) == 6.0


def test_a_backoff_callable_must_return_seconds():
    with pytest.raises(pa.ConfigError, match="returned -1"):
        backoff_delay(lambda n: -1, 1)


def test_jitter_spreads_the_delay():
    assert jittered(1.0, 0.0) == 1.0
    assert jittered(1.0, 0.5, rng=lambda: 0.0) == 0.5
    assert jittered(1.0, 0.5, rng=lambda: 1.0) == 1.5


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("reconnect_after", []),
        ("reconnect_after", "1,2"),
        ("reconnect_after", [1, -1]),
        ("reconnect_after", [True]),
        ("rejoin_after", 5),
        ("reconnect_jitter", 1.5),
        ("reconnect_jitter", True),
        ("push_timeout", 0),
        ("push_buffer", -1),
        ("push_buffer", 1.5),
        ("heartbeat_interval", "30"),
        ("transport_options", {}),
        ("transport_factory", 3),
        ("serializer", object()),
        ("callback_errors", "ignore"),
    ],
)
def test_bad_options_are_config_errors(option, value):
    with pytest.raises(pa.ConfigError, match=option if option != "serializer" else "serializer"):
        pa.Config(**{option: value})


def test_unknown_options_are_named():
    with pytest.raises(pa.ConfigError, match=r"unknown option.*reconect_after"):
        pa.SocketActor.start(Default(), reconect_after=None)
    with pytest.raises(pa.ConfigError, match=r"must be a phoenix_actor\.Config"):
        pa.SocketActor.start(Default(), {"heartbeat_interval": 1})


def test_reconnect_argument_is_checked():
    with pytest.raises(pa.ConfigError, match="seconds >= 0"):
        pa.Reconnect(after=-1)


def test_the_default_client_reconnects_with_backoff_that_resets_on_success(connector):
    tries: list[int] = []

    def schedule(n: int) -> float:
        tries.append(n)
        return 0.0

    ref = pa.SocketActor.start(Default(), transport_factory=connector, reconnect_after=schedule)
    try:
        connector.next_connection().refuse(pa.ConnectionRefused("refused"))
        connector.next_connection().refuse(pa.ConnectionRefused("refused"))
        third = connector.next_connection()
        third.accept()
        third.disconnect(pa.RemoteClosed(1000))  # a server close: reconnect anyway (1.8.16)
        connector.next_connection().accept()
        assert state(ref)[0] is pa.SocketState.CONNECTED
        assert tries == [1, 2, 1]
    finally:
        ref.stop()


@pytest.mark.parametrize(
    ("reason", "why"),
    [
        (pa.RemoteClosed(1008, "policy"), "closed with code 1008"),
        (pa.HandshakeRejected(401), "HTTP 401"),
        (pa.HandshakeRejected(403), "HTTP 403"),
    ],
)
def test_no_reconnect_after_a_close_that_says_do_not_come_back(connector, caplog, reason, why):
    caplog.set_level(logging.WARNING, "phoenix_actor")
    client = Recorder(pa.Connect(URL), disconnected=lambda _r: pa.Reconnect())
    ref = pa.SocketActor.start(client, transport_factory=connector, reconnect_after=[0.0])
    try:
        connector.next_connection().refuse(reason)
        assert client.wait("disconnected")[1] == reason
        assert state(ref) == (pa.SocketState.DISCONNECTED, None)
        assert len(connector.all) == 1
        assert any(m.startswith("not reconnecting") and why in m for m in caplog.messages)
        # an explicit delay is the client's own decision: it is obeyed
        run(ref, lambda conn: conn._actor._apply("test", pa.Reconnect(after=0)))
        connector.next_connection().accept()
        client.wait("connected")
    finally:
        ref.stop()


@pytest.mark.parametrize("code", [1012, 1013])
def test_service_restart_codes_wait_the_longest_step(connector, code):
    client = Recorder(pa.Connect(URL), disconnected=lambda _r: pa.Reconnect())
    ref = pa.SocketActor.start(
        client, transport_factory=connector, reconnect_after=[0.0, 0.0, 60.0]
    )
    try:
        connector.next_connection().refuse(pa.RemoteClosed(code))
        client.wait("disconnected")
        current, at = state(ref)
        assert current is pa.SocketState.WAITING
        assert at - time.monotonic() > 50
    finally:
        ref.stop()


def test_reconnect_after_none_turns_it_off(connector, caplog):
    caplog.set_level(logging.INFO, "phoenix_actor")
    ref = pa.SocketActor.start(Default(), transport_factory=connector, reconnect_after=None)
    try:
        connector.next_connection().refuse(pa.ConnectionRefused("no"))
        assert state(ref) == (pa.SocketState.DISCONNECTED, None)
        assert "not reconnecting: reconnect_after is None" in caplog.messages
    finally:
        ref.stop()


def test_seed_style_none_from_handle_disconnected_stays_disconnected(connector):
    client = Recorder(pa.Connect(URL))
    ref = pa.SocketActor.start(client, transport_factory=connector, reconnect_after=[0.0])
    try:
        connector.next_connection().refuse()
        client.wait("disconnected")
        assert state(ref) == (pa.SocketState.DISCONNECTED, None)
        assert len(connector.all) == 1
    finally:
        ref.stop()


def test_connect_while_waiting_connects_now_and_cancels_the_timer(connector):
    client = Recorder(pa.Connect(URL), disconnected=lambda _r: pa.Reconnect(after=60))
    ref = pa.SocketActor.start(client, transport_factory=connector)
    try:
        connector.next_connection().refuse(pa.ConnectionRefused("no"))
        client.wait("disconnected")
        assert state(ref)[0] is pa.SocketState.WAITING
        client.actions["info"] = lambda *_: pa.Connect()
        ref.tell("connect-now")
        connector.next_connection().accept()
        client.wait("connected")
        assert state(ref) == (pa.SocketState.CONNECTED, None)
    finally:
        ref.stop()


def test_reconnect_while_connected_is_ignored_with_a_warning(connector, caplog):
    client = Recorder(pa.Connect(URL), connected=lambda _c: pa.Reconnect())
    ref = pa.SocketActor.start(client, transport_factory=connector)
    try:
        connector.next_connection().accept()
        client.wait("connected")
        assert state(ref)[0] is pa.SocketState.CONNECTED
        assert "Reconnect ignored: the socket is already connected" in caplog.messages
    finally:
        ref.stop()


def test_connect_answered_to_every_failure_loops_through_the_mailbox(caplog):
    """A factory failing synchronously must not recurse through handle_disconnected."""
    failures = 3000
    count = 0

    def factory(*_args: Any) -> Any:
        raise OSError("no sockets left")

    def again(_reason: Any) -> Any:
        nonlocal count
        count += 1
        return pa.Stop("enough") if count >= failures else pa.Connect()

    caplog.set_level(logging.CRITICAL, "phoenix_actor")
    client = Recorder(pa.Connect(URL), disconnected=again)
    ref = pa.SocketActor.start(client, transport_factory=factory)
    assert client.events.take(lambda e: e[0] == "terminate", TIMEOUT * 4, "stop")[1] == "enough"
    assert count == failures
    ref.stop()


def test_stop_while_waiting_cancels_the_reconnect(connector):
    client = Recorder(pa.Connect(URL), disconnected=lambda _r: pa.Reconnect(after=60))
    ref = pa.SocketActor.start(client, transport_factory=connector)
    connector.next_connection().refuse(pa.ConnectionRefused("no"))
    client.wait("disconnected")
    ref.stop(timeout=TIMEOUT)
    assert client.wait("terminate")[1] == "shutdown"
    assert len(connector.all) == 1


def test_heartbeat_timeout_reconnects_by_default(connector):
    ref = pa.SocketActor.start(
        Default(), transport_factory=connector, heartbeat_interval=0.02, reconnect_after=[0.0]
    )
    try:
        first = connector.next_connection()
        first.accept()
        first.expect("heartbeat")  # never answered
        first.wait_closed()
        connector.next_connection().accept()
        assert state(ref)[0] is pa.SocketState.CONNECTED
    finally:
        ref.stop()
