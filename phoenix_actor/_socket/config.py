"""One validated object holding every option of a socket, each with a documented default."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from phoenix_actor._protocol.serializer import JSONSerializer, Serializer
from phoenix_actor._socket.observer import Observer
from phoenix_actor._transport.base import TransportFactory
from phoenix_actor._transport.checks import is_seconds
from phoenix_actor._transport.options import TransportOptions
from phoenix_actor.exceptions import ConfigError
from phoenix_actor.runtime import WorkerPool, default_pool

#: A backoff schedule: seconds to wait before retry ``n`` (1-based). A sequence gives
#: retry ``n`` its ``n``-th element and repeats the last one; a callable is called
#: with ``n``.
Backoff = Union[Sequence[float], Callable[[int], float]]

#: phoenix.js's ``reconnectAfterMs``: 10, 50, 100, 150, 200, 250, 500, 1000, 2000 ms,
#: then 5 s for ever.
RECONNECT_AFTER: tuple[float, ...] = (0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0)

#: Where a socket's actors run: ``"pooled"``, ``"threads"`` or a pool of your own.
Runtime = Union[Literal["pooled", "threads"], WorkerPool]

#: phoenix.js's ``rejoinAfterMs``: 1, 2, 5, then 10 s for ever.
REJOIN_AFTER: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0)


def _positive(name: str, value: object, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not is_seconds(value):
        extra = " or None" if allow_none else ""
        raise ConfigError(f"{name} must be a finite number of seconds > 0{extra}, not {value!r}")


def _check_backoff(name: str, value: object) -> None:
    if value is None or callable(value):
        return
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise ConfigError(
            f"{name} must be a non-empty sequence of seconds, a callable or None, not {value!r}"
        )
    for step in value:
        if not is_seconds(step, zero=True):
            raise ConfigError(f"{name} steps must be numbers of seconds >= 0, not {step!r}")


def backoff_delay(schedule: Backoff, attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` (1-based) under ``schedule``."""
    if callable(schedule):
        delay = schedule(attempt)
        if not is_seconds(delay, zero=True):
            raise ConfigError(f"the backoff callable returned {delay!r} for retry {attempt}")
        return float(delay)
    return float(schedule[min(attempt, len(schedule)) - 1])


def jittered(delay: float, jitter: float, rng: Callable[[], float] = random.random) -> float:
    """``delay`` spread uniformly over ``delay * (1 ± jitter)``."""
    if jitter == 0:
        return delay
    return delay * (1.0 + jitter * (2.0 * rng() - 1.0))


