"""Unit tests for phoenix_actor.presence (pure: no sockets, no threads).

The merge rules are protocol.md 4.8 (phoenix.js's syncState / syncDiff); the payloads
are the ``presence`` scenario of the Phoenix 1.7.24 wire transcript, frame by frame.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phoenix_actor.exceptions import ProtocolError
from phoenix_actor.presence import Presence, PresenceEntry

TOPIC = "room:lobby"
ALICE = "GOtdJZmBrHShxgay"
BOB_1 = "GOtdJcOXBVqhxgUx"
BOB_2 = "GOtdJmr4m3WhxgVR"


def payload(frame: str) -> Any:
    """The payload of a v2 frame copied from the transcript."""
    return json.loads(frame)[4]


# The presence scenario, as alice's connection received it (after the join reply).
ALICE_FRAMES = [
    '[null,null,"room:lobby","presence_diff",{"joins":{"alice":{"metas":[{"phx_ref":"GOtdJZmBrHShxgay","user":"alice"}]}},"leaves":{}}]',
    '["1",null,"room:lobby","presence_state",{"alice":{"metas":[{"phx_ref":"GOtdJZmBrHShxgay","user":"alice"}]}}]',
    '[null,null,"room:lobby","presence_diff",{"joins":{"bob":{"metas":[{"phx_ref":"GOtdJcOXBVqhxgUx","user":"bob"}]}},"leaves":{}}]',
    '[null,null,"room:lobby","presence_diff",{"joins":{},"leaves":{"bob":{"metas":[{"phx_ref":"GOtdJcOXBVqhxgUx","user":"bob"}]}}}]',
    '[null,null,"room:lobby","presence_diff",{"joins":{"bob":{"metas":[{"phx_ref":"GOtdJmr4m3WhxgVR","user":"bob"}]}},"leaves":{}}]',
    '[null,null,"room:lobby","presence_diff",{"joins":{},"leaves":{"bob":{"metas":[{"phx_ref":"GOtdJmr4m3WhxgVR","user":"bob"}]}}}]',
]
# Bob's first join, and his re-join after leaving.
BOB_FIRST = [
    '[null,null,"room:lobby","presence_diff",{"joins":{"bob":{"metas":[{"phx_ref":"GOtdJcOXBVqhxgUx","user":"bob"}]}},"leaves":{}}]',
    '["1",null,"room:lobby","presence_state",{"alice":{"metas":[{"phx_ref":"GOtdJZmBrHShxgay","user":"alice"}]},"bob":{"metas":[{"phx_ref":"GOtdJcOXBVqhxgUx","user":"bob"}]}}]',
]
BOB_AGAIN = [
    '[null,null,"room:lobby","presence_diff",{"joins":{"bob":{"metas":[{"phx_ref":"GOtdJmr4m3WhxgVR","user":"bob"}]}},"leaves":{}}]',
    '["3",null,"room:lobby","presence_state",{"alice":{"metas":[{"phx_ref":"GOtdJZmBrHShxgay","user":"alice"}]},"bob":{"metas":[{"phx_ref":"GOtdJmr4m3WhxgVR","user":"bob"}]}}]',
]


def meta(ref: str, **fields: Any) -> dict[str, Any]:
    return {"phx_ref": ref, **fields}


def entry(*metas: dict[str, Any], **extra: Any) -> PresenceEntry:
    return {"metas": list(metas), **extra}


def feed(presence: Presence, frame: str) -> bool:
    _join_ref, _ref, topic, event, body = json.loads(frame)
    return presence.handle(topic, event, body)


class Hooks:
    """Records every hook call as a tuple, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def on_join(self, key: str, current: PresenceEntry | None, new: PresenceEntry) -> None:
        self.calls.append(("join", key, current, new))

    def on_leave(self, key: str, current: PresenceEntry, left: PresenceEntry) -> None:
        self.calls.append(("leave", key, current, left))

    def on_sync(self) -> None:
        self.calls.append(("sync",))

    def presence(self, topic: str = TOPIC, **options: Any) -> Presence:
        return Presence(
            topic, on_join=self.on_join, on_leave=self.on_leave, on_sync=self.on_sync, **options
        )

    def take(self) -> list[tuple[Any, ...]]:
        calls, self.calls = self.calls, []
        return calls


