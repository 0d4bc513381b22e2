"""The embedded Phoenix server, driven by plain websocket-client.

Expected frames are copied from shared/spec/phoenix-1.7.24-transcript.md (a genuine
Phoenix 1.7.24 server) and compared byte for byte.
"""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websocket

from phoenix_actor.testing import (
    Channel,
    ChannelSocket,
    JoinOk,
    PhoenixServer,
    Received,
    ServerNoReply,
    ServerReply,
    StopChannel,
)
from phoenix_actor.testing._server.protocol import V2, ProtocolViolation
from tests.conftest import TIMEOUT

ABNF = websocket.ABNF


class Client:
    """A raw websocket client: send text/binary frames, read frames one at a time."""

    def __init__(self, url: str, query: str = "vsn=2.0.0", **options: Any) -> None:
        options.setdefault("suppress_origin", True)
        target = f"{url}?{query}" if query else url
        self.ws = websocket.create_connection(target, timeout=TIMEOUT, **options)
        self._heartbeats = 0

    def send(self, text: str) -> None:
        self.ws.send(text)

    def send_binary(self, data: bytes) -> None:
        self.ws.send_binary(data)

    def recv(self) -> str | bytes:
        """The next data frame: ``str`` for text, ``bytes`` for binary."""
        opcode, data = self.ws.recv_data()
        if opcode == ABNF.OPCODE_TEXT:
            return str(data.decode("utf-8"))
        assert opcode == ABNF.OPCODE_BINARY, f"expected a data frame, got opcode {opcode}"
        return bytes(data)

    def join(self, topic: str, ref: str = "1") -> str:
        self.send(json.dumps([ref, ref, topic, "phx_join", {}]))
        return str(self.recv())

    def assert_silent(self) -> None:
        """Prove nothing else is pending: a heartbeat's reply is the very next frame."""
        self._heartbeats += 1
        ref = f"hb{self._heartbeats}"
        self.send(f'[null,"{ref}","phoenix","heartbeat",{{}}]')
        assert (
            self.recv() == f'[null,"{ref}","phoenix","phx_reply",{{"response":{{}},"status":"ok"}}]'
        )

    def expect_close(self) -> tuple[int, bytes]:
        """Read until the server's close frame; return its code and reason."""
        while True:
            opcode, data = self.ws.recv_data(control_frame=True)
            if opcode == ABNF.OPCODE_CLOSE:
                self.ws.shutdown()  # type: ignore[no-untyped-call]
                return struct.unpack("!H", data[:2])[0], bytes(data[2:])
            assert opcode in (ABNF.OPCODE_PING, ABNF.OPCODE_PONG), f"unexpected {data!r}"

    def close(self) -> None:
        if self.ws.connected:
            self.ws.close()
        self.ws.shutdown()  # type: ignore[no-untyped-call]


ClientFactory = Callable[..., Client]


@pytest.fixture
def server() -> Iterator[PhoenixServer]:
    with PhoenixServer.with_defaults() as srv:
        yield srv


@pytest.fixture
def connect(server: PhoenixServer) -> Iterator[ClientFactory]:
    clients: list[Client] = []

    def factory(query: str = "vsn=2.0.0", **options: Any) -> Client:
        client = Client(server.url, query, **options)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


def reply(join_ref: str, ref: str, topic: str, response: str, status: str = "ok") -> str:
    return f'[{join_ref},{ref},"{topic}","phx_reply",{{"response":{response},"status":"{status}"}}]'


def joined(ref: str, topic: str, payload: str = "{}") -> str:
    return reply(f'"{ref}"', f'"{ref}"', topic, f'{{"joined":"{topic}","payload":{payload}}}')


def unmatched(ref: str, topic: str) -> str:
    return reply("null", f'"{ref}"', topic, '{"reason":"unmatched topic"}', "error")


# -- replies, pushes and broadcasts (transcript scenarios) ---------------------------------


def test_join_echo(connect: ClientFactory) -> None:
    a = connect()
    a.send('["1","1","echo:a","phx_join",{"hello":"world"}]')
    assert a.recv() == joined("1", "echo:a", '{"hello":"world"}')


