"""Sockets as children of a parent actor, and the one-for-one Supervisor (fake transport)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pykka
import pytest

import phoenix_actor as pa
from phoenix_actor.supervision import (
    RESTART_BACKOFF,
    ChildSpec,
    ChildStarted,
    ChildStopped,
    RestartLimitExceeded,
    RestartScheduled,
    SupervisedSocketActor,
    Supervisor,
    SupervisorMixin,
    SupervisorStopped,
    is_crash,
    start_child,
    stop_actors,
)
from phoenix_actor.testing import FakeConnection, FakeConnector, Inbox
from tests.conftest import TIMEOUT

URL = "ws://example.test/socket/websocket"
E = TypeVar("E")
Events = Inbox[tuple[Any, ...]]


class Child(pa.SocketClient):
    """Connects to URL with its tag as a param. A told exception is raised, a told
    ``Stop`` returned."""

    def __init__(self, events: Inbox[tuple[Any, ...]], tag: Any = None) -> None:
        self.events = events
        self.tag = tag

    def init(self) -> pa.InitResult:
        return pa.Connect(URL, {"tag": str(self.tag)})

    def handle_disconnected(self, reason: pa.DisconnectReason) -> None:
        return None

    def handle_info(self, message: Any, conn: pa.Connection) -> pa.CallbackResult:
        if isinstance(message, BaseException):
            raise message
        if isinstance(message, pa.Stop):
            return message
        return None

    def terminate(self, reason: Any) -> None:
        self.events.put(("terminate", self.tag, reason))


class Parent(SupervisorMixin, pykka.ThreadingActor):
    """Puts what it receives in ``inbox``; fails on ``"fail"``."""

    def __init__(self, inbox: Inbox[Any]) -> None:
        super().__init__()
        self.inbox = inbox

    def on_receive(self, message: Any) -> Any:
        if message == "fail":
            raise RuntimeError("the parent failed")
        self.inbox.put(message)
        return None


ParentRef = pykka.ActorRef[Parent]
Supervise = Callable[..., pykka.ActorRef[Supervisor]]


@pytest.fixture
def inbox() -> Inbox[Any]:
    return Inbox()


@pytest.fixture
def events() -> Inbox[tuple[Any, ...]]:
    return Inbox()


@pytest.fixture
def parent(inbox: Inbox[Any]) -> Iterator[pykka.ActorRef[Parent]]:
    ref = Parent.start(inbox)
    yield ref
    ref.stop(block=True, timeout=TIMEOUT)


def take(inbox: Inbox[Any], kind: type[E], name: str | None = None) -> E:
    """The next message of class ``kind`` (for child ``name``, when given)."""

    def accept(item: Any) -> bool:
        return isinstance(item, kind) and (name is None or getattr(item, "name", None) == name)

    found: E = inbox.take(accept, TIMEOUT, kind.__name__)
    return found


def connection(connector: FakeConnector, tag: Any) -> FakeConnection:
    """The connection attempt of the client tagged ``tag``."""
    found: FakeConnection = connector.connections.take(
        lambda c: c.params["tag"] == str(tag), TIMEOUT, f"connection of {tag}"
    )
    return found


def terminated(events: Inbox[tuple[Any, ...]], tag: Any) -> Any:
    """The reason ``terminate`` got in the client tagged ``tag``."""
    return events.take(lambda e: e[0] == "terminate" and e[1] == tag, TIMEOUT, f"{tag}")[2]


# -- reasons -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "crashed"),
    [
        ("normal", False),
        ("shutdown", False),
        (("shutdown", "maintenance"), False),
        ("boom", True),
        (("error", "x"), True),
        (RuntimeError("boom"), True),
        (pa.HeartbeatTimeout(30.0), True),
        (None, True),
    ],
)
def test_is_crash_follows_otp(reason: Any, crashed: bool) -> None:
    assert is_crash(reason) is crashed


# -- start_child: the parent is told ---------------------------------------------------


@pytest.mark.parametrize(
    ("told", "expected", "crashed"),
    [
        (pa.Stop(), "normal", False),
        (pa.Stop("boom"), "boom", True),
        (RuntimeError("callback failed"), None, True),  # None: the told exception itself
    ],
    ids=["stop-normal", "stop-boom", "callback-error"],
)
def test_the_parent_is_told_why_its_child_stopped(
    parent: pykka.ActorRef[Parent],
    inbox: Inbox[Any],
    events: Inbox[tuple[Any, ...]],
    *,
    connector: FakeConnector,
    told: Any,
    expected: Any,
    crashed: bool,
) -> None:
    ref = start_child(
        parent, Child(events, "c"), transport_factory=connector, callback_errors="stop", name="c"
    )
    server = connector.next_connection()
    server.accept()
    ref.tell(told)
    stopped = take(inbox, ChildStopped)
    assert stopped.ref is ref
    assert stopped.name == "c"
    if expected is None:
        assert stopped.reason is told
    else:
        assert stopped.reason == expected
    assert stopped.crashed is crashed
    # told last: the websocket is closed and terminate has run
    assert server.closed
    assert events.snapshot() == [("terminate", "c", stopped.reason)]
    assert not ref.is_alive()


def test_a_child_stopped_from_outside_reports_shutdown(
    parent: pykka.ActorRef[Parent],
    inbox: Inbox[Any],
    events: Inbox[tuple[Any, ...]],
    connector: FakeConnector,
) -> None:
    ref = start_child(parent, Child(events), config=pa.Config(transport_factory=connector))
    server = connector.next_connection()
    ref.stop(block=True, timeout=TIMEOUT)
    assert take(inbox, ChildStopped) == ChildStopped(ref, "shutdown", False, None)
    assert server.closed


def test_a_failure_pykka_reports_is_a_crash(
    parent: ParentRef,
    inbox: Inbox[Any],
    events: Events,
    connector: FakeConnector,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = pa.SocketActor.on_receive

    def on_receive(self: pa.SocketActor, message: Any) -> Any:
        if message == "explode":
            raise KeyError("explode")
        return original(self, message)

    monkeypatch.setattr(pa.SocketActor, "on_receive", on_receive)
    ref = start_child(parent, Child(events), transport_factory=connector)
    server = connector.next_connection()
    server.accept()
    ref.tell("explode")
    stopped = take(inbox, ChildStopped)
    assert isinstance(stopped.reason, KeyError)
    assert stopped.crashed
    assert server.closed


def test_a_failing_on_start_is_reported(
    parent: ParentRef, inbox: Inbox[Any], events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    def on_start(self: pa.SocketActor) -> None:
        raise OSError("no threads left")

    monkeypatch.setattr(pa.SocketActor, "on_start", on_start)
    ref = start_child(parent, Child(events))
    stopped = take(inbox, ChildStopped)
    assert stopped.ref is ref
    assert isinstance(stopped.reason, OSError)
    assert stopped.crashed
    assert ref.actor_stopped.wait(TIMEOUT)


def test_start_child_raises_in_the_caller_and_wants_an_actor_ref(
    parent: ParentRef, events: Events
) -> None:
    with pytest.raises(pa.ConfigError, match=r"parent must be a pykka\.ActorRef"):
        start_child("parent", Child(events))  # type: ignore[arg-type]
    with pytest.raises(pa.ConfigError, match="unknown option"):
        start_child(parent, Child(events), colour="red")


# -- SupervisorMixin: the parent's stop stops its children ----------------------------


def start_two_children(
    parent: pykka.ActorRef[Parent], events: Inbox[tuple[Any, ...]], connector: FakeConnector
) -> tuple[list[pykka.ActorRef[Any]], list[FakeConnection]]:
    proxy = parent.proxy()
    refs, servers = [], []
    for tag in ("a", "b"):
        refs.append(
            proxy.start_child(Child(events, tag), transport_factory=connector, name=tag).get(
                timeout=TIMEOUT
            )
        )
        servers.append(connector.next_connection())
        servers[-1].accept()
    assert proxy.children.get(timeout=TIMEOUT) == refs
    return refs, servers


def test_stopping_the_parent_stops_its_children_and_their_transports(
    parent: ParentRef,
    inbox: Inbox[Any],
    events: Events,
    connector: FakeConnector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    refs, servers = start_two_children(parent, events, connector)
    with caplog.at_level(logging.WARNING):
        parent.stop(block=True, timeout=TIMEOUT)
    # the parent's stop returned after its children's: transports closed, terminate run
    assert not any(ref.is_alive() for ref in refs)
    assert all(server.closed for server in servers)
    assert sorted(events.snapshot()) == [("terminate", t, "shutdown") for t in ("a", "b")]
    assert inbox.snapshot() == []  # told to a parent that has stopped: dropped quietly
    assert not caplog.records


def test_a_failing_parent_stops_its_children(
    parent: ParentRef, events: Events, connector: FakeConnector
) -> None:
    refs, servers = start_two_children(parent, events, connector)
    parent.tell("fail")
    assert parent.actor_stopped.wait(TIMEOUT)
    for ref, server in zip(refs, servers, strict=True):
        assert ref.actor_stopped.wait(TIMEOUT)
        server.wait_closed(TIMEOUT)


def test_children_lists_only_the_running_ones(
    parent: ParentRef, inbox: Inbox[Any], events: Events, connector: FakeConnector
) -> None:
    (a, b), _ = start_two_children(parent, events, connector)
    a.tell(pa.Stop())
    take(inbox, ChildStopped)
    assert parent.proxy().children.get(timeout=TIMEOUT) == [b]


def test_stop_actors_reports_those_that_did_not_stop_in_time(events: Events) -> None:
    class Slow(pykka.ThreadingActor):
        def on_stop(self) -> None:
            events.take(lambda e: e == ("go",), TIMEOUT, "go")

    slow = Slow.start()
    assert stop_actors([slow], timeout=0.05) == [slow]
    events.put(("go",))
    assert stop_actors([slow]) == []  # stopped by now, or already: either way not late


# -- Supervisor ----------------------------------------------------------------------


def spec(
    name: str,
    events: Inbox[tuple[Any, ...]],
    connector: FakeConnector,
    restart: Any = "transient",
    factory: Callable[[], pa.SocketClient] | None = None,
) -> ChildSpec:
    """Clients tagged (name, 1), (name, 2) ... one per start."""
    counter = itertools.count(1)
    return ChildSpec(
        name,
        factory or (lambda: Child(events, (name, next(counter)))),
        options={"transport_factory": connector, "callback_errors": "stop"},
        restart=restart,
    )


@pytest.fixture
def observed() -> Inbox[Any]:
    return Inbox()


@pytest.fixture
def supervise(observed: Inbox[Any]) -> Iterator[Callable[..., pykka.ActorRef[Supervisor]]]:
    refs: list[pykka.ActorRef[Supervisor]] = []

    def _start(*specs: ChildSpec, **options: Any) -> pykka.ActorRef[Supervisor]:
        options.setdefault("observer", observed.put)
        ref = Supervisor.start(specs, **options)
        refs.append(ref)
        return ref

    yield _start
    for ref in refs:
        ref.stop(block=True, timeout=TIMEOUT)


def crash(
    observed: Inbox[Any], name: str, how: Any = None, started: ChildStarted | None = None
) -> ChildStopped:
    """Wait for child ``name`` to start (unless ``started``), then crash it (by default
    a callback raises) and return its ChildStopped."""
    if started is None:
        started = take(observed, ChildStarted, name)
    started.ref.tell(how if how is not None else RuntimeError(f"{name} crashed"))
    stopped = take(observed, ChildStopped, name)
    assert stopped.ref is started.ref
    return stopped


def test_the_supervisor_restarts_a_crashed_child_with_backoff(
    supervise: Supervise,
    observed: Inbox[Any],
    events: Events,
    connector: FakeConnector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sup = supervise(spec("a", events, connector), backoff=(0.01, 0.02))
    first = connector.next_connection()
    first.accept()
    started = take(observed, ChildStarted, "a")
    assert started.restarts == 0
    with caplog.at_level(logging.WARNING, "phoenix_actor.supervision"):
        started.ref.tell(RuntimeError("a crashed"))
        stopped = take(observed, ChildStopped, "a")
        assert take(observed, RestartScheduled) == RestartScheduled("a", stopped.reason, 0.01, 1)
    assert stopped.ref is started.ref
    assert stopped.crashed
    assert "restarting in 0.010 s (attempt 1)" in caplog.text
    assert terminated(events, ("a", 1)) is stopped.reason
    assert first.closed

    second = connector.next_connection()  # a new SocketActor, with a new client, connects
    second.accept()
    restarted = take(observed, ChildStarted, "a")
    assert restarted.restarts == 1
    assert restarted.ref is not started.ref
    crash(observed, "a", started=restarted)
    assert take(observed, RestartScheduled).delay == 0.02
    assert isinstance(terminated(events, ("a", 2)), RuntimeError)

    connector.next_connection()
    again = take(observed, ChildStarted, "a")
    assert again.restarts == 2
    (info,) = sup.proxy().which_children().get(timeout=TIMEOUT)
    assert (info.name, info.ref, info.state, info.restarts) == ("a", again.ref, "running", 2)
    assert isinstance(info.last_reason, RuntimeError)


def test_a_restart_waits_for_its_backoff_and_stopping_cancels_it(
    supervise: Supervise, observed: Inbox[Any], events: Events, connector: FakeConnector
) -> None:
    sup = supervise(spec("a", events, connector), spec("b", events, connector), backoff=(30.0,))
    first_a, first_b = connector.next_connection(), connector.next_connection()
    crash(observed, "a")
    assert take(observed, RestartScheduled, "a").delay == 30.0
    with pytest.raises(TimeoutError):
        connector.next_connection(timeout=0.1)
    assert [i.state for i in sup.proxy().which_children().get(timeout=TIMEOUT)] == [
        "restarting",
        "running",
    ]
    sup.stop(block=True, timeout=TIMEOUT)
    assert first_a.closed
    assert first_b.closed
    assert terminated(events, ("b", 1)) == "shutdown"
    assert take(observed, SupervisorStopped) == SupervisorStopped("supervisor", "shutdown", False)
    # the pending restart timer is cancelled: the conftest checks the timer thread ended


@pytest.mark.parametrize(
    ("policy", "told", "restarted"),
    [
        ("permanent", pa.Stop(), True),
        ("permanent", RuntimeError("x"), True),
        ("transient", pa.Stop(), False),
        ("transient", pa.Stop(("shutdown", "done")), False),
        ("transient", pa.Stop("boom"), True),
        ("transient", RuntimeError("x"), True),
        ("temporary", RuntimeError("x"), False),
        ("temporary", pa.Stop(), False),
    ],
)
def test_restart_policies(
    supervise: Supervise,
    observed: Inbox[Any],
    events: Events,
    *,
    connector: FakeConnector,
    policy: str,
    told: Any,
    restarted: bool,
) -> None:
    sup = supervise(spec("a", events, connector, restart=policy), backoff=(0.01,))
    connector.next_connection()
    stopped = crash(observed, "a", told)
    assert stopped.crashed is (not isinstance(told, pa.Stop) or is_crash(told.reason))
    (info,) = sup.proxy().which_children().get(timeout=TIMEOUT)  # handled after the ChildStopped
    if restarted:
        assert take(observed, ChildStarted, "a").restarts == 1
        connector.next_connection()
    else:
        assert (info.state, info.ref, info.restarts) == ("stopped", None, 0)
        assert not [e for e in observed.snapshot() if isinstance(e, RestartScheduled)]
        with pytest.raises(TimeoutError):
            connector.next_connection(timeout=0.05)


def test_the_supervisor_gives_up_after_the_limit_and_stops_everything(
    supervise: Supervise,
    observed: Inbox[Any],
    events: Events,
    *,
    connector: FakeConnector,
    parent: ParentRef,
    inbox: Inbox[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sup = supervise(
        spec("a", events, connector),
        spec("b", events, connector),
        max_restarts=2,
        period=60.0,
        backoff=(0.01,),
        parent=parent,
        name="sockets",
    )
    b_server = connection(connector, ("b", 1))
    with caplog.at_level(logging.ERROR, "phoenix_actor.supervision"):
        for _ in range(3):
            last = crash(observed, "a")
        told = take(inbox, ChildStopped)
    assert told.ref is sup
    assert told.name == "sockets"
    assert told.crashed
    error = told.reason
    assert isinstance(error, RestartLimitExceeded)
    assert (error.supervisor, error.child, error.max_restarts, error.period) == (
        "sockets",
        "a",
        2,
        60.0,
    )
    assert error.reason is last.reason
    assert "gives up: child 'a' stopped (RuntimeError: a crashed) after 2 restart(s)" in str(error)
    assert str(error) in caplog.text
    mine = [r.levelname for r in caplog.records if r.name == "phoenix_actor.supervision"]
    assert mine == ["ERROR"]
    assert not sup.is_alive()
    assert terminated(events, ("b", 1)) == "shutdown"
    assert b_server.closed
    stopped = take(observed, SupervisorStopped)
    assert (stopped.name, stopped.reason, stopped.crashed) == ("sockets", error, True)


def test_restart_intensity_counts_restarts_within_the_period_only(
    supervise: Supervise, observed: Inbox[Any], events: Events, connector: FakeConnector
) -> None:
    now = [0.0]
    supervise(
        spec("a", events, connector),
        max_restarts=2,
        period=10.0,
        backoff=(0.01, 0.02, 0.03),
        clock=lambda: now[0],
    )
    attempts = []
    for at in (0.0, 5.0, 16.0, 16.0):
        started = take(observed, ChildStarted, "a")
        now[0] = at
        crash(observed, "a", started=started)
        attempts.append(take(observed, RestartScheduled).attempt)
    # at 16 the restarts at 0 and 5 are over 10 s old, and the child had run 11 s: the
    # backoff starts again from its first step
    assert attempts == [1, 2, 1, 2]
    crash(observed, "a")  # two restarts at 16 already: a third one is one too many
    assert isinstance(take(observed, SupervisorStopped).reason, RestartLimitExceeded)


def test_a_failed_restart_counts_as_a_crash_and_is_retried(
    supervise: Supervise,
    observed: Inbox[Any],
    events: Events,
    connector: FakeConnector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = itertools.count(1)

    def factory() -> pa.SocketClient:
        n = next(calls)
        if n == 2:
            raise OSError("factory down")
        return Child(events, n)

    sup = supervise(spec("a", events, connector, factory=factory), backoff=(0.01, 0.02))
    crash(observed, "a")
    assert take(observed, RestartScheduled).attempt == 1
    failed = take(observed, RestartScheduled)
    assert isinstance(failed.reason, OSError)
    assert failed.attempt == 2
    assert take(observed, ChildStarted, "a").restarts == 2
    assert "could not restart child 'a'" in caplog.text
    assert sup.proxy().which_children().get(timeout=TIMEOUT)[0].restarts == 2


def test_a_child_that_cannot_start_fails_the_supervisor_start(
    events: Events, connector: FakeConnector
) -> None:
    class BadInit(Child):
        def init(self) -> Any:
            return "ws://nope"

    good = spec("good", events, connector)
    bad = ChildSpec("bad", lambda: BadInit(events), options={"transport_factory": connector})
    with pytest.raises(pa.ConfigError, match="init"):
        Supervisor.start([good, bad])
    assert connector.next_connection().closed  # the good one was stopped again
    assert terminated(events, ("good", 1)) == "shutdown"


def test_add_child_and_stop_child(
    supervise: Supervise, observed: Inbox[Any], events: Events, connector: FakeConnector
) -> None:
    sup = supervise()
    proxy = sup.proxy()
    ref = proxy.add_child(spec("c", events, connector, restart="permanent")).get(timeout=TIMEOUT)
    server = connector.next_connection()
    assert take(observed, ChildStarted, "c").ref is ref
    with pytest.raises(pa.ConfigError, match="already has a child 'c'"):
        proxy.add_child(spec("c", events, connector)).get(timeout=TIMEOUT)
    assert proxy.stop_child("c").get(timeout=TIMEOUT) is True
    assert server.closed
    assert terminated(events, ("c", 1)) == "shutdown"
    assert proxy.stop_child("c").get(timeout=TIMEOUT) is False
    with pytest.raises(LookupError):
        proxy.stop_child("nope").get(timeout=TIMEOUT)
    (info,) = proxy.which_children().get(timeout=TIMEOUT)
    assert (info.state, info.ref) == ("stopped", None)  # even permanent: not restarted


def test_an_observer_that_raises_is_logged_and_ignored(
    supervise: Supervise, events: Events, connector: FakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    def observer(event: Any) -> None:
        raise ValueError("observer bug")

    sup = supervise(spec("a", events, connector), observer=observer)
    assert sup.proxy().which_children().get(timeout=TIMEOUT)[0].state == "running"
    assert "the observer of supervisor 'supervisor' raised" in caplog.text


def test_a_supervisor_adopted_by_a_parent_stops_with_it(
    parent: ParentRef,
    inbox: Inbox[Any],
    observed: Inbox[Any],
    events: Events,
    connector: FakeConnector,
) -> None:
    sup = Supervisor.start([spec("a", events, connector)], parent=parent, observer=observed.put)
    parent.proxy().adopt(sup).get(timeout=TIMEOUT)
    server = connector.next_connection()
    parent.stop(block=True, timeout=TIMEOUT)
    assert not sup.is_alive()
    assert server.closed
    assert terminated(events, ("a", 1)) == "shutdown"
    assert take(observed, SupervisorStopped).reason == "shutdown"


@pytest.mark.parametrize(
    "options",
    [
        {"max_restarts": -1},
        {"max_restarts": True},
        {"period": 0},
        {"backoff": []},
        {"backoff": None},
        {"stop_timeout": 0},
        {"observer": 5},
        {"parent": "me"},
    ],
)
def test_bad_supervisor_options(options: dict[str, Any]) -> None:
    with pytest.raises(pa.ConfigError):
        Supervisor(**options)


@pytest.mark.parametrize(
    "fields",
    [
        {"name": ""},
        {"factory": "x"},
        {"restart": "always"},
        {"config": {"heartbeat_interval": 1}},
        {"options": {"callback_errors": "ignore"}},
        {"options": {"parent": None}},
    ],
)
def test_bad_child_specs(events: Events, fields: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"name": "a", "factory": lambda: Child(events), **fields}
    with pytest.raises(pa.ConfigError):
        ChildSpec(**arguments)


def test_child_specs_are_frozen_and_defaults_are_documented(events: Events) -> None:
    child = ChildSpec("a", lambda: Child(events), options={"heartbeat_interval": None})
    assert child.restart == "transient"
    with pytest.raises(TypeError):
        child.options["x"] = 1  # type: ignore[index]
    assert RESTART_BACKOFF == (0.1, 0.5, 1.0, 5.0)
    assert issubclass(RestartLimitExceeded, pa.PhoenixActorError)
    assert issubclass(SupervisedSocketActor, pa.SocketActor)
