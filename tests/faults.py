"""Helpers of the fault suite (``tests/test_fault_*.py``).

* hypothesis settings for the fuzz tests, bounded for CI, larger with
  ``PHOENIX_ACTOR_STRESS=1``, and a count of the frames fuzzed;
* :class:`LogCapture`: the records of the ``phoenix_actor`` loggers, waitable;
* :class:`Probe`: a client that records every callback, with optional actions;
* descriptor accounting from ``/proc/self/fd`` and ``/proc/net/tcp*`` (Linux);
* :class:`SilentListener`: a TCP port that accepts connections and never answers;
* :class:`BlackholeProxy`: a loopback TCP proxy that can stop forwarding without
  closing anything, as a dead route or a dropped NAT entry does.

Nothing here sleeps: every wait is on an event, a queue or a socket, with a timeout.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import pykka
import pytest
from hypothesis import HealthCheck, settings

import phoenix_actor as pa
from tests.conftest import TIMEOUT
from tests.test_socket_actor import Action, Recorder

# -- hypothesis ------------------------------------------------------------------------

#: ``PHOENIX_ACTOR_STRESS=1`` runs every fuzz test with many more examples.
STRESS = os.environ.get("PHOENIX_ACTOR_STRESS") == "1"

settings.register_profile(
    "phoenix-fault-ci",
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "phoenix-fault-stress",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
_PROFILE = settings.get_profile("phoenix-fault-stress" if STRESS else "phoenix-fault-ci")


def fuzz_settings(ci: int, stress: int) -> settings:
    """The suite's profile with ``ci`` examples (``stress`` under PHOENIX_ACTOR_STRESS=1).

    Applied per test rather than loaded globally, so other test files keep their own.
    """
    return settings(_PROFILE, max_examples=stress if STRESS else ci)


#: Frames (and user inputs) fuzzed in this run, by kind; printed at the end of the
#: fuzz module so that the README can quote a figure.
FUZZED: collections.Counter[str] = collections.Counter()

# -- logs ------------------------------------------------------------------------------


class LogCapture(logging.Handler):
    """Collects the records of ``logger_name`` and its children (any thread).

    Use as a context manager; ``level`` is set on the logger for the duration (and
    restored) so that records of that level are created at all.
    """

    def __init__(self, logger_name: str = "phoenix_actor", level: int = logging.WARNING):
        super().__init__(logging.NOTSET)
        self._logger = logging.getLogger(logger_name)
        self._wanted_level = level
        self._saved_level = logging.NOTSET
        self._records: list[logging.LogRecord] = []
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._changed:
            self._records.append(record)
            self._changed.notify_all()

    def __enter__(self) -> LogCapture:
        self._saved_level = self._logger.level
        self._logger.setLevel(self._wanted_level)
        self._logger.addHandler(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._saved_level)

    def records(self, min_level: int = logging.NOTSET) -> list[logging.LogRecord]:
        """The records so far at ``min_level`` or above, oldest first."""
        with self._changed:
            return [r for r in self._records if r.levelno >= min_level]

    def clear(self) -> None:
        """Forget every record so far."""
        with self._changed:
            self._records.clear()

    def wait_for(
        self, accept: Callable[[logging.LogRecord], bool], timeout: float = TIMEOUT
    ) -> logging.LogRecord:
        """The first record (past or future) ``accept`` is true for."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for record in self._records:
                    if accept(record):
                        return record
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [r.getMessage()[:200] for r in self._records]
                    raise TimeoutError(f"no matching log record within {timeout} s; saw {seen}")
                self._changed.wait(remaining)


# -- a recording client ----------------------------------------------------------------

_RESULTS = (pa.Connect, pa.Reconnect, pa.Stop, pa.Reply, pa.NoReply)


class Probe(Recorder):
    """The :class:`Recorder` of test_socket_actor, with every wait bounded by ``timeout``:
    it puts ``(callback_name, *args)`` in ``events`` for every callback, then runs
    ``actions[name](*args)`` (if given) and returns its result.

    Unlike the library's default, ``handle_disconnected`` returns None (stay
    disconnected) unless an action says otherwise. An action's result that is no
    callback result (such as the ref ``conn.join`` returns) is dropped, and
    ``handle_call`` answers ``Reply(request)`` unless an action says otherwise.
    """

    def __init__(self, first: pa.InitResult, **actions: Action) -> None:
        super().__init__(first, **actions)

    def _record(self, name: str, *args: Any) -> Any:
        result = super()._record(name, *args)
        return result if isinstance(result, _RESULTS) else None

    def handle_call(self, request: Any, caller: pa.Caller, conn: pa.Connection) -> Any:
        result = self._record("call", request, caller, conn)
        return pa.Reply(request) if result is None else result

    def wait(self, name: str, timeout: float = TIMEOUT) -> tuple[Any, ...]:
        """Remove and return the first recorded ``name`` event."""
        return self.events.take(lambda e: e[0] == name, timeout, name)

    def wait_message(self, event: str, timeout: float = TIMEOUT) -> tuple[Any, ...]:
        """Remove and return the first ``handle_message`` call for ``event``."""
        return self.events.take(
            lambda e: e[0] == "message" and e[2] == event, timeout, f"message {event!r}"
        )


