"""Presence: one channel's list of who is there, kept from ``presence_state`` and
``presence_diff`` messages the way phoenix.js's ``Presence`` keeps it.

The server (``Phoenix.Presence``) pushes the whole list as ``presence_state`` after a
join and broadcasts every change as ``presence_diff``. Both are maps of a key (a user
id, say) to an entry ``{"metas": [meta, ...]}``; each meta is one tracked process (a
browser tab, a device) and carries a unique ``phx_ref``. A :class:`Presence` merges
them by ``phx_ref`` (protocol.md 4.8):

* a ``presence_state`` is compared with the list held so far: metas it lacks have left,
  metas it brings have joined;
* a diff's ``joins`` add metas (an entry is replaced by the joined one, keeping the
  metas it held whose ``phx_ref`` is not among the joined ones), and its ``leaves``
  remove metas by ``phx_ref``; a key whose metas are all gone disappears.

Diffs that arrive before the ``presence_state`` of the current join are kept and
applied right after it: Phoenix often sends a joiner its own join diff first. Call
:meth:`Presence.reset` whenever the topic is (re)joined; until the next
``presence_state``, diffs wait. The list is kept across a reset, so the next state
reports only what changed meanwhile.

It is pure (no threads, no I/O): feed it from ``SocketClient.handle_message``::

    class Room(SocketClient):
        def __init__(self) -> None:
            self.presence = Presence("room:lobby", on_join=self.arrived)

        def arrived(self, key, current, new_presence):
            if current is None:
                print(key, "is here")

        def handle_joined(self, topic, response, conn):
            if topic == self.presence.topic:
                self.presence.reset()

        def handle_message(self, topic, event, payload, conn):
            if self.presence.handle(topic, event, payload):
                return
            ...

Hooks fire once per meta that joins or leaves (phoenix.js also calls ``onJoin`` again
when a diff that came before the state is replayed; this class does not). They run
after the whole message has been applied, so :meth:`Presence.list` inside a hook
already shows the result; an exception raised by a hook propagates to the caller of
:meth:`Presence.handle`, the list staying fully updated, and skips the later hooks.
"""

from phoenix_actor._protocol.presence import (
    JoinHook,
    LeaveHook,
    Presence,
    PresenceEntry,
    SyncHook,
)

__all__ = ["JoinHook", "LeaveHook", "Presence", "PresenceEntry", "SyncHook"]
