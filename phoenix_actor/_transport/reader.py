"""The one thread that reads every connection of the process.

A reader thread per connection means thousands of threads waking at once for each
broadcast, all asking for the GIL. The reader waits on every connection with one
selector instead, and hands each chunk it reads to the connection's handler, which
parses it and tells the socket actor. It never blocks on one connection: sockets are
non-blocking once connected, TLS ones included (a TLS record read in part waits in the
``ssl`` object, and what a record decrypted beyond one read is drained at once, since
the selector cannot see it). Pings are answered without waiting (see ``actor``).

A connection whose socket has too many frames waiting (``Config.max_pending_frames``)
is *held*: it is not read until :meth:`Reader.resume` is called, so the server feels
the backpressure through TCP.

The thread starts with the first connection and ends when the last one is gone; the
selector and its wake-up pipe live as long as the thread.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from phoenix_actor._transport.inbound import LOST, READ_SIZE
from phoenix_actor._transport.reasons import ConnectionLost, DisconnectReason, TransportDown

logger = logging.getLogger("phoenix_actor.transport")

#: How long ``remove`` waits for the thread to let go of a connection.
_REMOVE_TIMEOUT = 5.0
#: Reads of one connection in a row, at most, before the others get their turn.
_READS_PER_TURN = 4

_ADD, _REMOVE, _RESUME = "add", "remove", "resume"


@dataclass(eq=False)
class ReadConnection:
    """One connection as the reader sees it.

    ``on_data`` parses a chunk and returns why the connection ended, if it did;
    ``on_end`` is told that reason once (not after :meth:`Reader.remove`). The handler
    sets :attr:`held` (from ``on_data``) to stop the reading until :meth:`Reader.resume`.
    """

    sock: socket.socket
    on_data: Callable[[bytes], DisconnectReason | None]
    on_end: Callable[[DisconnectReason], None]
    held: bool = False
    tls: bool = field(init=False)

    def __post_init__(self) -> None:
        self.tls = isinstance(self.sock, ssl.SSLSocket)


class Reader:
    """The process's reader thread (see the module)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._commands: list[tuple[str, ReadConnection, threading.Event | None, bytes]] = []
        self._thread: threading.Thread | None = None
        self._wake_out: socket.socket | None = None

    @property
    def thread(self) -> threading.Thread | None:
        """The reader thread, while one runs."""
        return self._thread

    def add(self, conn: ReadConnection, first: bytes = b"") -> None:
        """Read ``conn`` from now on (starting the thread if none runs), beginning with
        ``first``, what was read along with the upgrade; its socket must be non-blocking.
        """
        self._command(_ADD, conn, None, first)

    def resume(self, conn: ReadConnection) -> None:
        """Read a held connection again (from any thread; nothing if it is not held)."""
        self._command(_RESUME, conn, None)

    def remove(self, conn: ReadConnection) -> None:
        """Stop reading ``conn``; when this returns, the thread no longer touches it.

        Call it before closing the socket. It must not be called from the thread itself.
        """
        done = threading.Event()
        if self._command(_REMOVE, conn, done) and not done.wait(_REMOVE_TIMEOUT):
            logger.warning("the reader did not let go of a connection in time")

    def _command(
        self, kind: str, conn: ReadConnection, done: threading.Event | None, first: bytes = b""
    ) -> bool:
        """Queue a command; False if there is no thread (nothing to remove or resume)."""
        with self._lock:
            if self._thread is None:
                if kind != _ADD:
                    return False  # no thread: it holds no connection
                self._start()
            self._commands.append((kind, conn, done, first))
            wake = self._wake_out
        assert wake is not None
        with contextlib.suppress(OSError):  # a full pipe already wakes it
            wake.send(b"\0")
        return True

    def _start(self) -> None:
        wake_in, self._wake_out = socket.socketpair()
        wake_in.setblocking(False)
        self._wake_out.setblocking(False)
        self._thread = threading.Thread(
            target=self._run, args=(wake_in,), name="phoenix_actor-reader", daemon=True
        )
        self._thread.start()

    def _run(self, wake_in: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(wake_in, selectors.EVENT_READ, None)
        live: set[ReadConnection] = set()
        try:
            while self._apply_commands(selector, live):
                for key, _ in selector.select():
                    conn = key.data
                    if conn is None:
                        with contextlib.suppress(OSError):
                            wake_in.recv(4096)
                    elif conn in live and not conn.held:
                        self._read_watched(selector, conn, live)
        except Exception as exc:  # a bug of ours: end every connection, not hang them
            logger.exception("the reader failed; its connections are closed")
            self._fail(live, TransportDown(f"the reader failed: {exc!r}"))
        finally:
            selector.close()
            wake_in.close()

    def _fail(self, live: set[ReadConnection], reason: DisconnectReason) -> None:
        """End ``live`` and whatever waits to be added; the next add starts afresh."""
        with self._lock:
            commands, self._commands = self._commands, []
            self._thread = None
            wake_out, self._wake_out = self._wake_out, None
        if wake_out is not None:
            wake_out.close()
        for kind, conn, done, _first in commands:
            if kind == _ADD:
                live.add(conn)
            elif kind == _REMOVE:
                live.discard(conn)
            if done is not None:
                done.set()
        for conn in live:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
            self._end(conn, reason)

    def _apply_commands(self, selector: selectors.BaseSelector, live: set[ReadConnection]) -> bool:
        """Take the queued commands; False (the thread ends) when no connection is left."""
        with self._lock:
            commands, self._commands = self._commands, []
            for kind, conn, done, first in commands:
                if kind == _ADD:
                    self._start_reading(selector, conn, live, first)
                elif conn not in live:
                    pass
                elif kind == _REMOVE:
                    live.discard(conn)
                    if not conn.held:
                        with contextlib.suppress(KeyError, ValueError):
                            selector.unregister(conn.sock)
                elif conn.held:  # _RESUME
                    conn.held = False
                    self._watch(selector, conn, live)
                if done is not None:
                    done.set()
            if live:
                return True
            self._thread = None  # the next add starts a new thread, with a new pipe
            wake_out, self._wake_out = self._wake_out, None
        if wake_out is not None:
            wake_out.close()
        return False

    def _start_reading(
        self,
        selector: selectors.BaseSelector,
        conn: ReadConnection,
        live: set[ReadConnection],
        first: bytes,
    ) -> None:
        live.add(conn)
        if first:
            reason = self._handle(conn, first)
            if reason is not None:
                live.discard(conn)
                self._end(conn, reason)
                return
        if not conn.held:
            self._watch(selector, conn, live)

    def _watch(
        self, selector: selectors.BaseSelector, conn: ReadConnection, live: set[ReadConnection]
    ) -> None:
        try:
            selector.register(conn.sock, selectors.EVENT_READ, conn)
        except (OSError, ValueError, KeyError) as exc:  # closed in the meantime
            live.discard(conn)
            self._end(conn, TransportDown(f"cannot read the socket: {exc}"))
            return
        if conn.tls and conn.sock.pending():  # type: ignore[attr-defined]
            # Decrypted before the hand-over: the selector would not see it.
            self._read_watched(selector, conn, live)

    def _read_watched(
        self, selector: selectors.BaseSelector, conn: ReadConnection, live: set[ReadConnection]
    ) -> None:
        """Read a watched connection; stop watching it if it ended or is now held."""
        reason = self._read(conn)
        if reason is None and not conn.held:
            return
        selector.unregister(conn.sock)
        if reason is not None:
            live.discard(conn)
            self._end(conn, reason)

    def _read(self, conn: ReadConnection) -> DisconnectReason | None:
        """Read what is there (TLS: all that was decrypted), a few chunks at most."""
        sock = conn.sock
        for _ in range(_READS_PER_TURN):
            try:
                data = sock.recv(READ_SIZE)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                return None
            except ssl.SSLWantWriteError:
                return None  # a renegotiation wants to write first: it is read next time
            except OSError as exc:
                return ConnectionLost(str(exc) or type(exc).__name__)
            if not data:
                return ConnectionLost(LOST)
            reason = self._handle(conn, data)
            if reason is not None or conn.held:
                return reason
            if len(data) < READ_SIZE and not (conn.tls and sock.pending()):  # type: ignore[attr-defined]
                return None  # drained
        return None

    @staticmethod
    def _handle(conn: ReadConnection, data: bytes) -> DisconnectReason | None:
        try:
            return conn.on_data(data)
        except Exception as exc:  # a bug of ours must not stop every other connection
            logger.exception("reading a connection failed; closing it")
            return TransportDown(f"the reader failed: {exc!r}")

    @staticmethod
    def _end(conn: ReadConnection, reason: DisconnectReason) -> None:
        try:
            conn.on_end(reason)
        except Exception:
            logger.exception("reporting the end of a connection failed")


#: The process's reader.
READER = Reader()
