"""The socket actor's parts, each tested without an actor: fake timers, a fake clock."""

from __future__ import annotations

import json
import logging
from typing import Any

import pykka
import pytest

import phoenix_actor as pa
from phoenix_actor._protocol import session as s
from phoenix_actor._protocol.message import ChannelReply, Frame
from phoenix_actor._socket.callbacks import Callbacks
from phoenix_actor._socket.channels import Channels
from phoenix_actor._socket.heartbeat import Heartbeat
from phoenix_actor._socket.link import Link
from phoenix_actor._socket.mailbox import (
    Flow,
    _Call,
    _DeadlinesDue,
    _HeartbeatDue,
    _ReconnectDue,
    _RejoinDue,
    _Request,
)
from phoenix_actor._socket.observer import (
    ChannelState,
    ChannelStateChanged,
    SocketState,
    SocketStateChanged,
)
from phoenix_actor._socket.reconnects import Reconnects
from phoenix_actor._socket.rejoins import Rejoins
from phoenix_actor._socket.replies import _COMPACT_AT, Replies
from phoenix_actor._socket.states import States

TOPIC = "room:1"


class FakeTimer:
    def __init__(self, delay: float, message: object) -> None:
        self.delay = delay
        self.message = message
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Later:
    """A fake ``later``: records each timer instead of starting it."""

    def __init__(self) -> None:
        self.timers: list[FakeTimer] = []

    def __call__(self, delay: float, message: object) -> FakeTimer:
        timer = FakeTimer(delay, message)
        self.timers.append(timer)
        return timer

    def live(self) -> list[FakeTimer]:
        return [timer for timer in self.timers if not timer.cancelled]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recording(pa.Observer):
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def socket_state(self, change: SocketStateChanged) -> None:
        self.calls.append(("socket_state", (change,)))

    def channel_state(self, change: ChannelStateChanged) -> None:
        self.calls.append(("channel_state", (change,)))

    def reconnect_scheduled(self, attempt: int, delay: float) -> None:
        self.calls.append(("reconnect_scheduled", (attempt, delay)))

    def reply_latency(self, topic: str, event: str, status: str, seconds: float) -> None:
        self.calls.append(("reply_latency", (topic, event, status, seconds)))


def request(kind: Any = "push", topic: str = TOPIC, timeout: float | None = None) -> _Request:
    event = {"join": "phx_join", "leave": "phx_leave"}.get(kind, "ev")
    return _Request(kind, topic, event, {}, timeout, pykka.ThreadingFuture())


def outcome(future: pykka.Future[Any] | None) -> Any:
    assert future is not None
    try:
        return future.get(timeout=0)
    except pykka.Timeout:
        return "pending"
    except Exception as exc:
        return exc


# -- States -------------------------------------------------------------------------


def test_states_report_each_change_once_and_reconnect_in_only_when_waiting() -> None:
    observer = Recording()
    states = States(observer)
    states.last_reason = pa.RemoteClosed(1000)
    states.set_socket(SocketState.WAITING, 2.5)
    states.set_socket(SocketState.WAITING, 9.0)  # no change: not reported
    states.set_socket(SocketState.CONNECTING, 1.0)
    assert [args[0] for _hook, args in observer.calls] == [
        SocketStateChanged(SocketState.WAITING, pa.RemoteClosed(1000), 2.5),
        SocketStateChanged(SocketState.CONNECTING, pa.RemoteClosed(1000), None),
    ]


def test_a_closed_channel_is_forgotten_and_closing_an_unknown_one_says_nothing() -> None:
    observer = Recording()
    states = States(observer)
    states.set_channel(TOPIC, ChannelState.JOINING)
    copy = states.channels()
    states.set_channel(TOPIC, ChannelState.CLOSED)
    states.set_channel("other", ChannelState.CLOSED)
    assert copy == {TOPIC: ChannelState.JOINING}
    assert states.channels() == {}
    assert [args[0] for _hook, args in observer.calls] == [
        ChannelStateChanged(TOPIC, ChannelState.JOINING),
        ChannelStateChanged(TOPIC, ChannelState.CLOSED),
    ]


def test_an_observer_that_raises_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(pa.Observer):
        def socket_state(self, change: SocketStateChanged) -> None:
            raise RuntimeError("boom")

    states = States(Broken())
    states.set_socket(SocketState.CONNECTING)
    assert states.socket is SocketState.CONNECTING
    assert "the observer's socket_state raised" in caplog.text


# -- Reconnects ---------------------------------------------------------------------