# -- the transcript, seen from each side -----------------------------------------------


def test_alice_sees_her_own_join_once_then_bob_come_and_go() -> None:
    hooks = Hooks()
    presence = hooks.presence()
    alice = entry(meta(ALICE, user="alice"))
    bob_1 = entry(meta(BOB_1, user="bob"))
    bob_2 = entry(meta(BOB_2, user="bob"))

    assert feed(presence, ALICE_FRAMES[0])  # her own diff, before the state: kept
    assert hooks.take() == []
    assert (presence.synced, len(presence)) == (False, 0)

    assert feed(presence, ALICE_FRAMES[1])  # the state, then the kept diff adds nothing
    assert hooks.take() == [("join", "alice", None, alice), ("sync",)]
    assert presence.synced
    assert presence.list() == [alice]

    assert feed(presence, ALICE_FRAMES[2])
    assert hooks.take() == [("join", "bob", None, bob_1), ("sync",)]
    assert presence.keys() == ["alice", "bob"]

    assert feed(presence, ALICE_FRAMES[3])
    assert hooks.take() == [("leave", "bob", {"metas": []}, bob_1), ("sync",)]
    assert "bob" not in presence
    assert presence.keys() == ["alice"]

    assert feed(presence, ALICE_FRAMES[4])
    assert hooks.take() == [("join", "bob", None, bob_2), ("sync",)]
    assert feed(presence, ALICE_FRAMES[5])
    assert hooks.take() == [("leave", "bob", {"metas": []}, bob_2), ("sync",)]
    assert presence.list() == [alice]


def test_bob_joins_leaves_and_rejoins_with_reset() -> None:
    hooks = Hooks()
    presence = hooks.presence()
    alice = entry(meta(ALICE, user="alice"))
    bob_1 = entry(meta(BOB_1, user="bob"))
    bob_2 = entry(meta(BOB_2, user="bob"))

    for frame in BOB_FIRST:
        assert feed(presence, frame)
    assert hooks.take() == [("join", "alice", None, alice), ("join", "bob", None, bob_1), ("sync",)]

    presence.reset()  # bob left (phx_close) and joins again
    assert not presence.synced
    assert presence.list() == [alice, bob_1]  # kept until the next state
    for frame in BOB_AGAIN:
        assert feed(presence, frame)
    # The state replaces bob's meta: his new one joins, the old one leaves.
    assert hooks.take() == [
        ("join", "bob", bob_1, bob_2),
        ("leave", "bob", bob_2, bob_1),
        ("sync",),
    ]
    assert presence.list() == [alice, bob_2]
    assert presence.get("bob") == bob_2


# -- presence_state: syncState ---------------------------------------------------------


def test_state_against_the_held_list_reports_only_changes() -> None:
    hooks = Hooks()
    presence = hooks.presence()
    presence.handle(
        TOPIC,
        "presence_state",
        {
            "gone": entry(meta("g1")),
            "same": entry(meta("s1", n=1), name="Same"),
            "mixed": entry(meta("m1"), meta("m2")),
        },
    )
    hooks.take()
    presence.reset()
    presence.handle(
        TOPIC,
        "presence_state",
        {
            "same": entry(meta("s1", n=1), name="Renamed"),  # no meta changed: entry kept
            "mixed": entry(meta("m2"), meta("m3"), name="Mixed"),
            "new": entry(meta("n1"), meta("n2")),
        },
    )
    assert hooks.take() == [
        ("join", "mixed", entry(meta("m1"), meta("m2")), entry(meta("m3"), name="Mixed")),
        ("join", "new", None, entry(meta("n1"), meta("n2"))),
        ("leave", "gone", {"metas": []}, entry(meta("g1"))),
        ("leave", "mixed", entry(meta("m2"), meta("m3"), name="Mixed"), entry(meta("m1"))),
        ("sync",),
    ]
    assert presence.keys() == ["same", "mixed", "new"]
    assert presence.get("same") == entry(meta("s1", n=1), name="Same")
    assert presence.get("mixed") == entry(meta("m2"), meta("m3"), name="Mixed")
    assert presence.get("gone") is None


