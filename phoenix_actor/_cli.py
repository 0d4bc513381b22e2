"""``phoenix-actor connect``: like wscat, but speaking Phoenix channels.

It connects, joins the ``--join`` topics, sends the ``--push`` events one by one
(waiting for each reply), then prints every inbound event as one JSON line on stdout
and pushes the JSON lines it reads on stdin. Messages for people go to stderr, and the
exit status says how the run ended (``phoenix-actor connect --help`` lists them).
Query values, headers and the auth token are never printed: URLs go through
``redact_url``.

Threads: the main thread sets up, then waits for the end; the socket actor's thread
runs :class:`_Printer`'s callbacks, which print; with stdin on, one thread reads stdin
and one waits for the replies to what was pushed from it.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, TextIO

import pykka

from phoenix_actor import (
    ChannelReply,
    Config,
    Connect,
    ConnectFailed,
    Connection,
    ConnectionRefused,
    DisconnectReason,
    HandshakeFailed,
    HandshakeRejected,
    JSONSerializer,
    Reconnect,
    RemoteClosed,
    SocketActor,
    SocketClient,
    TransportOptions,
    V1JSONSerializer,
    WireRef,
    execute,
)
from phoenix_actor._constants import EVENT_JOIN, EVENT_LEAVE, PROTOCOL_V1
from phoenix_actor._reasons import reconnect_refusal
from phoenix_actor._url import build_url, redact_url
from phoenix_actor.exceptions import (
    CallTimeoutError,
    ChannelClosedError,
    ConfigError,
    ConnectionClosedError,
    DisconnectedError,
    NoReplyError,
    PushError,
    PushTimeoutError,
    SocketStoppedError,
)

EXIT_OK = 0
EXIT_USAGE = 1
EXIT_UNREACHABLE = 3
EXIT_REJECTED = 4
EXIT_JOIN_REFUSED = 5
EXIT_TIMEOUT = 6
EXIT_LOST = 7
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

#: Seconds a caller waits beyond a request's own timeout, which the socket enforces.
_GRACE = 2.0
#: Longest uninterrupted wait of the main thread, so Ctrl-C is seen on every platform.
_WAIT_SLICE = 0.5


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


class BadLine(ValueError):
    """A stdin line that is not a request."""


@dataclass(frozen=True)
class ConnectArgs:
    """The validated arguments of ``connect`` (see ``phoenix_actor.__main__``)."""

    url: str  #: without a query string
    params: Sequence[tuple[str, str]] = field(default=(), repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    auth_token: str | None = field(default=None, repr=False)
    joins: Sequence[Request] = ()
    pushes: Sequence[Request] = ()
    timeout: float = 10.0
    reconnect: bool = True
    vsn: str = "2.0.0"
    count: int | None = None
    duration: float | None = None
    stdin: bool = False
    verbose: int = 0

    @property
    def shown_url(self) -> str:
        """The URL as connected to, query values redacted."""
        return redact_url(build_url(self.url, list(self.params), self.vsn))

    def config(self) -> Config:
        """The socket's configuration; ConfigError for bad headers or token."""
        options = TransportOptions(
            headers=dict(self.headers), auth_token=self.auth_token, connect_timeout=self.timeout
        )
        serializer = V1JSONSerializer() if self.vsn == PROTOCOL_V1 else JSONSerializer()
        return Config(serializer=serializer, transport_options=options, push_timeout=self.timeout)


def _json_default(value: object) -> object:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"binary": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"{type(value).__name__} cannot be shown as JSON")


def dumps(value: Any, *, ensure_ascii: bool = True) -> str:
    """One-line JSON; ``bytes`` become ``{"binary": "<base64>"}``."""
    return json.dumps(
        value, separators=(",", ":"), ensure_ascii=ensure_ascii, default=_json_default
    )


