"""Supervision: sockets as children of a parent actor, and a one-for-one supervisor.

The Elixir original runs its socket process under an OTP supervisor: linked to its
parent, with an exit reason that tells a crash from a normal stop, and restarted when
it crashes. Pykka has neither links nor supervisors; this module adds them for sockets.

* :func:`start_child` starts a socket whose end is told to a parent actor, in the
  parent's own mailbox, as :class:`ChildStopped` (``ref``, ``reason``, ``crashed``).
* :class:`SupervisorMixin` makes a parent actor stop its children, and so close their
  websockets, when it stops or fails.
* :class:`Supervisor` is a one-for-one supervisor: it starts sockets from
  :class:`ChildSpec`\\ s, restarts a crashed one after a backoff, and gives up after
  ``max_restarts`` restarts within ``period`` seconds: it then stops every child and
  itself, with :class:`RestartLimitExceeded` as its reason.

A reason is *normal*, as in OTP, when it is ``"normal"`` (``Stop()``), ``"shutdown"``
(``ref.stop()``) or a ``("shutdown", detail)`` tuple; anything else, exceptions and
disconnect reasons included, is a crash (:func:`is_crash`).
"""

from phoenix_actor.supervision._child import (
    DEFAULT_STOP_TIMEOUT,
    ChildStopped,
    SupervisedSocketActor,
    SupervisorMixin,
    is_crash,
    start_child,
    stop_actors,
)
from phoenix_actor.supervision._spec import (
    ChildInfo,
    ChildSpec,
    ChildStarted,
    ChildState,
    RestartLimitExceeded,
    RestartPolicy,
    RestartScheduled,
    SupervisorEvent,
    SupervisorStopped,
)
from phoenix_actor.supervision._supervisor import RESTART_BACKOFF, Supervisor

__all__ = [
    "DEFAULT_STOP_TIMEOUT",
    "RESTART_BACKOFF",
    "ChildInfo",
    "ChildSpec",
    "ChildStarted",
    "ChildState",
    "ChildStopped",
    "RestartLimitExceeded",
    "RestartPolicy",
    "RestartScheduled",
    "SupervisedSocketActor",
    "Supervisor",
    "SupervisorEvent",
    "SupervisorMixin",
    "SupervisorStopped",
    "is_crash",
    "start_child",
    "stop_actors",
]
