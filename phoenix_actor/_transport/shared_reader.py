"""One thread that reads every connection opened with ``TransportOptions(shared_reader=True)``.

With hundreds of sockets in a process, a reader thread per connection means hundreds of
threads waking at once for each broadcast, all asking for the GIL. The shared reader
waits on all the connections with one selector instead and hands each chunk it reads to
the connection's handler, which parses it and tells the socket actor, as a connection's
own reader would. It never blocks on one connection: reads are non-blocking, and the
handler answers pings without waiting (see ``_transport_actor``).

The thread starts with the first connection and ends when the last one is gone; the
selector and its wake-up pipe live as long as the thread.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from phoenix_actor._transport.inbound import LOST, READ_SIZE
from phoenix_actor._transport.reasons import ConnectionLost, DisconnectReason, TransportDown

logger = logging.getLogger("phoenix_actor.transport")

#: How long ``remove`` waits for the thread to let go of a connection.
_REMOVE_TIMEOUT = 5.0


@dataclass(eq=False)
class SharedConnection:
    """One connection as the shared reader sees it.

    ``on_data`` parses a chunk and returns why the connection ended, if it did;
    ``on_end`` is told that reason once (not after :meth:`SharedReader.remove`).
    """

    sock: socket.socket
    on_data: Callable[[bytes], DisconnectReason | None]
    on_end: Callable[[DisconnectReason], None]


class SharedReader:
    """The process's shared reader thread (see the module)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._commands: list[tuple[SharedConnection, threading.Event | None]] = []
        self._thread: threading.Thread | None = None
        self._wake_out: socket.socket | None = None

    def add(self, conn: SharedConnection) -> None:
        """Read ``conn`` from now on (starting the thread if none runs)."""
        self._command(conn, None)

    def remove(self, conn: SharedConnection) -> None:
        """Stop reading ``conn``; when this returns, the thread no longer touches it.

        Call it before closing the socket. It must not be called from the thread itself.
        """
        done = threading.Event()
        if self._command(conn, done) and not done.wait(_REMOVE_TIMEOUT):
            logger.warning("the shared reader did not let go of a connection in time")

    def _command(self, conn: SharedConnection, done: threading.Event | None) -> bool:
        """Queue an add (``done`` None) or a remove; False if there is nothing to remove."""
        with self._lock:
            if self._thread is None:
                if done is not None:
                    return False  # no thread: it holds no connection
                self._start()
            self._commands.append((conn, done))
            wake = self._wake_out
        assert wake is not None
        with contextlib.suppress(OSError):  # a full pipe already wakes it
            wake.send(b"\0", socket.MSG_DONTWAIT)
        return True

    def _start(self) -> None:
        wake_in, self._wake_out = socket.socketpair()
        wake_in.setblocking(False)
        self._thread = threading.Thread(
            target=self._run, args=(wake_in,), name="phoenix_actor-shared-reader", daemon=True
        )
        self._thread.start()

    def _run(self, wake_in: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(wake_in, selectors.EVENT_READ, None)
        live: set[SharedConnection] = set()
        try:
            while self._apply_commands(selector, live):
                for key, _ in selector.select():
                    conn = key.data
                    if conn is None:
                        with contextlib.suppress(OSError):
                            wake_in.recv(4096)
                    elif conn in live:
                        reason = self._read(conn)
                        if reason is not None:
                            live.discard(conn)
                            selector.unregister(conn.sock)
                            self._end(conn, reason)
        except Exception as exc:  # a bug of ours: end every connection, not hang them
            logger.exception("the shared reader failed; its connections are closed")
            self._fail(live, TransportDown(f"the shared reader failed: {exc!r}"))
        finally:
            selector.close()
            wake_in.close()

    def _fail(self, live: set[SharedConnection], reason: DisconnectReason) -> None:
        """End ``live`` and whatever waits to be added; the next add starts afresh."""
        with self._lock:
            commands, self._commands = self._commands, []
            self._thread = None
            wake_out, self._wake_out = self._wake_out, None
        if wake_out is not None:
            wake_out.close()
        for conn, done in commands:
            if done is None:
                live.add(conn)
            else:
                live.discard(conn)
                done.set()
        for conn in live:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
            self._end(conn, reason)

    def _apply_commands(
        self, selector: selectors.BaseSelector, live: set[SharedConnection]
    ) -> bool:
        """Take the queued adds and removes; False (the thread ends) when none is left."""
        with self._lock:
            commands, self._commands = self._commands, []
            for conn, done in commands:
                if done is None:
                    try:
                        selector.register(conn.sock, selectors.EVENT_READ, conn)
                    except (OSError, ValueError, KeyError) as exc:  # closed in the meantime
                        self._end(conn, TransportDown(f"cannot read the socket: {exc}"))
                    else:
                        live.add(conn)
                elif conn in live:
                    live.discard(conn)
                    selector.unregister(conn.sock)
                if done is not None:
                    done.set()
            if live:
                return True
            self._thread = None  # the next add starts a new thread, with a new pipe
            wake_out, self._wake_out = self._wake_out, None
        if wake_out is not None:
            wake_out.close()
        return False

    def _read(self, conn: SharedConnection) -> DisconnectReason | None:
        try:
            data = conn.sock.recv(READ_SIZE, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            return ConnectionLost(str(exc) or type(exc).__name__)
        if not data:
            return ConnectionLost(LOST)
        try:
            return conn.on_data(data)
        except Exception as exc:  # a bug of ours must not stop every other connection
            logger.exception("reading a connection failed; closing it")
            return TransportDown(f"the shared reader failed: {exc!r}")

    @staticmethod
    def _end(conn: SharedConnection, reason: DisconnectReason) -> None:
        try:
            conn.on_end(reason)
        except Exception:
            logger.exception("reporting the end of a connection failed")


#: The process's shared reader.
SHARED_READER = SharedReader()
