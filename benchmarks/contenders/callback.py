"""*phoenix_actor*: the callback API (a ``SocketClient`` run by ``SocketActor.start``).

Every measurement is taken where a user would take it: in the callbacks, which run
in the socket actor's thread. Sockets use the library's defaults (the pooled
runtime); ``benchmarks.contenders.callback_threads`` runs the same with
``Config(runtime="threads")``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pykka

import phoenix_actor as pa
from benchmarks._common import (
    CONFIG_OPTIONS,
    TRANSPORT_OPTIONS,
    BenchError,
    Context,
    Counts,
    Metrics,
    Tally,
    blast,
    fanout_metrics,
    latency_metrics,
    open_fds,
    os_threads,
    rss_mb,
    settle,
    stop_metrics,
    wait,
    wait_until_start,
)

_GO = "go"


def _options() -> dict[str, Any]:
    """``SocketActor.start`` options: the transport's and the runtime, if set."""
    return {"transport_options": pa.TransportOptions(**TRANSPORT_OPTIONS), **CONFIG_OPTIONS}


class _Trouble:
    """Disconnects and heartbeat timeouts of every socket, counted across threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.disconnects = 0
        self.heartbeat_timeouts = 0

    def disconnected(self, reason: object) -> None:
        with self.lock:
            self.disconnects += 1
            if type(reason).__name__ == "HeartbeatTimeout":
                self.heartbeat_timeouts += 1


class _Client(pa.SocketClient):
    """Joins one topic; counts ``tick`` broadcasts; answers pushes one after another."""

    def __init__(
        self,
        ctx: Context,
        topic: str,
        tally: Tally | None = None,
        trouble: _Trouble | None = None,
    ) -> None:
        self.url = ctx.ws_url
        self.trouble = trouble
        self.topic = topic
        self.joined = threading.Event()
        self.joined_at = 0.0
        self.problem: str | None = None
        # inbound: count up to ``target``, then stamp ``done_at`` and tell the tally
        self.tally = tally if tally is not None else Tally(1)
        self.target = 0
        self.seen = 0
        self.done_at = 0.0
        # push -> reply
        self.pushes = 0
        self.sent_at = 0.0
        self.rtts: list[float] = []
        self.replied = threading.Event()

    def init(self) -> pa.InitResult:
        return pa.Connect(self.url)

    def handle_connected(self, conn: pa.Connection) -> pa.CallbackResult:
        conn.join(self.topic)
        return None

    def handle_disconnected(self, reason: pa.DisconnectReason) -> pa.CallbackResult:
        if self.trouble is not None:
            self.trouble.disconnected(reason)
        return None

    def handle_joined(self, topic: str, response: Any, conn: pa.Connection) -> pa.CallbackResult:
        self.joined_at = time.perf_counter()
        self.joined.set()
        return None

    def handle_join_error(
        self, topic: str, response: Any, conn: pa.Connection
    ) -> pa.CallbackResult:
        self.problem = f"join refused: {response!r}"
        self.joined.set()
        return None

    def handle_message(
        self, topic: str, event: str, payload: Any, conn: pa.Connection
    ) -> pa.CallbackResult:
        if event == "tick":
            self.seen += 1
            if self.seen == self.target:
                self.done_at = time.perf_counter()
                self.tally.finish()
        return None

    def handle_info(self, message: Any, conn: pa.Connection) -> pa.CallbackResult:
        if message == _GO:
            self._push(conn)
        return None

    def _push(self, conn: pa.Connection) -> None:
        self.sent_at = time.perf_counter()
        conn.push(self.topic, "echo", {"n": self.pushes})

    def handle_reply(
        self, topic: str, ref: pa.WireRef, payload: Any, conn: pa.Connection
    ) -> pa.CallbackResult:
        self.rtts.append(time.perf_counter() - self.sent_at)
        self.pushes -= 1
        if self.pushes > 0:
            self._push(conn)
        else:
            self.replied.set()
        return None

    def expect(self, count: int) -> None:
        """Count ``count`` more broadcasts (call before they are sent)."""
        self.seen = 0
        self.target = count
        self.tally = Tally(1)


def _start(ctx: Context, client: _Client) -> pykka.ActorRef[Any]:
    ref = pa.SocketActor.start(client, **_options())
    try:
        wait(client.joined, ctx, f"the join of {client.topic}")
    except BenchError:
        ref.stop()
        raise
    if client.problem is not None:
        ref.stop()
        raise BenchError(client.problem)
    return ref


def _receive(ctx: Context, client: _Client, count: int) -> float:
    """Blast ``count`` broadcasts at ``client``; seconds until its callback saw the last."""
    client.expect(count)
    t0 = time.perf_counter()
    blast(ctx, client.topic, count)
    wait(client.tally.done, ctx, f"{count} broadcasts")
    return client.done_at - t0


def inbound(ctx: Context, counts: Counts) -> Metrics:
    client = _Client(ctx, ctx.topic("inbound"))
    ref = _start(ctx, client)
    try:
        _receive(ctx, client, min(1_000, counts.inbound))  # warm-up
        wait_until_start(ctx)
        started = time.monotonic()
        seconds = _receive(ctx, client, counts.inbound)
        return {
            "msgs_per_s": counts.inbound / seconds,
            "started": started,
            "ended": started + seconds,
        }
    finally:
        ref.stop()


def push_reply(ctx: Context, counts: Counts) -> Metrics:
    client = _Client(ctx, ctx.topic("push"))
    ref = _start(ctx, client)
    try:
        for pushes in (10, counts.push):  # warm-up, then measured
            client.rtts.clear()
            client.replied.clear()
            client.pushes = pushes
            ref.tell(_GO)
            wait(client.replied, ctx, f"{pushes} replies")
        return latency_metrics("rtt", client.rtts, 1e6)
    finally:
        ref.stop()


def connect_join(ctx: Context, counts: Counts) -> Metrics:
    topic = ctx.topic("connect")
    _start(ctx, _Client(ctx, topic)).stop()  # warm-up
    samples = []
    for _ in range(counts.connect):
        client = _Client(ctx, topic)
        t0 = time.perf_counter()
        ref = _start(ctx, client)
        samples.append(client.joined_at - t0)
        ref.stop()
    return latency_metrics("connect", samples, 1e3)


def fanout(ctx: Context, counts: Counts) -> Metrics:
    topic = ctx.topic("fanout")
    _start(ctx, _Client(ctx, topic)).stop()  # warm-up (imports, the timer thread)
    threads0 = settle(os_threads, 1, timeout=1.0)
    tally = Tally(counts.sockets)
    clients = [_Client(ctx, topic, tally) for _ in range(counts.sockets)]
    refs = []
    try:
        t0 = time.perf_counter()
        for client in clients:
            client.target = counts.fanout
            refs.append(pa.SocketActor.start(client, **_options()))
        for client in clients:
            wait(client.joined, ctx, "all joins")
            if client.problem is not None:
                raise BenchError(client.problem)
        return fanout_metrics(ctx, topic, counts, tally, threads0=threads0, joins_began=t0)
    finally:
        for ref in refs:
            ref.stop(block=False)
        for ref in refs:
            ref.stop()


def _all_joined(ctx: Context, clients: list[_Client]) -> None:
    for client in clients:
        wait(client.joined, ctx, "all joins")
        if client.problem is not None:
            raise BenchError(client.problem)


def _stop_all(ctx: Context, refs: list[pykka.ActorRef[Any]]) -> float:
    """Stop every actor, one after another, each ``stop()`` waiting for its actor; the
    seconds it took. (Stopping them all at once, ``stop(block=False)`` for each and then
    waiting, starves the pooled runtime: see docs/benchmarks.md.)"""
    t0 = time.perf_counter()
    for ref in refs:
        ref.stop(timeout=ctx.timeout)
    return time.perf_counter() - t0


def scale(ctx: Context, counts: Counts) -> Metrics:
    """``counts.sockets`` sockets joined to one topic: threads, memory, the time to join
    them, a hold of ``counts.hold`` seconds (counting disconnects), the aggregate rate of
    ``counts.fanout`` broadcasts to each, then the time to stop them all and what is left."""
    topic = ctx.topic("scale")
    threads_before = os_threads()
    _start(ctx, _Client(ctx, topic)).stop()  # warm-up: imports, the pool, the reader
    # the baseline: without the connector threads (they end after 5 idle seconds)
    connectors = sum(t.name.startswith("phoenix_actor-connector") for t in threading.enumerate())
    threads0 = os_threads() - connectors
    fds0 = open_fds()
    tally, trouble = Tally(counts.sockets), _Trouble()
    clients = [_Client(ctx, topic, tally, trouble) for _ in range(counts.sockets)]
    refs: list[pykka.ActorRef[Any]] = []
    try:
        t0 = time.perf_counter()
        for client in clients:
            client.target = counts.fanout
            refs.append(pa.SocketActor.start(client, **_options()))
        _all_joined(ctx, clients)
        metrics: Metrics = {
            "join_s": time.perf_counter() - t0,
            "rss_mb": rss_mb(),
            "os_threads": os_threads(),
            "py_threads": threading.active_count(),
            "threads_before": threads_before,
        }
        metrics["each"] = counts.fanout
        hold0 = time.perf_counter()
        time.sleep(counts.hold)  # the hold is what is measured: heartbeats go on meanwhile
        metrics.update(
            hold_s=time.perf_counter() - hold0,
            heartbeat_timeouts=trouble.heartbeat_timeouts,
            disconnects=trouble.disconnects,
            os_threads_after_hold=os_threads(),
        )
        metrics.update(fanout_metrics(ctx, topic, counts, tally, threads0=threads0, joins_began=t0))
        del metrics["threads"], metrics["connect_s"]
    except BaseException:
        for ref in refs:
            ref.stop(block=False)
        raise
    metrics["stop_s"] = _stop_all(ctx, refs)
    refs.clear()
    # connector threads end after 5 idle seconds: wait for them
    metrics["threads_left"] = settle(os_threads, threads0, timeout=8.0) - threads0
    metrics["fds_left"] = settle(open_fds, fds0, timeout=2.0) - fds0
    return metrics


def stop(ctx: Context, counts: Counts) -> Metrics:
    topic = ctx.topic("stop")
    metrics = stop_metrics(lambda: _start(ctx, _Client(ctx, topic)).stop, counts)
    return {**metrics, "actors_left": float(len(pykka.ActorRegistry.get_all()))}


SCENARIOS = {
    "inbound": inbound,
    "push_reply": push_reply,
    "connect_join": connect_join,
    "fanout": fanout,
    "scale": scale,
    "stop": stop,
}
