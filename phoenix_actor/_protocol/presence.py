"""Presence lists kept from presence_state and presence_diff.

Public as :mod:`phoenix_actor.presence`.
"""

from __future__ import annotations

import builtins
import copy
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Optional, TypeVar, Union, overload

from phoenix_actor.exceptions import ProtocolError

__all__ = ["JoinHook", "LeaveHook", "Presence", "PresenceEntry", "SyncHook"]

logger = logging.getLogger("phoenix_actor.presence")

T = TypeVar("T")

#: One key's entry: ``{"metas": [meta, ...]}``, plus any fields the server's
#: ``fetch/2`` added. Every meta is a dict with a string ``phx_ref``.
PresenceEntry = dict[str, Any]
#: ``on_join(key, current, new_presence)``: ``current`` is the key's entry before the
#: join (``None`` if the key was absent); ``new_presence`` holds the metas that joined.
JoinHook = Callable[[str, Optional[PresenceEntry], PresenceEntry], None]
#: ``on_leave(key, current, left_presence)``: ``current`` is what remains of the key
#: (its ``metas`` may be empty: the key is then gone); ``left_presence`` holds the metas
#: that left.
LeaveHook = Callable[[str, PresenceEntry, PresenceEntry], None]
#: ``on_sync()``: called once after each state or diff has been applied.
SyncHook = Callable[[], None]

_PresenceMap = dict[str, PresenceEntry]


@dataclass(frozen=True, slots=True)
class _Joined:
    key: str
    current: PresenceEntry | None
    presence: PresenceEntry


@dataclass(frozen=True, slots=True)
class _Left:
    key: str
    current: PresenceEntry
    presence: PresenceEntry


_Change = Union[_Joined, _Left]


def _metas(entry: PresenceEntry) -> builtins.list[dict[str, Any]]:
    metas: builtins.list[dict[str, Any]] = entry["metas"]
    return metas


def _refs(entry: PresenceEntry) -> set[str]:
    return {meta["phx_ref"] for meta in _metas(entry)}


def _with_metas(entry: PresenceEntry, metas: builtins.list[dict[str, Any]]) -> PresenceEntry:
    """A new entry: ``entry``'s other fields with ``metas``."""
    return {**entry, "metas": metas}


def _presence_map(value: Any, what: str) -> _PresenceMap:
    """Check ``value`` has the presence-list shape; return a deep copy of it."""
    if type(value) is not dict:
        raise ProtocolError(f"{what} must be an object of presences, got {value!r:.200}")
    for key, entry in value.items():
        if type(key) is not str:
            raise ProtocolError(f"{what}: presence keys must be strings, got {key!r}")
        if type(entry) is not dict or type(entry.get("metas")) is not list:
            raise ProtocolError(f"{what}: presence {key!r} needs a metas list, got {entry!r:.200}")
        for meta in entry["metas"]:
            if type(meta) is not dict or type(meta.get("phx_ref")) is not str:
                raise ProtocolError(
                    f"{what}: every meta of presence {key!r} needs a string phx_ref, "
                    f"got {meta!r:.200}"
                )
    return copy.deepcopy(value)


def _diff(payload: Any, what: str) -> tuple[_PresenceMap, _PresenceMap]:
    """The ``joins`` and ``leaves`` of a diff payload (a missing one counts as empty)."""
    if type(payload) is not dict:
        raise ProtocolError(f"{what} must be an object with joins and leaves, got {payload!r:.200}")
    joins = _presence_map(payload.get("joins", {}), f"{what} joins")
    leaves = _presence_map(payload.get("leaves", {}), f"{what} leaves")
    return joins, leaves


