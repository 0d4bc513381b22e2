"""What ``phoenix-actor connect`` was asked to do, and how its run ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from phoenix_actor._cli.input import Request
from phoenix_actor._protocol.constants import PROTOCOL_V1
from phoenix_actor._protocol.serializer import JSONSerializer, V1JSONSerializer
from phoenix_actor._protocol.url import build_url, redact_url
from phoenix_actor._socket.config import Config
from phoenix_actor._transport.options import TransportOptions

#: The longest single wait of :meth:`_Outcome.wait` (so that signals are seen).
_WAIT_SLICE = 0.5


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


class _Outcome:
    """How the run ends: the first :meth:`finish` wins; waiters wake on every change."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.connected = False
        self.code: int | None = None
        self.message = ""
        self.failure: int | None = None  # the first request that failed without ending the run

    def set_connected(self) -> None:
        with self._changed:
            self.connected = True
            self._changed.notify_all()

    def finish(self, code: int, message: str = "") -> None:
        with self._changed:
            if self.code is None:
                self.code, self.message = code, message
                self._changed.notify_all()

    def failed(self, code: int) -> None:
        """A stdin request failed: the run goes on, but will not end with status 0."""
        with self._changed:
            if self.failure is None:
                self.failure = code

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
