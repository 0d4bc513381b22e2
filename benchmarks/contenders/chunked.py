"""*chunked*: the honest limit of one Python thread (issue 17).

The same work as any client, done as well as one thread can: a plain socket, the HTTP
upgrade by hand, 64 KiB ``recv`` reads, a minimal frame parser of its own (unmasked
server frames with 7, 16 or 64-bit lengths), ``json.loads`` of each text frame and,
for pushes, a hand-encoded masked client frame. No websocket library, no threads, no
protocol state beyond refs. Many sockets are read by one thread through a selector.
"""

from __future__ import annotations

import base64
import json
import os
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from benchmarks._common import (
    BenchError,
    Context,
    Counts,
    CpuClock,
    Metrics,
    blast,
    latency_metrics,
    open_fds,
    os_threads,
    peak_rss_mb,
    process_cpu_seconds,
    round_trips,
    rss_mb,
    settle,
    stop_metrics,
    wait_until_start,
)

_READ = 65_536
_TEXT, _CLOSE, _PING = 0x1, 0x8, 0x9
_HEARTBEAT_INTERVAL = 30.0  #: what phoenix_actor's default Config sends


def _mask(payload: bytes) -> bytes:
    """A masked client frame (FIN, text) carrying ``payload``."""
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x80 | _TEXT, 0x80 | length)
    elif length < 65_536:
        head = struct.pack("!BBH", 0x80 | _TEXT, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | _TEXT, 0x80 | 127, length)
    key = os.urandom(4)
    repeated = (key * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
        length, "little"
    )
    return head + key + masked


def _encode(message: list[Any]) -> bytes:
    return _mask(json.dumps(message, separators=(",", ":")).encode())


def _upgrade(sock: socket.socket, host: str, port: int, target: str) -> bytes:
    """The HTTP upgrade by hand; the bytes read past the 101 response."""
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise BenchError("the server closed the connection during the upgrade")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise BenchError(f"upgrade refused: {head.splitlines()[0]!r}")
    return rest


class Conn:
    """One websocket over a plain socket; :meth:`read` returns the decoded messages."""

    def __init__(self, ctx: Context) -> None:
        parts = urlsplit(ctx.url())
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        sock = socket.create_connection((host, port), timeout=ctx.timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rest = _upgrade(sock, host, port, f"{parts.path}?{parts.query}")
            sock.settimeout(None)  # no poll() before each read
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.buffer = bytearray(rest)
        self.ref = 0
        self.join_ref: str | None = None
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, topic: str, event: str, payload: Any) -> str:
        self.ref += 1
        ref = str(self.ref)
        if event == "phx_join":
            self.join_ref = ref
        self.sock.sendall(_encode([self.join_ref, ref, topic, event, payload]))
        return ref

    def read(self) -> list[Any]:
        """One ``recv`` of up to 64 KiB; the messages of the frames it completed."""
        chunk = self.sock.recv(_READ)
        if not chunk:
            self.closed = True
            return []
        buffer = self.buffer
        buffer += chunk
        messages: list[Any] = []
        loads = json.loads
        pos, size = 0, len(buffer)
        while size - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            length, start = second & 0x7F, pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length, start = (buffer[pos + 2] << 8) | buffer[pos + 3], pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, start = int.from_bytes(buffer[pos + 2 : pos + 10], "big"), pos + 10
            end = start + length
            if end > size:
                break
            opcode = first & 0x0F
            if opcode == _TEXT and first & 0x80:
                messages.append(loads(buffer[start:end]))
            elif opcode == _CLOSE:
                self.closed = True
            elif opcode == _PING:
                self.sock.sendall(b"\x8a\x80\x00\x00\x00\x00")  # pong, empty, zero mask
            elif opcode != 0xA:
                raise BenchError(f"unexpected frame: opcode {opcode}, fin {first >> 7}")
            pos = end
        del buffer[:pos]
        return messages

    def reply(self, ref: str) -> Any:
        """Read until the reply to ``ref``; its payload."""
        while True:
            for message in self.read():
                if message[3] == "phx_reply" and message[1] == ref:
                    return message[4]
            if self.closed:
                raise BenchError("the server closed the connection")

    def join(self, topic: str) -> None:
        payload = self.reply(self.send(topic, "phx_join", {}))
        if payload.get("status") != "ok":
            raise BenchError(f"join of {topic} refused: {payload}")

    def receive(self, count: int) -> None:
        seen, read = 0, self.read
        while seen < count:
            for message in read():
                if message[3] == "tick":
                    seen += 1
            if self.closed:
                raise BenchError("the server closed the connection")

    def close(self) -> None:
        try:
            self.sock.sendall(b"\x88\x82\x00\x00\x00\x00\x03\xe8")  # close 1000, zero mask
        except OSError:
            pass
        self.sock.close()


