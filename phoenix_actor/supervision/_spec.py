"""What a one-for-one :class:`Supervisor` is given and what it reports.

Child specs and their restart policies, the child info of ``which_children()``, the
events an observer is given, and :class:`RestartLimitExceeded`, the reason a
supervisor gives up with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Union

import pykka

from phoenix_actor._socket.client import SocketClient
from phoenix_actor._socket.config import Config
from phoenix_actor.exceptions import ConfigError, PhoenixActorError
from phoenix_actor.supervision._child import ChildStopped, SupervisedSocketActor, _describe

#: ``"permanent"``: restart after any stop; ``"transient"``: after a crash only;
#: ``"temporary"``: never.
RestartPolicy = Literal["permanent", "transient", "temporary"]
#: Where a supervised child stands.
ChildState = Literal["running", "restarting", "stopped"]
_POLICIES = ("permanent", "transient", "temporary")


class RestartLimitExceeded(PhoenixActorError):
    """A :class:`Supervisor`'s stop reason: a child needed more restarts than allowed."""

    def __init__(
        self, supervisor: str, child: str, reason: Any, max_restarts: int, period: float
    ) -> None:
        super().__init__(
            f"supervisor {supervisor!r} gives up: child {child!r} stopped "
            f"({_describe(reason)}) after {max_restarts} restart(s) within {period} s "
            f"(max_restarts={max_restarts}, period={period}); stopping every child"
        )
        self.supervisor = supervisor
        self.child = child
        self.reason = reason
        self.max_restarts = max_restarts
        self.period = period


@dataclass(frozen=True)
class ChildSpec:
    """How a :class:`Supervisor` starts, and restarts, one socket.

    ``factory()`` returns a new :class:`SocketClient` for every start, so no state
    survives a crash by accident. ``config`` and ``options`` go to the socket as in
    ``SocketActor.start(client, config, **options)`` and are validated here. ``restart``
    is ``"transient"`` (restart after a crash only; the default), ``"permanent"``
    (restart after any stop) or ``"temporary"`` (never restart).
    """

    name: str
    factory: Callable[[], SocketClient]
    config: Config | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    restart: RestartPolicy = "transient"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"a child's name must be a non-empty str, not {self.name!r}")
        if not callable(self.factory):
            raise ConfigError(f"factory must be callable, not {self.factory!r}")
        if self.restart not in _POLICIES:
            raise ConfigError(f"restart must be one of {_POLICIES}, not {self.restart!r}")
        if self.config is not None and not isinstance(self.config, Config):
            raise ConfigError(f"config must be a phoenix_actor.Config, not {self.config!r}")
        options = dict(self.options)
        for reserved in ("parent", "name"):
            if reserved in options:
                raise ConfigError(f"{reserved!r} is not a socket option")
        (self.config or Config()).replace(**options)  # raises ConfigError now
        object.__setattr__(self, "options", MappingProxyType(options))


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """One child of a :class:`Supervisor`, as ``which_children()`` reports it."""

    name: str
    ref: pykka.ActorRef[SupervisedSocketActor] | None  #: None unless running
    state: ChildState
    restarts: int  #: restart attempts so far
    last_reason: Any  #: why it last stopped (None if it never did)


@dataclass(frozen=True, slots=True)
class ChildStarted:
    """Event: child ``name`` started as ``ref`` (``restarts`` is 0 at the first start)."""

    name: str
    ref: pykka.ActorRef[SupervisedSocketActor]
    restarts: int


@dataclass(frozen=True, slots=True)
class RestartScheduled:
    """Event: child ``name`` stopped with ``reason``; it restarts in ``delay`` s.

    ``attempt`` is the backoff step: 1 after a crash of a child that had run for at
    least the supervisor's ``period``, then 2, 3 ... while it keeps crashing sooner.
    """

    name: str
    reason: Any
    delay: float
    attempt: int


@dataclass(frozen=True, slots=True)
class SupervisorStopped:
    """Event: the supervisor ``name`` stopped with ``reason``, its children stopped."""

    name: str
    reason: Any
    crashed: bool


#: What a supervisor's ``observer`` is given. :class:`ChildStopped` is the message a
#: child told the supervisor (stops the supervisor itself caused are not reported).
SupervisorEvent = Union[ChildStarted, ChildStopped, RestartScheduled, SupervisorStopped]
