"""Presence for the embedded server: Python's form of ``Phoenix.Presence``.

Each :class:`~phoenix_actor.testing.PhoenixServer` has one :class:`PresenceTracker`,
``server.presence``. A channel tracks a key (a user id) with a meta map on its topic;
every track, update and untrack broadcasts a ``presence_diff`` to the topic, and a
channel that stops (leave, crash, close, duplicate join, connection gone) has its
presences untracked, which broadcasts their leave. ``list(topic)`` is what a channel
pushes as ``presence_state``. The frames are those of the transcript's ``presence``
scenario: ``[null,null,topic,"presence_diff",{"joins":{...},"leaves":{...}}]`` and
``[JR,null,topic,"presence_state",{"alice":{"metas":[{"phx_ref":"...","user":"alice"}]}}]``.

:class:`PresenceChannel` is the transcript app's ``room:*`` channel.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from phoenix_actor.testing._server.channel import (
    ChannelSocket,
    JoinError,
    JoinOk,
    ServerNoReply,
    ServerReply,
    StopChannel,
)
from phoenix_actor.testing._server.echo import EchoChannel

if TYPE_CHECKING:
    from phoenix_actor.testing._server.server import PhoenixServer

__all__ = ["PresenceChannel", "PresenceTracker"]

logger = logging.getLogger("phoenix_actor.testing.server")

_ref_counter = itertools.count()


def new_phx_ref() -> str:
    """A unique ``phx_ref``: 16 URL-safe base64 characters, as Phoenix.Tracker's."""
    raw = struct.pack("!QI", time.time_ns(), next(_ref_counter) & 0xFFFFFFFF)
    return base64.urlsafe_b64encode(raw).decode("ascii")


@dataclass(slots=True)
class _Tracked:
    socket: ChannelSocket
    key: str
    meta: dict[str, Any]  # with its phx_ref