def barrier(ref: pykka.ActorRef[Any]) -> None:
    """Return once the actor handled everything told to it before this call."""
    pa.execute(ref, lambda conn: None, TIMEOUT)


def stop_timed(ref: pykka.ActorRef[Any], bound: float = TIMEOUT) -> float:
    """Stop the actor and return how long ``stop()`` took (``pykka.Timeout`` past ``bound``)."""
    started = time.monotonic()
    ref.stop(block=True, timeout=bound)
    return time.monotonic() - started


# -- descriptors -----------------------------------------------------------------------

#: Descriptor accounting reads Linux's /proc; elsewhere the tests using it are skipped.
needs_proc = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd") or not os.path.exists("/proc/net/tcp"),
    reason="descriptor checks read /proc/self/fd and /proc/net/tcp (Linux)",
)


def fd_table() -> dict[int, str]:
    """This process's open descriptors and what each one is (``socket:[inode]``, a path)."""
    table: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        with contextlib.suppress(OSError):  # the descriptor listdir itself used
            table[fd] = os.readlink(f"/proc/self/fd/{fd}")
    return table


def _tcp_inodes(accept: Callable[[int, int], bool]) -> set[str]:
    """Inodes of the TCP sockets whose (local port, remote port) ``accept`` takes."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table, encoding="ascii") as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if fields[9] != "0" and accept(local_port, remote_port):
                    inodes.add(fields[9])
    return inodes


def fds_connected_to(port: int) -> dict[int, str]:
    """Descriptors of this process that are TCP sockets whose remote port is ``port``:
    the client side of connections to a server of ours on ``port``."""
    inodes = _tcp_inodes(lambda _local, remote: remote == port)
    return {
        fd: what
        for fd, what in fd_table().items()
        if what.startswith("socket:[") and what[8:-1] in inodes
    }


def new_fds(before: dict[int, str]) -> dict[int, str]:
    """Descriptors open now that were not open (as the same thing) in ``before``."""
    return {fd: what for fd, what in fd_table().items() if before.get(fd) != what}


# -- a port that never answers ---------------------------------------------------------


class SilentListener:
    """Listens on a loopback port and accepts TCP, but never answers a byte.

    The kernel completes the TCP handshake, so a websocket client gets as far as
    sending its HTTP upgrade and then waits for the response forever.
    """

    def __init__(self, backlog: int = 8) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=backlog)
        self.port: int = self._listener.getsockname()[1]
        self.accepted: list[socket.socket] = []

    def url(self, scheme: str = "ws") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/socket/websocket"

    def accept(self, timeout: float = TIMEOUT) -> socket.socket:
        """The next connection (``TimeoutError`` if none comes)."""
        self._listener.settimeout(timeout)
        conn, _ = self._listener.accept()
        conn.settimeout(timeout)
        self.accepted.append(conn)
        return conn

    @staticmethod
    def read_until(conn: socket.socket, marker: bytes, limit: int = 1 << 16) -> bytes:
        """Read from ``conn`` until ``marker`` arrived (or EOF, or ``limit`` bytes)."""
        data = b""
        while marker not in data and len(data) < limit:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        return data

    def close(self) -> None:
        for conn in self.accepted:
            conn.close()
        self._listener.close()

    def __enter__(self) -> SilentListener:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# -- a server that answers the upgrade its own way ------------------------------------


class HostileServer:
    """Accepts one websocket client on a loopback port, reads its upgrade request, then
    runs ``answer(conn, stop)`` in a thread of its own: that function writes whatever
    it likes, pacing itself with ``stop.wait(delay)`` (set by :meth:`close`). A write
    that fails because the client hung up ends it quietly.
    """

    def __init__(self, answer: Callable[[socket.socket, threading.Event], None]) -> None:
        self._answer = answer
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.stop = threading.Event()
        self.request = b""
        self.ended = threading.Event()  # ``answer`` returned (or the client hung up)
        self._conn: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, name="fault-hostile", daemon=True)
        self._thread.start()

    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/socket/websocket"

    @staticmethod
    def read_upgrade(conn: socket.socket) -> bytes:
        """Read an HTTP request's head from ``conn``."""
        return SilentListener.read_until(conn, b"\r\n\r\n")

    def _run(self) -> None:
        try:
            self._listener.settimeout(TIMEOUT)
            conn, _ = self._listener.accept()
            self._conn = conn
            conn.settimeout(TIMEOUT)
            self.request = self.read_upgrade(conn)
            self._answer(conn, self.stop)
        except OSError:
            pass  # the client hung up (or never came)
        finally:
            self.ended.set()

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes an accept() still waiting
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(TIMEOUT)
        if self._conn is not None:
            self._conn.close()
        self._listener.close()
        assert not self._thread.is_alive(), "the hostile server's thread did not end"

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# -- a proxy that can blackhole --------------------------------------------------------


