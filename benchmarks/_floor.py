"""``python -m benchmarks --floor``: the fixed costs of phoenix_actor's design, without it.

The design: a Pykka ThreadingActor per socket, a child actor (the transport) per
connection and a reader thread per connection that blocks in ``recv`` and tells the
socket actor. No phoenix_actor code runs here: threads, actors and loopback TCP to a
helper process (``python -m benchmarks._floor``, its own GIL) that echoes or writes.
Latencies are measured twice: with this process and the helper pinned to one core,
and unpinned (as the benchmarks run).
"""

from __future__ import annotations

import os
import platform
import queue
import resource
import select
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from importlib import metadata
from itertools import pairwise
from typing import Any, NoReturn

import pykka

from benchmarks import _machine
from benchmarks._common import BenchError, Tally, percentile

SIZE = 56  #: bytes of one message (a V2 broadcast frame is about that)
_MESSAGE = b"x" * SIZE
Ref = pykka.ActorRef[Any]


@dataclass(frozen=True)
class FloorCounts:
    """How much each measurement does per run."""

    starts: int = 300  #: thread starts and actor starts
    trips: int = 2_000  #: round trips of each ping-pong
    sockets: int = 1_000  #: sockets of the fan-out
    messages: int = 20  #: messages each of those sockets receives


SMOKE = FloorCounts(starts=20, trips=50, sockets=20, messages=5)


class _Fn(pykka.ThreadingActor):
    """Calls ``fn`` on every message; sets ``started`` in ``on_start``."""

    def __init__(self, fn: Callable[[Any], None], started: threading.Event | None = None) -> None:
        super().__init__()
        self._fn, self._started = fn, started

    def on_start(self) -> None:
        if self._started is not None:
            self._started.set()

    def on_receive(self, message: Any) -> None:
        self._fn(message)


def _fail(what: str) -> NoReturn:
    raise BenchError(what)


def _wait(event: threading.Event, timeout: float, what: str) -> None:
    if not event.wait(timeout):
        _fail(f"timed out after {timeout:g} s waiting for {what}")


def _stop(refs: Sequence[Ref], timeout: float) -> None:
    for future in [ref.stop(block=False) for ref in refs]:
        future.get(timeout=timeout)


def _recv(sock: socket.socket, size: int = 65536) -> bytes:
    try:
        return sock.recv(size)
    except OSError:
        return b""


def _reader(sock: socket.socket, target: Ref) -> threading.Thread:
    """A thread blocked in ``recv`` that tells ``target`` every whole message."""

    def run() -> None:
        buffer = b""
        while data := _recv(sock):
            buffer += data
            whole = len(buffer) // SIZE
            for i in range(whole):
                target.tell(buffer[i * SIZE : (i + 1) * SIZE])
            buffer = buffer[whole * SIZE :]

    thread = threading.Thread(target=run, name="floor-reader", daemon=True)
    thread.start()
    return thread


def _close(socks: Sequence[socket.socket], readers: Sequence[threading.Thread] = ()) -> None:
    for sock in socks:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes a reader blocked in recv
    for thread in readers:
        thread.join()
    for sock in socks:
        sock.close()


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed if hard < 0 else hard, hard))


def _helper(sockets: int) -> None:
    """The peer process: on "0 0" echoes one connection until it closes; on "N M" accepts
    N, says "ready", and on "go" writes M messages to each, round robin."""
    _raise_fd_limit(sockets + 100)
    with socket.create_server(("127.0.0.1", 0), backlog=4096) as listener:
        print(listener.getsockname()[1], flush=True)
        for command in sys.stdin:
            count, messages = map(int, command.split())
            conns = [listener.accept()[0] for _ in range(max(count, 1))]
            for conn in conns:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with suppress(OSError):
                while not count and (data := _recv(conns[0])):
                    conns[0].sendall(data)
                if count:
                    print("ready", flush=True)
                    sys.stdin.readline()  # go
                    began = time.perf_counter()
                    for _ in range(messages):
                        for conn in conns:
                            conn.sendall(_MESSAGE)
                    print(time.perf_counter() - began, flush=True)
                    sys.stdin.readline()  # the readers are done
            for conn in conns:
                conn.close()


