"""Conformance: the official phoenix.js client against the embedded PhoenixServer.

``tests/conformance/phoenix_js_driver.mjs`` runs phoenix.js (npm ``phoenix`` 1.8.x over
``ws``) through a list of scenarios against ``PhoenixServer.with_defaults()`` and
prints what phoenix.js surfaced as one JSON object. Each test below checks one
scenario against what ``shared/spec/protocol.md`` (sections 4 and 5) says real Phoenix
produces and phoenix.js does with it. The driver runs once per module; set it up with
``npm ci --prefix tests/conformance``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from phoenix_actor.testing import PhoenixServer
from phoenix_actor.testing._server.recorder import Received
from tests.conftest import TIMEOUT

CONFORMANCE = Path(__file__).parent / "conformance"
DRIVER = CONFORMANCE / "phoenix_js_driver.mjs"
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
    "unmatched_topic",
    "push_replies",
    "channel_push",
    "broadcast",
    "stop",
    "crash",
    "leave",
    "heartbeat",
    "refused_connect",
    "binary",
    "server_disconnect",
    "duplicate_join",
    "presence",
]

DECIMAL_REF = re.compile(r"[1-9][0-9]*")


@dataclass(frozen=True)
class Run:
    """What the driver printed and every frame the server received meanwhile."""

    phoenix_js: str
    scenarios: dict[str, Any]
    received: list[Received]

    def frames(self, topic: str) -> list[Received]:
        """The frames that carried ``topic``, in arrival order."""
        return [r for r in self.received if r.message is not None and r.message.topic == topic]


@pytest.fixture(scope="module")
def run() -> Run:
    with PhoenixServer.with_defaults() as server:
        endpoint = server.url.removesuffix("/websocket")  # phoenix.js appends it
        completed = subprocess.run(
            [str(NODE), str(DRIVER), endpoint, ",".join(SCENARIOS)],
            capture_output=True,
            text=True,
            timeout=6 * TIMEOUT,
            check=False,
        )
        received = server.received.snapshot()
    assert completed.returncode == 0, f"driver failed:\n{completed.stderr}"
    output = json.loads(completed.stdout)
    return Run(output["phoenix_js"], output["scenarios"], received)


def _ok_join(topic: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"status": "ok", "payload": {"joined": topic, "payload": params or {}}}


def _quiet_socket(result: dict[str, Any]) -> None:
    """No socket error or close was surfaced during the scenario (before disconnect)."""
    assert result["socket"]["opens"] == 1
    assert result["socket"]["on_error"] == []
    assert result["socket"]["on_close"] == []


def test_driver_uses_phoenix_js_1_8(run: Run) -> None:
    assert run.phoenix_js.startswith("1.8."), run.phoenix_js
    assert set(run.scenarios) == set(SCENARIOS)


def test_join_ok(run: Run) -> None:
    result = run.scenarios["join_ok"]
    assert result["join"] == _ok_join("echo:a", {"hello": "world"})
    channel = result["channel"]
    assert channel["state"] == "joined"
    assert channel["on_close"] == channel["on_error"] == []
    _quiet_socket(result)


def test_join_frame_sent_by_phoenix_js(run: Run) -> None:
    """``[JR, R, topic, "phx_join", params]`` with string refs and ``JR == R``."""
    join_ref = run.scenarios["join_ok"]["channel"]["join_ref"]
    assert DECIMAL_REF.fullmatch(join_ref)
    (frame,) = run.frames("echo:a")
    assert frame.opcode == "text"
    assert json.loads(frame.data) == [join_ref, join_ref, "echo:a", "phx_join", {"hello": "world"}]


def test_push_frames_carry_the_join_ref(run: Run) -> None:
    join_ref = run.scenarios["push_replies"]["channel"]["join_ref"]
    frames = [json.loads(r.data) for r in run.frames("echo:replies")]
    assert [f[3] for f in frames] == ["phx_join", "echo", "error", "noreply"]
    assert frames[0] == [join_ref, join_ref, "echo:replies", "phx_join", {}]
    assert frames[1] == [
        join_ref,
        frames[1][1],
        "echo:replies",
        "echo",
        {"a": 1, "nested": {"b": [1, "two"]}},
    ]
    refs = [f[1] for f in frames]
    assert all(isinstance(ref, str) and DECIMAL_REF.fullmatch(ref) for ref in refs)
    assert len(set(refs)) == len(refs)
    assert all(f[0] == join_ref for f in frames)


def test_join_refused(run: Run) -> None:
    result = run.scenarios["join_refused"]
    assert result["join"] == {"status": "error", "payload": {"reason": "refused"}}
    jr = result["channel"]["join_ref"]
    assert result["messages"] == [
        {
            "join_ref": jr,
            "ref": jr,
            "topic": "echo:refuse",
            "event": "phx_reply",
            "payload": {"status": "error", "response": {"reason": "refused"}},
        }
    ]
    # A refused join only errors the channel (5.2); no phx_error/phx_close follows (4.5).
    assert result["channel"]["state"] == "errored"
    assert result["channel"]["on_close"] == result["channel"]["on_error"] == []
    _quiet_socket(result)


def test_unmatched_topic(run: Run) -> None:
    result = run.scenarios["unmatched_topic"]
    assert result["join"] == {"status": "error", "payload": {"reason": "unmatched topic"}}
    (message,) = result["messages"]
    assert message["join_ref"] is None  # always null for unmatched topics (4.3)
    assert message["ref"] == result["channel"]["join_ref"]
    assert message["payload"] == {"status": "error", "response": {"reason": "unmatched topic"}}
    assert result["channel"]["state"] == "errored"
    _quiet_socket(result)


def test_push_replies_ok_error_and_noreply_timeout(run: Run) -> None:
    result = run.scenarios["push_replies"]
    assert result["join"] == _ok_join("echo:replies")
    assert result["ok"] == {"status": "ok", "payload": {"a": 1, "nested": {"b": [1, "two"]}}}
    assert result["error"] == {"status": "error", "payload": {"b": 2}}
    assert result["noreply"]["status"] == "timeout"  # {:noreply, ...} sends nothing
    assert result["channel"]["state"] == "joined"
    _quiet_socket(result)


def test_channel_push(run: Run) -> None:
    result = run.scenarios["channel_push"]
    jr = result["channel"]["join_ref"]
    assert result["frame"] == {
        "join_ref": jr,
        "ref": None,
        "topic": "echo:push",
        "event": "pushed",
        "payload": {"x": 1},
    }
    assert result["channel"]["events"] == [
        {"event": "pushed", "payload": {"x": 1}, "ref": None, "join_ref": jr}
    ]
    assert result["reply"]["status"] == "timeout"  # "push" replies nothing
    _quiet_socket(result)


def test_broadcast(run: Run) -> None:
    result = run.scenarios["broadcast"]
    assert result["reply"] == {"status": "ok", "payload": {}}
    assert result["frame"] == {
        "join_ref": None,
        "ref": None,
        "topic": "echo:bcast",
        "event": "broadcasted",
        "payload": {"y": 2},
    }
    assert [e["payload"] for e in result["channel"]["events"]] == [{"y": 2}]
    _quiet_socket(result)


def test_stop_closes_the_channel(run: Run) -> None:
    result = run.scenarios["stop"]
    jr = result["channel"]["join_ref"]
    assert result["frames"] == [
        {"join_ref": jr, "ref": jr, "topic": "echo:stop", "event": "phx_close", "payload": {}}
    ]
    assert result["reply"]["status"] == "timeout"  # stop without a reply
    assert result["channel"]["state"] == "closed"
    assert result["channel"]["on_close"] == [{"payload": {}, "ref": jr, "join_ref": jr}]
    assert result["channel"]["on_error"] == []
    _quiet_socket(result)


def test_crash_errors_the_channel(run: Run) -> None:
    result = run.scenarios["crash"]
    jr = result["channel"]["join_ref"]
    # Payload {} as Phoenix <= 1.8.9 (the server's default phx_error_payload).
    assert result["frames"] == [
        {"join_ref": jr, "ref": jr, "topic": "echo:crash", "event": "phx_error", "payload": {}}
    ]
    assert result["reply"]["status"] == "timeout"
    assert result["channel"]["state"] == "errored"
    assert result["channel"]["on_error"] == [{"payload": {}}]
    assert result["channel"]["on_close"] == []
    _quiet_socket(result)  # the socket stays up


def test_leave(run: Run) -> None:
    result = run.scenarios["leave"]
    jr = result["channel"]["join_ref"]
    assert result["leave"] == {"status": "ok", "payload": {}}
    leave_frame = json.loads(run.frames("echo:leave")[-1].data)
    assert leave_frame[0] == jr
    assert leave_frame[2:] == ["echo:leave", "phx_leave", {}]
    leave_ref = leave_frame[1]
    # Reply to the leave, then phx_close with ref == join_ref (4.3).
    assert result["frames"][1:] == [
        {
            "join_ref": jr,
            "ref": leave_ref,
            "topic": "echo:leave",
            "event": "phx_reply",
            "payload": {"status": "ok", "response": {}},
        },
        {"join_ref": jr, "ref": jr, "topic": "echo:leave", "event": "phx_close", "payload": {}},
    ]
    # phoenix.js closes locally on the leave reply (payload "leave"); the server's
    # phx_close then finds no channel, so onClose fires once.
    assert result["channel"]["state"] == "closed"
    assert result["channel"]["on_close"] == [{"payload": "leave", "ref": None, "join_ref": jr}]
    assert result["channel"]["on_error"] == []
    _quiet_socket(result)


def test_heartbeat(run: Run) -> None:
    result = run.scenarios["heartbeat"]
    assert result["ping_rtt_is_number"] is True
    assert len(result["replies"]) == 4
    for reply in result["replies"]:
        assert reply["join_ref"] is None
        assert DECIMAL_REF.fullmatch(reply["ref"])
        assert reply["payload"] == {"status": "ok", "response": {}}
    sent = [json.loads(r.data) for r in run.frames("phoenix")]
    assert sent
    assert all(f[0] is None and f[2:] == ["phoenix", "heartbeat", {}] for f in sent)
    assert result["channel"]["state"] == "joined"
    assert result["channel"]["on_error"] == []
    _quiet_socket(result)


def test_refused_connect(run: Run) -> None:
    result = run.scenarios["refused_connect"]
    assert result["connected"] is False
    assert result["messages"] == []
    socket = result["socket"]
    assert socket["opens"] == 0
    assert len(socket["on_error"]) == 1
    assert "403" in socket["on_error"][0]["message"]  # ws: "Unexpected server response: 403"
    assert [c["code"] for c in socket["on_close"]] == [1006]


def test_binary_push_and_replies(run: Run) -> None:
    result = run.scenarios["binary"]
    assert result["bin_echo"] == {"status": "ok", "payload": {"$binary": [0, 1, 2, 127, 128, 255]}}
    assert result["binary"] == {"status": "ok", "payload": {"$binary": [9, 8, 7]}}
    jr = result["channel"]["join_ref"]
    assert result["channel"]["events"] == [
        {"event": "bin_pushed", "payload": {"$binary": [5, 4, 3]}, "ref": None, "join_ref": jr}
    ]
    # The ArrayBuffer push went out as a binary push frame (4.4): kind 0, 4 sizes.
    (frame,) = [r for r in run.frames("echo:bin") if r.opcode == "binary"]
    assert isinstance(frame.data, bytes)
    ref = frame.message.ref if frame.message is not None else None
    assert isinstance(ref, str)
    head = bytes([0, len(jr), len(ref), len("echo:bin"), len("bin_echo")])
    assert frame.data == head + f"{jr}{ref}echo:binbin_echo".encode() + bytes(
        [0, 1, 2, 127, 128, 255]
    )
    _quiet_socket(result)


def test_server_disconnect(run: Run) -> None:
    """A forced disconnect closes with 1000 (Phoenix <= 1.8.7); phoenix.js >= 1.8.16
    reconnects after any close it did not start (5.1) and rejoins the errored channel."""
    result = run.scenarios["server_disconnect"]
    assert [c["code"] for c in result["after_close"]["closes"]] == [1000]
    assert result["after_close"]["chan_errors"] == [
        {"payload": {"source": "transport", "reason": "connection_closed"}}
    ]
    version = tuple(int(part) for part in run.phoenix_js.split(".")[:3])
    if version < (1, 8, 16):
        assert result["reconnected"] is False  # 1000 was "do not reconnect" before
        return
    assert result["reconnected"] is True
    assert result["socket"]["opens"] == 2
    frames = [json.loads(r.data) for r in run.frames("echo:dc")]
    joins = [f for f in frames if f[3] == "phx_join"]
    assert len(joins) == 2
    assert joins[0][0] != joins[1][0]  # the rejoin takes a fresh ref


def test_duplicate_join(run: Run) -> None:
    """A second channel of a joined topic: phoenix.js leaves the first channel itself
    (phx_leave with its join_ref), then joins with a new join_ref; the server accepts
    both joins, so no duplicate-join race (protocol.md 4.5) happens."""
    result = run.scenarios["duplicate_join"]
    first, second = result["first_channel"], result["second_channel"]
    assert result["first"] == _ok_join("echo:dup")
    assert result["second"] == _ok_join("echo:dup")
    frames = [json.loads(r.data) for r in run.frames("echo:dup")]
    assert [f[3] for f in frames] == ["phx_join", "phx_leave", "phx_join"]
    assert frames[0][:2] == [first["join_ref"], first["join_ref"]]
    assert frames[1][0] == first["join_ref"]
    assert frames[2][:2] == [second["join_ref"], second["join_ref"]]
    assert int(second["join_ref"]) > int(frames[1][1]) > int(first["join_ref"])
    assert first["state"] == "closed"
    assert first["on_close"] == [{"payload": "leave", "ref": None, "join_ref": first["join_ref"]}]
    assert second["state"] == "joined"
    assert second["on_close"] == second["on_error"] == []
    _quiet_socket(result)


def test_presence(run: Run) -> None:
    """Presence as the 1.7.24 transcript shows it (protocol.md 4.8): the joiner gets its
    own join diff, then presence_state; others' joins and leaves come as diffs keyed by
    user with phx_ref metas; phoenix.js's Presence ends with only alice."""
    result = run.scenarios["presence"]
    assert result["join"] == {"status": "ok", "payload": {}}
    assert result["bob_leave"] == {"status": "ok", "payload": {}}
    events = result["channel"]["events"]
    assert [e["event"] for e in events] == [
        "presence_diff",
        "presence_state",
        "presence_diff",
        "presence_diff",
    ]
    own, state, bob_joins, bob_leaves = (e["payload"] for e in events)
    (alice_meta,) = state["alice"]["metas"]
    assert alice_meta["user"] == "alice"
    assert isinstance(alice_meta["phx_ref"], str)
    assert own == {"joins": {"alice": {"metas": [alice_meta]}}, "leaves": {}}
    assert state == {"alice": {"metas": [alice_meta]}}
    (bob_meta,) = bob_joins["joins"]["bob"]["metas"]
    assert bob_meta["user"] == "bob"
    assert bob_meta["phx_ref"] != alice_meta["phx_ref"]
    assert bob_joins["leaves"] == {}
    assert bob_leaves == {"joins": {}, "leaves": {"bob": {"metas": [bob_meta]}}}
    assert result["list"] == [{"metas": [alice_meta]}]
    _quiet_socket(result)