def _joined(ctx: Context, topic: str) -> Conn:
    conn = Conn(ctx)
    try:
        conn.join(topic)
    except BaseException:
        conn.close()
        raise
    return conn


def inbound(ctx: Context, counts: Counts) -> Metrics:
    topic = ctx.topic("inbound")
    conn = _joined(ctx, topic)
    try:
        blast(ctx, topic, min(1_000, counts.inbound))  # warm-up
        conn.receive(min(1_000, counts.inbound))
        wait_until_start(ctx)
        started, t0 = time.monotonic(), time.perf_counter()
        blast(ctx, topic, counts.inbound)
        conn.receive(counts.inbound)
        seconds = time.perf_counter() - t0
        return {
            "msgs_per_s": counts.inbound / seconds,
            "started": started,
            "ended": started + seconds,
        }
    finally:
        conn.close()


def push_reply(ctx: Context, counts: Counts) -> Metrics:
    topic = ctx.topic("push")
    conn = _joined(ctx, topic)
    try:
        return round_trips(counts, lambda i: conn.reply(conn.send(topic, "echo", {"n": i})))
    finally:
        conn.close()


def connect_join(ctx: Context, counts: Counts) -> Metrics:
    topic = ctx.topic("connect")
    _joined(ctx, topic).close()  # warm-up
    samples = []
    for _ in range(counts.connect):
        t0 = time.perf_counter()
        conn = _joined(ctx, topic)
        samples.append(time.perf_counter() - t0)
        conn.close()
    return latency_metrics("connect", samples, 1e3)


