"""Presence end to end: the embedded server's tracker, and the Presence helper in clients.

The first tests drive the server with raw websocket-client connections and compare
frames byte for byte with the ``presence`` scenario of the Phoenix 1.7.24 transcript
(shared/spec/phoenix-1.7.24-transcript.md); the phx_refs are made known by replacing
the tracker's ref factory. The last ones run two SocketActor clients that keep their
list with :class:`phoenix_actor.presence.Presence`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websocket

import phoenix_actor as pa
from phoenix_actor.presence import Presence, PresenceEntry
from phoenix_actor.serializer import JSONSerializer, Serializer, V1JSONSerializer
from phoenix_actor.testing import Channel, ChannelSocket, JoinOk, PhoenixServer
from phoenix_actor.testing._server.presence import PresenceChannel, new_phx_ref
from tests.conftest import TIMEOUT

ROOM = "room:lobby"
ALICE = "GOtdJZmBrHShxgay"
BOB_1 = "GOtdJcOXBVqhxgUx"
BOB_2 = "GOtdJmr4m3WhxgVR"


class Raw:
    """A raw websocket client reading one text frame at a time."""

    def __init__(self, url: str, query: str) -> None:
        self.ws = websocket.create_connection(
            f"{url}?{query}", timeout=TIMEOUT, suppress_origin=True
        )
        self._beats = 0

    def send(self, text: str) -> None:
        self.ws.send(text)

    def recv(self) -> str:
        opcode, data = self.ws.recv_data()
        assert opcode == websocket.ABNF.OPCODE_TEXT
        return str(data.decode("utf-8"))

    def expect(self, *frames: str) -> None:
        for frame in frames:
            assert self.recv() == frame

    def assert_silent(self) -> None:
        """Nothing else is pending: a heartbeat's reply is the very next frame."""
        self._beats += 1
        self.send(f'[null,"hb{self._beats}","phoenix","heartbeat",{{}}]')
        assert self.recv() == (
            f'[null,"hb{self._beats}","phoenix","phx_reply",{{"response":{{}},"status":"ok"}}]'
        )

    def close(self) -> None:
        if self.ws.connected:
            self.ws.close()
        self.ws.shutdown()  # type: ignore[no-untyped-call]


@pytest.fixture
def server() -> Iterator[PhoenixServer]:
    with PhoenixServer.with_defaults() as srv:
        srv.presence.phx_ref_factory = iter([ALICE, BOB_1, BOB_2, "R4", "R5", "R6"]).__next__
        yield srv


@pytest.fixture
def connect(server: PhoenixServer) -> Iterator[Callable[[str], Raw]]:
    clients: list[Raw] = []

    def factory(query: str) -> Raw:
        client = Raw(server.url, query)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


def ok(join_ref: str, ref: str, topic: str = ROOM) -> str:
    return f'["{join_ref}","{ref}","{topic}","phx_reply",{{"response":{{}},"status":"ok"}}]'


def metas(user: str, ref: str) -> str:
    return f'{{"{user}":{{"metas":[{{"phx_ref":"{ref}","user":"{user}"}}]}}}}'


def joins(user: str, ref: str) -> str:
    return f'[null,null,"{ROOM}","presence_diff",{{"joins":{metas(user, ref)},"leaves":{{}}}}]'


def leaves(user: str, ref: str) -> str:
    return f'[null,null,"{ROOM}","presence_diff",{{"joins":{{}},"leaves":{metas(user, ref)}}}]'


def state(join_ref: str, *users: tuple[str, str]) -> str:
    body = ",".join(metas(user, ref)[1:-1] for user, ref in users)
    return f'["{join_ref}",null,"{ROOM}","presence_state",{{{body}}}]'


def join_alice_and_bob(connect: Callable[[str], Raw]) -> tuple[Raw, Raw]:
    alice = connect("vsn=2.0.0&user=alice")
    alice.send(f'["1","1","{ROOM}","phx_join",{{}}]')
    alice.expect(ok("1", "1"), joins("alice", ALICE), state("1", ("alice", ALICE)))
    bob = connect("vsn=2.0.0")
    bob.send(f'["1","1","{ROOM}","phx_join",{{"user":"bob"}}]')
    bob.expect(ok("1", "1"), joins("bob", BOB_1), state("1", ("alice", ALICE), ("bob", BOB_1)))
    alice.expect(joins("bob", BOB_1))
    return alice, bob