def test_echo_error_noreply(connect: ClientFactory) -> None:
    a = connect()
    assert a.join("echo:a") == joined("1", "echo:a")
    a.send('["1","2","echo:a","echo",{"x":1,"nested":{"a":[1,2.5,null,true]},"s":"héllo ☃"}]')
    assert a.recv() == (
        '["1","2","echo:a","phx_reply",{"response":{"nested":{"a":[1,2.5,null,true]},'
        '"s":"héllo ☃","x":1},"status":"ok"}]'
    )
    a.send('["1","3","echo:a","error",{"why":"because"}]')
    assert (
        a.recv() == '["1","3","echo:a","phx_reply",{"response":{"why":"because"},"status":"error"}]'
    )
    a.send('["1","4","echo:a","noreply",{}]')
    a.send('[null,"5","phoenix","heartbeat",{}]')
    assert a.recv() == '[null,"5","phoenix","phx_reply",{"response":{},"status":"ok"}]'


def test_non_object_payload_is_passed_through(connect: ClientFactory) -> None:
    a = connect()
    a.join("echo:m")
    a.send('["1","2","echo:m","echo","just a string"]')
    assert a.recv() == '["1","2","echo:m","phx_reply",{"response":"just a string","status":"ok"}]'


def test_push_has_join_ref_and_null_ref(connect: ClientFactory) -> None:
    a = connect()
    a.join("echo:a")
    a.send('["1","2","echo:a","push",{"p":1}]')
    assert a.recv() == '["1",null,"echo:a","pushed",{"p":1}]'
    a.assert_silent()


def test_broadcast_reaches_every_subscriber_sender_first(connect: ClientFactory) -> None:
    a, b = connect(), connect()
    assert a.join("echo:b") == joined("1", "echo:b")
    assert b.join("echo:b", "7") == joined("7", "echo:b")
    a.send('["1","2","echo:b","broadcast",{"msg":"hi"}]')
    assert a.recv() == '[null,null,"echo:b","broadcasted",{"msg":"hi"}]'
    assert a.recv() == '["1","2","echo:b","phx_reply",{"response":{},"status":"ok"}]'
    assert b.recv() == '[null,null,"echo:b","broadcasted",{"msg":"hi"}]'
    b.assert_silent()


def test_burst_pushes_precede_the_reply(connect: ClientFactory) -> None:
    a = connect()
    a.join("echo:burst")
    a.send('["1","2","echo:burst","burst",{"n":5}]')
    for i in range(1, 6):
        assert a.recv() == f'["1",null,"echo:burst","burst",{{"i":{i}}}]'
    assert a.recv() == '["1","2","echo:burst","phx_reply",{"response":{"n":5},"status":"ok"}]'


def test_slow_handler_delays_later_replies_but_not_heartbeats(connect: ClientFactory) -> None:
    a = connect()
    a.join("echo:s")
    a.send('["1","2","echo:s","slow",{"ms":300}]')
    a.send('[null,"3","phoenix","heartbeat",{}]')
    a.send('["1","4","echo:s","echo",{"after":"slow"}]')
    assert a.recv() == '[null,"3","phoenix","phx_reply",{"response":{},"status":"ok"}]'
    assert a.recv() == '["1","2","echo:s","phx_reply",{"response":{"ms":300},"status":"ok"}]'
    assert a.recv() == '["1","4","echo:s","phx_reply",{"response":{"after":"slow"},"status":"ok"}]'


def test_heartbeat_echoes_string_and_integer_refs(connect: ClientFactory) -> None:
    a = connect()
    a.send('[null,"1","phoenix","heartbeat",{}]')
    assert a.recv() == '[null,"1","phoenix","phx_reply",{"response":{},"status":"ok"}]'
    a.send('[null,2,"phoenix","heartbeat",{}]')
    assert a.recv() == '[null,2,"phoenix","phx_reply",{"response":{},"status":"ok"}]'


