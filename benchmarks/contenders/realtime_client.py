"""*realtime*: the asyncio Phoenix client from PyPI (Supabase's ``realtime``).

It cannot speak protocol V2: it always connects with ``vsn=1.0.0`` (JSON objects),
prefixes every topic with ``realtime:``, and parses each server message into
Supabase's models, logging and dropping any that does not fit. So it is measured
against the load server's V1 serializer (which a default Phoenix endpoint also
offers), with broadcasts in Supabase's shape (event ``broadcast``, payload
``{"type", "event", "payload"}``); :func:`probe` shows what happens to plain ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from benchmarks._common import (
    BenchError,
    Context,
    Counts,
    CpuClock,
    Metrics,
    Skip,
    blast,
    latency_metrics,
    open_fds,
    os_threads,
    peak_rss_mb,
    rss_mb,
    settle,
    wait_until_start,
)

try:
    from realtime import (
        AsyncRealtimeChannel,
        AsyncRealtimeClient,
        RealtimeAcknowledgementStatus,
        RealtimeSubscribeStates,
    )
except ImportError as exc:
    raise Skip(
        "realtime is not installed: it pins websockets<16 while the embedded test server "
        "needs websockets>=17, so install it in a venv of its own "
        '(pip install -e . "realtime>=2.34,<3") and run the harness from there'
    ) from exc

SHAPE = "supabase"


class _Endpoint:
    """One client with one subscribed channel, counting ``tick`` broadcasts."""

    def __init__(self, ctx: Context, name: str) -> None:
        # realtime appends "/websocket" and "?vsn=1.0.0" itself.
        self.client = AsyncRealtimeClient(
            ctx.ws_url.removesuffix("/websocket"), auto_reconnect=False, max_retries=1
        )
        self.channel: AsyncRealtimeChannel = self.client.channel(ctx.topic(name))
        self.topic = self.channel.topic
        self.seen = 0
        self.target = 0
        self.done: asyncio.Future[float] | None = None
        self.channel.on_broadcast("tick", self._tick)

    def _tick(self, _payload: Any) -> None:
        self.seen += 1
        if self.seen == self.target and self.done is not None and not self.done.done():
            self.done.set_result(time.perf_counter())

    def expect(self, count: int) -> asyncio.Future[float]:
        self.seen = 0
        self.target = count
        self.done = asyncio.get_running_loop().create_future()
        return self.done

    async def open(self, timeout: float) -> None:
        states: list[RealtimeSubscribeStates] = []
        await asyncio.wait_for(
            self.channel.subscribe(lambda state, _error: states.append(state)), timeout
        )
        if states != [RealtimeSubscribeStates.SUBSCRIBED]:
            raise BenchError(f"subscribe of {self.topic} ended with {states}")

    async def close(self) -> None:
        await self.client.close()


async def _blast(ctx: Context, topic: str, count: int, shape: str = SHAPE) -> None:
    await asyncio.to_thread(blast, ctx, topic, count, shape)


async def _receive(ctx: Context, endpoint: _Endpoint, count: int) -> float:
    done = endpoint.expect(count)
    t0 = time.perf_counter()
    await _blast(ctx, endpoint.topic, count)
    return await asyncio.wait_for(done, ctx.timeout) - t0


async def _inbound(ctx: Context, counts: Counts) -> Metrics:
    endpoint = _Endpoint(ctx, "inbound")
    await endpoint.open(ctx.timeout)
    try:
        await _receive(ctx, endpoint, min(1_000, counts.inbound))  # warm-up
        wait_until_start(ctx)
        started = time.monotonic()
        seconds = await _receive(ctx, endpoint, counts.inbound)
        return {
            "msgs_per_s": counts.inbound / seconds,
            "started": started,
            "ended": started + seconds,
        }
    finally:
        await endpoint.close()


def _resolver(future: asyncio.Future[None]) -> Callable[[object], None]:
    def resolve(_response: object) -> None:
        future.set_result(None)

    return resolve


async def _push_reply(ctx: Context, counts: Counts) -> Metrics:
    endpoint = _Endpoint(ctx, "push")
    await endpoint.open(ctx.timeout)
    loop = asyncio.get_running_loop()
    try:
        samples = []
        for i in range(counts.push + 10):
            replied: asyncio.Future[None] = loop.create_future()
            t0 = time.perf_counter()
            push = await endpoint.channel.push("echo", {"n": i})
            push.receive(RealtimeAcknowledgementStatus.Ok, _resolver(replied))
            await asyncio.wait_for(replied, ctx.timeout)
            samples.append(time.perf_counter() - t0)
        return latency_metrics("rtt", samples[10:], 1e6)
    finally:
        await endpoint.close()


async def _open(ctx: Context, name: str) -> _Endpoint:
    endpoint = _Endpoint(ctx, name)
    await endpoint.open(ctx.timeout)
    return endpoint


async def _connect_join(ctx: Context, counts: Counts) -> Metrics:
    await (await _open(ctx, "connect")).close()  # warm-up
    samples = []
    for _ in range(counts.connect):
        t0 = time.perf_counter()
        endpoint = await _open(ctx, "connect")
        samples.append(time.perf_counter() - t0)
        await endpoint.close()
    return latency_metrics("connect", samples, 1e3)


async def _fanout(ctx: Context, counts: Counts) -> Metrics:
    threads0 = os_threads()
    t0 = time.perf_counter()
    endpoints = [_Endpoint(ctx, "fanout") for _ in range(counts.sockets)]
    try:
        for start in range(0, len(endpoints), 100):  # 100 handshakes in flight at most
            await asyncio.gather(*(e.open(ctx.timeout) for e in endpoints[start : start + 100]))
        metrics: Metrics = {
            "rss_mb": rss_mb(),
            "threads": os_threads() - threads0,
            "connect_s": time.perf_counter() - t0,
        }
        waits = [endpoint.expect(counts.fanout) for endpoint in endpoints]
        t0, cpu = time.perf_counter(), CpuClock()
        await _blast(ctx, endpoints[0].topic, counts.fanout)
        ends = await asyncio.wait_for(asyncio.gather(*waits), ctx.timeout)
        metrics["msgs_per_s"] = counts.sockets * counts.fanout / (max(ends) - t0)
        metrics.update(cpu.metrics())
        metrics["peak_rss_mb"] = peak_rss_mb()
        return metrics
    finally:
        await asyncio.gather(*(endpoint.close() for endpoint in endpoints))


async def _stop(ctx: Context, counts: Counts) -> Metrics:
    await (await _open(ctx, "stop")).close()  # warm-up
    samples = []
    for _ in range(counts.stops):
        endpoint = await _open(ctx, "stop")
        t0 = time.perf_counter()
        await endpoint.close()
        samples.append(time.perf_counter() - t0)
    threads0 = settle(os_threads, 1, timeout=1.0)
    fds0 = open_fds()
    t0 = time.perf_counter()
    for _ in range(counts.cycles):
        await (await _open(ctx, "stop")).close()
    cycle_s = time.perf_counter() - t0
    await asyncio.sleep(0)  # let closed connections' tasks finish
    return {
        **latency_metrics("stop", samples, 1e3),
        "cycles_per_s": counts.cycles / cycle_s,
        "leaked_threads": settle(os_threads, threads0) - threads0,
        "leaked_fds": settle(open_fds, fds0) - fds0,
    }


async def _probe(ctx: Context) -> Metrics:
    """Plain broadcasts (event ``tick``) next to Supabase-shaped ones: which arrive?"""
    endpoint = _Endpoint(ctx, "probe")
    await endpoint.open(ctx.timeout)
    quiet = logging.getLogger("realtime")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # each plain frame logs "Unrecognized message format"
    try:
        done = endpoint.expect(3)
        await _blast(ctx, endpoint.topic, 3, "plain")
        await _blast(ctx, endpoint.topic, 3, SHAPE)
        await asyncio.wait_for(done, ctx.timeout)
        await asyncio.sleep(0.05)  # anything late still counts
        return {"plain_delivered": 0.0 if endpoint.seen <= 3 else endpoint.seen - 3.0}
    finally:
        quiet.setLevel(level)
        await endpoint.close()


def _sync(
    function: Callable[[Context, Counts], Coroutine[Any, Any, Metrics]],
) -> Callable[[Context, Counts], Metrics]:
    def run(ctx: Context, counts: Counts) -> Metrics:
        return asyncio.run(function(ctx, counts))

    return run


def probe(ctx: Context) -> Metrics:
    """How many of 3 plain broadcasts reached the callback (0: they are dropped)."""
    return asyncio.run(_probe(ctx))


SCENARIOS = {
    "inbound": _sync(_inbound),
    "push_reply": _sync(_push_reply),
    "connect_join": _sync(_connect_join),
    "fanout": _sync(_fanout),
    "stop": _sync(_stop),
}
