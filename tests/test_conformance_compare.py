"""Conformance, part 2: phoenix_actor and phoenix.js compared, scenario by scenario.

``tests/conformance/phoenix_js_driver.mjs`` runs phoenix.js 1.8.x through its scenarios
against one embedded :class:`PhoenixServer`; each scenario's socket connects with the
param ``scenario=<name>``, so the server's ``connect`` events tell which recorded frames
belong to it, and the driver prints a *trace*: what phoenix.js surfaced, in order, in a
small vocabulary (see the driver's header). Here each scenario is played again with a
:class:`SocketActor`, step for step, against a fresh server, and a client that writes
the same vocabulary from its callbacks:

============================== ==========================================================
phoenix.js                     phoenix_actor
============================== ==========================================================
``socket.onOpen``              ``handle_connected``
``socket.onClose(code)``       ``handle_disconnected(RemoteClosed(code))``
join ``receive(ok|error)``     ``handle_joined`` / ``handle_join_error`` (rejoins too)
push ``receive(ok|error)``     ``handle_reply`` (the reply's status and response)
push ``receive("timeout")``    ``push_future`` failing with ``PushTimeoutError``
``channel.on(event)``          ``handle_message``
``channel.onClose``            ``handle_channel_closed``, the topic's state being CLOSED
``channel.onError``            ``handle_channel_closed``, the topic's state being ERRORED
``channel.state``              the last ``Observer.channel_state`` of the topic
``Presence`` hooks             :class:`phoenix_actor.Presence` hooks
============================== ==========================================================

For each scenario the test compares what the server received from each client -- the
connect params, then every frame: opcode, topic, event, payload, and the refs, which
are renamed per connection in order of first appearance (so "the push carries the
join's ref as join_ref" is compared, not the numbers) -- and the two traces. They must
be equal, except for the entries of the differences listed in ``DIFFERENCES``, each a
row of the table in ``docs/conformance.rst``; each such entry must be present on its
side, so a row that stops being true fails here too.

Our client runs with phoenix.js's settings as the driver sets them (push timeout
300 ms, reconnect and rejoin after 60 s unless the scenario shortens them). To know
that every frame the server sent so far has been handled, it joins ``echo:barrier``
and waits for the reply to a push there (phoenix.js pings the server instead); frames
on that topic and heartbeats (phoenix.js's pings) are left out of the comparison.

Set up with ``npm ci --prefix tests/conformance``; skipped when node or phoenix.js is
missing.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pykka
import pytest

from phoenix_actor import (
    AlreadyJoinedError,
    ChannelClosedError,
    ChannelReply,
    ChannelStateChanged,
    Config,
    Connect,
    Connection,
    DisconnectReason,
    HandshakeRejected,
    NotJoinedError,
    Observer,
    Presence,
    PushTimeoutError,
    Reconnect,
    RemoteClosed,
    SocketActor,
    SocketClient,
    SocketStateChanged,
    execute,
)
from phoenix_actor.presence import PresenceEntry
from phoenix_actor.testing import PhoenixServer
from phoenix_actor.testing._server.recorder import Received, ServerEvent
from tests.conftest import TIMEOUT

CONFORMANCE = Path(__file__).parent / "conformance"
DRIVER = CONFORMANCE / "phoenix_js_driver.mjs"
DOC = Path(__file__).parent.parent / "docs" / "conformance.rst"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not on PATH"),
    pytest.mark.skipif(
        not (CONFORMANCE / "node_modules" / "phoenix").is_dir(),
        reason="phoenix.js is not installed: run `npm ci --prefix tests/conformance`",
    ),
]

SCENARIOS = [
    "join_ok",
    "join_refused",
    "join_refused_rejoin",
    "unmatched_topic",
    "push_replies",
    "channel_push",
    "broadcast",
    "stop",
    "crash",
    "crash_rejoin",
    "duplicate_join",
    "push_while_joining",
    "join_timeout",
    "leave",
    "heartbeat",
    "refused_connect",
    "refused_connect_reconnect",
    "binary",
    "binary_broadcast",
    "server_disconnect",
    "presence",
]

#: The driver's settings, mirrored in our Config.
PUSH_TIMEOUT = 0.3  # PUSH_TIMEOUT_MS: the socket's timeout, for joins and pushes
NEVER = 60.0  # reconnectAfterMs / rejoinAfterMs: "not during the scenario"
SHORT = 0.02  # the scenarios that want a reconnect or a rejoin
HEARTBEAT = 0.05  # heartbeatIntervalMs of the heartbeat scenario
SLOW_MS = 1000  # SLOW_MS: how long the server's "slow" push holds a socket's work up
BARRIER = "echo:barrier"
ROOM = "room:conformance"
DECIMAL = re.compile(r"[1-9][0-9]*")

#: One surfaced event: a JSON array as the driver prints it (see its header).
Entry = list[Any]


def _alice(*refs: str) -> dict[str, Any]:
    return {"metas": [{"phx_ref": ref, "user": "alice"} for ref in refs]}


@dataclass(frozen=True)
class Difference:
    """A row of the table in docs/conformance.rst: the trace entries only one side
    surfaces, and what only phoenix.js sends (frames as ``_frames`` writes them, and
    the params of extra connection attempts)."""

    row: str
    phoenix_js: tuple[Entry, ...] = ()
    ours: tuple[Entry, ...] = ()
    phoenix_js_frames: tuple[list[Any], ...] = ()
    phoenix_js_params: tuple[dict[str, str], ...] = ()


def _pending_push_row(topic: str, event: str) -> Difference:
    return Difference(
        "pending-push-closed",
        phoenix_js=(["reply", topic, event, "timeout", None],),
        ours=(["reply", topic, event, "failed", "ChannelClosedError"],),
    )


def _refused_join_row(topic: str) -> Difference:
    return Difference(
        "refused-join",
        phoenix_js=(["state", topic, "errored"],),
        ours=(["state", topic, "closed"],),
    )


def _refused_connect_row(scenario: str, attempts: int) -> Difference:
    refusal: tuple[Entry, ...] = (
        ["socket_error", "Unexpected server response: 403"],
        ["socket_close", 1006],
    )
    params = {"token": "bad", "scenario": scenario, "vsn": "2.0.0"}
    return Difference(
        "refused-connect",
        phoenix_js=refusal * attempts,
        ours=(["handshake_rejected", 403], ["socket_state", "disconnected"]),
        phoenix_js_params=(params,) * (attempts - 1),
    )


#: The documented differences of each scenario (see docs/conformance.rst).
DIFFERENCES: dict[str, list[Difference]] = {
    "join_refused": [_refused_join_row("echo:refuse")],
    "join_refused_rejoin": [
        Difference(
            "refused-join",
            phoenix_js=(
                ["join", "echo:refuse", "error", {"reason": "refused"}],
                ["state", "echo:refuse", "errored"],
            ),
            ours=(["state", "echo:refuse", "closed"],),
            phoenix_js_frames=(
                [1, "text", "ref2", "ref2", "echo:refuse", "phx_join", {"hello": "again"}],
            ),
        )
    ],
    "unmatched_topic": [_refused_join_row("nope:x")],
    "stop": [_pending_push_row("echo:stop", "stop")],
    "crash": [_pending_push_row("echo:crash", "crash")],
    "leave": [
        Difference(
            "leave-close",
            phoenix_js=(["close", "echo:leave", "leave"],),
            ours=(["close", "echo:leave", {}],),
        )
    ],
    "duplicate_join": [
        Difference(
            "duplicate-join",
            ours=(["raised", "AlreadyJoinedError"], ["reply", "echo:dup", "phx_leave", "ok", {}]),
        ),
        Difference(
            "leave-close",
            phoenix_js=(["close", "echo:dup", "leave"],),
            ours=(["close", "echo:dup", {}],),
        ),
    ],
    "push_while_joining": [
        Difference("push-while-joining", ours=(["raised", "NotJoinedError"],)),
    ],
    "join_timeout": [
        Difference(
            "join-timeout",
            phoenix_js=(["state", "echo:late", "errored"],),
            ours=(["state", "echo:late", "closed"],),
        )
    ],
    "refused_connect": [_refused_connect_row("refused_connect", 1)],
    "refused_connect_reconnect": [_refused_connect_row("refused_connect_reconnect", 2)],
    "server_disconnect": [
        Difference(
            "connection-lost-channels",
            phoenix_js=(
                ["error", "echo:dc", {"source": "transport", "reason": "connection_closed"}],
            ),
        )
    ],
    "presence": [
        Difference(
            "presence-replayed-join",
            phoenix_js=(["presence_join", "alice", _alice("phx1"), _alice("phx1")],),
        )
    ],
}

#: Rows of the table checked by a test of their own rather than by trace entries.
ROWS_WITH_OWN_TESTS = {
    "ref-numbering": "test_refs_numbering",
    "close-or-error": "test_close_and_error_share_one_callback",
}


# -- what the server saw ----------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """One client in one scenario: the server's view of it, and its trace."""

    params: list[dict[str, str]]  # of every connection attempt, refused ones too
    connections: list[list[Received]]  # the frames of each connection, in connect order
    trace: list[Entry]


