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

This module runs the command; what it reads is in ``_cli_input`` and what it prints,
exit codes included, in ``_cli_output``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TextIO

import pykka

from phoenix_actor import (
    ChannelReply,
    Connection,
    SocketActor,
    execute,
)
from phoenix_actor._cli.args import ConnectArgs, _Outcome
from phoenix_actor._cli.input import _GRACE, Request, _StdinPump, reply_error
from phoenix_actor._cli.output import (
    EXIT_CHANNEL_CLOSED,
    EXIT_INTERRUPTED,
    EXIT_JOIN_REFUSED,
    EXIT_LOST,
    EXIT_OK,
    EXIT_REPLY_ERROR,
    EXIT_TERMINATED,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    _Output,
    dumps,
)
from phoenix_actor._cli.printer import _Printer
from phoenix_actor._protocol.constants import EVENT_JOIN, EVENT_LEAVE
from phoenix_actor.exceptions import (
    CallTimeoutError,
    ChannelClosedError,
    ConfigError,
    ConnectionClosedError,
    DisconnectedError,
    PushError,
    PushTimeoutError,
    SocketStoppedError,
)


class _Abort(Exception):
    """The outcome is decided: go straight to the clean-up."""


class _Terminated(Exception):
    """SIGTERM arrived."""


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

    @property
    def timeout(self) -> float:
        return self.args.timeout

    def request_failed(self, code: int, message: str) -> None:
        self.out.error(message)
        self.outcome.failed(code)

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
        if code == EXIT_OK and self.outcome.failure is not None:
            code = self.outcome.failure  # a stdin request failed (reported when it did)
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

    def _get(self, future: pykka.Future[ChannelReply], what: str) -> ChannelReply:
        """The reply to ``what``, whatever its status; else end the run."""
        timeout = self.args.timeout
        try:
            return future.get(timeout=timeout + _GRACE)
        except (PushTimeoutError, pykka.Timeout):
            self.fail(EXIT_TIMEOUT, f"no reply to {what} within {timeout} s")
        except ChannelClosedError as exc:
            self.fail(EXIT_CHANNEL_CLOSED, f"no reply to {what}: {exc}")
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
            if not reply.ok:
                response = dumps(reply.response)
                self.fail(
                    EXIT_JOIN_REFUSED, f"the server refused to join {request.topic!r}: {response}"
                )
        for request in self.args.pushes:
            future = self._call(functools.partial(self.send, request=request), request.describe())
            reply = self._get(future, request.describe())
            self._check()
            if not reply.ok:
                self.fail(EXIT_REPLY_ERROR, reply_error(request, reply))

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
