"""The pooled runtime's own promises: few threads, fairness, blocking, configuration."""

from __future__ import annotations

import gc
import logging
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest

from phoenix_actor.runtime import PooledActor, PooledFuture, WorkerPool, blocking, default_pool
from tests.conftest import TIMEOUT


def on_pool(pool: WorkerPool) -> type[PooledActor]:
    class Echo(PooledActor):
        worker_pool = pool

        def on_receive(self, message: Any) -> Any:
            if callable(message):
                return message()
            return message

    return Echo


def pool_threads(pool: WorkerPool) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(pool.name + "-")]


@pytest.fixture
def make_pool() -> Iterator[Callable[..., WorkerPool]]:
    pools: list[WorkerPool] = []

    def make(*args: Any, **kwargs: Any) -> WorkerPool:
        kwargs.setdefault("name", f"pool{len(pools)}")
        pool = WorkerPool(*args, **kwargs)
        pools.append(pool)
        return pool

    yield make
    pykka.ActorRegistry.stop_all(block=True, timeout=TIMEOUT)
    for pool in pools:
        assert pool.shutdown(timeout=TIMEOUT)


# -- threads --------------------------------------------------------------------------


def test_a_thousand_actors_use_only_the_pools_threads(worker_pool: WorkerPool) -> None:
    echo = on_pool(worker_pool)
    before = threading.active_count()
    refs = [echo.start() for _ in range(1000)]
    futures = [ref.ask(i, block=False) for i, ref in enumerate(refs)]
    assert pykka.get_all(futures, timeout=TIMEOUT) == list(range(1000))
    # two workers and the monitor; nothing per actor
    assert threading.active_count() - before <= worker_pool.size + 1
    assert worker_pool.threads == worker_pool.size
    for ref in refs:
        ref.stop(block=False)


def test_threads_are_named_daemons_and_end_at_shutdown(make_pool: Any) -> None:
    pool = make_pool(3, name="named")
    ref = on_pool(pool).start()
    assert ref.ask("hi", timeout=TIMEOUT) == "hi"
    names = sorted(t.name for t in pool_threads(pool))
    assert names == ["named-1", "named-2", "named-3", "named-monitor"]
    assert all(t.daemon for t in pool_threads(pool))
    ref.stop()
    assert pool.shutdown(timeout=TIMEOUT)
    assert pool_threads(pool) == []


def test_a_shut_down_pool_refuses_work(make_pool: Any) -> None:
    pool = make_pool(1)
    echo = on_pool(pool)
    ref = echo.start()
    assert ref.ask(1, timeout=TIMEOUT) == 1  # idle again: the next tell queues a turn
    pool.shutdown(timeout=TIMEOUT)
    with pytest.raises(RuntimeError, match="shut down"):
        ref.tell("after")
    with pytest.raises(RuntimeError, match="shut down"):
        echo.start()
    assert len(pykka.ActorRegistry.get_by_class(echo)) == 1  # the refused one unregistered
    pykka.ActorRegistry.unregister(ref)


def test_the_default_pool_is_lazy_shared_and_named() -> None:
    class OnDefault(PooledActor):
        def on_receive(self, message: Any) -> Any:
            return threading.current_thread().name

    pool = default_pool()
    assert pool is default_pool()
    try:
        ref = OnDefault.start()
        assert ref.ask("where", timeout=TIMEOUT).startswith("phoenix_actor-pool-")
        assert 2 <= pool.size <= 4
        ref.stop()
    finally:
        assert pool.shutdown(timeout=TIMEOUT)
    replacement = default_pool()
    assert replacement is not pool
    assert replacement.shutdown(timeout=TIMEOUT)


def test_the_pool_can_be_chosen_per_instance(make_pool: Any) -> None:
    first, second = make_pool(1, name="first"), make_pool(1, name="second")

    class Where(PooledActor):
        worker_pool = first

        def __init__(self, pool: WorkerPool | None = None) -> None:
            super().__init__()
            if pool is not None:
                self.worker_pool = pool

        def on_receive(self, message: Any) -> Any:
            return threading.current_thread().name

    assert Where.start().ask("?", timeout=TIMEOUT) == "first-1"
    assert Where.start(second).ask("?", timeout=TIMEOUT) == "second-1"


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((0,), {}),
        ((True,), {}),
        ((2,), {"max_workers": 1}),
        ((1,), {"stall_timeout": 0}),
        ((1,), {"keep_alive": float("inf")}),
        ((1,), {"stall_timeout": "1"}),
    ],
)
def test_bad_configuration_is_refused(args: Any, kwargs: Any) -> None:
    with pytest.raises(ValueError, match="must be"):
        WorkerPool(*args, **kwargs)