# -- the server, byte for byte -----------------------------------------------------------


def test_transcript_presence_scenario(connect: Callable[[str], Raw]) -> None:
    # The frames below are the transcript's, in its order.
    alice = connect("vsn=2.0.0&user=alice")
    alice.send('["1","1","room:lobby","phx_join",{}]')
    assert alice.recv() == '["1","1","room:lobby","phx_reply",{"response":{},"status":"ok"}]'
    assert alice.recv() == (
        '[null,null,"room:lobby","presence_diff",{"joins":{"alice":{"metas":'
        '[{"phx_ref":"GOtdJZmBrHShxgay","user":"alice"}]}},"leaves":{}}]'
    )
    assert alice.recv() == (
        '["1",null,"room:lobby","presence_state",{"alice":{"metas":'
        '[{"phx_ref":"GOtdJZmBrHShxgay","user":"alice"}]}}]'
    )
    alice.assert_silent()

    bob = connect("vsn=2.0.0")
    bob.send('["1","1","room:lobby","phx_join",{"user":"bob"}]')
    assert bob.recv() == '["1","1","room:lobby","phx_reply",{"response":{},"status":"ok"}]'
    assert bob.recv() == (
        '[null,null,"room:lobby","presence_diff",{"joins":{"bob":{"metas":'
        '[{"phx_ref":"GOtdJcOXBVqhxgUx","user":"bob"}]}},"leaves":{}}]'
    )
    assert bob.recv() == (
        '["1",null,"room:lobby","presence_state",{"alice":{"metas":'
        '[{"phx_ref":"GOtdJZmBrHShxgay","user":"alice"}]},"bob":{"metas":'
        '[{"phx_ref":"GOtdJcOXBVqhxgUx","user":"bob"}]}}]'
    )
    bob.assert_silent()
    assert alice.recv() == (
        '[null,null,"room:lobby","presence_diff",{"joins":{"bob":{"metas":'
        '[{"phx_ref":"GOtdJcOXBVqhxgUx","user":"bob"}]}},"leaves":{}}]'
    )
    alice.assert_silent()

    bob.send('["1","2","room:lobby","phx_leave",{}]')
    assert bob.recv() == '["1","2","room:lobby","phx_reply",{"response":{},"status":"ok"}]'
    assert bob.recv() == '["1","1","room:lobby","phx_close",{}]'
    bob.assert_silent()
    assert alice.recv() == (
        '[null,null,"room:lobby","presence_diff",{"joins":{},"leaves":{"bob":{"metas":'
        '[{"phx_ref":"GOtdJcOXBVqhxgUx","user":"bob"}]}}}]'
    )
    alice.assert_silent()

    bob.send('["3","3","room:lobby","phx_join",{"user":"bob"}]')
    assert bob.recv() == '["3","3","room:lobby","phx_reply",{"response":{},"status":"ok"}]'
    assert bob.recv() == (
        '[null,null,"room:lobby","presence_diff",{"joins":{"bob":{"metas":'
        '[{"phx_ref":"GOtdJmr4m3WhxgVR","user":"bob"}]}},"leaves":{}}]'
    )
    assert bob.recv() == (
        '["3",null,"room:lobby","presence_state",{"alice":{"metas":'
        '[{"phx_ref":"GOtdJZmBrHShxgay","user":"alice"}]},"bob":{"metas":'
        '[{"phx_ref":"GOtdJmr4m3WhxgVR","user":"bob"}]}}]'
    )
    bob.assert_silent()
    assert alice.recv() == (
        '[null,null,"room:lobby","presence_diff",{"joins":{"bob":{"metas":'
        '[{"phx_ref":"GOtdJmr4m3WhxgVR","user":"bob"}]}},"leaves":{}}]'
    )

    bob.close()
    assert alice.recv() == (
        '[null,null,"room:lobby","presence_diff",{"joins":{},"leaves":{"bob":{"metas":'
        '[{"phx_ref":"GOtdJmr4m3WhxgVR","user":"bob"}]}}}]'
    )
    alice.assert_silent()


