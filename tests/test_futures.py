"""Replies as futures, their timeouts and failures, and the opt-in push buffer."""

from __future__ import annotations

from typing import Any

import pykka
import pytest

import phoenix_actor as pa
from phoenix_actor.testing import FakeConnection, FakeConnector
from tests.conftest import TIMEOUT
from tests.test_socket_actor import URL, Recorder, run

TOPIC = "room:1"


@pytest.fixture
def client() -> Recorder:
    return Recorder(pa.Connect(URL), disconnected=lambda _r: pa.Reconnect())


@pytest.fixture
def options() -> dict[str, Any]:
    return {}


@pytest.fixture
def ref(connector: FakeConnector, client: Recorder, options: dict[str, Any]) -> Any:
    options = {"reconnect_after": [0.0], "rejoin_after": [0.0], **options}
    ref = pa.SocketActor.start(client, transport_factory=connector, **options)
    yield ref
    ref.stop()


@pytest.fixture
def server(connector: FakeConnector, client: Recorder, ref: Any) -> FakeConnection:
    server = connector.next_connection()
    server.accept()
    client.wait("connected")
    return server


def joined(server: FakeConnection, client: Recorder, ref: Any) -> pa.Message:
    run(ref, lambda conn: conn.join(TOPIC, {"p": 1}))
    join = server.expect("phx_join", TOPIC)
    server.reply(join, "ok")
    client.wait("joined")
    return join


def get(future: pykka.Future[pa.ChannelReply]) -> pa.ChannelReply:
    return future.get(timeout=TIMEOUT)


def test_a_push_future_resolves_to_the_reply_and_the_callback_still_runs(server, client, ref):
    joined(server, client, ref)
    ok = run(ref, lambda conn: conn.push_future(TOPIC, "ping", {"n": 1}))
    err = run(ref, lambda conn: conn.push_future(TOPIC, "ping", {"n": 2}))
    first, second = server.expect("ping"), server.expect("ping")
    server.reply(second, "error", {"why": "no"})
    server.reply(first, "ok", {"pong": 1})
    assert get(ok) == pa.ChannelReply(TOPIC, 2, "ok", {"pong": 1})
    assert get(ok).ok
    assert get(err) == pa.ChannelReply(TOPIC, 3, "error", {"why": "no"})
    assert not get(err).ok
    assert client.wait("reply")[1:4] == (TOPIC, 3, {"status": "error", "response": {"why": "no"}})


def test_join_and_leave_futures(server, client, ref):
    joining = run(ref, lambda conn: conn.join_future(TOPIC, {"p": 1}))
    join = server.expect("phx_join", TOPIC)
    server.reply(join, "ok", {"hello": 1})
    assert get(joining) == pa.ChannelReply(TOPIC, 1, "ok", {"hello": 1})
    client.wait("joined")
    leaving = run(ref, lambda conn: conn.leave_future(TOPIC))
    leave = server.expect("phx_leave", TOPIC)
    server.reply(leave, "ok", {"bye": True})
    run(ref, lambda conn: None)  # the reply has been handled
    with pytest.raises(pykka.Timeout):
        leaving.get(timeout=0)  # not resolved while the channel is still open
    server.close_channel(join)  # resolved once the channel is closed
    assert get(leaving) == pa.ChannelReply(TOPIC, 2, "ok", {"bye": True})
    assert not run(ref, lambda conn: conn.joined(TOPIC))
    refused = run(ref, lambda conn: conn.join_future("secret:1"))
    server.reply(server.expect("phx_join", "secret:1"), "error", {"reason": "unauthorized"})
    assert get(refused).status == "error"
    assert get(refused).response == {"reason": "unauthorized"}


def test_a_leave_future_resolves_on_phx_close_when_the_reply_is_missing(server, client, ref):
    join = joined(server, client, ref)
    leaving = run(ref, lambda conn: conn.leave_future(TOPIC))
    server.expect("phx_leave", TOPIC)
    server.close_channel(join)
    assert get(leaving) == pa.ChannelReply(TOPIC, 2, "ok", {})


@pytest.mark.parametrize("options", [{"push_timeout": 0.05}])
def test_no_reply_in_time_is_a_push_timeout(server, client, ref):
    joined(server, client, ref)
    future = run(ref, lambda conn: conn.push_future(TOPIC, "ping"))
    push = server.expect("ping")
    with pytest.raises(pa.PushTimeoutError, match="no reply to push 'ping'"):
        get(future)
    server.reply(push, "ok")  # too late for the future; the callback still hears it
    assert client.wait("reply")[2] == push.ref