def _group(items: list[_Tracked]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """``{key: {"metas": [meta, ...]}}`` in the order the items were tracked."""
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for item in items:
        grouped.setdefault(item.key, {"metas": []})["metas"].append(dict(item.meta))
    return grouped


def _json_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-clean copy of ``meta``, so that a bad meta fails before anything changes."""
    if not isinstance(meta, Mapping):
        raise TypeError(f"a presence meta must be a mapping, not {type(meta).__name__}")
    try:
        copied: dict[str, Any] = json.loads(json.dumps(dict(meta), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"a presence meta must be JSON: {exc}") from exc
    return copied


def _check_key(key: object) -> None:
    if type(key) is not str:
        raise TypeError(f"a presence key must be a str, not {type(key).__name__}")


class PresenceTracker:
    """The presences of every topic of one server, kept in the order they were tracked.

    All methods may be called from any thread. A change and its ``presence_diff``
    broadcast happen under one lock, so every client sees the diffs in the order of the
    changes. ``track``, ``update`` and ``untrack`` need the channel to be joined: called
    during ``join`` they raise :class:`RuntimeError` (track in ``handle_info`` after the
    join, as Phoenix apps do); called after the channel stopped they do nothing and
    return ``None`` / ``False``.
    """

    def __init__(self, server: PhoenixServer) -> None:
        self._server = server
        self._lock = threading.Lock()
        self._tracked: dict[str, list[_Tracked]] = {}
        #: Makes each ``phx_ref``; tests may replace it to get known refs.
        self.phx_ref_factory: Callable[[], str] = new_phx_ref
        #: The event of the diffs broadcast on every change.
        self.diff_event = "presence_diff"

    def _live(self, socket: ChannelSocket, what: str) -> bool:
        """Whether ``socket`` may hold presences; call with the lock held."""
        if socket._state == "joining":
            raise RuntimeError(f"presence.{what} cannot be called before the join has completed")
        # Joined and still subscribed: a channel that is stopping is unsubscribed first.
        return socket.joined and socket in self._server.channel_sockets(socket.topic)

    def _find(self, socket: ChannelSocket, key: str) -> _Tracked | None:
        for item in self._tracked.get(socket.topic, ()):
            if item.socket is socket and item.key == key:
                return item
        return None

    def _broadcast(self, topic: str, joins: list[_Tracked], leaves: list[_Tracked]) -> None:
        diff = {"joins": _group(joins), "leaves": _group(leaves)}
        self._server.broadcast(topic, self.diff_event, diff)

    def track(self, socket: ChannelSocket, key: str, meta: Mapping[str, Any]) -> str | None:
        """Track ``key`` with ``meta`` on the channel's topic; return its new ``phx_ref``.

        A key may be tracked once per channel (:class:`ValueError` otherwise), and by
        any number of channels: each adds a meta to the key.
        """
        _check_key(key)
        clean = _json_meta(meta)
        with self._lock:
            if not self._live(socket, "track"):
                logger.debug("%r stopped: not tracking %r", socket, key)
                return None
            if self._find(socket, key) is not None:
                raise ValueError(f"{key!r} is already tracked by {socket!r}")
            ref = self.phx_ref_factory()
            item = _Tracked(socket, key, {**clean, "phx_ref": ref})
            self._tracked.setdefault(socket.topic, []).append(item)
            self._broadcast(socket.topic, [item], [])
            return ref

    def update(self, socket: ChannelSocket, key: str, meta: Mapping[str, Any]) -> str | None:
        """Replace the meta of a key this channel tracks; return the new ``phx_ref``.

        As Phoenix does, the diff is a leave of the old meta and a join of the new one,
        which carries the old ref as ``phx_ref_prev``. :class:`ValueError` if the
        channel does not track ``key``.
        """
        _check_key(key)
        clean = _json_meta(meta)
        with self._lock:
            if not self._live(socket, "update"):
                return None
            item = self._find(socket, key)
            if item is None:
                raise ValueError(f"{key!r} is not tracked by {socket!r}")
            old = _Tracked(socket, key, item.meta)
            ref = self.phx_ref_factory()
            item.meta = {**clean, "phx_ref": ref, "phx_ref_prev": old.meta["phx_ref"]}
            self._broadcast(socket.topic, [item], [old])
            return ref

    def untrack(self, socket: ChannelSocket, key: str) -> bool:
        """Stop tracking ``key`` for this channel; ``False`` if it was not tracked."""
        _check_key(key)
        with self._lock:
            if not self._live(socket, "untrack"):
                return False
            item = self._find(socket, key)
            if item is None:
                return False
            self._tracked[socket.topic].remove(item)
            self._prune(socket.topic)
            self._broadcast(socket.topic, [], [item])
            return True

    def list(self, topic: str) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """The presences of ``topic``: ``{key: {"metas": [meta, ...]}}`` (a copy)."""
        with self._lock:
            return _group(self._tracked.get(topic, []))

    def _prune(self, topic: str) -> None:
        if not self._tracked[topic]:
            del self._tracked[topic]

    def _channel_gone(self, socket: ChannelSocket) -> None:
        """The channel stopped (it is already unsubscribed): untrack all it tracked."""
        with self._lock:
            items = self._tracked.get(socket.topic, [])
            gone = [item for item in items if item.socket is socket]
            if not gone:
                return
            self._tracked[socket.topic] = [item for item in items if item.socket is not socket]
            self._prune(socket.topic)
            self._broadcast(socket.topic, [], gone)


@dataclass(frozen=True, slots=True)
class _AfterJoin:
    """Sent by :class:`PresenceChannel` to itself: track once the join reply is out."""


class PresenceChannel(EchoChannel):
    """The transcript app's ``room:*`` channel: presence, plus the echo events.

    The join (reply ``{}``) tracks the ``user`` of the join payload, else the ``user``
    connect param, with meta ``{"user": user}``; then the joiner's own diff is
    broadcast and the ``presence_state`` pushed to it, in that order (the transcript's).
    A join with no user tracks nothing but still gets the state.

    Events, besides :class:`EchoChannel`'s: ``presence_update`` replaces the meta with
    the payload (``user`` kept) and ``presence_untrack`` untracks; both reply ok ``{}``
    (error ``{"reason": "anonymous"}`` without a user, ``{"reason": "not tracked"}``).
    """

    def join(self, topic: str, payload: Any, socket: ChannelSocket) -> JoinOk | JoinError:
        """Accept with ``{}`` and track the user once the reply is sent."""
        user = payload.get("user") if isinstance(payload, dict) else None
        if not isinstance(user, str) or not user:
            user = socket.params.get("user") or None
        socket.assigns["user"] = user
        socket.send_info(_AfterJoin())
        return JoinOk({})

    def handle_info(self, message: Any, socket: ChannelSocket) -> StopChannel | None:
        """Track and push ``presence_state`` after the join; else as EchoChannel."""
        if not isinstance(message, _AfterJoin):
            return super().handle_info(message, socket)
        presence = socket.server.presence
        user = socket.assigns["user"]
        if user is not None:
            presence.track(socket, user, {"user": user})
        socket.push("presence_state", presence.list(socket.topic))
        return None

    def handle_in(
        self, event: str, payload: Any, socket: ChannelSocket
    ) -> ServerReply | ServerNoReply | StopChannel:
        """``presence_update`` and ``presence_untrack``; any other event as EchoChannel."""
        if event not in ("presence_update", "presence_untrack"):
            return super().handle_in(event, payload, socket)
        user = socket.assigns["user"]
        if user is None:
            return ServerReply("error", {"reason": "anonymous"})
        presence = socket.server.presence
        if event == "presence_untrack":
            done = presence.untrack(socket, user)
        else:
            meta = {**payload, "user": user} if isinstance(payload, dict) else {"user": user}
            try:
                done = presence.update(socket, user, meta) is not None
            except ValueError:
                done = False
        return ServerReply() if done else ServerReply("error", {"reason": "not tracked"})
