"""A channel's presence list kept by a socket's thread and readable from any thread."""

from __future__ import annotations

import builtins
import logging
import threading
from typing import Any

from phoenix_actor._protocol.presence import JoinHook, LeaveHook, Presence, PresenceEntry
from phoenix_actor.exceptions import ProtocolError

logger = logging.getLogger("phoenix_actor.facade")


class PresenceView:
    """What :meth:`phoenix_actor.Socket.presence` returns: a :class:`Presence` that the
    socket feeds (and resets whenever the topic is joined again), behind a lock.

    ``on_join`` / ``on_leave`` run in the socket actor's thread, as for :class:`Presence`;
    every method here may be called from any thread and returns copies.
    """

    def __init__(
        self, topic: str, on_join: JoinHook | None = None, on_leave: LeaveHook | None = None
    ) -> None:
        self._presence = Presence(topic, on_join=on_join, on_leave=on_leave)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<PresenceView {self.topic!r} keys={self.keys()!r}>"

    @property
    def topic(self) -> str:
        """The topic whose presence this is."""
        return self._presence.topic

    def _feed(self, topic: str, event: str, payload: Any) -> None:
        with self._lock:
            try:
                self._presence.handle(topic, event, payload)
            except ProtocolError as exc:
                logger.warning("dropped a malformed presence message on %r: %s", topic, exc)
            except Exception:
                logger.exception("a presence hook for %r raised", topic)

    def _reset(self) -> None:
        with self._lock:
            self._presence.reset()

    def keys(self) -> builtins.list[str]:
        """The keys (user ids, say) present now."""
        with self._lock:
            return self._presence.keys()

    def list(self) -> builtins.list[PresenceEntry]:
        """Every present entry (``{"metas": [...], ...}``)."""
        with self._lock:
            return self._presence.list()

    def get(self, key: str) -> PresenceEntry | None:
        """The entry of ``key``, or None when it is not present."""
        with self._lock:
            return self._presence.get(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._presence)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._presence
