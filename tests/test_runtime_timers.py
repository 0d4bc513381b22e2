"""The pool's timer service: one thread, a heap of deadlines, cancellable handles."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from phoenix_actor import runtime
from phoenix_actor.runtime import PooledActor, TimerService, WorkerPool, default_pool
from tests.conftest import TIMEOUT


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def service() -> Iterator[TimerService]:
    timers = TimerService(name="test-timer")
    yield timers
    assert timers.shutdown(timeout=TIMEOUT)


def join_timer_thread() -> None:
    for thread in threading.enumerate():
        if thread.name == "test-timer":
            thread.join(TIMEOUT)


def hold_the_thread(timers: TimerService) -> tuple[threading.Event, threading.Event]:
    """Park the timer thread in a callback until the returned ``release`` is set."""
    entered, release = threading.Event(), threading.Event()

    def park() -> None:
        entered.set()
        release.wait(TIMEOUT)

    timers.call_later(0, park)
    assert entered.wait(TIMEOUT)
    return entered, release


def test_timers_run_in_deadline_order_then_in_the_order_set() -> None:
    clock = FakeClock()
    timers = TimerService(name="ordered-timer", clock=clock)
    ran: queue.SimpleQueue[str] = queue.SimpleQueue()
    try:
        _, release = hold_the_thread(timers)
        for name, delay in [("c", 3), ("a", 1), ("b", 2), ("a2", 1), ("d", 5), ("e", 4)]:
            handle = timers.call_later(delay, lambda name=name: ran.put(name))
            if name == "d":
                assert handle.cancel() is True
        timers.call_later(100, lambda: ran.put("not yet"))
        clock.now = 10.0
        release.set()
        assert [ran.get(timeout=TIMEOUT) for _ in range(5)] == ["a", "a2", "b", "c", "e"]
        assert ran.empty()
        assert len(timers) == 1
    finally:
        assert timers.shutdown(timeout=TIMEOUT)
    assert ran.empty()  # shutdown dropped the pending one


def test_cancel_before_and_after(service: TimerService) -> None:
    ran = threading.Event()
    _, release = hold_the_thread(service)
    handle = service.call_later(0, ran.set)
    assert handle.pending
    assert handle.cancel() is True
    assert handle.cancelled
    assert handle.cancel() is False
    done = threading.Event()
    later = service.call_later(0, done.set)
    release.set()
    assert done.wait(TIMEOUT)
    assert not ran.is_set()
    assert later.cancel() is False  # it ran
    assert not later.pending
    assert not later.cancelled


def test_many_timers_one_thread(service: TimerService) -> None:
    count = 5000
    fired: list[int] = []
    all_fired = threading.Event()
    before = threading.active_count()

    def fire(i: int) -> None:
        fired.append(i)
        if len(fired) == count:
            all_fired.set()

    handles = [service.call_later((i % 50) / 1000, lambda i=i: fire(i)) for i in range(count)]
    assert threading.active_count() - before <= 1
    assert all_fired.wait(TIMEOUT)
    assert sorted(fired) == list(range(count))
    assert all(not h.pending for h in handles)


def test_the_thread_ends_when_nothing_is_pending(service: TimerService) -> None:
    done = threading.Event()
    handle = service.call_later(0, done.set)
    assert done.wait(TIMEOUT)
    join_timer_thread()
    assert not service.running
    long = service.call_later(3600, done.set)
    assert service.running
    assert long.cancel() is True  # the last pending one: the thread ends
    join_timer_thread()
    assert not service.running
    assert not handle.pending


def test_cancelled_timers_do_not_pile_up(service: TimerService) -> None:
    keep = service.call_later(3600, lambda: None)
    for _ in range(1000):
        service.call_later(1800, lambda: None).cancel()
    assert len(service) == 1
    assert len(service._heap) < 200  # rebuilt when more than half were cancelled
    keep.cancel()


def test_a_failing_callback_is_logged_and_the_others_run(
    service: TimerService, caplog: pytest.LogCaptureFixture
) -> None:
    done = threading.Event()

    def fail() -> None:
        raise RuntimeError("timer failure")

    with caplog.at_level(logging.ERROR, logger="phoenix_actor.runtime"):
        service.call_later(0, fail)
        service.call_later(0, done.set)
        assert done.wait(TIMEOUT)
    assert any(r.exc_info and "timer failure" in str(r.exc_info[1]) for r in caplog.records)


@pytest.mark.parametrize(
    ("delay", "callback", "error"),
    [
        ("1", lambda: None, TypeError),
        (True, lambda: None, TypeError),
        (float("nan"), lambda: None, ValueError),
        (1, "not callable", TypeError),
    ],
)
def test_bad_arguments_are_refused(
    service: TimerService, delay: Any, callback: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        service.call_later(delay, callback)


def test_a_shut_down_service_refuses_timers(service: TimerService) -> None:
    service.shutdown(timeout=TIMEOUT)
    with pytest.raises(RuntimeError, match="shut down"):
        service.call_later(0, lambda: None)


def test_tell_later_delivers_and_cancel_prevents(worker_pool: WorkerPool) -> None:
    got: queue.SimpleQueue[Any] = queue.SimpleQueue()

    class Sink(PooledActor):
        worker_pool = None

        def on_receive(self, message: Any) -> None:
            got.put(message)

    Sink.worker_pool = worker_pool
    ref = Sink.start()
    cancelled = worker_pool.tell_later(ref, 0.01, "cancelled")
    assert cancelled.cancel() is True
    worker_pool.tell_later(ref, 0.02, "second")
    worker_pool.tell_later(ref, 0, "first")
    assert got.get(timeout=TIMEOUT) == "first"
    assert got.get(timeout=TIMEOUT) == "second"
    ref.stop(block=True, timeout=TIMEOUT)
    done = threading.Event()
    worker_pool.tell_later(ref, 0, "to the dead: ignored")
    worker_pool.call_later(0, done.set)
    assert done.wait(TIMEOUT)
    assert got.empty()
    assert worker_pool.timers is worker_pool.timers


def test_module_functions_use_the_default_pool() -> None:
    ran = threading.Event()
    got: queue.SimpleQueue[Any] = queue.SimpleQueue()

    class Sink(PooledActor):
        def on_receive(self, message: Any) -> None:
            got.put(message)

    try:
        runtime.call_later(0, ran.set)
        assert ran.wait(TIMEOUT)
        ref = Sink.start()
        runtime.tell_later(ref, 0, "hello")
        assert got.get(timeout=TIMEOUT) == "hello"
        ref.stop()
    finally:
        assert default_pool().shutdown(timeout=TIMEOUT)


def test_a_thread_actor_can_use_the_timers_too(service: TimerService) -> None:
    got: queue.SimpleQueue[Any] = queue.SimpleQueue()

    class Sink(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> None:
            got.put(message)

    ref = Sink.start()
    service.tell_later(ref, 0, "hi")
    assert got.get(timeout=TIMEOUT) == "hi"
    ref.stop()