def test_refs_keep_their_json_types(connect: ClientFactory) -> None:
    a = connect()
    a.send('[1,1,"echo:int","phx_join",{}]')
    assert a.recv() == reply("1", "1", "echo:int", '{"joined":"echo:int","payload":{}}')
    a.send('[1,2,"echo:int","echo",{"a":1}]')
    assert a.recv() == '[1,2,"echo:int","phx_reply",{"response":{"a":1},"status":"ok"}]'
    a.send('[null,null,"echo:nullref","phx_join",{}]')
    assert a.recv() == reply(
        "null", "null", "echo:nullref", '{"joined":"echo:nullref","payload":{}}'
    )
    a.send('[1,3,"echo:int","echo",{"b":2},"extra"]')
    assert a.recv() == '[1,3,"echo:int","phx_reply",{"response":{"b":2},"status":"ok"}]'


# -- binary frames -------------------------------------------------------------------------


def test_binary_reply_and_client_binary_push(connect: ClientFactory) -> None:
    a = connect()
    a.join("echo:a")
    a.send('["1","2","echo:a","binary",{"bytes":[0,1,2,254,255]}]')
    assert a.recv() == bytes.fromhex("01 01 01 06 02 31 32 65 63 68 6f 3a 61 6f 6b 00 01 02 fe ff")
    a.send_binary(
        bytes.fromhex(
            "00 01 01 06 08 31 33 65 63 68 6f 3a 61 62 69 6e 5f 65 63 68 6f de ad be ef 00 7b"
        )
    )
    assert a.recv() == bytes.fromhex(
        "01 01 01 06 02 31 33 65 63 68 6f 3a 61 6f 6b de ad be ef 00 7b"
    )
    a.send_binary(bytes.fromhex("00 01 01 06 08 31 34 65 63 68 6f 3a 61 62 69 6e 5f 65 63 68 6f"))
    assert a.recv() == bytes.fromhex("01 01 01 06 02 31 34 65 63 68 6f 3a 61 6f 6b")
    a.send('["1","5","echo:a","binary_push",{"bytes":[1,2,3]}]')
    assert a.recv() == bytes.fromhex(
        "00 01 06 0a 31 65 63 68 6f 3a 61 62 69 6e 5f 70 75 73 68 65 64 01 02 03"
    )


def test_binary_server_push_and_broadcast(connect: ClientFactory, server: PhoenixServer) -> None:
    a, b = connect(), connect()
    a.join("echo:bb")
    b.join("echo:bb", "5")
    a.send('["1","2","echo:bb","binary_push",{"bytes":[1,2,3]}]')
    assert a.recv() == bytes.fromhex(
        "00 01 07 0a 31 65 63 68 6f 3a 62 62 62 69 6e 5f 70 75 73 68 65 64 01 02 03"
    )
    a.send('["1","3","echo:bb","binary_broadcast",{"bytes":[9,8,7]}]')
    frame = bytes.fromhex(
        "02 07 0f 65 63 68 6f 3a 62 62 62 69 6e 5f 62 72 6f 61 64 63 61 73 74 65 64 09 08 07"
    )
    assert a.recv() == frame
    assert a.recv() == '["1","3","echo:bb","phx_reply",{"response":{},"status":"ok"}]'
    assert b.recv() == frame
    server.broadcast("echo:bb", "news", b"\x00")
    assert a.recv() == b.recv() == b"\x02\x07\x04echo:bbnews\x00"


def test_binary_push_to_unjoined_topic(connect: ClientFactory) -> None:
    a = connect()
    a.send_binary(
        bytes.fromhex("00 01 01 08 08 31 33 65 63 68 6f 3a 7a 7a 7a 62 69 6e 5f 65 63 68 6f 01 02")
    )
    assert a.recv() == unmatched("3", "echo:zzz")


def test_binary_fields_longer_than_255_bytes_raise() -> None:
    assert (
        V2.encode_push("1", "t" * 255, "e", b"") == b"\x00\x01\xff\x01" + b"1" + b"t" * 255 + b"e"
    )
    with pytest.raises(ValueError, match="255"):
        V2.encode_push("1", "t" * 256, "e", b"")
    with pytest.raises(ProtocolViolation):
        V2.decode(b"\x00\x01\x01\x05\x01" + b"12abc")  # says 9 header bytes, has 5


# -- joins, unmatched topics, channel termination -------------------------------------------


