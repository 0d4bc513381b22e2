"""What the orchestrator, the workers and the contenders share: the run's context,
the counts of each scenario, the load server's blast command and process probes."""

from __future__ import annotations

import gc
import json
import math
import os
import resource
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

#: One scenario run's measurements, by metric name (see ``_report.METRICS``).
Metrics = dict[str, float]


class BenchError(Exception):
    """A run could not be measured (a timeout, a refused join ...)."""


class Skip(Exception):
    """The contender cannot run this scenario here; the message says why."""


@dataclass(frozen=True)
class Counts:
    """How much work each scenario does per run."""

    inbound: int = 100_000  #: broadcasts delivered to one socket (scenario 1)
    push: int = 2_000  #: sequential push -> reply round trips (scenario 2)
    connect: int = 30  #: connect + join latencies (scenario 3)
    sockets: int = 1_000  #: joined sockets in one process (scenario 4)
    fanout: int = 20  #: broadcasts each of those sockets receives (scenario 4)
    stops: int = 20  #: stop() latencies (scenario 5)
    cycles: int = 1_000  #: start/stop cycles of the leak check (scenario 5)
    scale_sizes: tuple[int, ...] = (100, 1_000, 5_000, 10_000)  #: sockets of ``scale`` runs
    hold: float = 3.0  #: seconds the ``scale`` scenario holds every socket joined
    scale_total: int = 20_000  #: ``scale``: at least this many broadcasts in all

    @classmethod
    def smoke(cls) -> Counts:
        """Tiny counts: every code path once, in seconds (``scale``: 300 pooled sockets)."""
        return cls(
            inbound=500,
            push=20,
            connect=2,
            sockets=5,
            fanout=10,
            stops=2,
            cycles=3,
            scale_sizes=(300,),
            hold=1.0,
            scale_total=3_000,
        )


@dataclass(frozen=True)
class Context:
    """Where the load server is and how a run names its topics."""

    ws_url: str  #: ``ws://127.0.0.1:PORT/socket/websocket`` (no query)
    http_url: str  #: ``http://127.0.0.1:PORT``
    run_id: str  #: makes topic names unique per worker
    timeout: float = 60.0  #: seconds any single wait may take
    start_at: float | None = None  #: ``time.monotonic()`` at which to start measuring
    server_pid: int = 0  #: the load server's process (for its CPU time), 0 if unknown

    def topic(self, name: str) -> str:
        """A topic name no other worker uses."""
        return f"bench:{name}:{self.run_id}"

    def url(self, vsn: str = "2.0.0") -> str:
        """The websocket URL with the protocol version, for clients that do not add it."""
        return f"{self.ws_url}?vsn={vsn}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


def blast(ctx: Context, topic: str, count: int, shape: str = "plain") -> dict[str, Any]:
    """Ask the load server to send ``count`` broadcasts to ``topic``; its answer."""
    body = json.dumps({"topic": topic, "count": count, "shape": shape}).encode()
    request = urllib.request.Request(
        f"{ctx.http_url}/blast",
        data=body,
        method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=ctx.timeout) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def wait_until_start(ctx: Context) -> None:
    """Sleep until ``ctx.start_at`` (used to start concurrent workers together)."""
    if ctx.start_at is not None:
        delay = ctx.start_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def wait(event: threading.Event, ctx: Context, what: str) -> None:
    """Wait for ``event`` or raise :class:`BenchError` naming ``what``."""
    if not event.wait(ctx.timeout):
        raise BenchError(f"timed out after {ctx.timeout:g} s waiting for {what}")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by the nearest-rank method."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_metrics(prefix: str, seconds: Sequence[float], scale: float) -> Metrics:
    """p50 / p99 / max of ``seconds`` in the unit ``scale`` gives (1e3 ms, 1e6 us)."""
    return {
        f"{prefix}_p50": percentile(seconds, 50) * scale,
        f"{prefix}_p99": percentile(seconds, 99) * scale,
        f"{prefix}_max": max(seconds) * scale,
    }


def round_trips(counts: Counts, once: Callable[[int], object]) -> Metrics:
    """Time ``once(i)`` for ``counts.push`` sequential round trips, after 10 to warm up:
    the ``rtt`` latencies in microseconds."""
    samples = []
    for i in range(counts.push + 10):
        t0 = time.perf_counter()
        once(i)
        samples.append(time.perf_counter() - t0)
    return latency_metrics("rtt", samples[10:], 1e6)