class _Output:
    """Thread-safe writer: JSON lines to stdout, ``phoenix-actor: ...`` lines to stderr."""

    def __init__(self, stdout: TextIO, stderr: TextIO) -> None:
        self._stdout = stdout
        self._stderr = stderr
        self._lock = threading.Lock()
        encoding = (getattr(stdout, "encoding", None) or "").lower().replace("-", "")
        self._ascii = encoding != "utf8"
        self.on_broken_pipe: Callable[[], None] = lambda: None
        self.broken = False

    def record(self, record: dict[str, Any]) -> None:
        text = dumps(record, ensure_ascii=self._ascii) + "\n"
        with self._lock:
            if self.broken:
                return
            try:
                self._stdout.write(text)
                self._stdout.flush()
            except BrokenPipeError:
                self.broken = True
        if self.broken:
            self._silence_stdout()
            self.on_broken_pipe()

    def _silence_stdout(self) -> None:
        # The reader went away (``| head``): later flushes, at exit too, must not fail.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def error(self, message: str) -> None:
        with self._lock:
            try:
                self._stderr.write(f"phoenix-actor: {message}\n")
                self._stderr.flush()
            except OSError:
                pass


class _Outcome:
    """How the run ends: the first :meth:`finish` wins; waiters wake on every change."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.connected = False
        self.code: int | None = None
        self.message = ""

    def set_connected(self) -> None:
        with self._changed:
            self.connected = True
            self._changed.notify_all()

    def finish(self, code: int, message: str = "") -> None:
        with self._changed:
            if self.code is None:
                self.code, self.message = code, message
                self._changed.notify_all()

    @property
    def finished(self) -> bool:
        return self.code is not None

    def wait(self, until: Callable[[], bool], timeout: float | None) -> bool:
        """Wait until ``until()`` (checked under the lock) or ``timeout``; its last value."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not until():
                left = _WAIT_SLICE if deadline is None else deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, _WAIT_SLICE))
            return True


def exit_code_for(reason: DisconnectReason) -> int:
    """The exit status for a connection that ended (or never opened) with ``reason``."""
    if isinstance(reason, (HandshakeRejected, HandshakeFailed)):
        return EXIT_REJECTED
    if isinstance(reason, ConnectFailed) and reason.kind == "timeout":
        return EXIT_TIMEOUT
    if isinstance(reason, (ConnectionRefused, ConnectFailed)):
        return EXIT_UNREACHABLE
    return EXIT_LOST


def explain(reason: DisconnectReason, url: str) -> str:
    """A sentence for stderr about ``reason``; ``url`` must already be redacted."""
    if isinstance(reason, HandshakeRejected):
        refused = f"the server refused the websocket connection with HTTP {reason.status}"
        refused = f"{refused} {reason.reason_phrase}".rstrip()
        if reason.status in (401, 403):
            return (
                f"{refused}: it rejected the params, headers or auth token "
                "(or the Origin header or the protocol version)"
            )
        if reason.status == 404:
            return f"{refused}: is {url} the socket's websocket path (.../socket/websocket)?"
        return refused
    if isinstance(reason, HandshakeFailed):
        return f"{url} did not answer with a websocket handshake: {reason.describe()}"
    if isinstance(reason, (ConnectionRefused, ConnectFailed)):
        return f"cannot connect to {url}: {reason.describe()}"
    return f"the connection to {url} ended: {reason.describe()}"


def _reason_record(reason: DisconnectReason, reconnect: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "type": "disconnected",
        "kind": type(reason).__name__,
        "reason": reason.describe(),
    }
    if isinstance(reason, HandshakeRejected):
        record["status"] = reason.status
    elif isinstance(reason, RemoteClosed):
        record["code"] = reason.code
    record["reconnect"] = reconnect
    return record