def test_unmatched_topic_join_has_null_join_ref(connect: ClientFactory) -> None:
    a = connect()
    a.send('["1","1","nope:x","phx_join",{}]')
    assert a.recv() == unmatched("1", "nope:x")


def test_push_to_a_topic_not_joined(connect: ClientFactory) -> None:
    a = connect()
    a.send('["5","6","echo:notjoined","echo",{"x":1}]')
    assert a.recv() == unmatched("6", "echo:notjoined")
    a.send('[null,"7","nope:x","whatever",{}]')
    assert a.recv() == unmatched("7", "nope:x")


def test_refused_and_crashed_joins(connect: ClientFactory) -> None:
    a = connect()
    a.send('["1","1","echo:refuse","phx_join",{}]')
    assert a.recv() == reply('"1"', '"1"', "echo:refuse", '{"reason":"refused"}', "error")
    a.send('["2","2","echo:crash_on_join","phx_join",{}]')
    assert a.recv() == reply(
        '"2"', '"2"', "echo:crash_on_join", '{"reason":"join crashed"}', "error"
    )
    a.assert_silent()


def test_duplicate_join_replies_then_closes_the_old_session(connect: ClientFactory) -> None:
    a = connect()
    a.send('["10","10","echo:dup","phx_join",{"n":1}]')
    assert a.recv() == joined("10", "echo:dup", '{"n":1}')
    a.send('["11","11","echo:dup","phx_join",{"n":2}]')
    assert a.recv() == joined("11", "echo:dup", '{"n":2}')
    assert a.recv() == '["10","10","echo:dup","phx_close",{}]'
    a.send('["10","12","echo:dup","echo",{"stale":true}]')
    assert (
        a.recv() == '["11","12","echo:dup","phx_reply",{"response":{"stale":true},"status":"ok"}]'
    )
    a.send('["11","13","echo:dup","echo",{"current":true}]')
    assert (
        a.recv() == '["11","13","echo:dup","phx_reply",{"response":{"current":true},"status":"ok"}]'
    )


def test_crash_sends_phx_error_and_unjoins_only_that_topic(connect: ClientFactory) -> None:
    a = connect()
    a.join("echo:crash")
    assert a.join("echo:other", "2") == joined("2", "echo:other")
    a.send('["1","3","echo:crash","crash",{}]')
    assert a.recv() == '["1","1","echo:crash","phx_error",{}]'
    a.send('["1","4","echo:crash","echo",{"after":"crash"}]')
    assert a.recv() == unmatched("4", "echo:crash")
    a.send('["2","5","echo:other","echo",{"other":"still alive"}]')
    assert (
        a.recv()
        == '["2","5","echo:other","phx_reply",{"response":{"other":"still alive"},"status":"ok"}]'
    )
    assert a.join("echo:crash", "6") == joined("6", "echo:crash")


def test_phx_error_payload_knob(connect: ClientFactory, server: PhoenixServer) -> None:
    server.phx_error_payload = {"reason": "channel_crash"}
    a = connect()
    a.join("echo:crash")
    a.send('["1","2","echo:crash","crash",{}]')
    assert a.recv() == '["1","1","echo:crash","phx_error",{"reason":"channel_crash"}]'


def test_stop_and_stop_with_reply(connect: ClientFactory) -> None:
    a = connect()
    a.join("echo:stop")
    a.send('["1","2","echo:stop","stop",{}]')
    assert a.recv() == '["1","1","echo:stop","phx_close",{}]'
    assert a.join("echo:stop", "3") == joined("3", "echo:stop")
    a.send('["3","4","echo:stop","stop_reply",{}]')
    assert a.recv() == '["3","4","echo:stop","phx_reply",{"response":{},"status":"ok"}]'
    assert a.recv() == '["3","3","echo:stop","phx_close",{}]'
    a.assert_silent()


def test_leave(connect: ClientFactory) -> None:
    a = connect()
    a.join("echo:leave")
    a.send('["1","2","echo:leave","phx_leave",{}]')
    assert a.recv() == '["1","2","echo:leave","phx_reply",{"response":{},"status":"ok"}]'
    assert a.recv() == '["1","1","echo:leave","phx_close",{}]'
    a.send('["1","3","echo:leave","echo",{"after":"leave"}]')
    assert a.recv() == unmatched("3", "echo:leave")
    a.send('["9","4","echo:never","phx_leave",{}]')
    assert a.recv() == '["9","4","echo:never","phx_reply",{"response":{},"status":"ok"}]'
    a.assert_silent()