def _status(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise BenchError(f"/proc/self/status has no {field}")


def rss_mb() -> float:
    """Resident memory of this process, in MiB."""
    return _status("VmRSS") / 1024


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return _status("VmHWM") / 1024


def os_threads() -> int:
    """Threads of this process, as the kernel counts them."""
    return _status("Threads")


def open_fds() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


def settle(probe: Callable[[], int], target: int, timeout: float = 5.0) -> int:
    """Poll ``probe`` (after a GC) until it is at most ``target`` or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        gc.collect()
        value = probe()
        if value <= target or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


#: ``TransportOptions`` fields that phoenix_actor's contenders use (set by the worker
#: for a scenario variant; empty: the defaults).
TRANSPORT_OPTIONS: dict[str, Any] = {}
#: ``Config`` fields for phoenix_actor's sockets (``runtime``), set by a contender module.
CONFIG_OPTIONS: dict[str, Any] = {}


def raise_fd_limit() -> int:
    """Raise this process's RLIMIT_NOFILE soft limit to the hard limit; the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (NaN if unknown)."""
    if not pid:
        return math.nan
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuClock:
    """This process's CPU seconds (user and kernel) since it was made."""

    def __init__(self) -> None:
        self._start = os.times()

    def metrics(self) -> Metrics:
        now = os.times()
        return {
            "cpu_user_s": now.user - self._start.user,
            "cpu_sys_s": now.system - self._start.system,
        }


def fanout_metrics(
    ctx: Context, topic: str, counts: Counts, tally: Tally, *, threads0: int, joins_began: float
) -> Metrics:
    """Scenario 4 once every socket has joined ``topic`` (the joins began at
    ``joins_began``): memory, threads and join time, then the broadcasts to them all,
    counted by ``tally``, with their rate and the CPU time they took."""
    metrics: Metrics = {
        "rss_mb": rss_mb(),
        "threads": os_threads() - threads0,
        "connect_s": time.perf_counter() - joins_began,
    }
    t0, cpu = time.perf_counter(), CpuClock()
    server0 = process_cpu_seconds(ctx.server_pid)
    blast(ctx, topic, counts.fanout)
    wait(tally.done, ctx, "every socket's broadcasts")
    metrics["msgs_per_s"] = counts.sockets * counts.fanout / (tally.finished_at - t0)
    metrics["blast_s"] = tally.finished_at - t0
    metrics["server_cpu_s"] = process_cpu_seconds(ctx.server_pid) - server0
    metrics.update(cpu.metrics())
    metrics["peak_rss_mb"] = peak_rss_mb()
    return metrics


def stop_metrics(open_joined: Callable[[], Callable[[], object]], counts: Counts) -> Metrics:
    """Scenario 5 for a threaded contender: ``open_joined()`` opens a joined socket and
    returns what stops it. Times ``counts.stops`` stops, then ``counts.cycles`` open and
    stop cycles, counting the threads and file descriptors they leave behind."""
    open_joined()()  # warm-up
    samples = []
    for _ in range(counts.stops):
        stop = open_joined()
        t0 = time.perf_counter()
        stop()
        samples.append(time.perf_counter() - t0)
    threads0 = settle(os_threads, 1, timeout=1.0)
    fds0 = open_fds()
    t0 = time.perf_counter()
    for _ in range(counts.cycles):
        open_joined()()
    cycle_s = time.perf_counter() - t0
    return {
        **latency_metrics("stop", samples, 1e3),
        "cycles_per_s": counts.cycles / cycle_s,
        "leaked_threads": settle(os_threads, threads0) - threads0,
        "leaked_fds": settle(open_fds, fds0) - fds0,
    }


class Tally:
    """Counts finished parties across threads; ``done`` is set when all have finished."""

    def __init__(self, parties: int) -> None:
        self._lock = threading.Lock()
        self._left = parties
        self.done = threading.Event()
        self.finished_at = 0.0
        if parties <= 0:
            self.done.set()

    def finish(self) -> None:
        """One party is done; the last one stamps ``finished_at`` and sets ``done``."""
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if last:
            self.finished_at = time.perf_counter()
            self.done.set()