class _Peer:
    """The helper process (started with this thread's CPU affinity) and its port."""

    def __init__(self, sockets: int, timeout: float) -> None:
        self.timeout = timeout
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._floor", str(sockets)],
            cwd=_machine.REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = int(self.answer())

    def __enter__(self) -> _Peer:
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._process.stdin is not None
        with suppress(OSError):
            self._process.stdin.close()  # EOF: the helper exits
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()

    def say(self, line: str) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()

    def answer(self) -> str:
        out = self._process.stdout
        assert out is not None
        if not select.select([out], [], [], self.timeout)[0]:
            _fail(f"the helper process did not answer within {self.timeout:g} s")
        return out.readline().strip() or _fail("the helper process exited")

    def connect(self, count: int = 0, messages: int = 0) -> list[socket.socket]:
        """``count`` connections the helper writes to on "go", or (0) one it echoes."""
        self.say(f"{count} {messages}")
        socks = []
        for _ in range(max(count, 1)):
            socks.append(socket.create_connection(("127.0.0.1", self.port), self.timeout))
            socks[-1].setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            socks[-1].settimeout(None)  # blocking, as a reader thread's socket is
        if count:
            self.answer()  # ready: all accepted
        return socks


def _starts(n: int, actor: bool, timeout: float) -> list[float]:
    """Thread.start() until it returns, or ThreadingActor.start() until on_start ran."""
    release, threads, refs, samples = threading.Event(), [], [], []
    try:
        for _ in range(n):
            began, started = time.perf_counter(), threading.Event()
            if actor:
                refs.append(_Fn.start(lambda _: None, started))
                _wait(started, timeout, "on_start")
            else:
                threads.append(threading.Thread(target=release.wait, daemon=True))
                threads[-1].start()
            samples.append(time.perf_counter() - began)
    finally:
        release.set()
        _stop(refs, timeout)
    for thread in threads:
        thread.join()
    return samples


def _echo(there: queue.Queue[int], back: queue.Queue[int]) -> None:
    for count in iter(there.get, -1):
        back.put(count)


def _ping_pong(n: int, actors: bool, timeout: float) -> list[float]:
    """Per hand-off: two actors telling each other, or two threads over queue.Queue."""
    stamps, done, peers = [time.perf_counter()], threading.Event(), list[Ref]()
    there: queue.Queue[int] = queue.Queue()
    back: queue.Queue[int] = queue.Queue()

    def ping(count: int) -> None:
        stamps.append(time.perf_counter())
        if count < n:
            peers[1].tell(count + 1)
        else:
            done.set()

    if actors:
        peers.append(_Fn.start(ping))
        peers.append(_Fn.start(peers[0].tell))
        peers[1].tell(1)
        try:
            _wait(done, timeout, "the ping-pong")
        finally:
            _stop(peers, timeout)
    else:
        thread = threading.Thread(target=_echo, args=(there, back))
        thread.start()
        for count in range(n):
            there.put(count)
            back.get(timeout=timeout)
            stamps.append(time.perf_counter())
        there.put(-1)
        thread.join()
    return [(b - a) / 2 for a, b in pairwise(stamps)]  # two hand-offs a round trip