def test_leave_with_a_stale_join_ref_gets_no_answer(connect: ClientFactory) -> None:
    a = connect()
    a.join("echo:l", "1")
    a.join("echo:l", "2")
    assert a.recv() == '["1","1","echo:l","phx_close",{}]'
    a.send('["1","3","echo:l","phx_leave",{}]')
    a.assert_silent()
    a.send('["2","4","echo:l","echo",{}]')
    assert a.recv() == '["2","4","echo:l","phx_reply",{"response":{},"status":"ok"}]'


def test_too_many_channels() -> None:
    with PhoenixServer(max_channels=2).channel("room:*", Channel) as srv:
        client = Client(srv.url)
        try:
            client.join("room:1", "1")
            client.join("room:2", "2")
            assert client.join("room:3", "3") == reply(
                '"3"', '"3"', "room:3", '{"reason":"too many channels joined"}', "error"
            )
        finally:
            client.close()


# -- handshake -----------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["vsn=2.0.0&token=bad", "vsn=3.0.0", "vsn=2.1.0"])
def test_refused_handshakes_are_403_with_empty_body(server: PhoenixServer, query: str) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        Client(server.url, query)
    assert info.value.status_code == 403
    assert info.value.resp_body in (b"", None)
    event = server.wait_for_event(lambda e: e[0] == "refused")
    assert event == ("refused", dict(pair.split("=") for pair in query.split("&")))


@pytest.mark.parametrize("path", ["/socket/longpoll", "/nosuch/websocket"])
def test_other_paths_are_404(server: PhoenixServer, path: str) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        Client(f"ws://127.0.0.1:{server.port}{path}")
    assert info.value.status_code == 404


def test_origin_is_checked_only_when_present() -> None:
    with PhoenixServer(check_origin="example.com", demo=True).start() as srv:
        Client(srv.url, origin="http://example.com:4000").close()
        Client(srv.url).close()  # no Origin header at all
        with pytest.raises(websocket.WebSocketBadStatusException) as info:
            Client(srv.url, origin="http://evil.test", suppress_origin=False)
        assert info.value.status_code == 403


def test_v1_serializer(connect: ClientFactory) -> None:
    a, b = connect("vsn=1.0.0"), connect("vsn=1.0.0")
    a.send('{"topic":"echo:v1","event":"phx_join","payload":{"v":1},"ref":"1","join_ref":"1"}')
    assert a.recv() == (
        '{"event":"phx_reply","payload":{"response":{"joined":"echo:v1","payload":{"v":1}},'
        '"status":"ok"},"ref":"1","topic":"echo:v1"}'
    )
    b.send('{"topic":"echo:v1","event":"phx_join","payload":{},"ref":"1"}')
    assert b.recv() == (
        '{"event":"phx_reply","payload":{"response":{"joined":"echo:v1","payload":{}},'
        '"status":"ok"},"ref":"1","topic":"echo:v1"}'
    )
    a.send('{"topic":"echo:v1","event":"echo","payload":{"x":1},"ref":"2","join_ref":"1"}')
    assert a.recv() == (
        '{"event":"phx_reply","payload":{"response":{"x":1},"status":"ok"},"ref":"2","topic":"echo:v1"}'
    )
    a.send('{"topic":"echo:v1","event":"push","payload":{"p":1},"ref":"3","join_ref":"1"}')
    assert a.recv() == '{"event":"pushed","payload":{"p":1},"ref":null,"topic":"echo:v1"}'
    a.send('{"topic":"echo:v1","event":"broadcast","payload":{"b":1},"ref":"4"}')
    assert a.recv() == '{"event":"broadcasted","payload":{"b":1},"ref":null,"topic":"echo:v1"}'
    assert a.recv() == (
        '{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"4","topic":"echo:v1"}'
    )
    assert b.recv() == '{"event":"broadcasted","payload":{"b":1},"ref":null,"topic":"echo:v1"}'
    a.send('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"5"}')
    assert a.recv() == (
        '{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"5","topic":"phoenix"}'
    )
    a.send('{"topic":"nope:x","event":"phx_join","payload":{},"ref":"6"}')
    assert a.recv() == (
        '{"event":"phx_reply","payload":{"response":{"reason":"unmatched topic"},'
        '"status":"error"},"ref":"6","topic":"nope:x"}'
    )
    a.send('{"topic":"echo:v1","event":"crash","payload":{},"ref":"7"}')
    assert a.recv() == '{"event":"phx_error","payload":{},"ref":"1","topic":"echo:v1"}'
    a.send('["1","8","echo:v1","echo",{}]')
    assert a.expect_close() == (1011, b"")