def test_an_identical_state_changes_nothing() -> None:
    hooks = Hooks()
    presence = hooks.presence()
    state = {"a": entry(meta("1"))}
    presence.handle(TOPIC, "presence_state", state)
    hooks.take()
    presence.handle(TOPIC, "presence_state", state)
    assert hooks.take() == [("sync",)]
    assert presence.list() == [entry(meta("1"))]


def test_an_empty_state_empties_the_list() -> None:
    hooks = Hooks()
    presence = hooks.presence()
    presence.handle(TOPIC, "presence_state", {"a": entry(meta("1"))})
    presence.handle(TOPIC, "presence_state", {})
    assert hooks.calls[-2:] == [("leave", "a", {"metas": []}, entry(meta("1"))), ("sync",)]
    assert len(presence) == 0


# -- presence_diff: syncDiff -----------------------------------------------------------


def synced(hooks: Hooks, state: dict[str, PresenceEntry] | None = None) -> Presence:
    presence = hooks.presence()
    presence.handle(TOPIC, "presence_state", state or {})
    hooks.take()
    return presence


def diff(joins: dict[str, Any] | None = None, leaves: dict[str, Any] | None = None) -> Any:
    return {"joins": joins or {}, "leaves": leaves or {}}


def test_a_second_device_joins_after_the_first() -> None:
    hooks = Hooks()
    presence = synced(hooks, {"u": entry(meta("1", d="phone"), name="U")})
    presence.handle(TOPIC, "presence_diff", diff({"u": entry(meta("2", d="web"), name="U2")}))
    assert hooks.take() == [
        ("join", "u", entry(meta("1", d="phone"), name="U"), entry(meta("2", d="web"), name="U2")),
        ("sync",),
    ]
    # The joined entry's fields win; the metas held before come first.
    assert presence.get("u") == entry(meta("1", d="phone"), meta("2", d="web"), name="U2")


def test_a_join_of_known_and_new_metas_reports_only_the_new_ones() -> None:
    hooks = Hooks()
    presence = synced(hooks, {"u": entry(meta("1", v="old"), meta("2"))})
    presence.handle(TOPIC, "presence_diff", diff({"u": entry(meta("1", v="new"), meta("3"))}))
    assert hooks.take() == [
        ("join", "u", entry(meta("1", v="old"), meta("2")), entry(meta("3"))),
        ("sync",),
    ]
    assert presence.get("u") == entry(meta("2"), meta("1", v="new"), meta("3"))


def test_a_join_of_known_metas_only_changes_nothing() -> None:
    hooks = Hooks()
    presence = synced(hooks, {"u": entry(meta("1", v="old"))})
    presence.handle(TOPIC, "presence_diff", diff({"u": entry(meta("1", v="new"))}))
    assert hooks.take() == [("sync",)]
    assert presence.get("u") == entry(meta("1", v="old"))


def test_a_join_with_no_metas_adds_no_key() -> None:
    hooks = Hooks()
    presence = synced(hooks)
    presence.handle(TOPIC, "presence_diff", diff({"u": entry()}))
    assert hooks.take() == [("sync",)]
    assert "u" not in presence


def test_leaves_remove_metas_by_phx_ref_and_the_key_when_none_remain() -> None:
    hooks = Hooks()
    presence = synced(hooks, {"u": entry(meta("1"), meta("2"), meta("3"), name="U")})
    presence.handle(TOPIC, "presence_diff", diff(leaves={"u": entry(meta("1"), meta("3"))}))
    assert hooks.take() == [
        ("leave", "u", entry(meta("2"), name="U"), entry(meta("1"), meta("3"))),
        ("sync",),
    ]
    presence.handle(TOPIC, "presence_diff", diff(leaves={"u": entry(meta("2"), name="X")}))
    assert hooks.take() == [
        ("leave", "u", {"metas": [], "name": "U"}, entry(meta("2"), name="X")),
        ("sync",),
    ]
    assert "u" not in presence
    assert len(presence) == 0


def test_leaves_of_unknown_keys_or_metas_are_ignored() -> None:
    hooks = Hooks()
    presence = synced(hooks, {"u": entry(meta("1"), meta("2"))})
    presence.handle(
        TOPIC,
        "presence_diff",
        diff(leaves={"nobody": entry(meta("9")), "u": entry(meta("2"), meta("7"))}),
    )
    assert hooks.take() == [("leave", "u", entry(meta("1")), entry(meta("2"))), ("sync",)]
    presence.handle(TOPIC, "presence_diff", diff(leaves={"u": entry(meta("8"))}))
    assert hooks.take() == [("sync",)]
    assert presence.get("u") == entry(meta("1"))