def test_v1_sockets_get_presence_as_objects(connect: Callable[[str], Raw]) -> None:
    alice = connect("vsn=1.0.0&user=alice")
    alice.send('{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}')
    alice.expect(
        '{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1",'
        '"topic":"room:lobby"}',
        '{"event":"presence_diff","payload":{"joins":{"alice":{"metas":[{"phx_ref":'
        '"GOtdJZmBrHShxgay","user":"alice"}]}},"leaves":{}},"ref":null,"topic":"room:lobby"}',
        '{"event":"presence_state","payload":{"alice":{"metas":[{"phx_ref":"GOtdJZmBrHShxgay",'
        '"user":"alice"}]}},"ref":null,"topic":"room:lobby"}',
    )
    bob = connect("vsn=2.0.0&user=bob")
    bob.send(f'["1","1","{ROOM}","phx_join",{{}}]')
    bob.expect(ok("1", "1"), joins("bob", BOB_1), state("1", ("alice", ALICE), ("bob", BOB_1)))
    bob.close()
    alice.expect(
        '{"event":"presence_diff","payload":{"joins":{"bob":{"metas":[{"phx_ref":'
        '"GOtdJcOXBVqhxgUx","user":"bob"}]}},"leaves":{}},"ref":null,"topic":"room:lobby"}',
        '{"event":"presence_diff","payload":{"joins":{},"leaves":{"bob":{"metas":[{"phx_ref":'
        '"GOtdJcOXBVqhxgUx","user":"bob"}]}}},"ref":null,"topic":"room:lobby"}',
    )


@pytest.mark.parametrize(
    ("how", "bob_sees"),
    [
        ("leave", [ok("1", "2"), '["1","1","room:lobby","phx_close",{}]']),
        ("crash", ['["1","1","room:lobby","phx_error",{}]']),
        ("stop", ['["1","1","room:lobby","phx_close",{}]']),
        ("close", []),
        ("drop_tcp", []),
    ],
)
def test_a_stopped_channel_leaves(
    connect: Callable[[str], Raw], how: str, bob_sees: list[str]
) -> None:
    alice, bob = join_alice_and_bob(connect)
    if how == "leave":
        bob.send(f'["1","2","{ROOM}","phx_leave",{{}}]')
    elif how in ("crash", "stop"):
        bob.send(f'["1","2","{ROOM}","{how}",{{}}]')
    elif how == "close":
        bob.ws.close()
    else:
        bob.ws.shutdown()  # type: ignore[no-untyped-call]
    bob.expect(*bob_sees)
    alice.expect(leaves("bob", BOB_1))
    alice.assert_silent()


def test_a_duplicate_join_leaves_and_joins_again(connect: Callable[[str], Raw]) -> None:
    alice, bob = join_alice_and_bob(connect)
    bob.send(f'["2","2","{ROOM}","phx_join",{{"user":"bob"}}]')
    bob.expect(
        ok("2", "2"),
        '["1","1","room:lobby","phx_close",{}]',
        joins("bob", BOB_2),
        state("2", ("alice", ALICE), ("bob", BOB_2)),
    )
    alice.expect(leaves("bob", BOB_1), joins("bob", BOB_2))
    alice.assert_silent()
    bob.assert_silent()


def test_one_key_tracked_by_two_connections_has_two_metas(
    connect: Callable[[str], Raw],
) -> None:
    alice, bob = join_alice_and_bob(connect)
    tab = connect("vsn=2.0.0&user=alice")
    tab.send(f'["1","1","{ROOM}","phx_join",{{}}]')
    both = (
        '{"alice":{"metas":[{"phx_ref":"GOtdJZmBrHShxgay","user":"alice"},'
        '{"phx_ref":"GOtdJmr4m3WhxgVR","user":"alice"}]}'
    )
    tab.expect(
        ok("1", "1"),
        joins("alice", BOB_2),
        f'["1",null,"{ROOM}","presence_state",{both},{metas("bob", BOB_1)[1:]}]',
    )
    alice.expect(joins("alice", BOB_2))
    tab.close()
    alice.expect(leaves("alice", BOB_2))
    bob.expect(joins("alice", BOB_2), leaves("alice", BOB_2))


