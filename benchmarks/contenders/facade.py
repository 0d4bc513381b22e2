"""*phoenix_actor facade*: the thread-safe ``phoenix_actor.Socket`` (issue 5).

=====================================================================================
PLUG-IN POINT. This contender is skipped with a note while ``phoenix_actor.Socket``
does not exist. :class:`_Facade` below is the only place that knows the facade's API:
if that API changes, change only the methods marked ADAPT and check with
``python -m benchmarks --smoke --contender facade``.
=====================================================================================

Inbound broadcasts are consumed the way a threaded service would: from a
subscription, in the caller's own thread (scenario 1); with 1,000 sockets, where one
thread cannot block on 1,000 queues, through ``on`` callbacks (scenario 4).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import phoenix_actor as pa
from benchmarks._common import (
    TRANSPORT_OPTIONS,
    BenchError,
    Context,
    Counts,
    Metrics,
    Skip,
    Tally,
    blast,
    fanout_metrics,
    latency_metrics,
    os_threads,
    round_trips,
    settle,
    stop_metrics,
    wait_until_start,
)

Socket: Any = getattr(pa, "Socket", None)
if Socket is None:
    raise Skip(
        "phoenix_actor.Socket (the thread-safe facade, issue 5) does not exist yet; "
        "plug it in at benchmarks/contenders/facade.py"
    )

_TIMEOUT = 10.0


class _Facade:
    """What the benchmarks need from the facade: the ADAPT methods map it to its API."""

    def __init__(self, ctx: Context) -> None:
        # ADAPT: open a socket (blocking until connected, or not: join waits anyway).
        options = pa.TransportOptions(**TRANSPORT_OPTIONS)
        self.socket = Socket(ctx.ws_url, timeout=_TIMEOUT, transport_options=options)

    def join(self, topic: str) -> None:
        # ADAPT: join and block until the server's ok (raise on a refusal).
        self.socket.join(topic)

    def subscribe(self, topic: str, event: str) -> Callable[[float], Any]:
        # ADAPT: a queue of ``event`` messages on ``topic``; return its blocking ``get``.
        return self.socket.subscribe(topic, event).get  # type: ignore[no-any-return]

    def on_message(self, topic: str, callback: Callable[[str, Any], None]) -> None:
        # ADAPT: call ``callback(event, payload)`` for every message on ``topic``.
        self.socket.on(topic, None, lambda message: callback(message.event, message.payload))

    def push(self, topic: str, event: str, payload: Any) -> Any:
        # ADAPT: push and block until the reply; return it.
        return self.socket.push(topic, event, payload)

    def close(self) -> None:
        # ADAPT: close the socket and release its threads and file descriptors.
        self.socket.close()


# -- everything below is independent of the facade's API --------------------------------


class _Counter:
    """Counts ``tick`` broadcasts up to a target, from the facade's delivery thread."""

    def __init__(self, tally: Tally | None = None) -> None:
        self.tally = tally if tally is not None else Tally(1)
        self.target = 0
        self.seen = 0
        self.done_at = 0.0

    def __call__(self, event: str, _payload: Any) -> None:
        if event == "tick":
            self.seen += 1
            if self.seen == self.target:
                self.done_at = time.perf_counter()
                self.tally.finish()


def _open(ctx: Context, topic: str, counter: _Counter | None = None) -> _Facade:
    facade = _Facade(ctx)
    try:
        if counter is not None:
            facade.on_message(topic, counter)
        facade.join(topic)
    except BaseException:
        facade.close()
        raise
    return facade


def inbound(ctx: Context, counts: Counts) -> Metrics:
    topic = ctx.topic("inbound")
    facade = _open(ctx, topic)
    try:
        get = facade.subscribe(topic, "tick")
        for count in (min(1_000, counts.inbound), counts.inbound):  # warm-up, then measured
            if count == counts.inbound:
                wait_until_start(ctx)
            started, t0 = time.monotonic(), time.perf_counter()
            blast(ctx, topic, count)
            for _ in range(count):
                get(ctx.timeout)
            seconds = time.perf_counter() - t0
        return {
            "msgs_per_s": counts.inbound / seconds,
            "started": started,
            "ended": started + seconds,
        }
    finally:
        facade.close()


def push_reply(ctx: Context, counts: Counts) -> Metrics:
    topic = ctx.topic("push")
    facade = _open(ctx, topic)
    try:
        return round_trips(counts, lambda i: facade.push(topic, "echo", {"n": i}))
    finally:
        facade.close()


def connect_join(ctx: Context, counts: Counts) -> Metrics:
    topic = ctx.topic("connect")
    _open(ctx, topic).close()  # warm-up
    samples = []
    for _ in range(counts.connect):
        t0 = time.perf_counter()
        facade = _open(ctx, topic)
        samples.append(time.perf_counter() - t0)
        facade.close()
    return latency_metrics("connect", samples, 1e3)


def fanout(ctx: Context, counts: Counts) -> Metrics:
    topic = ctx.topic("fanout")
    _open(ctx, topic).close()  # warm-up
    threads0 = settle(os_threads, 1, timeout=1.0)
    tally = Tally(counts.sockets)
    facades: list[_Facade] = []
    lock = threading.Lock()
    problems: list[str] = []

    def open_one() -> None:
        counter = _Counter(tally)
        counter.target = counts.fanout
        try:
            facade = _open(ctx, topic, counter)
        except Exception as exc:  # noqa: BLE001 -- reported below
            problems.append(f"{type(exc).__name__}: {exc}")
            return
        with lock:
            facades.append(facade)

    try:
        t0 = time.perf_counter()
        for start in range(0, counts.sockets, 50):  # blocking joins, 50 threads at a time
            opening = [
                threading.Thread(target=open_one) for _ in range(min(50, counts.sockets - start))
            ]
            for thread in opening:
                thread.start()
            for thread in opening:
                thread.join(ctx.timeout)
        if problems:
            raise BenchError(f"{len(problems)} joins failed, first: {problems[0]}")
        return fanout_metrics(ctx, topic, counts, tally, threads0=threads0, joins_began=t0)
    finally:
        for facade in facades:
            facade.close()


def stop(ctx: Context, counts: Counts) -> Metrics:
    topic = ctx.topic("stop")
    return stop_metrics(lambda: _open(ctx, topic).close, counts)


SCENARIOS = {
    "inbound": inbound,
    "push_reply": push_reply,
    "connect_join": connect_join,
    "fanout": fanout,
    "stop": stop,
}