def test_an_idle_pool_does_not_keep_the_interpreter_alive() -> None:
    script = textwrap.dedent(
        """
        import pykka
        from phoenix_actor.runtime import PooledActor

        class Echo(PooledActor):
            def on_receive(self, message):
                return message

        ref = Echo.start()
        assert ref.ask("hi", timeout=5) == "hi"
        print("done", flush=True)
        # neither the actor nor the pool is stopped
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        timeout=4 * TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"


def test_a_stopped_actor_is_released(worker_pool: WorkerPool) -> None:
    ref = on_pool(worker_pool).start()
    assert ref.ask("x", timeout=TIMEOUT) == "x"
    ref.stop(block=True, timeout=TIMEOUT)
    gc.collect()
    assert ref._actor_weakref() is None
    assert not ref.is_alive()


# -- fairness -------------------------------------------------------------------------


def test_a_busy_actor_yields_after_messages_per_turn(make_pool: Any) -> None:
    pool = make_pool(1, stall_timeout=60)  # no spare worker in this test
    gate = threading.Event()
    progress: list[int] = []

    class Busy(PooledActor):
        worker_pool = pool

        def on_receive(self, message: Any) -> Any:
            progress.append(message)

    class Other(PooledActor):
        worker_pool = pool

        def on_receive(self, message: Any) -> Any:
            return len(progress)

    blocker, busy, other = on_pool(pool).start(), Busy.start(), Other.start()
    for ref in (busy, other):  # on_start done: each is idle
        ref.ask(None, timeout=TIMEOUT)
    progress.clear()
    blocker.tell(lambda: gate.wait(TIMEOUT))  # hold the only worker
    for i in range(100):
        busy.tell(i)
    when_other_ran = other.ask("now", block=False)
    gate.set()
    assert when_other_ran.get(timeout=TIMEOUT) == Busy.messages_per_turn
    busy.ask(None, timeout=TIMEOUT)
    assert progress[:100] == list(range(100))


# -- blocking -------------------------------------------------------------------------


def test_a_chain_of_asks_longer_than_the_pool_completes(make_pool: Any) -> None:
    pool = make_pool(2, max_workers=32, stall_timeout=60)

    class Link(PooledActor):
        worker_pool = pool

        def __init__(self, next_ref: pykka.ActorRef[Any] | None) -> None:
            super().__init__()
            self.next_ref = next_ref

        def on_receive(self, message: Any) -> Any:
            if self.next_ref is None:
                return message + 1
            return self.next_ref.ask(message + 1) + 0  # waits on a PooledFuture

    ref: pykka.ActorRef[Any] | None = None
    for _ in range(12):
        ref = Link.start(ref)
    assert ref is not None
    assert ref.ask(0, timeout=TIMEOUT) == 12
    assert pool.threads <= 32
    # And again, as a proxy chain through futures with map/join:
    futures = [ref.ask(i, block=False).map(lambda x: x * 2) for i in range(3)]
    assert futures[0].join(*futures[1:]).get(timeout=TIMEOUT) == [24, 26, 28]


def test_a_worker_waiting_on_a_future_lets_others_run(make_pool: Any) -> None:
    pool = make_pool(1, stall_timeout=60)
    echo = on_pool(pool)
    waiter, other = echo.start(), echo.start()
    pending: PooledFuture[str] = PooledFuture()
    result = waiter.ask(lambda: pending.get(timeout=TIMEOUT), block=False)
    assert other.ask("runs meanwhile", timeout=TIMEOUT) == "runs meanwhile"
    pending.set("done")
    assert result.get(timeout=TIMEOUT) == "done"


def test_spares_end_when_idle(make_pool: Any) -> None:
    pool = make_pool(1, stall_timeout=60, keep_alive=0.05)
    echo = on_pool(pool)
    waiter, other = echo.start(), echo.start()
    pending: PooledFuture[str] = PooledFuture()
    result = waiter.ask(lambda: pending.get(timeout=TIMEOUT), block=False)
    assert other.ask("x", timeout=TIMEOUT) == "x"
    assert pool.threads == 2
    pending.set("done")
    assert result.get(timeout=TIMEOUT) == "done"
    workers = [t for t in pool_threads(pool) if not t.name.endswith("-monitor")]
    assert len(workers) == 2
    for _ in range(int(TIMEOUT / 0.05)):  # one of them ends after keep_alive
        workers[0].join(0.05)
        if not all(t.is_alive() for t in workers):
            break
    assert sum(t.is_alive() for t in workers) == 1
    assert pool.threads == 1


def test_blocking_io_does_not_stop_other_actors_and_warns_once(
    make_pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pool = make_pool(1, stall_timeout=0.05)

    class Stuck(PooledActor):
        worker_pool = pool

        def on_receive(self, message: Any) -> Any:
            return message()

    stuck = Stuck.start()
    other = on_pool(pool).start()
    other.ask("warm", timeout=TIMEOUT)
    io = threading.Event()
    with caplog.at_level(logging.WARNING, logger="phoenix_actor.runtime"):
        result = stuck.ask(lambda: io.wait(TIMEOUT), block=False)
        assert other.ask("not starved", timeout=TIMEOUT) == "not starved"
        io.set()
        assert result.get(timeout=TIMEOUT) is True
        again = threading.Event()
        second = stuck.ask(lambda: again.wait(TIMEOUT), block=False)
        assert other.ask("still", timeout=TIMEOUT) == "still"
        again.set()
        assert second.get(timeout=TIMEOUT) is True
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(stuck.actor_urn) in warnings[0].getMessage()
    assert "Stuck" in warnings[0].getMessage()


def test_blocking_in_on_start_is_noticed_too(
    make_pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pool = make_pool(1, stall_timeout=0.05)
    io = threading.Event()

    class SlowStart(PooledActor):
        worker_pool = pool

        def on_start(self) -> None:
            io.wait(TIMEOUT)

    with caplog.at_level(logging.WARNING, logger="phoenix_actor.runtime"):
        slow = SlowStart.start()
        assert on_pool(pool).start().ask("runs", timeout=TIMEOUT) == "runs"
    io.set()
    assert any("SlowStart" in r.getMessage() for r in caplog.records)
    slow.stop()


def test_when_every_worker_is_blocked_the_pool_says_so(
    make_pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pool = make_pool(1, max_workers=2, stall_timeout=60)
    echo = on_pool(pool)
    first, second, third = echo.start(), echo.start(), echo.start()
    for ref in (first, second, third):
        ref.ask(None, timeout=TIMEOUT)
    never: PooledFuture[Any] = PooledFuture()
    with caplog.at_level(logging.ERROR, logger="phoenix_actor.runtime"):
        a = first.ask(lambda: never.get(timeout=0.5), block=False)
        b = second.ask(lambda: never.get(timeout=0.5), block=False)
        c = third.ask("waits for a worker", block=False)
        with pytest.raises(pykka.Timeout):
            a.get(timeout=TIMEOUT)
        with pytest.raises(pykka.Timeout):
            b.get(timeout=TIMEOUT)
        assert c.get(timeout=TIMEOUT) == "waits for a worker"  # runs once one is free
    assert pool.threads <= 2
    assert any("all 2 workers are blocked" in r.getMessage() for r in caplog.records)


def test_a_future_done_already_is_not_counted_as_blocking(make_pool: Any) -> None:
    pool = make_pool(1, stall_timeout=60)
    done: PooledFuture[int] = PooledFuture()
    done.set(5)
    ref = on_pool(pool).start()
    assert ref.ask(done.get, timeout=TIMEOUT) == 5
    assert pool.threads == 1


def test_set_get_hook_wakes_a_waiting_worker(make_pool: Any) -> None:
    pool = make_pool(1, stall_timeout=60)
    future: PooledFuture[str] = PooledFuture()
    ref = on_pool(pool).start()
    result = ref.ask(lambda: future.get(timeout=TIMEOUT), block=False)
    other = on_pool(pool).start()
    assert other.ask("spare runs", timeout=TIMEOUT) == "spare runs"  # the waiter blocks
    future.set_get_hook(lambda timeout: "hooked")
    assert result.get(timeout=TIMEOUT) == "hooked"


def test_the_runtime_imports_only_pykka_and_the_standard_library() -> None:
    import ast
    from pathlib import Path

    import phoenix_actor.runtime

    allowed_own = ("phoenix_actor.runtime", "phoenix_actor.exceptions")
    package = Path(phoenix_actor.runtime.__file__).parent
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                ok = (
                    top == "pykka" or top in sys.stdlib_module_names or name.startswith(allowed_own)
                )
                assert ok, f"{path.name} imports {name}"


def test_the_private_pykka_steps_it_relies_on_are_there() -> None:
    """PooledActor runs Pykka's own loop steps; this pins what it relies on (pykka 4.x)."""
    import inspect

    for step in ("_actor_loop_setup", "_actor_loop_running", "_actor_loop_teardown"):
        assert callable(getattr(pykka.Actor, step))
    source = inspect.getsource(pykka.Actor._actor_loop_running)
    body = source[source.index("while not self.actor_stopped.is_set():") :]
    # inbox.get() comes before the loop's try, so _EndOfTurn leaves the loop untouched
    assert body.index("self.actor_inbox.get()") < body.index("try:")


@pytest.mark.parametrize(
    ("attribute", "value", "error"),
    [
        ("messages_per_turn", 0, ValueError),
        ("messages_per_turn", 1.5, ValueError),
        ("worker_pool", "default", TypeError),
    ],
)
def test_bad_actor_settings_are_refused_at_start(
    attribute: str, value: Any, error: type[Exception]
) -> None:
    class Bad(PooledActor):
        pass

    setattr(Bad, attribute, value)
    with pytest.raises(error, match=attribute):
        Bad.start()
    assert pykka.ActorRegistry.get_by_class(Bad) == []


def test_one_message_per_turn_still_keeps_order(worker_pool: WorkerPool) -> None:
    class OneAtATime(on_pool(worker_pool)):  # type: ignore[misc,valid-type]
        messages_per_turn = 1

    ref = OneAtATime.start()
    futures = [ref.ask(i, block=False) for i in range(100)]
    assert pykka.get_all(futures, timeout=TIMEOUT) == list(range(100))


class RacingLock:
    """The inbox's scheduled flag, with a hook run just before its next release."""

    def __init__(self, lock: Any, hook: Callable[[], None]) -> None:
        self.lock = lock
        self.hook: Callable[[], None] | None = hook

    def acquire(self, blocking: bool = True) -> bool:
        return bool(self.lock.acquire(blocking))

    def release(self) -> None:
        hook, self.hook = self.hook, None
        if hook is not None:
            hook()
        self.lock.release()


def test_mail_put_while_a_turn_ends_is_not_stranded(worker_pool: WorkerPool) -> None:
    ref = on_pool(worker_pool).start()
    assert ref.ask("idle", timeout=TIMEOUT) == "idle"
    handled = threading.Event()
    inbox: Any = ref.actor_inbox
    # The next turn finds no more mail; just before it frees the flag, a message comes
    # (its put sees the flag taken and queues no turn). The turn must look again.
    inbox._scheduled = RacingLock(inbox._scheduled, lambda: ref.tell(handled.set))
    assert ref.ask("go", timeout=TIMEOUT) == "go"
    assert handled.wait(TIMEOUT)


def test_a_base_exception_in_on_start_stops_every_actor_not_the_pool(
    worker_pool: WorkerPool,
) -> None:
    """Pykka's thread would die and leave a registered actor that never answers; a pooled
    actor does what a BaseException in a message does: stop it, then every actor."""
    stopped = threading.Event()

    class Bystander(PooledActor):
        worker_pool = None

        def on_stop(self) -> None:
            stopped.set()

    class ExitsAtStart(PooledActor):
        worker_pool = None

        def on_start(self) -> None:
            raise SystemExit(3)

    Bystander.worker_pool = ExitsAtStart.worker_pool = worker_pool
    bystander = Bystander.start()
    bystander.ask(None, timeout=TIMEOUT)
    exiting = ExitsAtStart.start()
    assert exiting.actor_stopped.wait(TIMEOUT)
    assert stopped.wait(TIMEOUT)
    assert not bystander.is_alive()
    with pytest.raises(pykka.ActorDeadError):
        exiting.ask("late", timeout=TIMEOUT)
    assert on_pool(worker_pool).start().ask("pool still runs", timeout=TIMEOUT) == (
        "pool still runs"
    )


def test_a_spare_that_cannot_start_at_shutdown_is_no_error(
    worker_pool: WorkerPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At interpreter shutdown (Python 3.12+) no thread can start: a worker that blocks
    then gets no spare, and says nothing (the exit hook stops sockets there)."""
    ran: list[str] = []

    class Blocks(PooledActor):
        def on_receive(self, message: Any) -> Any:
            def refuse(_thread: threading.Thread) -> None:
                raise RuntimeError("can't create new thread at interpreter shutdown")

            monkeypatch.setattr(threading.Thread, "start", refuse)
            try:
                with blocking():  # the pool would start a spare here
                    ran.append("waited")
            finally:
                monkeypatch.undo()
            return "done"

    Blocks.worker_pool = worker_pool
    ref = Blocks.start()
    try:
        assert ref.ask("go", timeout=TIMEOUT) == "done"
        assert ran == ["waited"]
    finally:
        ref.stop()