def test_a_join_future_timeout_abandons_the_join(server, client, ref):
    future = run(ref, lambda conn: conn.join_future(TOPIC, timeout=0.05))
    join = server.expect("phx_join", TOPIC)
    with pytest.raises(pa.PushTimeoutError):
        get(future)
    leave = server.expect("phx_leave", TOPIC)
    assert leave.join_ref == join.join_ref
    assert run(ref, lambda conn: conn._actor._session.state(TOPIC)) is None


def test_disconnect_fails_pending_futures(server, client, ref):
    joined(server, client, ref)
    future = run(ref, lambda conn: conn.push_future(TOPIC, "ping"))
    server.expect("ping")
    server.disconnect(pa.ConnectionLost("reset"))
    with pytest.raises(pa.ConnectionClosedError, match="reset"):
        get(future)


def test_stop_fails_pending_futures(server, client, ref):
    joined(server, client, ref)
    future = run(ref, lambda conn: conn.push_future(TOPIC, "ping"))
    server.expect("ping")
    ref.stop()
    with pytest.raises(pa.SocketStoppedError):
        get(future)


@pytest.mark.parametrize("error", [False, True])
def test_a_channel_close_fails_its_pending_pushes_only(server, client, ref, error):
    join = joined(server, client, ref)
    run(ref, lambda conn: conn.join("other:1"))
    server.reply(server.expect("phx_join", "other:1"), "ok")
    client.wait("joined")
    mine = run(ref, lambda conn: conn.push_future(TOPIC, "ping"))
    other = run(ref, lambda conn: conn.push_future("other:1", "ping"))
    server.expect("ping", TOPIC)
    other_push = server.expect("ping", "other:1")
    server.close_channel(join, error=error)
    with pytest.raises(pa.ChannelClosedError, match="phx_error" if error else "phx_close"):
        get(mine)
    server.reply(other_push, "ok")
    assert get(other).ok


def test_a_reply_of_an_earlier_channel_session_never_resolves_a_future(server, client, ref):
    join = joined(server, client, ref)
    server.close_channel(join, error=True)
    rejoin = server.expect("phx_join", TOPIC)
    server.reply(rejoin, "ok")
    client.wait("joined")
    future = run(ref, lambda conn: conn.push_future(TOPIC, "ping"))
    push = server.expect("ping")
    # the same ref, but the join_ref of the crashed channel
    server.send_message(join.join_ref, push.ref, TOPIC, "phx_reply", {"status": "ok"})
    server.reply(push, "ok", {"current": True})
    assert get(future).response == {"current": True}


def test_futures_check_their_arguments(server, client, ref):
    joined(server, client, ref)
    with pytest.raises(pa.ConfigError, match="timeout"):
        run(ref, lambda conn: conn.push_future(TOPIC, "ping", timeout=0))
    with pytest.raises(pa.InvalidMessageError):
        run(ref, lambda conn: conn.push_future(TOPIC, 5))
    with pytest.raises(pa.NotJoinedError):
        run(ref, lambda conn: conn.push_future("nowhere", "ping"))
    with pytest.raises(pa.AlreadyJoinedError):
        run(ref, lambda conn: conn.join_future(TOPIC))
    with pytest.raises(pa.WrongThreadError):
        run(ref, lambda conn: conn).push_future(TOPIC, "ping")


def test_a_stale_handle_cannot_make_futures(server, client, ref, connector):
    joined(server, client, ref)
    old = run(ref, lambda conn: conn)
    server.disconnect()
    connector.next_connection().accept()
    client.wait("connected")
    with pytest.raises(pa.DisconnectedError, match="closed"):
        run(ref, lambda _conn: old.push_future(TOPIC, "ping"))


def test_without_a_buffer_a_push_to_a_joining_topic_fails_at_once(server, client, ref):
    run(ref, lambda conn: conn.join(TOPIC))
    with pytest.raises(pa.NotJoinedError, match="pending"):
        run(ref, lambda conn: conn.push_future(TOPIC, "ping"))


# -- the push buffer -------------------------------------------------------------------


@pytest.mark.parametrize("options", [{"push_buffer": 3}])
def test_pushes_wait_in_order_for_the_join(server, client, ref):
    run(ref, lambda conn: conn.join(TOPIC))
    futures = [run(ref, lambda conn, n=n: conn.push_future(TOPIC, "n", {"n": n})) for n in (1, 2)]
    join = server.expect("phx_join", TOPIC)
    assert server.sent.snapshot() == []  # nothing sent before the join is accepted
    server.reply(join, "ok")
    pushes = [server.expect("n"), server.expect("n")]
    assert [p.payload for p in pushes] == [{"n": 1}, {"n": 2}]
    assert all(p.join_ref == join.join_ref for p in pushes)
    for push in pushes:
        server.reply(push, "ok", push.payload)
    assert [get(f).response for f in futures] == [{"n": 1}, {"n": 2}]


