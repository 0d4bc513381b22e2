"""What ``phoenix-actor connect`` reads: requests, from arguments or stdin lines.

:class:`Request` is one join, leave or push; :class:`_StdinPump` reads JSON lines from
stdin, sends them, and reports the requests that fail.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import pykka

from phoenix_actor import ChannelReply, Connection
from phoenix_actor._cli.output import (
    EXIT_CHANNEL_CLOSED,
    EXIT_JOIN_REFUSED,
    EXIT_LOST,
    EXIT_REPLY_ERROR,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    dumps,
)
from phoenix_actor._protocol.constants import EVENT_JOIN, EVENT_LEAVE
from phoenix_actor.exceptions import (
    CallTimeoutError,
    ChannelClosedError,
    DisconnectedError,
    NoReplyError,
    PushError,
    PushTimeoutError,
    SocketStoppedError,
)


class _Run(Protocol):
    """What the stdin pump uses of the run of ``connect`` (``connect._Run`` is one)."""

    @property
    def timeout(self) -> float: ...

    def execute(self, function: Callable[[Connection], Any]) -> Any: ...

    def send(self, conn: Connection, request: Request) -> pykka.Future[ChannelReply]: ...

    def stdin_drained(self) -> None: ...

    def request_failed(self, code: int, message: str) -> None: ...


#: Seconds a caller waits beyond a request's own timeout, which the socket enforces.
_GRACE = 2.0


@dataclass(frozen=True, slots=True)
class Request:
    """A join (``phx_join``), leave (``phx_leave``) or push: from an argument or stdin."""

    topic: str
    event: str
    payload: Any = None

    def describe(self) -> str:
        if self.event == EVENT_JOIN:
            return f"the join of {self.topic!r}"
        if self.event == EVENT_LEAVE:
            return f"the leave of {self.topic!r}"
        return f"push {self.event!r} to {self.topic!r}"

    @classmethod
    def from_json(cls, line: bytes) -> Request:
        """Parse ``{"topic": ..., "event": ..., "payload": ...}`` (payload optional).

        Raises :class:`BadLine`, whose message never repeats the line (it may hold a
        token).
        """
        try:
            value = json.loads(line)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise BadLine(f"not JSON ({exc})") from None
        if not isinstance(value, dict):
            raise BadLine(f"expected a JSON object, got {type(value).__name__}")
        unknown = sorted(set(value) - {"topic", "event", "payload"})
        if unknown:
            raise BadLine(f"unknown keys {unknown} (expected topic, event, payload)")
        topic, event = value.get("topic"), value.get("event")
        if not isinstance(topic, str) or not topic:
            raise BadLine("'topic' must be a non-empty string")
        if not isinstance(event, str) or not event:
            raise BadLine("'event' must be a non-empty string")
        return cls(topic, event, value.get("payload"))


def reply_error(request: Request, reply: ChannelReply) -> str:
    """What to say about a reply to ``request`` whose status is not ``ok``."""
    if request.event == EVENT_JOIN:
        return f"the server refused to join {request.topic!r}: {dumps(reply.response)}"
    return (
        f"the server answered {request.describe()} with status {reply.status!r}: "
        f"{dumps(reply.response)}"
    )


class BadLine(ValueError):
    """A stdin line that is not a request."""


_STOP: Any = object()


class _StdinPump:
    """Reads JSON lines from a file descriptor and sends them; reports failed requests.

    The reader blocks in ``os.read`` (no buffered-file lock, so a daemon thread left
    blocked at exit is harmless); the reaper waits for each request's reply in order.
    """

    def __init__(self, fd: int, run: _Run) -> None:
        self._fd = fd
        self._run = run
        self._pending: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._reader = threading.Thread(target=self._read, name="phoenix-cli-stdin", daemon=True)
        self._reaper = threading.Thread(target=self._reap, name="phoenix-cli-replies", daemon=True)

    def start(self) -> None:
        self._reaper.start()
        self._reader.start()

    def stop(self, timeout: float) -> None:
        """End the reaper (the socket has stopped, so every reply is settled)."""
        self._pending.put(_STOP)
        self._reaper.join(timeout)

    def _lines(self) -> Iterator[bytes]:
        rest = b""
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            *lines, rest = (rest + chunk).split(b"\n")
            yield from lines
        if rest:
            yield rest

    def _read(self) -> None:
        for number, raw in enumerate(self._lines(), 1):
            if not raw.strip():
                continue
            where = f"stdin line {number}"
            try:
                request = Request.from_json(raw)
            except ValueError as exc:
                self._failed(EXIT_USAGE, f"{where}: {exc}; skipped")
                continue
            try:
                future = self._run.execute(functools.partial(self._run.send, request=request))
            except PushError as exc:
                code = EXIT_LOST if isinstance(exc, DisconnectedError) else EXIT_USAGE
                self._failed(code, f"{where}: {request.describe()} not sent: {exc}")
                continue
            except (SocketStoppedError, CallTimeoutError):
                break
            self._pending.put((where, request, future))
        self._pending.put(_STOP)  # EOF: the reaper ends once every reply is in

    def _reap(self) -> None:
        while True:
            item = self._pending.get()
            if item is _STOP:
                break
            where, request, future = item
            timeout = self._run.timeout
            try:
                reply: ChannelReply = future.get(timeout=timeout + _GRACE)
            except SocketStoppedError:
                return
            except (PushTimeoutError, pykka.Timeout):
                self._failed(
                    EXIT_TIMEOUT, f"{where}: no reply to {request.describe()} within {timeout} s"
                )
                continue
            except NoReplyError as exc:  # the channel or the connection closed first
                code = EXIT_CHANNEL_CLOSED if isinstance(exc, ChannelClosedError) else EXIT_LOST
                self._failed(code, f"{where}: no reply to {request.describe()}: {exc}")
                continue
            if not reply.ok:
                code = EXIT_JOIN_REFUSED if request.event == EVENT_JOIN else EXIT_REPLY_ERROR
                self._failed(code, f"{where}: {reply_error(request, reply)}")
        self._run.stdin_drained()

    def _failed(self, code: int, message: str) -> None:
        """Report a failed line; the run goes on, and ends with ``code`` instead of 0."""
        self._run.request_failed(code, message)