def _observed(
    events: list[ServerEvent], received: list[Received], scenario: str, trace: list[Entry]
) -> Observed:
    params: list[dict[str, str]] = []
    conn_ids: list[int] = []
    for event in events:
        if event[0] == "connect" and event[2].get("scenario") == scenario:
            conn_ids.append(event[1])
            params.append(event[2])
        elif event[0] == "refused" and event[1].get("scenario") == scenario:
            params.append(event[1])
    connections = [[r for r in received if r.conn_id == conn_id] for conn_id in conn_ids]
    return Observed(params, connections, trace)


def _server() -> PhoenixServer:
    server = PhoenixServer.with_defaults()
    refs = itertools.count(1)
    server.presence.phx_ref_factory = lambda: f"phx{next(refs)}"
    return server


@pytest.fixture(scope="module")
def phoenix_js() -> dict[str, Observed]:
    """Every scenario run once by phoenix.js, concurrently, against one server."""
    with _server() as server:
        endpoint = server.url.removesuffix("/websocket")  # phoenix.js appends it
        completed = subprocess.run(
            [str(NODE), str(DRIVER), endpoint, ",".join(SCENARIOS)],
            capture_output=True,
            text=True,
            timeout=6 * TIMEOUT,
            check=False,
        )
        events = server.events.snapshot()
        received = server.received.snapshot()
    assert completed.returncode == 0, f"driver failed:\n{completed.stderr}"
    results = json.loads(completed.stdout)["scenarios"]
    return {name: _observed(events, received, name, results[name]["trace"]) for name in SCENARIOS}