def reconnects(**options: Any) -> tuple[Reconnects, Later, States]:
    later, states = Later(), States(None)
    config = pa.Config(**{"reconnect_after": (0.01, 0.05, 0.1), **options})
    return Reconnects(config, later, states, clock=Clock(), rng=lambda: 1.0), later, states


def test_the_backoff_steps_up_and_stays_at_its_last_step() -> None:
    parts, _later, _states = reconnects()
    delays = [parts.plan(None, pa.ConnectionLost("reset")) for _ in range(4)]
    assert delays == [0.01, 0.05, 0.1, 0.1]
    assert parts.tries == 4
    parts.connected()
    assert parts.plan(None, None) == 0.01


@pytest.mark.parametrize("code", [1012, 1013])
def test_a_try_again_later_close_waits_the_longest_step(code: int) -> None:
    parts, _later, _states = reconnects()
    assert parts.plan(None, pa.RemoteClosed(code)) == 0.1
    assert parts.plan(None, pa.RemoteClosed(1000)) == 0.05


def test_a_callable_backoff_is_not_lengthened_by_a_later_close() -> None:
    parts, _later, _states = reconnects(reconnect_after=lambda tries: tries / 100)
    assert parts.plan(None, pa.RemoteClosed(1012)) == 0.01


def test_no_reconnect_after_a_policy_close_or_with_reconnects_off() -> None:
    parts, _later, _states = reconnects()
    assert parts.plan(None, pa.RemoteClosed(1008)) is None
    assert parts.tries == 0
    off, _later, _states = reconnects(reconnect_after=None)
    assert off.plan(None, None) is None
    assert parts.plan(0.5, pa.RemoteClosed(1008)) == 0.5  # Reconnect(after) is obeyed


def test_jitter_spreads_the_delay() -> None:
    parts, _later, _states = reconnects(reconnect_jitter=0.5)
    assert parts.plan(None, None) == pytest.approx(0.015)  # rng() == 1.0: the top


def test_one_reconnect_timer_and_a_stale_one_is_ignored() -> None:
    parts, later, states = reconnects()
    assert parts.start(None)
    assert states.socket is SocketState.WAITING
    first = later.timers[0]
    assert parts.start(None)  # replaces the first
    assert first.cancelled
    second = later.live()[0]
    assert isinstance(first.message, _ReconnectDue)
    assert isinstance(second.message, _ReconnectDue)
    assert parts.at == 1000.05
    assert not parts.due(first.message.token)
    assert parts.due(second.message.token)
    parts.cancel()
    assert parts.at is None
    assert not parts.due(second.message.token)


def test_a_reconnect_due_when_no_longer_waiting_is_ignored() -> None:
    parts, later, states = reconnects()
    parts.start(None)
    message = later.timers[0].message
    assert isinstance(message, _ReconnectDue)
    states.set_socket(SocketState.CONNECTING)
    assert not parts.due(message.token)


# -- Rejoins ------------------------------------------------------------------------


def rejoins(**options: Any) -> tuple[Rejoins, Later]:
    later = Later()
    return Rejoins(pa.Config(**{"rejoin_after": (1, 2), **options}), later), later


def test_rejoins_back_off_per_topic_and_a_join_resets_the_tries() -> None:
    parts, later = rejoins()
    assert parts.schedule(TOPIC) is None  # never joined
    parts.want(TOPIC, {"a": 1})
    assert [parts.schedule(TOPIC) for _ in range(3)] == [1, 2, 2]
    assert len(later.live()) == 1  # each replaces the one before
    parts.want(TOPIC, {"a": 2})
    assert parts.schedule(TOPIC) == 1
    assert parts.payload(TOPIC) == {"a": 2}
    assert parts.topics() == [TOPIC]


def test_a_rejoin_fired_with_a_stale_token_is_ignored() -> None:
    parts, later = rejoins()
    parts.want(TOPIC, None)
    parts.schedule(TOPIC)
    parts.schedule(TOPIC)
    stale, current = (timer.message for timer in later.timers)
    assert isinstance(stale, _RejoinDue)
    assert isinstance(current, _RejoinDue)
    assert not parts.fired(TOPIC, stale.token)
    assert parts.fired(TOPIC, current.token)
    assert not parts.fired(TOPIC, current.token)  # once


def test_forgetting_a_topic_cancels_its_rejoin() -> None:
    parts, later = rejoins()
    parts.want(TOPIC, None)
    parts.schedule(TOPIC)
    parts.forget(TOPIC)
    assert later.timers[0].cancelled
    assert not parts.wanted(TOPIC)
    message = later.timers[0].message
    assert isinstance(message, _RejoinDue)
    assert not parts.fired(TOPIC, message.token)