def test_a_meta_update_is_a_leave_and_a_join_in_one_diff() -> None:
    hooks = Hooks()
    presence = synced(hooks, {"u": entry(meta("1", status="away"))})
    updated = meta("2", status="online", phx_ref_prev="1")
    presence.handle(
        TOPIC,
        "presence_diff",
        diff({"u": entry(updated)}, {"u": entry(meta("1", status="away"))}),
    )
    assert hooks.take() == [
        ("join", "u", entry(meta("1", status="away")), entry(updated)),
        ("leave", "u", entry(updated), entry(meta("1", status="away"))),
        ("sync",),
    ]
    assert presence.list() == [entry(updated)]


def test_a_diff_may_lack_joins_or_leaves() -> None:
    hooks = Hooks()
    presence = synced(hooks, {"u": entry(meta("1"))})
    presence.handle(TOPIC, "presence_diff", {"joins": {"v": entry(meta("2"))}})
    presence.handle(TOPIC, "presence_diff", {"leaves": {"u": entry(meta("1"))}})
    presence.handle(TOPIC, "presence_diff", {})
    assert presence.keys() == ["v"]


def test_keys_that_are_object_attribute_names_are_plain_keys() -> None:
    presence = synced(Hooks(), {"__proto__": entry(meta("1")), "constructor": entry(meta("2"))})
    assert presence.keys() == ["__proto__", "constructor"]
    presence.handle(TOPIC, "presence_diff", diff(leaves={"__proto__": entry(meta("1"))}))
    assert presence.keys() == ["constructor"]


# -- waiting for the state ---------------------------------------------------------------


def test_diffs_wait_for_the_state_and_are_replayed_in_order() -> None:
    hooks = Hooks()
    presence = hooks.presence()
    assert presence.handle(TOPIC, "presence_diff", diff({"a": entry(meta("1"))}))
    assert presence.handle(TOPIC, "presence_diff", diff({"b": entry(meta("2"))}))
    assert presence.handle(TOPIC, "presence_diff", diff(leaves={"a": entry(meta("1"))}))
    assert hooks.take() == []
    assert repr(presence) == "<Presence 'room:lobby' 0 keys, waiting for state, 3 diffs>"
    # The state was taken after a joined and before b joined.
    presence.handle(TOPIC, "presence_state", {"a": entry(meta("1")), "c": entry(meta("3"))})
    assert hooks.take() == [
        ("join", "a", None, entry(meta("1"))),
        ("join", "c", None, entry(meta("3"))),
        ("join", "b", None, entry(meta("2"))),
        ("leave", "a", {"metas": []}, entry(meta("1"))),
        ("sync",),
    ]
    assert presence.keys() == ["c", "b"]
    assert repr(presence) == "<Presence 'room:lobby' 2 keys, synced>"


def test_reset_drops_the_diffs_still_waiting() -> None:
    hooks = Hooks()
    presence = hooks.presence()
    presence.handle(TOPIC, "presence_diff", diff({"stale": entry(meta("1"))}))
    presence.reset()
    presence.handle(TOPIC, "presence_state", {"a": entry(meta("2"))})
    assert hooks.take() == [("join", "a", None, entry(meta("2"))), ("sync",)]
    assert presence.keys() == ["a"]


def test_after_reset_diffs_wait_again() -> None:
    hooks = Hooks()
    presence = synced(hooks, {"a": entry(meta("1"))})
    presence.reset()
    presence.handle(TOPIC, "presence_diff", diff({"b": entry(meta("2"))}))
    assert hooks.take() == []
    assert presence.keys() == ["a"]
    presence.handle(TOPIC, "presence_state", {"a": entry(meta("1"))})
    assert hooks.take() == [("join", "b", None, entry(meta("2"))), ("sync",)]


# -- handle(): which messages are presence messages ------------------------------------