# -- our client -------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON-like copy: bytes become ``{"$binary": [...]}`` as the driver writes them."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$binary": list(bytes(value))}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


@dataclass(frozen=True)
class _Unknown:
    """The event of a reply's push, not known yet (see ``Ours.replied``)."""

    connection: int
    ref: Any


class Recording(SocketClient, Observer):
    """Writes what phoenix_actor surfaces as trace entries (the driver's vocabulary).

    Every method but ``init`` runs in the socket actor's thread.
    """

    def __init__(self, url: str, params: dict[str, str], presence: Presence | None) -> None:
        self.url = url
        self.params = params
        self.presence = presence
        self.trace: list[Entry] = []
        self.acks = 0  # heartbeat replies
        self.connections = 0
        self.states: dict[str, str] = {}  # topic -> its last ChannelState value
        self.last_socket_state = ""
        self.pushed: dict[tuple[int, Any], str] = {}  # (connection, ref) -> event
        self.waiters: list[tuple[Callable[[], bool], pykka.ThreadingFuture[None]]] = []

    def record(self, entry: Entry) -> None:
        self.trace.append(entry)
        self.wake()

    def wake(self) -> None:
        """Resolve the waiters whose condition now holds."""
        for waiter in list(self.waiters):
            condition, future = waiter
            if condition():
                self.waiters.remove(waiter)
                future.set(None)

    # SocketClient

    def init(self) -> Connect:
        return Connect(self.url, self.params)

    def handle_connected(self, conn: Connection) -> None:
        self.connections += 1
        self.record(["open"])

    def handle_disconnected(self, reason: DisconnectReason) -> Reconnect:
        if isinstance(reason, RemoteClosed):
            self.record(["socket_close", reason.code])
        elif isinstance(reason, HandshakeRejected):
            self.record(["handshake_rejected", reason.status])
        else:
            self.record(["disconnected", reason.describe()])
        return Reconnect()

    def handle_joined(self, topic: str, response: Any, conn: Connection) -> None:
        if self.presence is not None and topic == self.presence.topic:
            self.presence.reset()
        self.record(["join", topic, "ok", _plain(response)])

    def handle_join_error(self, topic: str, response: Any, conn: Connection) -> None:
        self.record(["join", topic, "error", _plain(response)])

    def handle_channel_closed(self, topic: str, payload: Any, conn: Connection) -> None:
        # phx_close and phx_error both come here; the state set just before tells them
        # apart (ERRORED: it will be rejoined), see the "close-or-error" row.
        kind = "error" if self.states.get(topic) == "errored" else "close"
        self.record([kind, topic, _plain(payload)])

    def handle_message(self, topic: str, event: str, payload: Any, conn: Connection) -> None:
        self.record(["message", topic, event, _plain(payload)])
        if self.presence is not None:
            self.presence.handle(topic, event, payload)

    def handle_reply(self, topic: str, ref: Any, payload: Any, conn: Connection) -> None:
        # The event of a push_future's ref is known once its future resolved: see finish.
        event = self.pushed.get((self.connections, ref), _Unknown(self.connections, ref))
        self.record(["reply", topic, event, payload["status"], _plain(payload["response"])])

    # Observer

    def channel_state(self, change: ChannelStateChanged) -> None:
        self.states[change.topic] = change.state.value

    def socket_state(self, change: SocketStateChanged) -> None:
        self.last_socket_state = change.state.value

    def heartbeat_rtt(self, seconds: float) -> None:
        self.acks += 1
        self.wake()

    # Presence hooks

    def presence_join(self, key: str, current: PresenceEntry | None, joined: PresenceEntry) -> None:
        self.record(["presence_join", key, current, joined])

    def presence_leave(self, key: str, current: PresenceEntry, left: PresenceEntry) -> None:
        self.record(["presence_leave", key, current, left])

    def presence_sync(self) -> None:
        assert self.presence is not None
        self.record(["presence_sync", self.presence.list()])