class Presence:
    """The presence list of one topic, merged from ``presence_state`` and ``presence_diff``.

    ``on_join``, ``on_leave`` and ``on_sync`` (see :data:`JoinHook`, :data:`LeaveHook`,
    :data:`SyncHook`) may also be set as attributes later. ``state_event`` and
    ``diff_event`` are the event names, Phoenix's conventional ones by default.

    The entries it hands out (to hooks, from :meth:`list` and :meth:`get`) are copies:
    changing them does not change the list.
    """

    __slots__ = (
        "_pending",
        "_state",
        "_synced",
        "_topic",
        "diff_event",
        "on_join",
        "on_leave",
        "on_sync",
        "state_event",
    )

    def __init__(
        self,
        topic: str,
        *,
        on_join: JoinHook | None = None,
        on_leave: LeaveHook | None = None,
        on_sync: SyncHook | None = None,
        state_event: str = "presence_state",
        diff_event: str = "presence_diff",
    ) -> None:
        if type(topic) is not str:
            raise TypeError(f"topic must be a str, not {type(topic).__name__}")
        self._topic = topic
        self.on_join = on_join
        self.on_leave = on_leave
        self.on_sync = on_sync
        self.state_event = state_event
        self.diff_event = diff_event
        self._state: _PresenceMap = {}
        self._pending: builtins.list[tuple[_PresenceMap, _PresenceMap]] = []
        self._synced = False

    def __repr__(self) -> str:
        state = "synced" if self._synced else f"waiting for state, {len(self._pending)} diffs"
        return f"<Presence {self._topic!r} {len(self._state)} keys, {state}>"

    @property
    def topic(self) -> str:
        """The topic whose presence this is."""
        return self._topic

    @property
    def synced(self) -> bool:
        """True once a ``presence_state`` arrived since creation or the last :meth:`reset`."""
        return self._synced

    # -- input --------------------------------------------------------------------

    def handle(self, topic: str, event: str, payload: Any) -> bool:
        """Apply a message if it is this topic's presence state or diff.

        Returns ``True`` if it was one (applied, or kept until the state arrives),
        ``False`` for any other message. A presence message whose payload does not have
        the presence shape raises :class:`~phoenix_actor.ProtocolError` and changes
        nothing.
        """
        if topic != self._topic:
            return False
        if event == self.state_event:
            self._apply_state(_presence_map(payload, self.state_event))
            return True
        if event == self.diff_event:
            diff = _diff(payload, self.diff_event)
            if self._synced:
                changes: builtins.list[_Change] = []
                self._merge(*diff, changes)
                self._notify(changes)
            else:
                logger.debug("%s: diff kept until the presence state arrives", self._topic)
                self._pending.append(diff)
            return True
        return False

    def reset(self) -> None:
        """The topic was (re)joined: keep diffs until the next ``presence_state``.

        Diffs still waiting from before are dropped (the coming state covers them). The
        list itself is kept, so that the next state reports only what changed.
        """
        self._synced = False
        self._pending.clear()

    # -- merging ------------------------------------------------------------------

    def _apply_state(self, new_state: _PresenceMap) -> None:
        joins: _PresenceMap = {}
        leaves: _PresenceMap = {}
        for key, held in self._state.items():
            if key not in new_state:
                leaves[key] = held
        for key, entry in new_state.items():
            current = self._state.get(key)
            if current is None:
                joins[key] = entry
                continue
            current_refs = _refs(current)
            new_refs = _refs(entry)
            joined = [meta for meta in _metas(entry) if meta["phx_ref"] not in current_refs]
            left = [meta for meta in _metas(current) if meta["phx_ref"] not in new_refs]
            if joined:
                joins[key] = _with_metas(entry, joined)
            if left:
                leaves[key] = _with_metas(current, left)
        changes: builtins.list[_Change] = []
        self._merge(joins, leaves, changes)
        for pending_joins, pending_leaves in self._pending:
            self._merge(pending_joins, pending_leaves, changes)
        self._pending.clear()
        self._synced = True
        self._notify(changes)

    def _merge(
        self, joins: _PresenceMap, leaves: _PresenceMap, changes: builtins.list[_Change]
    ) -> None:
        state = self._state
        for key, joined in joins.items():
            current = state.get(key)
            joined_metas = _metas(joined)
            known = set() if current is None else _refs(current)
            new_metas = [meta for meta in joined_metas if meta["phx_ref"] not in known]
            if not new_metas:
                continue
            joined_refs = _refs(joined)
            kept = [] if current is None else _metas(current)
            metas = [meta for meta in kept if meta["phx_ref"] not in joined_refs] + joined_metas
            state[key] = _with_metas(joined, metas)
            changes.append(_Joined(key, current, _with_metas(joined, new_metas)))
        for key, left in leaves.items():
            current = state.get(key)
            if current is None:
                continue
            left_refs = _refs(left)
            present = _refs(current)
            gone = [meta for meta in _metas(left) if meta["phx_ref"] in present]
            if not gone:
                continue
            remaining = _with_metas(
                current, [meta for meta in _metas(current) if meta["phx_ref"] not in left_refs]
            )
            if _metas(remaining):
                state[key] = remaining
            else:
                del state[key]
            changes.append(_Left(key, remaining, _with_metas(left, gone)))

    def _notify(self, changes: builtins.list[_Change]) -> None:
        on_join = self.on_join
        on_leave = self.on_leave
        for change in changes:
            if isinstance(change, _Joined):
                if on_join is not None:
                    current = None if change.current is None else copy.deepcopy(change.current)
                    on_join(change.key, current, copy.deepcopy(change.presence))
            elif on_leave is not None:
                on_leave(change.key, copy.deepcopy(change.current), copy.deepcopy(change.presence))
        if self.on_sync is not None:
            self.on_sync()

    # -- queries ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._state)

    def __contains__(self, key: object) -> bool:
        return key in self._state

    def __iter__(self) -> Iterator[str]:
        return iter(builtins.list(self._state))

    def keys(self) -> builtins.list[str]:
        """The keys present, in the order they first appeared."""
        return builtins.list(self._state)

    def get(self, key: str) -> PresenceEntry | None:
        """A copy of ``key``'s entry ``{"metas": [...], ...}``, or ``None`` if absent."""
        entry = self._state.get(key)
        return None if entry is None else copy.deepcopy(entry)

    @overload
    def list(self) -> builtins.list[PresenceEntry]: ...

    @overload
    def list(self, chooser: Callable[[str, PresenceEntry], T]) -> builtins.list[T]: ...

    def list(
        self, chooser: Callable[[str, PresenceEntry], Any] | None = None
    ) -> builtins.list[Any]:
        """Every entry (copies), or ``chooser(key, entry)`` of every entry, in key order.

        >>> presence.list(lambda key, entry: (key, len(entry["metas"])))  # doctest: +SKIP
        [('alice', 1), ('bob', 2)]
        """
        entries = [(key, copy.deepcopy(entry)) for key, entry in self._state.items()]
        if chooser is None:
            return [entry for _key, entry in entries]
        return [chooser(key, entry) for key, entry in entries]