@pytest.mark.parametrize("options", [{"push_buffer": 1}])
def test_a_full_buffer_is_an_error(server, client, ref):
    run(ref, lambda conn: conn.join(TOPIC))
    run(ref, lambda conn: conn.push_future(TOPIC, "a"))
    with pytest.raises(pa.BufferFullError, match="push_buffer=1"):
        run(ref, lambda conn: conn.push_future(TOPIC, "b"))


@pytest.mark.parametrize("options", [{"push_buffer": 1}])
def test_a_buffered_push_that_cannot_be_encoded_fails_at_once(server, client, ref):
    run(ref, lambda conn: conn.join(TOPIC))
    with pytest.raises(pa.EncodeError):
        run(ref, lambda conn: conn.push_future(TOPIC, "a", {"x": object()}))
    with pytest.raises(pa.InvalidMessageError):
        run(ref, lambda conn: conn.push_future(TOPIC, "phx_leave"))


@pytest.mark.parametrize("options", [{"push_buffer": 2}])
def test_a_buffered_push_times_out_unsent(server, client, ref):
    run(ref, lambda conn: conn.join(TOPIC))
    future = run(ref, lambda conn: conn.push_future(TOPIC, "late", timeout=0.05))
    with pytest.raises(pa.PushTimeoutError, match="never sent"):
        get(future)
    server.reply(server.expect("phx_join", TOPIC), "ok")
    client.wait("joined")
    run(ref, lambda conn: None)
    assert server.sent.snapshot() == []


@pytest.mark.parametrize("options", [{"push_buffer": 5}])
def test_pushes_made_while_reconnecting_are_sent_after_the_rejoin(server, client, ref, connector):
    joined(server, client, ref)
    server.disconnect(pa.ConnectionLost("reset"))
    client.wait("disconnected")
    future = run(ref, lambda conn: conn.push_future(TOPIC, "queued", {"q": 1}))
    second = connector.next_connection()
    second.accept()
    rejoin = second.expect("phx_join", TOPIC)
    second.reply(rejoin, "ok")
    push = second.expect("queued", TOPIC)
    assert (push.join_ref, push.payload) == (rejoin.join_ref, {"q": 1})
    second.reply(push, "ok")
    assert get(future).ok


@pytest.mark.parametrize("options", [{"push_buffer": 5}])
def test_buffered_pushes_fail_when_their_topic_goes_away(server, client, ref, connector):
    run(ref, lambda conn: conn.join(TOPIC))
    waiting = run(ref, lambda conn: conn.push_future(TOPIC, "x"))
    server.reply(server.expect("phx_join", TOPIC), "error", {"reason": "no"})
    with pytest.raises(pa.NotJoinedError, match="refused"):
        get(waiting)


@pytest.mark.parametrize("options", [{"push_buffer": 5}])
def test_buffered_pushes_fail_when_no_reconnect_is_coming(server, client, ref):
    client.actions["disconnected"] = lambda _r: None  # stay disconnected
    run(ref, lambda conn: conn.join(TOPIC))
    future = run(ref, lambda conn: conn.push_future(TOPIC, "x"))  # buffered: joining
    server.disconnect()
    with pytest.raises(pa.DisconnectedError, match="no reconnect is planned"):
        get(future)


def test_timeouts_fire_in_deadline_order_with_one_shared_timer(server, client, ref):
    from phoenix_actor._transport.timers import SCHEDULER

    joined(server, client, ref)
    slow = run(ref, lambda conn: conn.push_future(TOPIC, "slow", timeout=1.0))
    fast = run(ref, lambda conn: conn.push_future(TOPIC, "fast", timeout=0.05))
    many = run(ref, lambda conn: [conn.push_future(TOPIC, "n") for _ in range(100)])
    live = [entry for entry in SCHEDULER._heap if not entry[2].cancelled]
    assert len(live) <= 3  # the heartbeat, the deadline timer: no timer per request
    with pytest.raises(pa.PushTimeoutError, match="'fast'"):
        get(fast)
    with pytest.raises(pykka.Timeout):
        slow.get(timeout=0)  # its deadline is later: still waiting
    with pytest.raises(pa.PushTimeoutError, match="'slow'"):
        get(slow)
    pushes = [server.expect("n") for _ in range(100)]
    for push in pushes:
        server.reply(push, "ok")
    assert all(get(f).ok for f in many)


def test_answered_requests_do_not_pile_up_in_the_deadlines(server, client, ref):
    joined(server, client, ref)
    for n in range(300):
        future = run(ref, lambda conn, n=n: conn.push_future(TOPIC, "n", {"n": n}))
        server.reply(server.expect("n"), "ok")
        assert get(future).ok
    assert run(ref, lambda conn: conn._actor._replies.deadline_count()) < 100