def test_rejoins_off_keep_the_topic_wanted_but_never_rejoin_it() -> None:
    parts, later = rejoins(rejoin_after=None)
    parts.want(TOPIC, None)
    assert parts.wanted(TOPIC)
    assert not parts.wants(TOPIC)
    assert parts.schedule(TOPIC) is None
    assert later.timers == []


def test_a_rejoin_backoff_that_raises_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    parts, later = rejoins(rejoin_after=lambda _tries: 1 / 0)
    parts.want(TOPIC, None)
    with caplog.at_level(logging.ERROR, "phoenix_actor.socket"):
        assert parts.schedule(TOPIC) is None
    assert later.timers == []
    assert "the rejoin_after callable failed" in caplog.text


# -- Replies ------------------------------------------------------------------------


def replies(**options: Any) -> tuple[Replies, Later, Clock]:
    later, clock = Later(), Clock()
    config = pa.Config(**{"push_timeout": 10.0, "push_buffer": 2, **options})
    return Replies(config, later, States(None), clock=clock), later, clock


def test_one_deadline_timer_for_the_earliest_request() -> None:
    parts, later, clock = replies()
    late = parts.new_waiter(request(timeout=5))
    early = parts.new_waiter(request(timeout=2))
    parts.new_waiter(request(timeout=8))  # later than the armed one: no new timer
    assert [(t.delay, t.cancelled) for t in later.timers] == [(5, True), (2, False)]
    token = later.timers[1].message
    assert isinstance(token, _DeadlinesDue)
    clock.now += 5
    assert parts.expired(token.token) == [early, late]
    assert later.live()[-1].delay == 3  # armed for the 8 s one
    assert parts.expired(token.token) == []  # a stale timer


def test_a_buffered_push_times_out_at_its_own_deadline() -> None:
    parts, later, clock = replies()
    waiter = parts.new_waiter(request(timeout=3))
    parts.buffer(waiter)
    due = later.timers[0].message
    assert isinstance(due, _DeadlinesDue)
    clock.now += 2.5
    assert parts.expired(due.token) == []  # early (a timer may fire early): armed again
    assert later.timers[-1].delay == 0.5
    due = later.timers[-1].message
    assert isinstance(due, _DeadlinesDue)
    clock.now += 0.5
    assert parts.expired(due.token) == [waiter]
    parts.unbuffer(waiter)
    assert parts.take_buffered(TOPIC) == []


def test_answered_requests_are_swept_from_the_deadlines() -> None:
    parts, _later, _clock = replies()
    for ref in range(_COMPACT_AT):
        waiter = parts.new_waiter(request())
        parts.track_sent(waiter, ref)
        parts.resolve(waiter, ChannelReply(TOPIC, ref, "ok", {}))
    assert parts.deadline_count() == _COMPACT_AT
    parts.new_waiter(request())
    assert parts.deadline_count() == 1


def test_a_waiter_is_answered_once() -> None:
    parts, _later, _clock = replies()
    waiter = parts.new_waiter(request())
    parts.track_sent(waiter, 7)
    assert parts.sent == {7: waiter}
    reply = ChannelReply(TOPIC, 7, "ok", {"n": 1})
    parts.resolve(waiter, reply)
    parts.resolve(waiter, ChannelReply(TOPIC, 7, "ok", {"n": 2}))
    parts.reject(waiter, pa.PushTimeoutError("late"))
    assert outcome(waiter.future) == reply
    assert parts.sent == {}


def test_fail_sent_and_fail_buffered_give_each_a_fresh_error() -> None:
    parts, _later, _clock = replies()
    sent = [parts.new_waiter(request()) for _ in range(2)]
    for ref, waiter in enumerate(sent):
        parts.track_sent(waiter, ref)
    mine, other = parts.new_waiter(request()), parts.new_waiter(request(topic="other"))
    parts.buffer(mine)
    parts.buffer(other)
    parts.fail_sent(lambda: pa.ConnectionClosedError("closed"))
    parts.fail_buffered(lambda w: w.topic == TOPIC, lambda: pa.NotJoinedError("left"))
    errors = [outcome(waiter.future) for waiter in sent]
    assert all(isinstance(error, pa.ConnectionClosedError) for error in errors)
    assert errors[0] is not errors[1]
    assert isinstance(outcome(mine.future), pa.NotJoinedError)
    assert outcome(other.future) == "pending"
    assert parts.take_buffered("other") == [other]