def test_missing_vsn_speaks_v1(connect: ClientFactory) -> None:
    c = connect("")
    c.send('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"1"}')
    assert c.recv() == (
        '{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1","topic":"phoenix"}'
    )


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        '["1","2","echo:m"]',
        '{"topic":"echo:m","event":"echo","payload":{},"ref":"2"}',
        b"\x05\x00\x01",
        b'["1","2","echo:m","echo",{}]',
    ],
    ids=["not-json", "3-elements", "object-on-v2", "bad-binary", "json-in-binary"],
)
def test_malformed_input_closes_with_1011(
    connect: ClientFactory, server: PhoenixServer, frame: str | bytes
) -> None:
    a = connect()
    a.join("echo:m")
    if isinstance(frame, bytes):
        a.send_binary(frame)
    else:
        a.send(frame)
    assert a.expect_close() == (1011, b"")
    received = server.wait_for(lambda r: r.data == frame)
    assert received.message is None
    server.wait_for_event(lambda e: e == ("terminate", "echo:m", "shutdown:closed"))


def test_websocket_ping_gets_a_pong(connect: ClientFactory) -> None:
    a = connect()
    a.ws.ping(b"hi")
    assert a.ws.recv_data(control_frame=True) == (ABNF.OPCODE_PONG, b"hi")


# -- server-side closes and fault knobs ------------------------------------------------------


def test_channel_forces_a_disconnect_of_its_socket_id(connect: ClientFactory) -> None:
    carol = connect("vsn=2.0.0&user=carol")
    carol.join("echo:c")
    carol.send('["1","3","echo:c","disconnect_me",{}]')
    assert carol.expect_close() == (1000, b"")


def test_server_disconnects_a_socket_id_with_a_code(
    connect: ClientFactory, server: PhoenixServer
) -> None:
    dave, anonymous = connect("vsn=2.0.0&user=dave"), connect()
    server.wait_for_event(lambda e: e[0] == "connect" and e[2].get("user") == "dave")
    assert server.disconnect("user_socket:nobody") == 0
    assert server.disconnect("user_socket:dave", code=1001) == 1
    assert dave.expect_close() == (1001, b"")
    anonymous.assert_silent()


def test_close_all_with_a_code(connect: ClientFactory, server: PhoenixServer) -> None:
    a, b = connect(), connect()
    a.join("echo:a")
    b.assert_silent()
    server.close_all(4000, "bye")
    assert a.expect_close() == (4000, b"bye")
    assert b.expect_close() == (4000, b"bye")
    server.wait_for_event(lambda e: e == ("terminate", "echo:a", "shutdown:closed"))


def test_kill_all_drops_tcp_without_a_close_frame(
    connect: ClientFactory, server: PhoenixServer
) -> None:
    a = connect()
    a.join("echo:a")
    server.kill_all()
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        a.ws.recv_data(control_frame=True)
    server.wait_for_event(lambda e: e[0] == "disconnect")
    assert server.connections == []


def test_ignore_heartbeats(connect: ClientFactory, server: PhoenixServer) -> None:
    a = connect()
    a.join("echo:a")
    server.ignore_heartbeats = True
    a.send('[null,"2","phoenix","heartbeat",{}]')
    a.send('["1","3","echo:a","echo",{}]')
    assert a.recv() == '["1","3","echo:a","phx_reply",{"response":{},"status":"ok"}]'
    server.ignore_heartbeats = False
    a.assert_silent()