def test_presence_channel_update_and_untrack(connect: Callable[[str], Raw]) -> None:
    alice, bob = join_alice_and_bob(connect)
    bob.send(f'["1","2","{ROOM}","presence_update",{{"status":"away","user":"mallory"}}]')
    update = (
        f'[null,null,"{ROOM}","presence_diff",{{"joins":{{"bob":{{"metas":[{{"phx_ref":'
        f'"{BOB_2}","phx_ref_prev":"{BOB_1}","status":"away","user":"bob"}}]}}}},'
        f'"leaves":{metas("bob", BOB_1)}}}]'
    )
    bob.expect(update, ok("1", "2"))
    alice.expect(update)
    bob.send(f'["1","3","{ROOM}","presence_update","not a map"]')
    bob.expect(
        f'[null,null,"{ROOM}","presence_diff",{{"joins":{{"bob":{{"metas":[{{"phx_ref":"R4",'
        f'"phx_ref_prev":"{BOB_2}","user":"bob"}}]}}}},"leaves":{{"bob":{{"metas":[{{"phx_ref":'
        f'"{BOB_2}","phx_ref_prev":"{BOB_1}","status":"away","user":"bob"}}]}}}}}}]',
        ok("1", "3"),
    )
    bob.send(f'["1","4","{ROOM}","presence_untrack",{{}}]')
    untracked = (
        f'[null,null,"{ROOM}","presence_diff",{{"joins":{{}},"leaves":{{"bob":{{"metas":'
        f'[{{"phx_ref":"R4","phx_ref_prev":"{BOB_2}","user":"bob"}}]}}}}}}]'
    )
    bob.expect(untracked, ok("1", "4"))
    alice.recv()  # the second update
    alice.expect(untracked)
    not_tracked = '{"response":{"reason":"not tracked"},"status":"error"}]'
    bob.send(f'["1","5","{ROOM}","presence_untrack",{{}}]')
    bob.expect(f'["1","5","{ROOM}","phx_reply",{not_tracked}')
    bob.send(f'["1","6","{ROOM}","presence_update",{{}}]')
    bob.expect(f'["1","6","{ROOM}","phx_reply",{not_tracked}')
    bob.send(f'["1","7","{ROOM}","echo",{{"still":"echoes"}}]')
    bob.expect(f'["1","7","{ROOM}","phx_reply",{{"response":{{"still":"echoes"}},"status":"ok"}}]')
    alice.assert_silent()


def test_an_anonymous_join_gets_the_state_and_tracks_nothing(
    connect: Callable[[str], Raw], server: PhoenixServer
) -> None:
    alice = connect("vsn=2.0.0&user=alice")
    alice.send(f'["1","1","{ROOM}","phx_join",{{}}]')
    alice.expect(ok("1", "1"), joins("alice", ALICE), state("1", ("alice", ALICE)))
    anon = connect("vsn=2.0.0")
    anon.send(f'["1","1","{ROOM}","phx_join",{{"user":""}}]')
    anon.expect(ok("1", "1"), state("1", ("alice", ALICE)))
    anonymous = '{"response":{"reason":"anonymous"},"status":"error"}]'
    anon.send(f'["1","2","{ROOM}","presence_update",{{}}]')
    anon.expect(f'["1","2","{ROOM}","phx_reply",{anonymous}')
    anon.send(f'["1","3","{ROOM}","presence_untrack",{{}}]')
    anon.expect(f'["1","3","{ROOM}","phx_reply",{anonymous}')
    server.send_info(ROOM, ("push", "news", {"n": 1}))  # EchoChannel's server messages
    anon.expect(f'["1",null,"{ROOM}","news",{{"n":1}}]')
    alice.expect(f'["1",null,"{ROOM}","news",{{"n":1}}]')
    anon.close()
    alice.assert_silent()


# -- the tracker's API -------------------------------------------------------------------


class Keeper(Channel):
    """Hands its ChannelSocket to the test; tries to track during join."""

    def __init__(self, sockets: queue.Queue[ChannelSocket], errors: list[Exception]) -> None:
        self.sockets = sockets
        self.errors = errors

    def join(self, topic: str, payload: Any, socket: ChannelSocket) -> JoinOk:
        try:
            socket.server.presence.track(socket, "early", {})
        except RuntimeError as exc:
            self.errors.append(exc)
        self.sockets.put(socket)
        return JoinOk()