class _Printer(SocketClient):
    """The socket's callbacks: each prints one line; connects and ends go to the outcome."""

    def __init__(self, args: ConnectArgs, outcome: _Outcome, out: _Output) -> None:
        self._args = args
        self._outcome = outcome
        self._out = out
        self._was_connected = False
        self._messages = 0
        self._done = False  # nothing more is printed once --count is reached

    def _print(self, record: dict[str, Any]) -> None:
        if not self._done:
            self._out.record(record)

    def init(self) -> Connect:
        return Connect(self._args.url, self._args.params)

    def handle_connected(self, conn: Connection) -> None:
        kind = "reconnected" if self._was_connected else "connected"
        self._was_connected = True
        self._print({"type": kind, "url": self._args.shown_url})
        self._outcome.set_connected()

    def handle_disconnected(self, reason: DisconnectReason) -> Reconnect | None:
        final = (
            not (self._was_connected and self._args.reconnect)
            or reconnect_refusal(reason) is not None
        )
        self._print(_reason_record(reason, reconnect=not final))
        if not final:
            return Reconnect()
        self._done = True
        self._outcome.finish(exit_code_for(reason), explain(reason, self._args.shown_url))
        return None

    def handle_joined(self, topic: str, response: Any, conn: Connection) -> None:
        self._print({"type": "joined", "topic": topic, "response": response})

    def handle_join_error(self, topic: str, response: Any, conn: Connection) -> None:
        self._print({"type": "join_error", "topic": topic, "response": response})

    def handle_channel_closed(self, topic: str, payload: Any, conn: Connection) -> None:
        self._print({"type": "channel_closed", "topic": topic, "payload": payload})

    def handle_message(self, topic: str, event: str, payload: Any, conn: Connection) -> None:
        if self._done:
            return
        self._print({"type": "message", "topic": topic, "event": event, "payload": payload})
        self._messages += 1
        if self._args.count is not None and self._messages >= self._args.count:
            self._done = True
            self._outcome.finish(EXIT_OK)

    def handle_reply(self, topic: str, ref: WireRef, payload: Any, conn: Connection) -> None:
        status, response = payload.get("status"), payload.get("response")
        self._print(
            {"type": "reply", "topic": topic, "ref": ref, "status": status, "response": response}
        )

    def terminate(self, reason: Any) -> None:
        self._outcome.finish(EXIT_LOST, f"the socket stopped: {reason}")


class _Abort(Exception):
    """The outcome is decided: go straight to the clean-up."""


class _Terminated(Exception):
    """SIGTERM arrived."""


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
                self._run.out.error(f"{where}: {exc}; skipped")
                continue
            try:
                future = self._run.execute(functools.partial(self._run.send, request=request))
            except PushError as exc:
                self._run.out.error(f"{where}: {request.describe()} not sent: {exc}")
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
            try:
                reply: ChannelReply = future.get(timeout=self._run.args.timeout + _GRACE)
            except SocketStoppedError:
                return
            except (NoReplyError, pykka.Timeout) as exc:
                self._run.out.error(f"{where}: no reply to {request.describe()}: {exc}")
                continue
            if request.event == EVENT_JOIN and not reply.ok:
                self._run.out.error(f"{where}: the server refused to join {request.topic!r}")
        self._run.stdin_drained()