@dataclass(frozen=True)
class Config:
    """Every option of a :class:`~phoenix_actor.SocketActor`, validated when built.

    * ``serializer``: how messages are encoded (default :class:`JSONSerializer`, v2).
    * ``transport_options``: :class:`TransportOptions` (headers, TLS, auth token, timeouts).
    * ``transport_factory``: how connections are opened (tests pass a fake one).
    * ``heartbeat_interval``: seconds between Phoenix heartbeats (30, as phoenix.js);
      ``None`` turns them off. A heartbeat still unanswered when the next one is due
      closes the connection with :class:`~phoenix_actor.HeartbeatTimeout`.
    * ``reconnect_after``: the backoff used when ``handle_disconnected`` returns
      :class:`~phoenix_actor.Reconnect` (its default): phoenix.js's schedule, 10 ms up
      to 5 s. ``None`` turns automatic reconnection off.
    * ``reconnect_jitter``: spread each reconnect delay by up to this fraction
      (0 to 1; default 0, as phoenix.js).
    * ``rejoin_after``: the backoff for rejoining a topic after a channel error or a
      join timeout (1, 2, 5, then 10 s, as phoenix.js); topics are rejoined at once
      after a reconnect. ``None`` turns automatic rejoining off.
    * ``push_timeout``: default seconds a reply future waits (10, as phoenix.js).
    * ``push_buffer``: how many future-returning pushes may wait, in order, for a topic
      that is joining or a socket that is reconnecting (0, the default, buffers none:
      such pushes fail at once).
    * ``callback_errors``: ``"log"`` (log with the traceback and carry on) or
      ``"stop"`` (log, then stop the socket with the exception as the reason).
    * ``observer``: an :class:`~phoenix_actor.Observer` told of state changes and
      metrics (connect time, heartbeat round trip, reply latency, mailbox depth).
    * ``max_pending_frames``: backpressure for slow callbacks. ``None`` (the default)
      lets the mailbox grow without bound while callbacks lag behind the server; a
      number makes the reader stop reading this socket's websocket once that many
      received frames wait in the mailbox (one read may bring up to 64 KiB more), and
      read it again once half of them are handled, so TCP pushes back on the server
      (a heartbeat stuck behind them may then time out and reconnect).
    * ``runtime``: where the socket's actor and its transport actor run. ``"pooled"``
      (the default): on the shared pool of :func:`phoenix_actor.runtime.default_pool`,
      a few threads for every socket of the process; ``"threads"``: a thread each, as
      Pykka's ``ThreadingActor``; or a :class:`~phoenix_actor.runtime.WorkerPool` of your
      own. Callbacks run one at a time either way; on a pool, a callback that blocks for
      long holds a worker (docs/threading.rst says what then happens).
    """

    serializer: Serializer = field(default_factory=JSONSerializer)
    transport_options: TransportOptions = field(default_factory=TransportOptions)
    transport_factory: TransportFactory | None = None
    heartbeat_interval: float | None = 30.0
    reconnect_after: Backoff | None = RECONNECT_AFTER
    reconnect_jitter: float = 0.0
    rejoin_after: Backoff | None = REJOIN_AFTER
    push_timeout: float = 10.0
    push_buffer: int = 0
    callback_errors: Literal["log", "stop"] = "log"
    observer: Observer | None = None
    max_pending_frames: int | None = None
    runtime: Runtime = "pooled"

    def __post_init__(self) -> None:
        if isinstance(self.serializer, type):
            raise ConfigError(
                f"serializer must be an instance, not the class {self.serializer.__name__}: "
                f"write {self.serializer.__name__}()"
            )
        for name in ("encode", "decode", "vsn"):
            if not hasattr(self.serializer, name):
                raise ConfigError(f"serializer {self.serializer!r} has no {name!r}")
        if not isinstance(self.transport_options, TransportOptions):
            raise ConfigError(
                f"transport_options must be a TransportOptions, not {self.transport_options!r}"
            )
        if self.transport_factory is not None and not callable(self.transport_factory):
            raise ConfigError(f"transport_factory must be callable, not {self.transport_factory!r}")
        _positive("heartbeat_interval", self.heartbeat_interval, allow_none=True)
        _positive("push_timeout", self.push_timeout)
        _check_backoff("reconnect_after", self.reconnect_after)
        _check_backoff("rejoin_after", self.rejoin_after)
        jitter = self.reconnect_jitter
        if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or not 0 <= jitter <= 1:
            raise ConfigError(f"reconnect_jitter must be a fraction from 0 to 1, not {jitter!r}")
        buffer = self.push_buffer
        if isinstance(buffer, bool) or not isinstance(buffer, int) or buffer < 0:
            raise ConfigError(f"push_buffer must be an int >= 0, not {buffer!r}")
        pending = self.max_pending_frames
        if pending is not None and (
            isinstance(pending, bool) or not isinstance(pending, int) or pending < 1
        ):
            raise ConfigError(f"max_pending_frames must be an int >= 1 or None, not {pending!r}")
        if self.observer is not None and not isinstance(self.observer, Observer):
            raise ConfigError(f"observer must be a phoenix_actor.Observer, not {self.observer!r}")
        if self.callback_errors not in ("log", "stop"):
            raise ConfigError(
                f"callback_errors must be 'log' or 'stop', not {self.callback_errors!r}"
            )
        if not isinstance(self.runtime, WorkerPool) and self.runtime not in ("pooled", "threads"):
            raise ConfigError(
                f"runtime must be 'pooled', 'threads' or a WorkerPool, not {self.runtime!r}"
            )

    def worker_pool(self) -> WorkerPool | None:
        """The pool the socket runs on, or None for a thread of its own."""
        runtime = self.runtime
        if runtime == "threads":
            return None
        return runtime if isinstance(runtime, WorkerPool) else default_pool()

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied (and validated); unknown names raise ConfigError."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"unknown option(s) {', '.join(unknown)}; known: {sorted(known)}")
        return dataclasses.replace(self, **changes)