def _trips(peer: _Peer, n: int, handoffs: int) -> list[float]:
    """Round trips to the echo. 0 hand-offs: this thread sends and receives. 1: a reader
    tells an actor each reply and the actor sends the next request. 3: this thread tells
    the actor a future, the actor sends, the reader tells it the reply, it sets the future."""
    sock = peer.connect()[0]
    stamps, pending, done = [time.perf_counter()], [], threading.Event()

    def on_message(message: Any) -> None:
        if isinstance(message, pykka.ThreadingFuture):  # 3: the caller's push
            pending.append(message)
            sock.sendall(_MESSAGE)
        elif pending:  # 3: its reply
            pending.pop().set(message)
        else:  # 1: a reply; send the next request
            stamps.append(time.perf_counter())
            if len(stamps) > n:
                done.set()
            else:
                sock.sendall(_MESSAGE)

    actor = _Fn.start(on_message) if handoffs else None
    readers = [_reader(sock, actor)] if actor else []
    try:
        if handoffs == 1:
            sock.sendall(_MESSAGE)
            _wait(done, peer.timeout, "the round trips")
        while handoffs != 1 and len(stamps) <= n:
            if actor:
                future: pykka.ThreadingFuture[bytes] = pykka.ThreadingFuture()
                actor.tell(future)
                future.get(timeout=peer.timeout)
            else:
                sock.sendall(_MESSAGE)
                got = 0
                while got < SIZE:
                    got += len(_recv(sock, SIZE - got) or _fail("the echo closed"))
            stamps.append(time.perf_counter())
    finally:
        _close([sock], readers)
        _stop([actor] if actor else [], peer.timeout)
    return [b - a for a, b in pairwise(stamps)]


def _counter(left: int, tally: Tally) -> Callable[[Any], None]:
    def count(_message: Any) -> None:
        nonlocal left
        left -= 1
        if left == 0:
            tally.finish()

    return count


def _tell_from_selector(selector: selectors.BaseSelector, tally: Tally, timeout: float) -> None:
    """One thread reads every socket and tells each socket's actor its whole messages."""
    deadline = time.monotonic() + timeout
    while not tally.done.is_set():
        if time.monotonic() > deadline:
            _fail("the actors did not get every fan-out message")
        for key, _ in selector.select(0.05):
            sock, target, rest = key.data
            data = rest + (_recv(sock) or _fail("a fan-out socket closed"))
            whole = len(data) // SIZE
            for i in range(whole):
                target.tell(data[i * SIZE : (i + 1) * SIZE])
            key.data[2] = data[whole * SIZE :]


def _fan_out(peer: _Peer, sockets: int, messages: int, mode: str) -> list[float]:
    """msg/s delivered to the sockets' actors (mode "readers": a reader thread per
    socket; "shared": one selector thread for all), or counted by one selector thread
    ("selector"); the helper's msg/s; the set-up seconds. Each socket gets an idle actor
    as well, as a socket's transport actor."""
    began, refs, readers, tally = time.perf_counter(), [], [], Tally(sockets)
    socks, selector = peer.connect(sockets, messages), selectors.DefaultSelector()
    left = {sock.fileno(): messages * SIZE for sock in socks}
    actors = mode != "selector"
    try:
        for sock in socks:
            if actors:
                refs += [_Fn.start(_counter(messages, tally)), _Fn.start(lambda _: None)]
            if mode == "readers":
                readers.append(_reader(sock, refs[-2]))
            elif mode == "shared":
                selector.register(sock, selectors.EVENT_READ, [sock, refs[-2], b""])
            else:
                selector.register(sock, selectors.EVENT_READ, sock)
        setup, began = time.perf_counter() - began, time.perf_counter()
        peer.say("go")
        while left and not actors:
            for key, _ in selector.select(peer.timeout) or _fail("no fan-out messages"):
                left[key.fd] -= len(_recv(key.data) or _fail("a fan-out socket closed"))
                if left[key.fd] <= 0:
                    selector.unregister(key.data)
                    del left[key.fd]
        if mode == "shared":
            _tell_from_selector(selector, tally, peer.timeout)
        if actors:
            _wait(tally.done, peer.timeout, "every actor's messages")
        ended = tally.finished_at if actors else time.perf_counter()
        sent = sockets * messages / float(peer.answer())
    finally:
        _close(socks, readers)
        _stop(refs, peer.timeout)
        selector.close()
    peer.say("done")
    return [sockets * messages / (ended - began), sent, setup]


