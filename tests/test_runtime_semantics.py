"""What Pykka promises of an actor, proven on each runtime: ThreadingActor and PooledActor.

Every test takes the ``runtime`` fixture (tests/conftest.py), so it runs once with
``pykka.ThreadingActor``/``ThreadingFuture`` and once with ``PooledActor``/``PooledFuture``
on a private pool of two workers.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sys
import threading
from typing import Any

import pykka
import pytest
from pykka._envelope import Envelope

from tests.conftest import TIMEOUT, Runtime


class Events:
    def __init__(self) -> None:
        self.on_start = threading.Event()
        self.on_stop = threading.Event()
        self.on_failure = threading.Event()
        self.registered_at_start = threading.Event()
        self.log: queue.SimpleQueue[Any] = queue.SimpleQueue()


def make_actor_class(runtime: Runtime) -> type[Any]:
    base: Any = runtime.actor_class

    class Recorder(base):  # type: ignore[misc,valid-type]
        def __init__(self, events: Events) -> None:
            super().__init__()
            self.events = events
            self.seen: list[Any] = []
            self.inside = 0
            self.overlaps = 0
            self.attr = "value"
            self.start_thread: str | None = None

        def on_start(self) -> None:
            self.start_thread = threading.current_thread().name
            if pykka.ActorRegistry.get_by_urn(self.actor_urn) is not None:
                self.events.registered_at_start.set()
            self.events.on_start.set()

        def on_stop(self) -> None:
            self.events.on_stop.set()

        def on_failure(self, *exc_info: Any) -> None:
            self.events.log.put(("failure", exc_info[0]))
            self.events.on_failure.set()

        def on_receive(self, message: Any) -> Any:
            self.inside += 1
            if self.inside > 1:
                self.overlaps += 1
            try:
                return self.handle(message)
            finally:
                self.inside -= 1

        def handle(self, message: Any) -> Any:
            if isinstance(message, tuple) and message[0] == "raise":
                raise message[1]
            if isinstance(message, tuple) and message[0] == "call":
                return message[1]()
            if message == "seen":
                return list(self.seen)
            if message == "overlaps":
                return self.overlaps
            if message == "started before first message":
                return self.events.on_start.is_set()
            if message == "stop twice":
                self.stop()
                self.stop()
                return None
            if message == "tell self then stop":
                self.actor_ref.tell("greetings")
                self.stop()
                return None
            if message == "greetings":
                self.events.log.put("greetings")
                return None
            self.seen.append(message)
            return message

        def add(self, a: int, b: int) -> int:
            return a + b

        def fail(self) -> None:
            raise ValueError("from a proxy call")

    return Recorder


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def recorder(runtime: Runtime) -> type[Any]:
    return make_actor_class(runtime)


@pytest.fixture
def ref(recorder: type[Any], events: Events) -> pykka.ActorRef[Any]:
    return recorder.start(events)


# -- messages -------------------------------------------------------------------------


def test_tell_then_ask_keeps_the_order(ref: pykka.ActorRef[Any]) -> None:
    for i in range(500):
        ref.tell(i)
    assert ref.ask("seen", timeout=TIMEOUT) == list(range(500))
    ref.stop()


def test_one_message_at_a_time_under_many_senders(ref: pykka.ActorRef[Any]) -> None:
    def send(start: int) -> None:
        for i in range(200):
            ref.tell(start + i)

    senders = [threading.Thread(target=send, args=(1000 * n,)) for n in range(6)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(TIMEOUT)
    seen = ref.ask("seen", timeout=TIMEOUT)
    assert sorted(seen) == sorted(1000 * n + i for n in range(6) for i in range(200))
    for n in range(6):  # each sender's messages in its order
        assert [m for m in seen if m // 1000 == n] == [1000 * n + i for i in range(200)]
    assert ref.ask("overlaps", timeout=TIMEOUT) == 0
    ref.stop()


def test_ask_returns_the_reply_and_its_future_is_the_runtimes(
    runtime: Runtime, ref: pykka.ActorRef[Any]
) -> None:
    assert ref.ask("hello", timeout=TIMEOUT) == "hello"
    future = ref.ask("later", block=False)
    assert isinstance(future, runtime.future_class)
    assert future.get(timeout=TIMEOUT) == "later"
    assert future.get(timeout=0) == "later"  # a value can be read again
    ref.stop()


def test_an_exception_goes_back_to_the_asker_and_the_actor_lives_on(
    ref: pykka.ActorRef[Any], events: Events, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(KeyError, match="boom") as info:
        ref.ask(("raise", KeyError("boom")), timeout=TIMEOUT)
    assert info.value.__traceback__ is not None
    assert ref.is_alive()
    assert ref.ask("still here", timeout=TIMEOUT) == "still here"
    assert not events.on_failure.is_set()
    ref.stop()


def test_ask_times_out(runtime: Runtime, ref: pykka.ActorRef[Any]) -> None:
    gate = threading.Event()
    ref.tell(("call", lambda: gate.wait(TIMEOUT)))
    with pytest.raises(pykka.Timeout):
        ref.ask("blocked behind the gate", timeout=0.05)
    gate.set()
    ref.stop()


def test_messages_told_before_on_start_ends_run_after_it(runtime: Runtime, events: Events) -> None:
    gate = threading.Event()

    class SlowStart(make_actor_class(runtime)):  # type: ignore[misc]
        def on_start(self) -> None:
            gate.wait(TIMEOUT)
            super().on_start()

    ref = SlowStart.start(events)
    future = ref.ask("started before first message", block=False)
    ref.tell("early")
    gate.set()
    assert future.get(timeout=TIMEOUT) is True
    assert ref.ask("seen", timeout=TIMEOUT) == ["early"]
    ref.stop()


# -- proxies --------------------------------------------------------------------------


def test_proxy_calls_attributes_and_errors(runtime: Runtime, ref: pykka.ActorRef[Any]) -> None:
    proxy = ref.proxy()
    call = proxy.add(2, 3)
    assert isinstance(call, runtime.future_class)
    assert call.get(timeout=TIMEOUT) == 5
    assert proxy.attr.get(timeout=TIMEOUT) == "value"
    proxy.attr = "changed"
    assert proxy.attr.get(timeout=TIMEOUT) == "changed"
    with pytest.raises(ValueError, match="from a proxy call"):
        proxy.fail().get(timeout=TIMEOUT)
    assert ref.is_alive()
    ref.stop()


# -- futures --------------------------------------------------------------------------


def test_future_get_times_out_then_gets_the_value(runtime: Runtime) -> None:
    future = runtime.future_class()
    with pytest.raises(pykka.Timeout):
        future.get(timeout=0.01)
    with pytest.raises(pykka.Timeout):
        future.get(timeout=0)
    future.set(7)
    assert future.get(timeout=0) == 7


def test_future_set_twice_raises_full(runtime: Runtime) -> None:
    future = runtime.future_class()
    future.set(1)
    with pytest.raises(queue.Full):
        future.set(2)
    with pytest.raises(queue.Full):
        future.set_exception((ValueError, ValueError("x"), None))
    assert future.get(timeout=0) == 1


def test_future_set_exception_from_exc_info_and_from_current(runtime: Runtime) -> None:
    future = runtime.future_class()
    future.set_exception((ValueError, ValueError("given"), None))
    with pytest.raises(ValueError, match="given"):
        future.get(timeout=0)
    current = runtime.future_class()
    try:
        raise KeyError("current")  # noqa: TRY301
    except KeyError:
        current.set_exception()
    with pytest.raises(KeyError, match="current"):
        current.get(timeout=0)
    bare = runtime.future_class()
    bare.set_exception((ValueError, None, None))
    with pytest.raises(ValueError):  # noqa: PT011 - the class alone was given
        bare.get(timeout=0)


def test_future_wakes_every_waiter(runtime: Runtime) -> None:
    future = runtime.future_class()
    results: queue.SimpleQueue[Any] = queue.SimpleQueue()
    waiters = [
        threading.Thread(target=lambda: results.put(future.get(timeout=TIMEOUT))) for _ in range(5)
    ]
    for thread in waiters:
        thread.start()
    future.set("all")
    for thread in waiters:
        thread.join(TIMEOUT)
    assert [results.get(timeout=TIMEOUT) for _ in range(5)] == ["all"] * 5


def test_get_all_join_map_filter_reduce(runtime: Runtime, ref: pykka.ActorRef[Any]) -> None:
    futures = [ref.ask(i, block=False) for i in range(5)]
    assert pykka.get_all(futures, timeout=TIMEOUT) == [0, 1, 2, 3, 4]
    joined = futures[0].join(futures[1], futures[2])
    assert isinstance(joined, runtime.future_class)
    assert joined.get(timeout=TIMEOUT) == [0, 1, 2]
    assert ref.ask(20, block=False).map(lambda x: x + 1).get(timeout=TIMEOUT) == 21
    numbers = ref.ask([5, 12, 15], block=False)
    assert list(numbers.filter(lambda x: x > 10).get(timeout=TIMEOUT)) == [12, 15]
    assert ref.ask([1, 2, 3], block=False).reduce(lambda a, b: a + b, 10).get(timeout=TIMEOUT) == 16
    ref.stop()


def test_set_get_hook(runtime: Runtime) -> None:
    future = runtime.future_class()
    future.set_get_hook(lambda timeout: ("hooked", timeout))
    assert future.get(timeout=1.5) == ("hooked", 1.5)
    with pytest.raises(queue.Full):
        future.set(1)
    done = runtime.future_class()
    done.set(1)
    with pytest.raises(queue.Full):
        done.set_get_hook(lambda timeout: 2)


def test_future_can_be_awaited(runtime: Runtime, ref: pykka.ActorRef[Any]) -> None:
    async def ask() -> Any:
        return await ref.ask("awaited", block=False)

    assert asyncio.run(ask()) == "awaited"
    ref.stop()


# -- lifecycle ------------------------------------------------------------------------


def test_on_start_runs_after_registration_and_off_the_callers_thread(
    ref: pykka.ActorRef[Any], events: Events
) -> None:
    assert events.on_start.wait(TIMEOUT)
    assert events.registered_at_start.is_set()
    assert ref.proxy().start_thread.get(timeout=TIMEOUT) != threading.current_thread().name
    ref.stop()


def test_on_start_failure_stops_the_actor(runtime: Runtime, events: Events) -> None:
    class FailingStart(make_actor_class(runtime)):  # type: ignore[misc]
        def on_start(self) -> None:
            raise RuntimeError("on_start failure")

    ref = FailingStart.start(events)
    assert ref.actor_stopped.wait(TIMEOUT)
    assert pykka.ActorRegistry.get_by_urn(ref.actor_urn) is None
    with pytest.raises(pykka.ActorDeadError):
        ref.tell("too late")


def test_on_start_can_stop_the_actor(runtime: Runtime, events: Events) -> None:
    class StopsAtStart(make_actor_class(runtime)):  # type: ignore[misc]
        def on_start(self) -> None:
            self.stop()

    ref = StopsAtStart.start(events)
    assert events.on_stop.wait(TIMEOUT)
    assert ref.actor_stopped.wait(TIMEOUT)


def test_stop_blocking_and_not(ref: pykka.ActorRef[Any], events: Events) -> None:
    future = ref.stop(block=False)
    assert future.get(timeout=TIMEOUT) is True
    assert events.on_stop.is_set()
    assert not ref.is_alive()
    assert ref.stop(block=True, timeout=TIMEOUT) is False  # already dead


def test_stop_handles_what_was_told_before_it(runtime: Runtime, events: Events) -> None:
    class CountsAtStop(make_actor_class(runtime)):  # type: ignore[misc]
        def on_stop(self) -> None:
            events.log.put(len(self.seen))

    ref = CountsAtStop.start(events)
    for i in range(50):
        ref.tell(i)
    assert ref.stop(block=True, timeout=TIMEOUT) is True
    assert events.log.get(timeout=TIMEOUT) == 50
    assert ref.actor_stopped.is_set()


def test_on_stop_failure_still_stops(runtime: Runtime, events: Events) -> None:
    class FailingStop(make_actor_class(runtime)):  # type: ignore[misc]
        def on_stop(self) -> None:
            events.on_stop.set()
            raise RuntimeError("on_stop failure")

    ref = FailingStop.start(events)
    ref.stop(block=True, timeout=TIMEOUT)
    assert events.on_stop.is_set()
    assert not ref.is_alive()


def test_a_told_exception_calls_on_failure_and_stops_the_actor(
    ref: pykka.ActorRef[Any], events: Events
) -> None:
    ref.tell(("raise", ValueError("told")))
    assert events.on_failure.wait(TIMEOUT)
    assert events.log.get(timeout=TIMEOUT) == ("failure", ValueError)
    assert ref.actor_stopped.wait(TIMEOUT)
    assert not events.on_stop.is_set()
    assert pykka.ActorRegistry.get_all() == []


def test_a_failing_on_failure_still_stops(runtime: Runtime, events: Events) -> None:
    class FailingOnFailure(make_actor_class(runtime)):  # type: ignore[misc]
        def on_failure(self, *exc_info: Any) -> None:
            events.on_failure.set()
            raise RuntimeError("on_failure failure")

    ref = FailingOnFailure.start(events)
    ref.tell(("raise", ValueError("told")))
    assert events.on_failure.wait(TIMEOUT)
    assert ref.actor_stopped.wait(TIMEOUT)


def test_messages_after_a_stop_get_actor_dead_error(ref: pykka.ActorRef[Any]) -> None:
    gate = threading.Event()
    ref.tell(("call", lambda: gate.wait(TIMEOUT)))
    ref.stop(block=False)
    behind_the_stop = ref.ask("irrelevant", block=False)
    second_stop = ref.stop(block=False)
    gate.set()
    with pytest.raises(pykka.ActorDeadError):
        behind_the_stop.get(timeout=TIMEOUT)
    assert second_stop.get(timeout=TIMEOUT) is True
    with pytest.raises(pykka.ActorDeadError):
        ref.tell("after")
    with pytest.raises(pykka.ActorDeadError):
        ref.ask("after", timeout=TIMEOUT)
    with pytest.raises(pykka.ActorDeadError):
        ref.proxy()


def test_stop_twice_in_a_message(ref: pykka.ActorRef[Any]) -> None:
    ref.ask("stop twice", timeout=TIMEOUT)
    assert ref.actor_stopped.wait(TIMEOUT)


def test_mail_told_to_self_before_stopping_is_handled(
    ref: pykka.ActorRef[Any], events: Events
) -> None:
    ref.ask("tell self then stop", timeout=TIMEOUT)
    assert events.log.get(timeout=TIMEOUT) == "greetings"
    assert events.on_stop.wait(TIMEOUT)


@pytest.mark.parametrize("error", [BaseException, SystemExit, KeyboardInterrupt])
def test_a_base_exception_stops_every_actor(
    runtime: Runtime, recorder: type[Any], error: type[BaseException]
) -> None:
    first, second = Events(), Events()
    ref = recorder.start(first)
    other = recorder.start(second)
    ref.tell(("raise", error()))
    assert first.on_stop.wait(TIMEOUT)
    assert second.on_stop.wait(TIMEOUT)
    assert other.actor_stopped.wait(TIMEOUT)
    assert pykka.ActorRegistry.get_all() == []
    # The runtime itself survives: new actors run.
    third = recorder.start(Events())
    assert third.ask("after", timeout=TIMEOUT) == "after"
    third.stop()


# -- the registry ---------------------------------------------------------------------


def test_registry_finds_and_stops_actors(recorder: type[Any]) -> None:
    refs = [recorder.start(Events()) for _ in range(3)]
    assert set(pykka.ActorRegistry.get_by_class(recorder)) == set(refs)
    assert pykka.ActorRegistry.get_by_urn(refs[1].actor_urn) is refs[1]
    assert pykka.ActorRegistry.stop_all(block=True, timeout=TIMEOUT) == [True, True, True]
    assert pykka.ActorRegistry.get_all() == []


def test_actors_of_both_runtimes_ask_each_other(runtime: Runtime, events: Events) -> None:
    other_runtime = pykka.ThreadingActor if runtime.name == "pooled" else runtime.actor_class
    here = make_actor_class(runtime).start(events)
    there = make_actor_class(Runtime("x", other_runtime, pykka.ThreadingFuture)).start(Events())
    assert here.ask(("call", lambda: there.ask("relayed", timeout=TIMEOUT))) == "relayed"
    assert there.ask(("call", lambda: here.ask("back", timeout=TIMEOUT))) == "back"
    pykka.ActorRegistry.stop_all(block=True, timeout=TIMEOUT)


def test_logs_an_unhandled_exception_like_pykka(
    ref: pykka.ActorRef[Any], events: Events, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="pykka"):
        ref.tell(("raise", ValueError("told")))
        assert ref.actor_stopped.wait(TIMEOUT)
        assert events.on_failure.wait(TIMEOUT)
    assert any("Unhandled exception" in r.getMessage() for r in caplog.records)


def test_inbox_put_directly_after_the_end_is_answered(
    runtime: Runtime, ref: pykka.ActorRef[Any]
) -> None:
    ref.stop(block=True, timeout=TIMEOUT)
    future = runtime.future_class()
    ref.actor_inbox.put(Envelope("late", reply_to=future))
    if runtime.name == "threading":  # the threading runtime's late mail waits forever
        with pytest.raises(pykka.Timeout):
            future.get(timeout=0.05)
    else:
        with pytest.raises(pykka.ActorDeadError):
            future.get(timeout=TIMEOUT)


def test_keeps_order_across_turns(runtime: Runtime, ref: pykka.ActorRef[Any]) -> None:
    count = 3 * 32 + 5  # more than a few pooled turns
    futures = [ref.ask(i, block=False) for i in range(count)]
    assert [f.get(timeout=TIMEOUT) for f in futures] == list(range(count))
    assert ref.ask("overlaps", timeout=TIMEOUT) == 0
    ref.stop()
    assert sys.getrefcount(ref) > 0


def test_no_message_is_lost_between_many_senders_and_actors(recorder: type[Any]) -> None:
    refs = [recorder.start(Events()) for _ in range(40)]

    def send(n: int) -> None:
        for i in range(3000):
            refs[(i * 7 + n) % len(refs)].tell((n, i))

    senders = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join(TIMEOUT)
    seen = [m for ref in refs for m in ref.ask("seen", timeout=TIMEOUT)]
    assert sorted(seen) == sorted((n, i) for n in range(4) for i in range(3000))
    for ref in refs:
        per_sender = ref.ask("seen", timeout=TIMEOUT)
        for n in range(4):
            mine = [i for s, i in per_sender if s == n]
            assert mine == sorted(mine)
        ref.stop(block=False)