class _Link:
    """One proxied connection: the client's socket and ours to the upstream server."""

    def __init__(self, downstream: socket.socket, upstream: socket.socket) -> None:
        self.downstream = downstream
        self.upstream = upstream
        self.blackholed = threading.Event()
        self.forwarded = collections.Counter[str]()

    def shut(self) -> None:
        for sock in (self.downstream, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class BlackholeProxy:
    """A threaded loopback TCP proxy to ``upstream_port`` on 127.0.0.1.

    :meth:`blackhole` makes every current connection stop forwarding in both
    directions and stop reading, without closing anything: the client's bytes pile up
    in kernel buffers and nothing comes back, as when a route dies. Connections made
    afterwards are forwarded normally. ``recv_buffer`` (bytes) shrinks the receive
    buffer of the client-facing sockets, so that a blackholed client's sends block
    sooner. With ``blackhole_new`` set, connections accepted from then on are
    blackholed from their first byte. :meth:`close` drops every connection and joins
    every thread.
    """

    def __init__(self, upstream_port: int, recv_buffer: int | None = None) -> None:
        self._upstream_port = upstream_port
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if recv_buffer is not None:  # set before listen(): accepted sockets inherit it
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._closed = threading.Event()
        self.blackhole_new = False
        self._lock = threading.Lock()
        self._links: list[_Link] = []
        self._threads: list[threading.Thread] = []
        self._accepted = threading.Condition(self._lock)
        self._start_thread(self._accept_loop, "fault-proxy-accept")

    def url(self, path: str = "/socket/websocket") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def _start_thread(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while True:
            readable, _, _ = select.select([self._listener, self._wake_r], [], [])
            if self._wake_r in readable:
                return
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self._upstream_port), TIMEOUT)
            except OSError:
                downstream.close()
                continue
            upstream.settimeout(None)
            link = _Link(downstream, upstream)
            if self.blackhole_new:
                link.blackholed.set()
            with self._lock:
                if self._closed.is_set():
                    link.shut()
                    downstream.close()
                    upstream.close()
                    return
                self._links.append(link)
                self._start_thread(self._pump, "fault-proxy-up", link, downstream, upstream, "up")
                self._start_thread(
                    self._pump, "fault-proxy-down", link, upstream, downstream, "down"
                )
                self._accepted.notify_all()

    def _pump(
        self, link: _Link, source: socket.socket, target: socket.socket, direction: str
    ) -> None:
        while not link.blackholed.is_set():
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if link.blackholed.is_set():
                break  # read just as the blackhole began: lost, as on a dead route
            if not data:
                link.shut()  # one side ended: end the other
                return
            try:
                target.sendall(data)
            except OSError:
                link.shut()
                return
            link.forwarded[direction] += len(data)
        self._closed.wait()  # a blackhole never closes, never reads: wait for close()

    def wait_connections(self, count: int, timeout: float = TIMEOUT) -> None:
        """Wait until ``count`` connections were accepted in total."""
        with self._accepted:
            if not self._accepted.wait_for(lambda: len(self._links) >= count, timeout):
                raise TimeoutError(f"{len(self._links)} of {count} connections within {timeout} s")

    def blackhole(self) -> None:
        """Stop forwarding on every current connection, closing nothing."""
        with self._lock:
            for link in self._links:
                link.blackholed.set()

    def close(self) -> None:
        """Drop every connection, stop listening, join every thread (idempotent)."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            links = list(self._links)
        self._wake_w.send(b"x")
        for link in links:
            link.shut()
        for thread in self._threads:
            thread.join(TIMEOUT)
        for link in links:
            link.downstream.close()
            link.upstream.close()
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()
        alive = [t.name for t in self._threads if t.is_alive()]
        assert not alive, f"proxy threads did not end: {alive}"

    def __enter__(self) -> BlackholeProxy:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


@contextlib.contextmanager
def running(ref: pykka.ActorRef[Any]) -> Iterator[pykka.ActorRef[Any]]:
    """Stop the actor on the way out if the test did not."""
    try:
        yield ref
    finally:
        if ref.is_alive():
            with contextlib.suppress(pykka.Timeout):
                ref.stop(block=True, timeout=TIMEOUT)