@contextmanager
def _switch_interval(seconds: float) -> Iterator[None]:
    """``sys.setswitchinterval(seconds)`` for the block."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def machine() -> list[str]:
    """What the floor depends on: cores, load, OS, Python and pykka."""
    return [
        *_machine.host(),
        f"- Python {platform.python_version()} ({platform.python_implementation()}, switch "
        f"interval {sys.getswitchinterval() * 1e3:g} ms), pykka {metadata.version('pykka')}",
    ]


@contextmanager
def _affinity(cpus: set[int]) -> Iterator[None]:
    """Run this thread, the threads it starts and the helper it starts on ``cpus``."""
    mask = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, mask)


def _latencies(peer: _Peer, c: FloorCounts, repeats: int) -> dict[str, list[float]]:
    """By row: the medians over runs of p50 and p99 (us), and the lowest and highest p50."""
    t = peer.timeout
    samples: dict[str, tuple[Callable[[int], list[float]], int]] = {
        "thread": (lambda n: _starts(n, False, t), c.starts),
        "actor": (lambda n: _starts(n, True, t), c.starts),
        "tell": (lambda n: _ping_pong(n, True, t), c.trips),
        "queue": (lambda n: _ping_pong(n, False, t), c.trips),
        "trip0": (lambda n: _trips(peer, n, 0), c.trips),
        "trip1": (lambda n: _trips(peer, n, 1), c.trips),
        "trip3": (lambda n: _trips(peer, n, 3), c.trips),
    }
    runs: dict[str, list[list[float]]] = {key: [] for key in samples}
    for _ in range(repeats):  # interleaved: each row sees the same spells of the machine
        for key, (sample, n) in samples.items():
            runs[key].append(sample(n + n // 10)[n // 10 :])  # a tenth more: the warm-up
    found = {}
    for key, values in runs.items():
        p50s = [percentile(r, 50) * 1e6 for r in values]
        p99 = statistics.median(percentile(r, 99) * 1e6 for r in values)
        found[key] = [statistics.median(p50s), p99, min(p50s), max(p50s)]
    return found


def _num(value: float, digits: int, base: float = 0.0) -> str:
    return f"{value:,.{digits}f}" + (f" ({value / base:.2f}x)" if base else "")


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    rule = ["-" * (w + 2) if i < 2 else "-" * (w + 1) + ":" for i, w in enumerate(widths)]
    lines = [
        "| "
        + " | ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(cells))
        + " |"
        for cells in (zip(row, widths, strict=True) for row in rows)
    ]
    return [lines[0], "|" + "|".join(rule) + "|", *lines[1:]]


def run(smoke: bool, repeats: int, timeout: float) -> list[str]:
    """Measure everything (each ``repeats`` times): the report's lines."""
    c, cpus = SMOKE if smoke else FloorCounts(), os.sched_getaffinity(0)
    _raise_fd_limit(c.sockets + 100)
    with _affinity({min(cpus)}), _Peer(c.sockets, timeout) as peer:
        pin = _latencies(peer, c, repeats)
    with _Peer(c.sockets, timeout) as peer:
        free = _latencies(peer, c, repeats)
        shapes = [
            (c.sockets, c.messages, "readers"),
            (c.sockets, c.messages, "selector"),
            (1, c.sockets * c.messages, "readers"),
            (c.sockets, c.messages, "shared"),
        ]

        def once() -> list[list[float]]:
            results = [_fan_out(peer, *shape) for shape in shapes]
            with _switch_interval(0.05):
                results.append(_fan_out(peer, *shapes[0]))
            return results

        runs = [once() for _ in range(repeats)]
        fan, sel, one, shared, tuned = (
            [statistics.median(r[k][i] for r in runs) for i in range(3)] for k in range(5)
        )

    def row(label: str, key: str, base: str = "") -> list[str]:
        cells = [_num(m[key][q], 1, m.get(base, [0, 0])[q]) for m in (pin, free) for q in (0, 1)]
        return [label, "us", *cells, f"{free[key][2]:.1f} - {free[key][3]:.1f}"]

    def rate(label: str, value: float, base: float = 0.0, unit: str = "msg/s") -> list[str]:
        return [label, unit, "", "", _num(value, 2 if unit == "s" else 0, base), "", ""]

    each = f"{c.sockets:,} sockets x {c.messages}"
    table = _table(
        [
            ["design floor", "unit", "one core", "p99", "unpinned", "p99", "unpinned runs' p50"],
            row("1. threading.Thread start()", "thread"),
            row("2. ThreadingActor.start() until on_start ran", "actor"),
            row(f"3. hand-off: actor tell -> on_receive ({c.trips:,} ping-pongs)", "tell"),
            row("3. hand-off: queue.Queue put -> get (threads)", "queue"),
            row(f"4. TCP echo round trip, raw send + recv ({c.trips:,})", "trip0"),
            row("4. round trip + 1 hand-off (reader -> actor, actor sends)", "trip1", "trip0"),
            row("4. round trip + 3 hand-offs (caller -> actor -> future)", "trip3", "trip0"),
            rate(f"5. {each}: reader + 2 actors per socket", fan[0], sel[0]),
            rate(f"5. {each}: the same, switch interval 50 ms", tuned[0], sel[0]),
            rate(f"5. {each}: one reader thread for all, 2 actors per socket", shared[0], sel[0]),
            rate(f"5. {each}: one selector thread", sel[0]),
            rate(f"5. {each}: the helper's send loop (selector runs)", sel[1]),
            rate(f"5. 1 socket x {c.sockets * c.messages:,}: reader + 2 actors", one[0]),
            rate(f"5. set-up: {c.sockets:,} connects, readers, 2 actors each", fan[2], unit="s"),
        ]
    )

    def added(key: str, mode: dict[str, list[float]]) -> str:
        return f"{mode[key][0] - mode['trip0'][0]:+.1f} us"  # noise can make it negative

    starts = {name: 2 * m["actor"][0] + m["thread"][0] for name, m in (("", free), ("1", pin))}
    lines = [
        f"Latencies: p50 and p99, medians of {repeats} run{'s' if repeats > 1 else ''}; msg/s "
        "and s: medians. No phoenix_actor code: a helper process echoes and writes over "
        "loopback TCP. One core: this process and the helper pinned to one CPU; unpinned: as "
        "the benchmarks run. In parentheses: the ratio to raw (4.) or to one selector thread (5.).",
        "",
        *table,
        "",
        f"- a round trip with one hand-off (the callback API) takes {added('trip1', free)} "
        f"(unpinned p50; one core: {added('trip1', pin)}); with three (the facade), "
        f"{added('trip3', free)} (one core: {added('trip3', pin)})",
        f"- connect: 3 thread starts = {3 * free['thread'][0]:.0f} us; 2 actor starts + 1 thread "
        f"start = {starts['']:.0f} us (unpinned p50; one core: {starts['1']:.0f} us); connect "
        f"+ join p50 <= 1.3x raw needs a raw connect + join of >= {starts[''] / 300:.2f} ms",
        f"- {c.sockets:,} sockets, reader+actor per socket: {fan[0]:,.0f} msg/s = "
        f"{fan[0] / sel[0]:.2f}x of one selector thread, {fan[0] / one[0]:.2f}x of one socket "
        f"with reader + actor; aggregate >= 0.7x scenario 1 needs scenario 1 <= "
        f"{fan[0] / 0.7:,.0f} msg/s ({tuned[0] / 0.7:,.0f} msg/s with the switch interval "
        "at 50 ms)",
        f"- with one reader thread for all sockets (not the design: it has a reader per "
        f"connection) instead: {shared[0]:,.0f} msg/s, {shared[0] / fan[0]:.1f}x",
    ]
    if sel[0] > 0.8 * sel[1]:
        lines.append("- the selector thread read about as fast as the helper sent: a lower bound")
    return lines


if __name__ == "__main__":
    _helper(int(sys.argv[1]))
