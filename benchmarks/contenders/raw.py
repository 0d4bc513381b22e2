"""*raw*: a bare websocket-client loop that receives and ``json.loads`` each frame.

The practical limit of any client built on websocket-client: no actors, no threads,
no protocol state beyond counting refs. Frames are Phoenix V2 JSON arrays.
"""

from __future__ import annotations

import json
import selectors
import time
from typing import Any

import websocket

from benchmarks._common import (
    BenchError,
    Context,
    Counts,
    CpuClock,
    Metrics,
    blast,
    latency_metrics,
    os_threads,
    peak_rss_mb,
    round_trips,
    rss_mb,
    stop_metrics,
    wait_until_start,
)


class _Raw:
    """One websocket with a ref counter; every read is ``recv`` + ``json.loads``."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.ws = websocket.create_connection(
            ctx.url(), timeout=ctx.timeout, skip_utf8_validation=True
        )
        # connected: no timeout on reads (CPython polls before each read of a socket that
        # has one, which is not what a blocking client pays)
        self.ws.settimeout(None)
        self.ref = 0
        self.join_ref: str | None = None

    def send(self, topic: str, event: str, payload: Any) -> str:
        self.ref += 1
        ref = str(self.ref)
        if event == "phx_join":
            self.join_ref = ref
        self.ws.send(json.dumps([self.join_ref, ref, topic, event, payload]))
        return ref

    def reply(self, ref: str) -> Any:
        """Read until the reply to ``ref``; return its payload."""
        while True:
            message = json.loads(self.ws.recv())
            if message[3] == "phx_reply" and message[1] == ref:
                return message[4]

    def join(self, topic: str) -> None:
        payload = self.reply(self.send(topic, "phx_join", {}))
        if payload.get("status") != "ok":
            raise BenchError(f"join of {topic} refused: {payload}")

    def receive(self, count: int) -> None:
        """Read until ``count`` broadcasts have arrived."""
        recv, loads = self.ws.recv, json.loads
        seen = 0
        while seen < count:
            if loads(recv())[3] == "tick":
                seen += 1

    def close(self) -> None:
        self.ws.close()


def inbound(ctx: Context, counts: Counts) -> Metrics:
    topic = ctx.topic("inbound")
    raw = _Raw(ctx)
    try:
        raw.join(topic)
        blast(ctx, topic, min(1_000, counts.inbound))  # warm-up
        raw.receive(min(1_000, counts.inbound))
        wait_until_start(ctx)
        started, t0 = time.monotonic(), time.perf_counter()
        server = blast(ctx, topic, counts.inbound)
        raw.receive(counts.inbound)
        seconds = time.perf_counter() - t0
        return {
            "msgs_per_s": counts.inbound / seconds,
            "started": started,
            "ended": started + seconds,
            # how fast the server hands the frames to the kernel (its send loop)
            "server_msgs_per_s": counts.inbound / max(server["queued_ms"], 1e-3) * 1e3,
        }
    finally:
        raw.close()


def push_reply(ctx: Context, counts: Counts) -> Metrics:
    topic = ctx.topic("push")
    raw = _Raw(ctx)
    try:
        raw.join(topic)
        return round_trips(counts, lambda i: raw.reply(raw.send(topic, "echo", {"n": i})))
    finally:
        raw.close()


def _connect_join(ctx: Context, topic: str) -> _Raw:
    raw = _Raw(ctx)
    raw.join(topic)
    return raw


def connect_join(ctx: Context, counts: Counts) -> Metrics:
    topic = ctx.topic("connect")
    _connect_join(ctx, topic).close()  # warm-up
    samples = []
    for _ in range(counts.connect):
        t0 = time.perf_counter()
        raw = _connect_join(ctx, topic)
        samples.append(time.perf_counter() - t0)
        raw.close()
    return latency_metrics("connect", samples, 1e3)


def fanout(ctx: Context, counts: Counts) -> Metrics:
    """All sockets read by one thread through a selector."""
    topic = ctx.topic("fanout")
    threads0 = os_threads()
    t0 = time.perf_counter()
    sockets = [_connect_join(ctx, topic) for _ in range(counts.sockets)]
    try:
        metrics: Metrics = {
            "rss_mb": rss_mb(),
            "threads": os_threads() - threads0,
            "connect_s": time.perf_counter() - t0,
        }
        selector = selectors.DefaultSelector()
        left = {}
        for raw in sockets:
            if raw.ws.sock is None:
                raise BenchError("a socket closed before the blast")
            selector.register(raw.ws.sock, selectors.EVENT_READ, raw)
            left[raw] = counts.fanout
        t0, cpu = time.perf_counter(), CpuClock()
        blast(ctx, topic, counts.fanout)
        deadline = time.monotonic() + ctx.timeout
        loads = json.loads
        while left:
            if time.monotonic() > deadline:
                raise BenchError(f"{len(left)} sockets still waiting for broadcasts")
            for key, _ in selector.select(1.0):
                raw = key.data
                if loads(raw.ws.recv())[3] == "tick":
                    left[raw] -= 1
                    if left[raw] == 0:
                        del left[raw]
                        selector.unregister(key.fileobj)
        seconds = time.perf_counter() - t0
        selector.close()
        metrics["msgs_per_s"] = counts.sockets * counts.fanout / seconds
        metrics.update(cpu.metrics())
        metrics["peak_rss_mb"] = peak_rss_mb()
        return metrics
    finally:
        for raw in sockets:
            raw.close()


def stop(ctx: Context, counts: Counts) -> Metrics:
    topic = ctx.topic("stop")
    return stop_metrics(lambda: _connect_join(ctx, topic).close, counts)


SCENARIOS = {
    "inbound": inbound,
    "push_reply": push_reply,
    "connect_join": connect_join,
    "fanout": fanout,
    "stop": stop,
}