def test_idle_timeout_counts_pings_as_activity() -> None:
    with PhoenixServer(idle_timeout=0.5, demo=True) as srv:
        client = Client(srv.url)
        try:
            client.ws.settimeout(0.1)
            for _ in range(7):  # 0.7 s of pings only, each followed by 0.1 s of quiet
                client.ws.ping(b"x")
                assert client.ws.recv_data(control_frame=True) == (ABNF.OPCODE_PONG, b"x")
                with pytest.raises(websocket.WebSocketTimeoutException):
                    client.ws.recv_data(control_frame=True)
            client.ws.settimeout(TIMEOUT)
            assert client.expect_close() == (1000, b"")
        finally:
            client.close()


# -- custom channels, recorders, lifecycle ---------------------------------------------------


class ProbeChannel(Channel):
    """Exercises the handler API; events are named after what they test."""

    def join(self, topic: str, payload: Any, socket: ChannelSocket) -> JoinOk:
        if payload.get("push_in_join"):
            socket.push("too_early", {})
        socket.assigns["count"] = 0
        return JoinOk({"socket_id": socket.socket_id, "user": socket.params.get("user")})

    def handle_in(
        self, event: str, payload: Any, socket: ChannelSocket
    ) -> ServerReply | ServerNoReply | StopChannel:
        socket.assigns["count"] += 1
        if event == "status":
            return ServerReply(payload["status"], {"count": socket.assigns["count"]})
        if event == "stop":
            return StopChannel(payload["reason"])
        if event == "info_later":
            socket.send_info(payload)
            return ServerReply()
        if event == "shout":
            socket.broadcast_from("shout", payload)
            return ServerReply()
        if event == "bad_return":
            return "not a result"  # type: ignore[return-value]
        return ServerNoReply()

    def handle_info(self, message: Any, socket: ChannelSocket) -> StopChannel | None:
        socket.push("info", message)
        return None


@pytest.fixture
def probe() -> Iterator[PhoenixServer]:
    def connect(params: dict[str, str], headers: dict[str, str]) -> str | None:
        return params.get("user")

    with PhoenixServer(connect=connect).channel("probe:*", ProbeChannel) as srv:
        yield srv


def test_channel_handler_api(probe: PhoenixServer) -> None:
    client = Client(probe.url, "vsn=2.0.0&user=eve")
    try:
        client.send('["1","1","probe:1","phx_join",{}]')
        assert client.recv() == reply('"1"', '"1"', "probe:1", '{"socket_id":"eve","user":"eve"}')
        client.send('["1","2","probe:1","status",{"status":"custom"}]')
        assert client.recv() == reply('"1"', '"2"', "probe:1", '{"count":1}', "custom")
        client.send('["1","3","probe:1","info_later",{"k":"v"}]')
        assert client.recv() == reply('"1"', '"3"', "probe:1", "{}")
        assert client.recv() == '["1",null,"probe:1","info",{"k":"v"}]'
        (sock,) = probe.channel_sockets("probe:1")
        assert (sock.topic, sock.join_ref, sock.socket_id, sock.joined) == (
            "probe:1",
            "1",
            "eve",
            True,
        )
        sock.push("from_test", {"n": 1})  # any thread may push
        assert client.recv() == '["1",null,"probe:1","from_test",{"n":1}]'
        probe.send_info("probe:1", [1, 2])
        assert client.recv() == '["1",null,"probe:1","info",[1,2]]'
        client.send('["1","4","probe:1","stop",{"reason":"shutdown:bored"}]')
        assert client.recv() == '["1","1","probe:1","phx_close",{}]'
        assert not sock.joined
        client.join("probe:2", "5")
        client.send('["5","6","probe:2","stop",{"reason":"boom"}]')
        assert client.recv() == '["5","5","probe:2","phx_error",{}]'
        client.join("probe:3", "7")
        client.send('["7","8","probe:3","bad_return",{}]')
        assert client.recv() == '["7","7","probe:3","phx_error",{}]'
        client.send('["9","9","probe:4","phx_join",{"push_in_join":true}]')
        assert client.recv() == reply('"9"', '"9"', "probe:4", '{"reason":"join crashed"}', "error")
    finally:
        client.close()
    probe.wait_for_event(lambda e: e[0] == "disconnect")
    terminations = [e[1:] for e in probe.events if e[0] == "terminate"]
    assert terminations[:2] == [("probe:1", "shutdown:bored"), ("probe:2", "boom")]
    assert terminations[2][0] == "probe:3"
    assert terminations[2][1].startswith("crash: TypeError")