class _Run:
    """One ``connect`` run: start the socket, set up, listen, clean up."""

    def __init__(self, args: ConnectArgs, out: _Output, stdin_fd: int) -> None:
        self.args = args
        self.out = out
        self.outcome = _Outcome()
        self._stdin_fd = stdin_fd
        self._ref: pykka.ActorRef[SocketActor] | None = None
        self._pump: _StdinPump | None = None
        out.on_broken_pipe = lambda: self.outcome.finish(EXIT_OK)

    def fail(self, code: int, message: str) -> NoReturn:
        self.outcome.finish(code, message)
        raise _Abort

    def execute(self, function: Callable[[Connection], Any]) -> Any:
        assert self._ref is not None  # started
        return execute(self._ref, function, self.args.timeout)

    def send(self, conn: Connection, request: Request) -> pykka.Future[ChannelReply]:
        """In the actor: send ``request``, returning its reply future."""
        topic, payload, timeout = request.topic, request.payload, self.args.timeout
        if request.event == EVENT_JOIN:
            return conn.join_future(topic, payload, timeout)
        if request.event == EVENT_LEAVE:
            return conn.leave_future(topic, payload, timeout)
        return conn.push_future(topic, request.event, payload, timeout)

    def stdin_drained(self) -> None:
        if self.args.count is None and self.args.duration is None:
            self.outcome.finish(EXIT_OK)

    def run(self) -> int:
        try:
            self._start()
            self._setup()
            self._listen()
        except KeyboardInterrupt:  # raised in the main thread by SIGINT
            self.outcome.finish(EXIT_INTERRUPTED, "interrupted")
        except _Terminated:
            self.outcome.finish(EXIT_TERMINATED, "terminated")
        except _Abort:
            pass
        finally:
            with _signals_ignored():
                self._stop()
        code = self.outcome.code
        if code is None:  # the end was not decided, yet the run is over
            code = EXIT_OK
        if self.outcome.message:
            failed = code not in (EXIT_OK, EXIT_INTERRUPTED, EXIT_TERMINATED)
            self.out.error(f"error: {self.outcome.message}" if failed else self.outcome.message)
        return code

    def _start(self) -> None:
        try:
            self._ref = SocketActor.start(
                _Printer(self.args, self.outcome, self.out), self.args.config()
            )
        except ConfigError as exc:
            self.fail(EXIT_USAGE, str(exc))
        args = self.args
        if not self.outcome.wait(
            lambda: self.outcome.connected or self.outcome.finished, args.timeout
        ):
            self.fail(EXIT_TIMEOUT, f"not connected to {args.shown_url} within {args.timeout} s")

    def _check(self) -> None:
        if self.outcome.finished:
            raise _Abort

    def _get(self, future: pykka.Future[ChannelReply], what: str) -> ChannelReply | None:
        """The reply to ``what``; None if the channel closed first; else end the run."""
        timeout = self.args.timeout
        try:
            return future.get(timeout=timeout + _GRACE)
        except (PushTimeoutError, pykka.Timeout):
            self.fail(EXIT_TIMEOUT, f"no reply to {what} within {timeout} s")
        except ChannelClosedError as exc:
            self.out.error(f"no reply to {what}: {exc}")
            return None
        except ConnectionClosedError as exc:
            self.fail(EXIT_LOST, f"no reply to {what}: {exc}")
        except SocketStoppedError:
            raise _Abort from None

    def _call(self, function: Callable[[Connection], Any], what: str) -> Any:
        try:
            return self.execute(function)
        except DisconnectedError as exc:
            self.fail(EXIT_LOST, f"{what} not sent: {exc}")
        except PushError as exc:
            self.fail(EXIT_USAGE, f"{what} not sent: {exc}")
        except CallTimeoutError:
            self.fail(EXIT_TIMEOUT, f"the socket did not take {what} within {self.args.timeout} s")
        except SocketStoppedError:
            raise _Abort from None

    def _setup(self) -> None:
        self._check()
        joins = self.args.joins
        futures = self._call(lambda conn: [self.send(conn, r) for r in joins], "the joins")
        for request, future in zip(joins, futures, strict=True):
            reply = self._get(future, request.describe())
            self._check()
            if reply is not None and not reply.ok:
                response = dumps(reply.response)
                self.fail(
                    EXIT_JOIN_REFUSED, f"the server refused to join {request.topic!r}: {response}"
                )
        for request in self.args.pushes:
            future = self._call(functools.partial(self.send, request=request), request.describe())
            self._get(future, request.describe())
            self._check()

    def _listen(self) -> None:
        if self.args.stdin:
            self._pump = _StdinPump(self._stdin_fd, self)
            self._pump.start()
        finished = self.outcome.wait(lambda: self.outcome.finished, self.args.duration)
        if not finished:  # --duration is over
            self.outcome.finish(EXIT_OK)

    def _stop(self) -> None:
        ref = self._ref
        if ref is not None:
            try:
                ref.stop(block=True, timeout=self.args.timeout)
            except pykka.ActorDeadError:
                pass
            except pykka.Timeout:
                self.out.error("the socket did not stop in time")
        if self._pump is not None:
            self._pump.stop(self.args.timeout)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """No second Ctrl-C may cut the clean-up short (it is bounded by --timeout)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(_signum: int, _frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _library_logging(verbose: int, stream: TextIO) -> Iterator[None]:
    """Show the library's log on stderr while the command runs (WARNING, -v INFO, -vv DEBUG)."""
    logger = logging.getLogger("phoenix_actor")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("phoenix-actor: %(levelname)s %(name)s: %(message)s"))
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def run_connect(args: ConnectArgs, stdout: TextIO, stderr: TextIO, stdin_fd: int = 0) -> int:
    """Run ``phoenix-actor connect``; return the exit status."""
    out = _Output(stdout, stderr)
    with _library_logging(args.verbose, stderr), _sigterm_raises():
        return _Run(args, out, stdin_fd).run()