@pytest.mark.parametrize(
    ("topic", "event"),
    [
        ("room:other", "presence_state"),
        ("room:other", "presence_diff"),
        (TOPIC, "presence"),
        (TOPIC, "new_msg"),
        (TOPIC, "phx_reply"),
    ],
)
def test_other_messages_are_not_handled(topic: str, event: str) -> None:
    hooks = Hooks()
    presence = hooks.presence()
    assert presence.handle(topic, event, {"x": entry(meta("1"))}) is False
    assert presence.handle(topic, event, "not even a presence payload") is False
    assert hooks.calls == []
    assert not presence.synced


def test_custom_event_names() -> None:
    hooks = Hooks()
    presence = hooks.presence(state_event="state", diff_event="diff")
    assert presence.handle(TOPIC, "diff", diff({"a": entry(meta("1"))}))
    assert presence.handle(TOPIC, "state", {})
    assert not presence.handle(TOPIC, "presence_state", {})
    assert presence.keys() == ["a"]
    assert (presence.state_event, presence.diff_event) == ("state", "diff")


def test_topic_is_read_only_and_checked() -> None:
    presence = Presence(TOPIC)
    assert presence.topic == TOPIC
    with pytest.raises(AttributeError):
        presence.topic = "x"  # type: ignore[misc]
    with pytest.raises(TypeError, match="topic must be a str, not bytes"):
        Presence(b"room:lobby")  # type: ignore[arg-type]


def test_no_hooks_is_fine_and_hooks_can_be_set_later() -> None:
    presence = Presence(TOPIC)
    presence.handle(TOPIC, "presence_state", {"a": entry(meta("1"))})
    presence.handle(TOPIC, "presence_diff", diff({"b": entry(meta("2"))}, {"a": entry(meta("1"))}))
    assert presence.keys() == ["b"]
    hooks = Hooks()
    presence.on_leave = hooks.on_leave
    presence.handle(TOPIC, "presence_diff", diff({"c": entry(meta("3"))}, {"b": entry(meta("2"))}))
    assert hooks.calls == [("leave", "b", {"metas": []}, entry(meta("2")))]


@pytest.mark.parametrize(
    ("event", "bad", "match"),
    [
        ("presence_state", [], r"presence_state must be an object of presences, got \[\]"),
        ("presence_state", None, "presence_state must be an object of presences"),
        ("presence_state", {"a": []}, "presence_state: presence 'a' needs a metas list"),
        ("presence_state", {"a": {}}, "presence_state: presence 'a' needs a metas list"),
        ("presence_state", {"a": {"metas": {}}}, "needs a metas list"),
        ("presence_state", {"a": {"metas": [1]}}, "every meta of presence 'a' needs a string"),
        ("presence_state", {"a": {"metas": [{}]}}, "needs a string phx_ref, got {}"),
        ("presence_state", {"a": {"metas": [{"phx_ref": 1}]}}, "needs a string phx_ref"),
        ("presence_state", {1: {"metas": []}}, "presence keys must be strings, got 1"),
        ("presence_diff", [], "presence_diff must be an object with joins and leaves"),
        ("presence_diff", {"joins": []}, "presence_diff joins must be an object of presences"),
        ("presence_diff", {"leaves": None}, "presence_diff leaves must be an object"),
        ("presence_diff", {"joins": {"a": {}}}, "presence_diff joins: presence 'a' needs"),
        ("presence_diff", {"leaves": {"a": {"metas": [{}]}}}, "presence_diff leaves: every meta"),
    ],
)
@pytest.mark.parametrize("is_synced", [True, False])
def test_malformed_payloads_raise_and_change_nothing(
    event: str, bad: Any, match: str, is_synced: bool
) -> None:
    hooks = Hooks()
    presence = hooks.presence()
    if is_synced:
        presence.handle(TOPIC, "presence_state", {"a": entry(meta("1"))})
    hooks.take()
    before = repr(presence)
    with pytest.raises(ProtocolError, match=match):
        presence.handle(TOPIC, event, bad)
    assert hooks.calls == []
    assert repr(presence) == before
    assert presence.synced is is_synced


def test_a_long_malformed_payload_gives_a_bounded_message() -> None:
    with pytest.raises(ProtocolError) as info:
        Presence(TOPIC).handle(TOPIC, "presence_state", list(range(10_000)))
    assert len(str(info.value)) < 300