def test_the_buffer_is_bounded_and_kept_in_order() -> None:
    parts, _later, _clock = replies()
    first, second = parts.new_waiter(request()), parts.new_waiter(request())
    for waiter in (first, second):
        parts.check_room(TOPIC, "ev")
        parts.buffer(waiter)
    with pytest.raises(pa.BufferFullError, match="2 pushes are already buffered"):
        parts.check_room(TOPIC, "ev")
    assert parts.take_buffered(TOPIC) == [first, second]
    assert parts.take_buffered(TOPIC) == []


def test_a_reply_latency_is_observed_when_observed() -> None:
    observer, clock, later = Recording(), Clock(), Later()
    parts = Replies(pa.Config(), later, States(observer), clock=clock)
    waiter = parts.new_waiter(request())
    parts.track_sent(waiter, 1)
    clock.now += 0.25
    parts.resolve(waiter, ChannelReply(TOPIC, 1, "ok", {}))
    assert observer.calls == [("reply_latency", (TOPIC, "ev", "ok", 0.25))]


# -- Channels (a real session, a recorded send) --------------------------------------


class Wire:
    def __init__(self) -> None:
        self.sent: list[list[Any]] = []

    def __call__(self, out: s.Outbound) -> None:
        self.sent.append(json.loads(out.frame.data))


def channels(**options: Any) -> tuple[Channels, s.Session, Wire, Replies, Later, Clock]:
    config = pa.Config(**{"push_buffer": 10, "rejoin_after": (1,), **options})
    session = s.Session(config.serializer)
    session.connected()
    later, clock, wire, states = Later(), Clock(), Wire(), States(None)
    replies = Replies(config, later, states, clock=clock)
    rejoins = Rejoins(config, later)
    parts = Channels(config, session, send=wire, states=states, rejoins=rejoins, replies=replies)
    return parts, session, wire, replies, later, clock


def reply_to(session: s.Session, sent: list[Any], status: str = "ok") -> s.Event:
    join_ref, ref, topic, _event, _payload = sent
    frame = [join_ref, ref, topic, "phx_reply", {"status": status, "response": {}}]
    return session.receive(Frame.text(json.dumps(frame)))


def test_pushes_to_a_joining_topic_wait_and_go_in_order_once_joined() -> None:
    parts, session, wire, _replies, _later, _clock = channels()
    join = request("join")
    parts.request(join)
    pushes = [request() for _ in range(2)]
    for push in pushes:
        parts.request(push)
    assert [frame[3] for frame in wire.sent] == ["phx_join"]
    event = reply_to(session, wire.sent[0])
    assert isinstance(event, s.Joined)
    parts.joined(event)
    assert [frame[3] for frame in wire.sent] == ["phx_join", "ev", "ev"]
    assert outcome(join.future).ok
    assert [outcome(push.future) for push in pushes] == ["pending", "pending"]


def test_a_timed_out_join_is_abandoned_with_a_leave_and_fails_its_pushes() -> None:
    parts, _session, wire, _replies, later, clock = channels()
    join = request("join", timeout=1)
    parts.request(join)
    push = request(timeout=5)
    parts.request(push)
    clock.now += 1
    due = later.live()[-1].message
    assert isinstance(due, _DeadlinesDue)
    parts.deadlines_due(due.token)
    assert [frame[3] for frame in wire.sent] == ["phx_join", "phx_leave"]
    assert isinstance(outcome(join.future), pa.PushTimeoutError)
    assert isinstance(outcome(push.future), pa.PushTimeoutError)  # never joined before


def test_a_refused_join_fails_the_buffered_pushes_and_is_not_rejoined() -> None:
    parts, session, wire, _replies, later, _clock = channels()
    parts.request(request("join"))
    push = request()
    parts.request(push)
    event = reply_to(session, wire.sent[0], status="error")
    assert isinstance(event, s.JoinRefused)
    parts.join_refused(event)
    assert isinstance(outcome(push.future), pa.NotJoinedError)
    assert [t.message for t in later.live() if isinstance(t.message, _RejoinDue)] == []


def test_a_crashed_channel_is_rejoined_after_the_backoff() -> None:
    parts, session, wire, _replies, later, _clock = channels()
    parts.request(request("join"))
    joined = reply_to(session, wire.sent[0])
    assert isinstance(joined, s.Joined)
    parts.joined(joined)
    join_ref = wire.sent[0][0]
    crash = [join_ref, join_ref, TOPIC, "phx_error", {}]
    closed = session.receive(Frame.text(json.dumps(crash)))
    assert isinstance(closed, s.ChannelClosed)
    parts.channel_closed(closed)
    rejoin = [t for t in later.live() if isinstance(t.message, _RejoinDue)]
    assert [t.delay for t in rejoin] == [1]
    message = rejoin[0].message
    assert isinstance(message, _RejoinDue)
    parts.rejoin_due(TOPIC, message.token)
    assert [frame[3] for frame in wire.sent] == ["phx_join", "phx_join"]