@dataclass
class Ours:
    """A SocketActor playing a scenario's steps, as the driver's phoenix.js socket does."""

    server: PhoenixServer
    scenario: str
    params: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    presence: str | None = None  # keep a Presence of this topic
    barrier: bool = True

    def __post_init__(self) -> None:
        presence = None if self.presence is None else Presence(self.presence)
        self.client = Recording(
            self.server.url, {**self.params, "scenario": self.scenario}, presence
        )
        if presence is not None:
            presence.on_join = self.client.presence_join
            presence.on_leave = self.client.presence_leave
            presence.on_sync = self.client.presence_sync
        config = Config(
            push_timeout=PUSH_TIMEOUT,
            reconnect_after=(NEVER,),
            rejoin_after=(NEVER,),
            observer=self.client,
        ).replace(**self.options)
        self.ref = SocketActor.start(self.client, config)
        if self.barrier:
            try:
                self.until("open", lambda e: e == ["open"])
                self.join(BARRIER)
            except BaseException:
                self.ref.stop(block=True, timeout=TIMEOUT)
                raise

    def __enter__(self) -> Ours:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.ref.is_alive():
            self.ref.stop(block=True, timeout=TIMEOUT)

    def run(self, function: Callable[[Connection], Any]) -> Any:
        """``function(conn)`` in the actor's thread (after what is already queued)."""
        return execute(self.ref, function, TIMEOUT)

    def until(self, what: str, test: Callable[[Entry], bool], count: int = 1) -> None:
        """Wait until the trace holds ``count`` entries passing ``test``."""
        self.until_true(what, lambda: sum(map(test, self.client.trace)) >= count)

    def until_true(self, what: str, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()``, evaluated in the actor's thread, holds."""
        future: pykka.ThreadingFuture[None] = pykka.ThreadingFuture()

        def register(_conn: Connection) -> None:
            self.client.waiters.append((condition, future))
            self.client.wake()

        self.run(register)
        try:
            future.get(timeout=TIMEOUT)
        except pykka.Timeout:
            raise AssertionError(f"no {what} within {TIMEOUT} s: {self.client.trace}") from None

    def _count(self, test: Callable[[Entry], bool]) -> int:
        counted: int = self.run(lambda _conn: sum(map(test, self.client.trace)))
        return counted

    def join(self, topic: str, payload: Any = None) -> None:
        """Join and wait for the answer (no timeout: a slow machine must not fail it)."""
        is_join = lambda e: e[0] == "join" and e[1] == topic  # noqa: E731
        count = self._count(is_join) + 1
        self.run(lambda conn: conn.join(topic, payload))
        self.until(f"join of {topic}", is_join, count)

    def _send(self, topic: str, event: str, payload: Any) -> Callable[[Connection], None]:
        def send(conn: Connection) -> None:
            if event == "phx_leave":
                ref = conn.leave(topic, payload)
            else:
                ref = conn.push(topic, event, payload)
            self.client.pushed[(self.client.connections, ref)] = event

        return send

    def push(self, topic: str, event: str, payload: Any = None) -> None:
        """Push without waiting (as the driver's pushes without ``receive`` hooks)."""
        self.run(self._send(topic, event, payload))

    def request(self, topic: str, event: str, payload: Any = None) -> None:
        """Push (or leave, for ``phx_leave``) and wait for the reply."""
        is_reply = lambda e: e[:3] == ["reply", topic, event]  # noqa: E731
        count = self._count(is_reply) + 1
        self.push(topic, event, payload)
        self.until(f"reply to {event} on {topic}", is_reply, count)

    def no_reply(self, topic: str, event: str, payload: Any = None) -> pykka.Future[Any]:
        """Push with ``push_future``, for a push that gets no reply (see ``outcome``)."""
        future: pykka.Future[Any] = self.run(lambda conn: conn.push_future(topic, event, payload))
        return future

    def outcome(self, topic: str, event: str, future: pykka.Future[Any]) -> None:
        """Trace how a ``no_reply`` push (or ``join_future``) ended: a timeout, or a
        failure; as the driver, a join's timeout is a ``join`` entry."""
        try:
            future.get(timeout=TIMEOUT)
        except PushTimeoutError:
            status, why = "timeout", None
        except ChannelClosedError:
            status, why = "failed", "ChannelClosedError"
        else:
            raise AssertionError(f"{event} on {topic} got a reply")
        entry = (
            ["join", topic, status, why]
            if event == "phx_join"
            else ["reply", topic, event, status, why]
        )
        self.run(lambda _conn: self.client.record(entry))

    def replied(self, event: str, future: pykka.Future[ChannelReply]) -> None:
        """Wait for the reply of a ``push_future``; its trace entry gets ``event``."""
        reply = future.get(timeout=TIMEOUT)

        def name(_conn: Connection) -> None:
            self.client.pushed[(self.client.connections, reply.ref)] = event

        self.run(name)

    def raised(self, function: Callable[[Connection], Any], error: type[Exception]) -> None:
        """Run ``function``, which must raise ``error``; trace it as ``raised``."""

        def attempt(conn: Connection) -> None:
            try:
                function(conn)
            except error:
                self.client.record(["raised", error.__name__])
            else:
                raise AssertionError(f"{error.__name__} was not raised")

        self.run(attempt)

    def sync(self) -> None:
        """Barrier: every frame the server sent so far has been handled."""
        self.request(BARRIER, "echo")

    def finish(self, *topics: str) -> list[Entry]:
        """The trace, ended by the state of each of ``topics``, as the driver's."""

        def collect(_conn: Connection) -> list[Entry]:
            client = self.client
            trace = [
                [*e[:2], client.pushed.get((e[2].connection, e[2].ref)), *e[3:]]
                if e[0] == "reply" and isinstance(e[2], _Unknown)
                else e
                for e in client.trace
            ]
            states = [["state", topic, client.states.get(topic, "closed")] for topic in topics]
            return [*trace, *states]

        trace: list[Entry] = self.run(collect)
        return trace


# -- the scenarios, played by our client ----------------------------------------------


def _join_ok(server: PhoenixServer) -> list[Entry]:
    with Ours(server, "join_ok") as py:
        py.join("echo:a", {"hello": "world"})
        py.sync()
        return py.finish("echo:a")


def _join_refused(server: PhoenixServer) -> list[Entry]:
    with Ours(server, "join_refused") as py:
        py.join("echo:refuse", {"hello": "no"})
        py.sync()
        return py.finish("echo:refuse")


def _join_refused_rejoin(server: PhoenixServer) -> list[Entry]:
    options = {"rejoin_after": (SHORT, NEVER)}
    with Ours(server, "join_refused_rejoin", options=options) as py:
        py.join("echo:refuse", {"hello": "again"})
        py.sync()
        return py.finish("echo:refuse")


def _unmatched_topic(server: PhoenixServer) -> list[Entry]:
    with Ours(server, "unmatched_topic") as py:
        py.join("nope:x")
        py.sync()
        return py.finish("nope:x")


def _push_replies(server: PhoenixServer) -> list[Entry]:
    topic = "echo:replies"
    with Ours(server, "push_replies") as py:
        py.join(topic)
        py.request(topic, "echo", {"a": 1, "nested": {"b": [1, "two"]}})
        py.request(topic, "error", {"b": 2})
        py.outcome(topic, "noreply", py.no_reply(topic, "noreply", {"c": 3}))
        py.sync()
        return py.finish(topic)


def _channel_push(server: PhoenixServer) -> list[Entry]:
    topic = "echo:push"
    with Ours(server, "channel_push") as py:
        py.join(topic)
        future = py.no_reply(topic, "push", {"x": 1})
        py.until("pushed", lambda e: e[:3] == ["message", topic, "pushed"])
        py.outcome(topic, "push", future)
        return py.finish(topic)


def _broadcast(server: PhoenixServer) -> list[Entry]:
    topic = "echo:bcast"
    with Ours(server, "broadcast") as py:
        py.join(topic)
        py.request(topic, "broadcast", {"y": 2})  # "broadcasted" comes before the reply
        return py.finish(topic)


def _stop(server: PhoenixServer) -> list[Entry]:
    topic = "echo:stop"
    with Ours(server, "stop") as py:
        py.join(topic)
        future = py.no_reply(topic, "stop")
        py.until("phx_close", lambda e: e[:2] == ["close", topic])
        py.outcome(topic, "stop", future)
        py.sync()
        return py.finish(topic)


def _crash(server: PhoenixServer) -> list[Entry]:
    topic = "echo:crash"
    with Ours(server, "crash") as py:
        py.join(topic)
        future = py.no_reply(topic, "crash")
        py.until("phx_error", lambda e: e[:2] == ["error", topic])
        py.outcome(topic, "crash", future)
        py.sync()
        return py.finish(topic)


def _crash_rejoin(server: PhoenixServer) -> list[Entry]:
    topic = "echo:rejoin"
    with Ours(server, "crash_rejoin", options={"rejoin_after": (SHORT,)}) as py:
        py.join(topic, {"again": True})
        py.push(topic, "crash")
        py.until("phx_error", lambda e: e[:2] == ["error", topic])
        py.until("rejoin", lambda e: e[:3] == ["join", topic, "ok"], count=2)
        py.sync()
        return py.finish(topic)


def _duplicate_join(server: PhoenixServer) -> list[Entry]:
    topic = "echo:dup"
    with Ours(server, "duplicate_join") as py:
        py.join(topic)
        py.raised(lambda conn: conn.join(topic), AlreadyJoinedError)
        # What the caller does instead: leave, wait for the close, join again.
        py.request(topic, "phx_leave")
        py.until("phx_close", lambda e: e[:2] == ["close", topic])
        py.join(topic)
        py.sync()
        return py.finish(topic)


def _push_while_joining(server: PhoenixServer) -> list[Entry]:
    topic = "echo:early"
    with Ours(server, "push_while_joining", options={"push_buffer": 10}) as py:

        def join_and_push(conn: Connection) -> pykka.Future[ChannelReply]:
            conn.join(topic)
            try:
                conn.push(topic, "echo", {"early": True})  # a plain push is not buffered
            except NotJoinedError:
                py.client.record(["raised", "NotJoinedError"])
            return conn.push_future(topic, "echo", {"early": True})  # buffered

        py.replied("echo", py.run(join_and_push))
        return py.finish(topic)


def _join_timeout(server: PhoenixServer) -> list[Entry]:
    with Ours(server, "join_timeout") as py:
        py.join("echo:busy")
        py.push("echo:busy", "slow", {"ms": SLOW_MS})
        py.outcome("echo:late", "phx_join", py.run(lambda conn: conn.join_future("echo:late")))
        py.until("slow reply", lambda e: e[:3] == ["reply", "echo:busy", "slow"])
        py.request("echo:busy", "echo", {})
        return py.finish("echo:late")


def _leave(server: PhoenixServer) -> list[Entry]:
    topic = "echo:leave"
    with Ours(server, "leave") as py:
        py.join(topic)
        py.request(topic, "phx_leave")
        py.sync()
        return py.finish(topic)


def _heartbeat(server: PhoenixServer) -> list[Entry]:
    with Ours(server, "heartbeat", options={"heartbeat_interval": HEARTBEAT}) as py:
        py.join("echo:hb")
        py.until_true("3 heartbeat replies", lambda: py.client.acks >= 3)
        return py.finish("echo:hb")


def _refused(server: PhoenixServer, scenario: str, options: dict[str, Any]) -> list[Entry]:
    with Ours(server, scenario, {"token": "bad"}, options, barrier=False) as py:
        py.until("refusal", lambda e: e[0] == "handshake_rejected")
        trace = py.finish()
        state: str = py.run(lambda _conn: py.client.last_socket_state)  # no reconnect planned
        return [*trace, ["socket_state", state]]


def _refused_connect(server: PhoenixServer) -> list[Entry]:
    return _refused(server, "refused_connect", {})


def _refused_connect_reconnect(server: PhoenixServer) -> list[Entry]:
    return _refused(server, "refused_connect_reconnect", {"reconnect_after": (SHORT, NEVER)})


def _binary(server: PhoenixServer) -> list[Entry]:
    topic = "echo:bin"
    with Ours(server, "binary") as py:
        py.join(topic)
        py.request(topic, "bin_echo", bytes([0, 1, 2, 127, 128, 255]))
        py.request(topic, "binary", {"bytes": [9, 8, 7]})
        py.push(topic, "binary_push", {"bytes": [5, 4, 3]})
        py.until("bin_pushed", lambda e: e[:3] == ["message", topic, "bin_pushed"])
        return py.finish(topic)


def _binary_broadcast(server: PhoenixServer) -> list[Entry]:
    topic = "echo:binb"
    with Ours(server, "binary_broadcast") as py:
        py.join(topic)
        py.request(topic, "binary_broadcast", {"bytes": [1, 2, 254, 255]})
        return py.finish(topic)


def _server_disconnect(server: PhoenixServer) -> list[Entry]:
    topic = "echo:dc"
    options = {"reconnect_after": (SHORT,)}
    with Ours(server, "server_disconnect", {"user": "js"}, options) as py:
        py.join(topic)
        py.push(topic, "disconnect_me")
        py.until("the server's close", lambda e: e[0] == "socket_close")
        py.until("rejoin", lambda e: e[:3] == ["join", topic, "ok"], count=2)
        return py.finish(topic)


def _presence(server: PhoenixServer) -> list[Entry]:
    is_sync = lambda e: e[0] == "presence_sync"  # noqa: E731
    with Ours(server, "presence", presence=ROOM) as alice:
        alice.join(ROOM, {"user": "alice"})
        alice.until("presence sync", is_sync)
        with Ours(server, "presence") as bob:
            bob.join(ROOM, {"user": "bob"})
            alice.until("bob's join", is_sync, count=2)
            bob.request(ROOM, "phx_leave")
            bob.until("bob's close", lambda e: e[:2] == ["close", ROOM])
        alice.until("bob's leave", is_sync, count=3)
        return alice.finish(ROOM)


OURS: dict[str, Callable[[PhoenixServer], list[Entry]]] = {
    "join_ok": _join_ok,
    "join_refused": _join_refused,
    "join_refused_rejoin": _join_refused_rejoin,
    "unmatched_topic": _unmatched_topic,
    "push_replies": _push_replies,
    "channel_push": _channel_push,
    "broadcast": _broadcast,
    "stop": _stop,
    "crash": _crash,
    "crash_rejoin": _crash_rejoin,
    "duplicate_join": _duplicate_join,
    "push_while_joining": _push_while_joining,
    "join_timeout": _join_timeout,
    "leave": _leave,
    "heartbeat": _heartbeat,
    "refused_connect": _refused_connect,
    "refused_connect_reconnect": _refused_connect_reconnect,
    "binary": _binary,
    "binary_broadcast": _binary_broadcast,
    "server_disconnect": _server_disconnect,
    "presence": _presence,
}


@pytest.fixture(scope="module")
def ours() -> Callable[[str], Observed]:
    """Each scenario played by our client against a fresh server, once (cached)."""
    cache: dict[str, Observed] = {}

    def play(name: str) -> Observed:
        if name not in cache:
            with _server() as server:
                trace = OURS[name](server)
                events = server.events.snapshot()
                received = server.received.snapshot()
            cache[name] = _observed(events, received, name, trace)
        return cache[name]

    return play


# -- normalising ------------------------------------------------------------------------


def _frames(observed: Observed, skip: frozenset[str]) -> list[list[Any]]:
    """Each frame as ``[connection, opcode, join_ref, ref, topic, event, payload]``.

    Refs are renamed per connection in order of first appearance (``ref1``, ``ref2``
    ...); a ref that is not a decimal string shows its type and value instead.
    """
    out: list[list[Any]] = []
    for index, frames in enumerate(observed.connections, 1):
        names: dict[Any, str] = {}

        def name(ref: Any, names: dict[Any, str] = names) -> Any:
            if ref is None:
                return None
            if isinstance(ref, str) and DECIMAL.fullmatch(ref):
                return names.setdefault(ref, f"ref{len(names) + 1}")
            return f"{type(ref).__name__}:{ref!r}"

        for frame in frames:
            message = frame.message
            assert message is not None, f"the server could not decode {frame!r}"
            if message.topic in skip:
                continue
            out.append(
                [
                    index,
                    frame.opcode,
                    name(message.join_ref),
                    name(message.ref),
                    message.topic,
                    message.event,
                    _plain(message.payload),
                ]
            )
    return out


def _json(value: Any) -> Any:
    """As the driver's JSON would have it (tuples become lists)."""
    return json.loads(json.dumps(value))


def _without(items: list[Any], expected: tuple[Any, ...], side: str, row: str) -> None:
    """Take the ``expected`` items out of ``items``; each must be there."""
    for item in _json(list(expected)):
        assert item in items, f"row {row!r}: {side} no longer has {item}: {items}"
        items.remove(item)


def _check_wire(observed: Observed) -> None:
    """Frames as protocol.md 4.2-4.4 has them: 5-element JSON arrays or binary pushes,
    refs decimal strings (or null), increasing within a connection."""
    for frames in observed.connections:
        refs: list[int] = []
        for frame in frames:
            message = frame.message
            assert message is not None
            if frame.opcode == "text":
                decoded = json.loads(frame.data)
                assert isinstance(decoded, list), frame
                assert len(decoded) == 5, frame
            else:
                assert isinstance(frame.data, bytes), frame
                assert frame.data[0] == 0, frame  # a client binary frame is a push
            for ref in (message.join_ref, message.ref):
                assert ref is None or (isinstance(ref, str) and DECIMAL.fullmatch(ref)), frame
            assert isinstance(message.ref, str), frame
            refs.append(int(message.ref))
        assert refs == sorted(set(refs)), refs


# -- the comparison ---------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_same_frames_and_events(
    scenario: str, phoenix_js: dict[str, Observed], ours: Callable[[str], Observed]
) -> None:
    js, py = phoenix_js[scenario], ours(scenario)
    _check_wire(js)
    _check_wire(py)
    js_params, js_frames, js_trace = js.params, _frames(js, frozenset({"phoenix"})), js.trace
    py_frames = _frames(py, frozenset({BARRIER, "phoenix"}))
    py_trace = [e for e in py.trace if BARRIER not in e[1:2]]
    js_params, js_frames, js_trace, py_trace = _json([js_params, js_frames, js_trace, py_trace])
    for d in DIFFERENCES.get(scenario, []):
        _without(js_params, d.phoenix_js_params, "phoenix.js params", d.row)
        _without(js_frames, d.phoenix_js_frames, "phoenix.js frames", d.row)
        _without(js_trace, d.phoenix_js, "phoenix.js", d.row)
        _without(py_trace, d.ours, "phoenix_actor", d.row)
    # What each client sent: connect params, then frames (heartbeats compared below);
    # then what each surfaced.
    assert py.params == js_params
    assert _json(py_frames) == js_frames
    assert py_trace == js_trace