def test_tracker_api() -> None:
    sockets: queue.Queue[ChannelSocket] = queue.Queue()
    errors: list[Exception] = []
    with PhoenixServer().channel("t:*", lambda: Keeper(sockets, errors)) as server:
        tracker = server.presence
        tracker.phx_ref_factory = iter(["r1", "r2", "r3", "r4"]).__next__
        client = Raw(server.url, "vsn=2.0.0")
        try:
            client.send('["1","1","t:1","phx_join",{}]')
            client.expect('["1","1","t:1","phx_reply",{"response":{},"status":"ok"}]')
            sock = sockets.get(timeout=TIMEOUT)
            assert [str(e) for e in errors] == [
                "presence.track cannot be called before the join has completed"
            ]
            assert tracker.list("t:1") == {}

            assert tracker.track(sock, "k", {"n": 1}) == "r1"
            client.expect(
                '[null,null,"t:1","presence_diff",{"joins":{"k":{"metas":[{"n":1,"phx_ref":"r1"}]}},'
                '"leaves":{}}]'
            )
            with pytest.raises(ValueError, match="'k' is already tracked by <ChannelSocket"):
                tracker.track(sock, "k", {})
            with pytest.raises(TypeError, match="a presence key must be a str, not int"):
                tracker.track(sock, 1, {})  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="a presence meta must be a mapping, not list"):
                tracker.track(sock, "x", [])  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="a presence meta must be JSON"):
                tracker.track(sock, "x", {"b": b"bytes"})
            with pytest.raises(TypeError, match="a presence meta must be JSON"):
                tracker.update(sock, "k", {"f": float("nan")})
            with pytest.raises(ValueError, match="'x' is not tracked by"):
                tracker.update(sock, "x", {})
            assert tracker.untrack(sock, "x") is False
            meta = {"n": [2]}
            assert tracker.update(sock, "k", meta) == "r2"
            meta["n"].append(3)  # the tracker holds a copy
            client.expect(
                '[null,null,"t:1","presence_diff",{"joins":{"k":{"metas":[{"n":[2],"phx_ref":"r2",'
                '"phx_ref_prev":"r1"}]}},"leaves":{"k":{"metas":[{"n":1,"phx_ref":"r1"}]}}}]'
            )
            assert tracker.track(sock, "j", {}) == "r3"
            client.recv()
            listed = tracker.list("t:1")
            assert listed == {
                "k": {"metas": [{"n": [2], "phx_ref": "r2", "phx_ref_prev": "r1"}]},
                "j": {"metas": [{"phx_ref": "r3"}]},
            }
            listed["k"]["metas"].clear()  # a copy too
            assert tracker.list("t:1")["k"]["metas"] != []
            assert tracker.untrack(sock, "k") is True
            client.expect(
                '[null,null,"t:1","presence_diff",{"joins":{},"leaves":{"k":{"metas":'
                '[{"n":[2],"phx_ref":"r2","phx_ref_prev":"r1"}]}}}]'
            )
            client.send('["1","2","t:1","phx_leave",{}]')
            client.expect(
                '["1","2","t:1","phx_reply",{"response":{},"status":"ok"}]',
                '["1","1","t:1","phx_close",{}]',
            )
            assert tracker.list("t:1") == {}
            # The channel has stopped: nothing is tracked, nothing is sent.
            assert tracker.track(sock, "late", {}) is None
            assert tracker.update(sock, "j", {}) is None
            assert tracker.untrack(sock, "j") is False
            assert tracker.list("t:1") == {}
            client.assert_silent()
        finally:
            client.close()


def test_new_phx_refs_are_unique_16_character_url_safe_strings() -> None:
    refs = [new_phx_ref() for _ in range(1000)]
    assert len(set(refs)) == 1000
    for ref in refs:
        assert len(ref) == 16
        assert set(ref) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_the_demo_mounts_the_presence_channel() -> None:
    server = PhoenixServer.with_defaults()
    assert server._route("room:anything") is PresenceChannel


# -- two SocketActor clients with the Presence helper ------------------------------------