# -- Heartbeat, Callbacks, Link ------------------------------------------------------


def test_a_heartbeat_unanswered_when_the_next_is_due_is_reported() -> None:
    session = s.Session(pa.JSONSerializer())
    session.connected()
    wire, later, clock = Wire(), Later(), Clock()
    heartbeat = Heartbeat(30.0, session, wire, later, clock=clock)
    heartbeat.start(3)
    assert [(t.delay, t.message) for t in later.timers] == [(30.0, _HeartbeatDue(3))]
    assert heartbeat.beat(3)
    assert [frame[2:4] for frame in wire.sent] == [["phoenix", "heartbeat"]]
    clock.now += 0.5
    assert heartbeat.rtt() == 0.5
    assert not heartbeat.beat(3)
    heartbeat.stop()
    assert later.timers[-1].cancelled


def test_callbacks_apply_results_and_shield_errors(caplog: pytest.LogCaptureFixture) -> None:
    applied: list[tuple[str, object]] = []
    stopped: list[object] = []

    class Client(pa.SocketClient):
        def init(self) -> Any:
            return pa.NoConnect("ws://localhost/socket")

        def handle_info(self, message: Any, conn: Any) -> Any:
            if message == "boom":
                raise ValueError("boom")
            return pa.Stop(message)

    def start(errors: Any) -> Callbacks:
        return Callbacks(
            Client(), errors, apply=lambda n, r: applied.append((n, r)), stop=stopped.append
        )

    start("log").run("handle_info", "bye", None)
    assert applied == [("handle_info", pa.Stop("bye"))]
    start("log").run("handle_info", "boom", None)
    assert stopped == []
    assert "Client.handle_info raised ValueError: boom" in caplog.text
    start("stop").run("handle_info", "boom", None)
    assert [type(reason) for reason in stopped] == [ValueError]


def test_a_link_opens_sends_and_closes_one_transport() -> None:
    opened: list[tuple[str, Any]] = []

    class Transport:
        def __init__(self) -> None:
            self.frames: list[Frame] = []
            self.closed = False

        def send(self, frame: Frame) -> None:
            self.frames.append(frame)

        def close(self) -> None:
            self.closed = True

    transport = Transport()

    def factory(url: str, options: Any, listener: Any) -> Any:
        opened.append((url, listener))
        return transport

    config = pa.Config(transport_factory=factory, max_pending_frames=2)
    link = Link(config, "ws://localhost/socket/websocket", {"token": "a"})
    link.retarget(pa.Connect(params={"token": "b"}))
    url = link.resolve()
    assert url.startswith("ws://localhost/socket/websocket?")
    assert "token=b" in url
    link.open(url, lambda flow: ("listener", flow))
    flow = link.flow
    assert isinstance(flow, Flow)
    assert opened == [(url, ("listener", flow))]
    link.send(s.Outbound(1, None, Frame.text("x")))
    link.send(s.Outbound(2, None, Frame.text("y")))
    assert transport.frames == [Frame.text("x"), Frame.text("y")]
    assert link.frames_out == 2
    link.close()
    assert transport.closed
    assert link.transport is None
    assert link.flow is None
    assert link.frames_written is None  # this transport cannot tell


def test_a_call_is_answered_as_handle_call_says_and_failed_if_left_waiting() -> None:
    class Client(pa.SocketClient):
        def init(self) -> Any:
            return pa.NoConnect("ws://localhost/socket")

        def handle_call(self, request: Any, caller: Any, conn: Any) -> Any:
            return pa.Reply(request * 2) if request else pa.NoReply()

    stopped: list[object] = []
    callbacks = Callbacks(Client(), "log", apply=lambda n, r: None, stop=stopped.append)
    answered: pykka.Future[Any] = pykka.ThreadingFuture()
    callbacks.call(_Call(21, answered), conn=None)  # type: ignore[arg-type]
    waiting: pykka.Future[Any] = pykka.ThreadingFuture()
    callbacks.call(_Call(0, waiting), conn=None)  # type: ignore[arg-type]
    assert outcome(answered) == 42
    assert outcome(waiting) == "pending"
    callbacks.fail_pending(lambda: pa.SocketStoppedError("stopped"))
    assert isinstance(outcome(waiting), pa.SocketStoppedError)
    assert len(callbacks.pending) == 0
    assert stopped == []