def test_heartbeat_frames(phoenix_js: dict[str, Observed], ours: Callable[[str], Observed]) -> None:
    """Both send ``[null, ref, "phoenix", "heartbeat", {}]`` with a fresh ref each time
    (phoenix.js's ping is the same frame); at 50 ms, at least three came meanwhile."""
    for observed in (phoenix_js["heartbeat"], ours("heartbeat")):
        everything = _frames(observed, frozenset())
        beats = [f for f in everything if f[4] == "phoenix"]
        assert len(beats) >= 3
        assert all(f[:3] == [1, "text", None] for f in beats)
        assert all(f[4:] == ["phoenix", "heartbeat", {}] for f in beats)
        assert len({f[3] for f in beats}) == len(beats)


def test_refs_numbering(phoenix_js: dict[str, Observed], ours: Callable[[str], Observed]) -> None:
    """Row ``ref-numbering``: ours count 1, 2, 3 ... on each connection; phoenix.js's one
    counter also numbers its callback registrations and goes on across reconnects."""
    for scenario in SCENARIOS:
        for frames in ours(scenario).connections:
            refs = [f.message.ref for f in frames if f.message is not None]
            assert refs == [str(n) for n in range(1, len(refs) + 1)], (scenario, refs)
    first, second = (
        [f.message.ref for f in frames if f.message is not None]
        for frames in phoenix_js["server_disconnect"].connections
    )
    assert int(second[0]) > int(first[-1])
    js_first = phoenix_js["join_ok"].connections[0][0].message
    assert js_first is not None
    assert js_first.ref != "1"  # callback registrations took the first refs


