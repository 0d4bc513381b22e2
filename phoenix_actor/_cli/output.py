"""What ``phoenix-actor connect`` prints, and its exit codes.

The exit codes, the JSON line records on stdout (:class:`_Output`, written by the
socket's callbacks in ``printer``), and the sentences for stderr that explain a
disconnect.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Callable
from typing import Any, TextIO

from phoenix_actor import (
    ConnectFailed,
    ConnectionRefused,
    DisconnectReason,
    HandshakeFailed,
    HandshakeRejected,
    RemoteClosed,
)

EXIT_OK = 0
EXIT_USAGE = 1
EXIT_UNREACHABLE = 3
EXIT_REJECTED = 4
EXIT_JOIN_REFUSED = 5
EXIT_TIMEOUT = 6
EXIT_LOST = 7
EXIT_REPLY_ERROR = 8
EXIT_CHANNEL_CLOSED = 9
EXIT_NO_SERVER_EXTRA = 10
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


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
