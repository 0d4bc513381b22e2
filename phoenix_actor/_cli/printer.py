"""The socket's callbacks of ``phoenix-actor connect``: each prints one line."""

from __future__ import annotations

from typing import Any

from phoenix_actor import Connect, Connection, DisconnectReason, Reconnect, SocketClient, WireRef
from phoenix_actor._cli.args import ConnectArgs, _Outcome
from phoenix_actor._cli.output import (
    EXIT_LOST,
    EXIT_OK,
    _Output,
    _reason_record,
    exit_code_for,
    explain,
)
from phoenix_actor._transport.reasons import reconnect_refusal


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