def test_close_and_error_share_one_callback(ours: Callable[[str], Observed]) -> None:
    """Row ``close-or-error``: with the default ``handle_channel_error`` (which the
    Recording client keeps), phx_close and phx_error both reach ``handle_channel_closed``
    with the server's payload (``{}`` for both up to Phoenix 1.8.9); the topic's state
    (CLOSED, or ERRORED when it will be rejoined) tells them apart, which the Recording
    client reads from its Observer. Overriding ``handle_channel_error`` splits them
    (tests/test_rejoin.py)."""
    assert ["close", "echo:stop", {}] in ours("stop").trace
    assert ["error", "echo:crash", {}] in ours("crash").trace
    with _server() as server, Ours(server, "crash", options={"rejoin_after": None}) as py:
        py.join("echo:crash")
        py.push("echo:crash", "crash")
        py.until("phx_error", lambda e: e[1:] == ["echo:crash", {}])
        assert py.finish("echo:crash")[-2:] == [
            ["close", "echo:crash", {}],
            ["state", "echo:crash", "closed"],
        ]


def test_docs_list_every_difference() -> None:
    """docs/conformance.rst has one table row per difference this test knows, no more."""
    text = DOC.read_text(encoding="utf-8")
    rows = set(re.findall(r"^   \* - ``([a-z-]+)``$", text, flags=re.MULTILINE))
    known = {d.row for diffs in DIFFERENCES.values() for d in diffs} | set(ROWS_WITH_OWN_TESTS)
    assert rows == known
    assert all(name in globals() for name in ROWS_WITH_OWN_TESTS.values())


def test_every_driver_scenario_is_played() -> None:
    assert set(OURS) == set(SCENARIOS)
    driver = DRIVER.read_text()
    listed = set(re.findall(r"^  async ([a-z_]+)\(endpoint\)", driver, flags=re.MULTILINE))
    assert listed == set(SCENARIOS)