class _Loop:
    """One thread, one selector, every socket: joins, broadcasts, heartbeats."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.selector = selectors.DefaultSelector()
        self.conns: list[Conn] = []
        self.closed = 0

    def open(self, count: int, topic: str) -> None:
        """Connect ``count`` sockets one after another, each sending its join at once;
        then read until every join reply is in."""
        waiting: dict[Conn, str] = {}
        for _ in range(count):
            conn = Conn(self.ctx)
            self.conns.append(conn)
            self.selector.register(conn.sock, selectors.EVENT_READ, conn)
            waiting[conn] = conn.send(topic, "phx_join", {})

        def on_message(conn: Conn, message: Any) -> None:
            if message[3] == "phx_reply" and waiting.get(conn) == message[1]:
                if message[4].get("status") != "ok":
                    raise BenchError(f"join refused: {message[4]}")
                del waiting[conn]

        self.run(on_message, lambda: not waiting, "join replies")

    def run(
        self, on_message: Callable[[Conn, Any], None], done: Callable[[], bool], what: str
    ) -> None:
        deadline = time.monotonic() + self.ctx.timeout
        select = self.selector.select
        while not done():
            if time.monotonic() > deadline:
                raise BenchError(f"timed out after {self.ctx.timeout:g} s waiting for {what}")
            for key, _ in select(1.0):
                conn = key.data
                for message in conn.read():
                    on_message(conn, message)
                if conn.closed:
                    self.closed += 1
                    self.selector.unregister(conn.sock)

    def hold(self, seconds: float, topic: str) -> tuple[int, int]:
        """Keep every socket for ``seconds``, heartbeating like a Phoenix client every 30 s;
        the heartbeats that got no reply within the interval, and the sockets closed."""
        end = time.monotonic() + seconds
        pending: dict[Conn, tuple[str, float]] = {}
        missed = 0
        next_beat = time.monotonic() + _HEARTBEAT_INTERVAL
        select = self.selector.select

        while True:
            now = time.monotonic()
            if now >= end:
                break
            if now >= next_beat:
                missed += sum(1 for _, sent in pending.values() if now - sent > _HEARTBEAT_INTERVAL)
                pending = {c: (c.send("phoenix", "heartbeat", {}), now) for c in self.conns}
                next_beat = now + _HEARTBEAT_INTERVAL
            for key, _ in select(max(0.0, min(end, next_beat) - now)):
                conn = key.data
                for message in conn.read():
                    if message[2] == "phoenix" and pending.get(conn, ("",))[0] == message[1]:
                        del pending[conn]
                if conn.closed:
                    self.closed += 1
                    self.selector.unregister(conn.sock)
        return missed, self.closed

    def close(self) -> None:
        for conn in self.conns:
            conn.close()
        self.selector.close()


def _broadcast(loop: _Loop, ctx: Context, topic: str, sockets: int, count: int) -> Metrics:
    left = dict.fromkeys(loop.conns, count)

    def on_message(conn: Conn, message: Any) -> None:
        if message[3] == "tick":
            left[conn] -= 1
            if left[conn] == 0:
                del left[conn]

    t0, cpu = time.perf_counter(), CpuClock()
    server0 = process_cpu_seconds(ctx.server_pid)
    blast(ctx, topic, count)
    loop.run(on_message, lambda: not left, "every socket's broadcasts")
    seconds = time.perf_counter() - t0
    return {
        "msgs_per_s": sockets * count / seconds,
        "blast_s": seconds,
        "server_cpu_s": process_cpu_seconds(ctx.server_pid) - server0,
        **cpu.metrics(),
    }


def fanout(ctx: Context, counts: Counts) -> Metrics:
    """All sockets read by one thread through a selector."""
    topic = ctx.topic("fanout")
    threads0 = os_threads()
    loop = _Loop(ctx)
    try:
        t0 = time.perf_counter()
        loop.open(counts.sockets, topic)
        metrics: Metrics = {
            "rss_mb": rss_mb(),
            "threads": os_threads() - threads0,
            "connect_s": time.perf_counter() - t0,
        }
        metrics.update(_broadcast(loop, ctx, topic, counts.sockets, counts.fanout))
        metrics["peak_rss_mb"] = peak_rss_mb()
        return metrics
    finally:
        loop.close()


def scale(ctx: Context, counts: Counts) -> Metrics:
    """``counts.sockets`` sockets in one thread: join, hold, broadcast, stop."""
    topic = ctx.topic("scale")
    threads0, fds0 = os_threads(), open_fds()
    loop = _Loop(ctx)
    try:
        t0 = time.perf_counter()
        loop.open(counts.sockets, topic)
        metrics: Metrics = {
            "join_s": time.perf_counter() - t0,
            "rss_mb": rss_mb(),
            "os_threads": os_threads(),
            "py_threads": threading.active_count(),
        }
        metrics["each"] = counts.fanout
        hold0 = time.perf_counter()
        missed, closed = loop.hold(counts.hold, topic)
        metrics.update(
            hold_s=time.perf_counter() - hold0,
            heartbeat_timeouts=missed,
            disconnects=closed,
            connected_after_hold=counts.sockets - closed,
        )
        metrics.update(_broadcast(loop, ctx, topic, counts.sockets, counts.fanout))
        metrics["peak_rss_mb"] = peak_rss_mb()
    except BaseException:
        loop.close()
        raise
    t0 = time.perf_counter()
    loop.close()
    metrics["stop_s"] = time.perf_counter() - t0
    metrics["threads_left"] = settle(os_threads, threads0) - threads0
    metrics["fds_left"] = settle(open_fds, fds0) - fds0
    return metrics


def stop(ctx: Context, counts: Counts) -> Metrics:
    topic = ctx.topic("stop")
    return stop_metrics(lambda: _joined(ctx, topic).close, counts)


SCENARIOS = {
    "inbound": inbound,
    "push_reply": push_reply,
    "connect_join": connect_join,
    "fanout": fanout,
    "scale": scale,
    "stop": stop,
}