def test_broadcast_from_skips_the_sender(probe: PhoenixServer) -> None:
    a, b = Client(probe.url), Client(probe.url)
    try:
        a.join("probe:room")
        b.join("probe:room")
        a.send('["1","2","probe:room","shout",{"s":1}]')
        assert b.recv() == '[null,null,"probe:room","shout",{"s":1}]'
        assert a.recv() == reply('"1"', '"2"', "probe:room", "{}")
        a.assert_silent()
    finally:
        a.close()
        b.close()


def test_close_codes_are_validated(server: PhoenixServer) -> None:
    with pytest.raises(ValueError, match="1006"):
        server.close_all(1006)
    with pytest.raises(ValueError, match="999"):
        server.disconnect("user_socket:x", code=999)


def test_events_record_the_lifecycle(connect: ClientFactory, server: PhoenixServer) -> None:
    a = connect("vsn=2.0.0&user=fred")
    a.send('["1","1","echo:e","phx_join",{"j":1}]')
    a.recv()
    a.send('["1","2","echo:e","echo",{"e":2}]')
    a.recv()
    a.send('["1","3","echo:e","phx_leave",{}]')
    a.recv()
    a.recv()
    a.close()
    server.wait_for_event(lambda e: e[0] == "disconnect")
    assert server.events.snapshot() == [
        ("connect", 1, {"vsn": "2.0.0", "user": "fred"}),
        ("join", "echo:e", {"j": 1}, "1"),
        ("handle_in", "echo:e", "echo", {"e": 2}),
        ("terminate", "echo:e", "shutdown:left"),
        ("disconnect", 1),
    ]


def test_received_recorder_and_wait_for(connect: ClientFactory, server: PhoenixServer) -> None:
    a = connect()
    a.join("echo:w")
    a.send('["1","2","echo:w","echo",{"n":2}]')
    a.recv()

    def is_echo(r: Received) -> bool:
        return r.message is not None and r.message.event == "echo"

    found = server.wait_for(is_echo)
    assert found.conn_id == server.connections[0]
    assert found.opcode == "text"
    assert found.data == '["1","2","echo:w","echo",{"n":2}]'
    assert found.message is not None
    assert (found.message.join_ref, found.message.ref, found.message.payload) == (
        "1",
        "2",
        {"n": 2},
    )
    mark = len(server.received)
    with pytest.raises(TimeoutError, match=r"(?s)no matching frame within 0\.05 s; 0 recorded"):
        server.wait_for(is_echo, timeout=0.05, start=mark)
    with pytest.raises(TimeoutError, match=r"(?s)2 recorded.*phx_join.*echo"):
        server.wait_for(lambda r: False, timeout=0.05)
    a.send('["1","3","echo:w","echo",{"n":3}]')
    assert server.wait_for(is_echo, start=mark).data == '["1","3","echo:w","echo",{"n":3}]'


def test_stop_closes_connections_and_leaves_no_thread() -> None:
    before = set(threading.enumerate())
    srv = PhoenixServer.with_defaults().start()
    client = Client(srv.url)
    client.join("echo:t")
    closes: list[tuple[int, bytes]] = []
    reader = threading.Thread(target=lambda: closes.append(client.expect_close()))
    reader.start()
    srv.stop()
    reader.join(TIMEOUT)
    assert closes == [(1001, b"")]
    assert set(threading.enumerate()) == before
    assert srv.events.snapshot()[-2:] == [
        ("terminate", "echo:t", "shutdown:closed"),
        ("disconnect", 1),
    ]
    srv.stop()  # idempotent
    with pytest.raises(RuntimeError, match="stopped"):
        srv.start()