class RoomClient(pa.SocketClient):
    """Joins ROOM and reports its Presence hooks (and join/close) to ``events``."""

    def __init__(self, url: str, params: dict[str, str], join_payload: dict[str, Any]) -> None:
        self.url = url
        self.params = params
        self.join_payload = join_payload
        self.events: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.presence = Presence(
            ROOM, on_join=self.on_join, on_leave=self.on_leave, on_sync=self.on_sync
        )
        self.stopped = threading.Event()

    def on_join(self, key: str, current: PresenceEntry | None, new: PresenceEntry) -> None:
        self.events.put(("join", key, current, new))

    def on_leave(self, key: str, current: PresenceEntry, left: PresenceEntry) -> None:
        self.events.put(("leave", key, current, left))

    def on_sync(self) -> None:
        self.events.put(("sync", self.presence.keys()))

    def init(self) -> pa.InitResult:
        return pa.Connect(self.url, self.params)

    def handle_connected(self, conn: pa.Connection) -> None:
        conn.join(ROOM, self.join_payload)

    def handle_joined(self, topic: str, response: Any, conn: pa.Connection) -> None:
        self.presence.reset()
        self.events.put(("joined", topic, response))

    def handle_message(self, topic: str, event: str, payload: Any, conn: pa.Connection) -> None:
        if not self.presence.handle(topic, event, payload):
            self.events.put(("message", topic, event, payload))

    def handle_channel_closed(self, topic: str, payload: Any, conn: pa.Connection) -> None:
        self.events.put(("closed", topic, payload))

    def handle_disconnected(self, reason: pa.DisconnectReason) -> None:
        self.events.put(("disconnected",))

    def terminate(self, reason: Any) -> None:
        self.stopped.set()

    def expect(self, *events: tuple[Any, ...]) -> None:
        for event in events:
            assert self.events.get(timeout=TIMEOUT) == event


def m(ref: str, user: str) -> PresenceEntry:
    return {"metas": [{"phx_ref": ref, "user": user}]}


@pytest.mark.parametrize("bob_serializer", [JSONSerializer(), V1JSONSerializer()], ids=repr)
def test_two_clients_see_each_other_come_and_go(
    server: PhoenixServer, bob_serializer: Serializer
) -> None:
    alice = RoomClient(server.url, {"user": "alice"}, {})
    alice_ref = pa.SocketActor.start(alice)
    bob = RoomClient(server.url, {}, {"user": "bob"})
    bob_ref: Any = None
    try:
        # Alice's own diff comes before the state: on_join fires once all the same.
        alice.expect(
            ("joined", ROOM, {}), ("join", "alice", None, m(ALICE, "alice")), ("sync", ["alice"])
        )
        bob_ref = pa.SocketActor.start(bob, serializer=bob_serializer)
        bob.expect(
            ("joined", ROOM, {}),
            ("join", "alice", None, m(ALICE, "alice")),
            ("join", "bob", None, m(BOB_1, "bob")),
            ("sync", ["alice", "bob"]),
        )
        alice.expect(("join", "bob", None, m(BOB_1, "bob")), ("sync", ["alice", "bob"]))

        pa.execute(bob_ref, lambda conn: conn.leave(ROOM), TIMEOUT)
        bob.expect(("closed", ROOM, {}))
        alice.expect(("leave", "bob", {"metas": []}, m(BOB_1, "bob")), ("sync", ["alice"]))

        pa.execute(bob_ref, lambda conn: conn.join(ROOM, {"user": "bob"}), TIMEOUT)
        # Bob kept his list: the new state replaces his own meta, and nothing else.
        bob.expect(
            ("joined", ROOM, {}),
            ("join", "bob", m(BOB_1, "bob"), m(BOB_2, "bob")),
            ("leave", "bob", m(BOB_2, "bob"), m(BOB_1, "bob")),
            ("sync", ["alice", "bob"]),
        )
        alice.expect(("join", "bob", None, m(BOB_2, "bob")), ("sync", ["alice", "bob"]))

        bob_ref.stop(block=True, timeout=TIMEOUT)
        alice.expect(("leave", "bob", {"metas": []}, m(BOB_2, "bob")), ("sync", ["alice"]))
        listed = pa.execute(alice_ref, lambda conn: alice.presence.list(), TIMEOUT)
        assert listed == [m(ALICE, "alice")]
        assert alice.events.empty()
    finally:
        for ref in (alice_ref, bob_ref):
            if ref is not None and ref.is_alive():
                ref.stop(block=True, timeout=TIMEOUT)