# -- copies, hooks that raise, queries ---------------------------------------------------


def test_everything_handed_out_is_a_copy() -> None:
    seen: list[PresenceEntry] = []
    presence = Presence(TOPIC, on_join=lambda key, current, new: seen.append(new))
    state = {"a": entry(meta("1", tags=["x"]))}
    presence.handle(TOPIC, "presence_state", state)
    state["a"]["metas"][0]["tags"].append("from the payload")
    seen[0]["metas"][0]["tags"].append("from a hook")
    listed = presence.list()
    listed[0]["metas"].clear()
    got = presence.get("a")
    assert got is not None
    got["metas"][0]["tags"].append("from get")
    presence.keys().append("b")
    assert presence.list() == [entry(meta("1", tags=["x"]))]


def test_hook_arguments_are_copies_too() -> None:
    def mangle(key: str, current: PresenceEntry | None, other: PresenceEntry) -> None:
        other["metas"].clear()
        if current is not None:
            current["metas"].clear()

    presence = Presence(TOPIC, on_join=mangle, on_leave=mangle)
    presence.handle(TOPIC, "presence_state", {"a": entry(meta("1")), "b": entry(meta("2"))})
    presence.handle(TOPIC, "presence_diff", diff({"a": entry(meta("3"))}, {"b": entry(meta("2"))}))
    presence.handle(TOPIC, "presence_diff", diff(leaves={"a": entry(meta("1"))}))
    assert presence.list() == [entry(meta("3"))]


def test_a_hook_that_raises_leaves_the_list_updated() -> None:
    calls: list[str] = []

    def on_join(key: str, current: PresenceEntry | None, new: PresenceEntry) -> None:
        calls.append(key)
        if key == "a":
            raise RuntimeError("hook failed")

    presence = Presence(TOPIC, on_join=on_join)
    presence.handle(TOPIC, "presence_diff", diff({"c": entry(meta("3"))}))
    with pytest.raises(RuntimeError, match="hook failed"):
        presence.handle(TOPIC, "presence_state", {"a": entry(meta("1")), "b": entry(meta("2"))})
    assert calls == ["a"]
    assert presence.synced
    assert presence.keys() == ["a", "b", "c"]  # the waiting diff was applied as well


def test_hooks_see_the_list_after_the_whole_message() -> None:
    seen: list[list[str]] = []
    presence = Presence(TOPIC)
    presence.on_join = lambda key, current, new: seen.append(presence.keys())
    presence.on_leave = lambda key, current, left: seen.append(presence.keys())
    presence.on_sync = lambda: seen.append(presence.keys())
    presence.handle(TOPIC, "presence_state", {"a": entry(meta("1"))})
    presence.handle(TOPIC, "presence_diff", diff({"b": entry(meta("2"))}, {"a": entry(meta("1"))}))
    assert seen == [["a"], ["a"], ["b"], ["b"], ["b"]]


def test_queries() -> None:
    presence = synced(
        Hooks(),
        {
            "alice": entry(meta("1", user="alice"), name="Alice"),
            "bob": entry(meta("2", d="phone"), meta("3", d="web")),
        },
    )
    assert len(presence) == 2
    assert "alice" in presence
    assert "carol" not in presence
    assert 1 not in presence
    assert list(presence) == ["alice", "bob"] == presence.keys()
    assert presence.get("carol") is None
    assert presence.get("alice") == entry(meta("1", user="alice"), name="Alice")
    assert presence.list() == [
        entry(meta("1", user="alice"), name="Alice"),
        entry(meta("2", d="phone"), meta("3", d="web")),
    ]
    counts = presence.list(lambda key, e: (key, len(e["metas"])))
    assert counts == [("alice", 1), ("bob", 2)]
    firsts = presence.list(lambda key, e: e["metas"][0])
    assert firsts == [meta("1", user="alice"), meta("2", d="phone")]


def test_iterating_while_the_list_changes_is_safe() -> None:
    presence = synced(Hooks(), {"a": entry(meta("1")), "b": entry(meta("2"))})
    for key in presence:
        presence.handle(TOPIC, "presence_diff", diff(leaves={key: entry(meta("1"), meta("2"))}))
    assert len(presence) == 0


def test_slots() -> None:
    with pytest.raises(AttributeError):
        Presence(TOPIC).extra = 1  # type: ignore[attr-defined]


# -- property: whatever the interleaving, the list ends as the server's -----------------

KEYS = ["a", "b", "c"]


class Server:
    """A model Phoenix.Presence: the truth, and the diff each change broadcasts."""

    def __init__(self) -> None:
        self.truth: dict[str, tuple[str, dict[str, Any]]] = {}  # phx_ref -> (key, meta)
        self.count = 0

    def _ref(self) -> str:
        self.count += 1
        return f"r{self.count}"

    def state(self) -> dict[str, PresenceEntry]:
        state: dict[str, PresenceEntry] = {}
        for key, item in self.truth.values():
            state.setdefault(key, {"metas": []})["metas"].append(item)
        return state

    def apply(self, op: tuple[str, int]) -> Any:
        kind, n = op
        live = sorted(self.truth, key=lambda ref: int(ref[1:]))
        if kind == "track" or not live:
            key = KEYS[n % len(KEYS)]
            ref = self._ref()
            self.truth[ref] = (key, {"phx_ref": ref, "n": n})
            return diff({key: entry(self.truth[ref][1])})
        old = live[n % len(live)]
        key, old_meta = self.truth.pop(old)
        if kind == "untrack":
            return diff(leaves={key: entry(old_meta)})
        ref = self._ref()
        self.truth[ref] = (key, {"phx_ref": ref, "n": n, "phx_ref_prev": old})
        return diff({key: entry(self.truth[ref][1])}, {key: entry(old_meta)})


class HookModel:
    """Checks each hook against the refs the hooks so far said are present."""

    def __init__(self) -> None:
        self.refs: dict[str, set[str]] = {}

    def on_join(self, key: str, current: PresenceEntry | None, new: PresenceEntry) -> None:
        held = self.refs.get(key, set())
        assert (current is None) == (not held)
        assert current is None or {m["phx_ref"] for m in current["metas"]} == held
        joined = {m["phx_ref"] for m in new["metas"]}
        assert joined
        assert not joined & held, "a meta joined twice"
        self.refs[key] = held | joined

    def on_leave(self, key: str, current: PresenceEntry, left: PresenceEntry) -> None:
        held = self.refs[key]
        gone = {m["phx_ref"] for m in left["metas"]}
        assert gone
        assert gone <= held, "a meta left that had not joined"
        remaining = held - gone
        assert {m["phx_ref"] for m in current["metas"]} == remaining
        if remaining:
            self.refs[key] = remaining
        else:
            del self.refs[key]


def by_ref(state: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each key's metas, sorted by phx_ref (the order of metas is not compared)."""
    return {key: sorted(e["metas"], key=lambda m: m["phx_ref"]) for key, e in state.items()}


OPS = st.tuples(st.sampled_from(["track", "track", "untrack", "update"]), st.integers(0, 50))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_interleaving_ends_with_the_servers_list(data: st.DataObject) -> None:
    server = Server()
    model = HookModel()
    presence = Presence(TOPIC, on_join=model.on_join, on_leave=model.on_leave)
    for session in range(data.draw(st.integers(1, 4), label="sessions")):
        for op in data.draw(st.lists(OPS, max_size=6), label=f"missed before join {session}"):
            server.apply(op)
        ops = data.draw(st.lists(OPS, max_size=8), label=f"ops of session {session}")
        taken_after = data.draw(st.integers(0, len(ops)), label="state taken after n diffs")
        sent_after = data.draw(st.integers(0, len(ops)), label="state sent after n diffs")
        diffs = []
        state = server.state()
        for i, op in enumerate(ops):
            diffs.append(server.apply(op))
            if i + 1 == taken_after:
                state = server.state()
        if session:
            presence.reset()
        for i, change in enumerate(diffs):
            if i == sent_after:
                assert presence.handle(TOPIC, "presence_state", state)
            assert presence.handle(TOPIC, "presence_diff", change)
        if sent_after == len(diffs):
            assert presence.handle(TOPIC, "presence_state", state)
        expected = server.state()
        got = {key: presence.get(key) for key in presence}
        assert by_ref(got) == by_ref(expected)
        assert model.refs == {
            key: {m["phx_ref"] for m in e["metas"]} for key, e in expected.items()
        }
