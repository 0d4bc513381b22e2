"""Phoenix 1.8's auth token and credentials that change, from the wire to the server.

phoenix.js 1.8 (``socket.js``, ``authToken``) offers the subprotocols
``["phoenix", "base64url.bearer.phx." + btoa(token).replace(/=/g, "")]``: despite the
prefix, the standard base64 alphabet, unpadded. Phoenix 1.8 (``auth_token: true``)
decodes it with ``Base.decode64!(padding: false)``, removes it from the offered list,
selects ``phoenix`` and hands the token to ``connect/3`` as ``connect_info``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket

import phoenix_actor as pa
from phoenix_actor._protocol.auth_token import decode_auth_token, encode_auth_token
from phoenix_actor._transport.options import ConnectPlan, resolve_options
from phoenix_actor.testing import PhoenixServer, TestSocket
from phoenix_actor.testing._server.auth import ConnectInfo, take_auth_token
from tests.conftest import TIMEOUT

CONFORMANCE = Path(__file__).parent / "conformance"
NODE = shutil.which("node")
needs_phoenix_js = pytest.mark.skipif(
    NODE is None or not (CONFORMANCE / "node_modules" / "phoenix").is_dir(),
    reason="needs node and phoenix.js: run `npm ci --prefix tests/conformance`",
)

Seen = list[tuple[dict[str, str], ConnectInfo]]


@pytest.fixture
def seen() -> Seen:
    return []


@pytest.fixture
def server(seen: Seen) -> Iterator[PhoenixServer]:
    """Accepts the token ``good`` (or no check when the test replaces ``connect``)."""

    def connect(params: dict[str, str], headers: dict[str, str], info: ConnectInfo) -> bool:
        seen.append((headers, info))
        return info.auth_token == "good"

    with PhoenixServer.with_defaults(connect=connect) as running:
        yield running


def status(url: str, **options: Any) -> object:
    transport = pa.TransportOptions(**options)
    with TestSocket(url, timeout=TIMEOUT, transport_options=transport) as sock:
        return sock.wait_connect_status()


# -- the wire format -------------------------------------------------------------------


class RawServer:
    """Accepts one connection, records the request head and answers ``respond(head)``."""

    def __init__(self, respond: Callable[[str], bytes]) -> None:
        self.respond = respond
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self.listener.getsockname()[1]}/socket/websocket"
        self.heads: list[str] = []
        self.thread = threading.Thread(target=self._serve)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            text = head.decode("latin-1")
            self.heads.append(text)
            conn.sendall(self.respond(text))
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(4096):
                pass

    def close(self) -> None:
        self.thread.join(TIMEOUT)
        self.listener.close()


def header_lines(head: str, name: str) -> list[str]:
    prefix = f"{name.lower()}:"
    return [line for line in head.split("\r\n") if line.lower().startswith(prefix)]


FORBIDDEN = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"


def test_the_token_goes_in_sec_websocket_protocol_as_phoenix_js_sends_it() -> None:
    raw = RawServer(lambda head: FORBIDDEN)
    try:
        assert status(raw.url, auth_token="tok?>>en") == pa.HandshakeRejected(403)
    finally:
        raw.close()
    # btoa("tok?>>en") is "dG9rPz4+ZW4=": standard alphabet, padding stripped.
    assert header_lines(raw.heads[0], "Sec-WebSocket-Protocol") == [
        "Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.dG9rPz4+ZW4"
    ]
    assert "tok?>>en" not in raw.heads[0]


def test_other_subprotocols_come_between_phoenix_and_the_token() -> None:
    plan = resolve_options(
        pa.TransportOptions(auth_token="t", subprotocols=("v2.app",)), "ws://h/x"
    )
    assert plan.header["Sec-WebSocket-Protocol"] == "phoenix, v2.app, base64url.bearer.phx.dA"
    assert plan.subprotocols == ("phoenix", "v2.app")
    plan = resolve_options(pa.TransportOptions(subprotocols=("v2.app",)), "ws://h/x")
    assert plan.header == {"Sec-WebSocket-Protocol": "v2.app"}
    assert resolve_options(pa.TransportOptions(), "ws://h/x").header == {}


@pytest.mark.parametrize(
    "token", ["a", "ab", "abc", "tok?>>en", "a??/b", "h\u00e9llo \u2603", "x" * 300]
)
def test_encode_and_decode_round_trip(token: str) -> None:
    entry = encode_auth_token(token)
    assert entry.startswith("base64url.bearer.phx.")
    assert not entry.endswith("=")
    assert decode_auth_token(entry) == token
    padded = entry + "=" * (-len(entry.removeprefix("base64url.bearer.phx.")) % 4)
    assert decode_auth_token(padded) == token  # Base.decode64!(padding: false) takes both


@pytest.mark.parametrize(
    "entry",
    ["base64url.bearer.phx.dG9r-ZW4", "base64url.bearer.phx.a", "base64url.bearer.phx.//8", "x"],
)
def test_decode_rejects_what_phoenix_rejects(entry: str) -> None:
    expected = (
        "^(the auth token is not unpadded base64 of UTF-8 text|not an auth token subprotocol)$"
    )
    with pytest.raises(ValueError, match=expected):
        decode_auth_token(entry)


def test_only_a_single_token_entry_counts() -> None:
    one = encode_auth_token("one")
    assert take_auth_token(["phoenix", one]) == ("one", ("phoenix",))
    assert take_auth_token([one, "phoenix", encode_auth_token("two")]) == (None, ("phoenix",))
    assert take_auth_token([]) == (None, ())


@pytest.mark.parametrize("token", ["tok?>>en", "a??/b", "eyJhbGciOiJIUzI1NiJ9.e30.sig", "x" * 301])
@needs_phoenix_js
def test_phoenix_js_builds_the_same_subprotocols(token: str) -> None:
    assert NODE is not None
    script = """
        import { Socket } from "phoenix";
        class Spy {
          constructor(url, protocols) {
            process.stdout.write(JSON.stringify(protocols));
            process.exit(0);
          }
        }
        new Socket("ws://127.0.0.1:9/socket", {authToken: process.env.TOKEN, transport: Spy})
          .connect();
    """
    out = subprocess.run(
        [NODE, "--input-type=module", "-e", script],
        cwd=CONFORMANCE,
        env={**os.environ, "TOKEN": token},
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 4,
        check=True,
    ).stdout
    assert json.loads(out) == ["phoenix", encode_auth_token(token)]


# -- end to end with the embedded server ------------------------------------------------


def test_the_server_gets_the_token_and_selects_phoenix(server: PhoenixServer, seen: Seen) -> None:
    with TestSocket(
        server.url, timeout=TIMEOUT, transport_options=pa.TransportOptions(auth_token="good")
    ) as sock:
        assert sock.wait_connect_status() == "connected"
        assert sock.join("echo:auth")["joined"] == "echo:auth"
    headers, info = seen[0]
    assert info.auth_token == "good"
    assert info.subprotocols == ("phoenix",)
    assert not info.tls
    assert headers["sec-websocket-protocol"] == "phoenix"  # the token entry is removed


def test_a_wrong_token_is_refused_with_403(server: PhoenixServer, seen: Seen) -> None:
    assert status(server.url, auth_token="bad") == pa.HandshakeRejected(403)
    assert seen[0][1].auth_token == "bad"
    server.wait_for_event(lambda e: e[0] == "refused")
    assert status(server.url) == pa.HandshakeRejected(403)
    assert seen[1][1].auth_token is None


def test_the_token_callable_is_called_before_every_attempt(
    server: PhoenixServer, seen: Seen
) -> None:
    tokens = iter(["expired", "good", "good"])
    calls = itertools.count(1)

    def token() -> str:
        next(calls)
        return next(tokens)

    options = pa.TransportOptions(auth_token=token)
    with TestSocket(server.url, timeout=TIMEOUT, transport_options=options) as sock:
        assert sock.wait_connect_status() == pa.HandshakeRejected(403)
        sock.connect()
        assert sock.wait_connect_status() == "connected"
        server.close_all(1000)
        assert sock.wait_connect_status() == pa.RemoteClosed(1000)
        sock.connect()
        assert sock.wait_connect_status() == "connected"
    assert [info.auth_token for _, info in seen] == ["expired", "good", "good"]
    assert next(calls) == 4


def test_a_token_callable_returning_none_sends_no_token(server: PhoenixServer, seen: Seen) -> None:
    assert status(server.url, auth_token=lambda: None) == pa.HandshakeRejected(403)
    headers, info = seen[0]
    assert info.auth_token is None
    assert "sec-websocket-protocol" not in headers


def test_a_three_argument_callback_may_be_variadic(server: PhoenixServer) -> None:
    infos: list[object] = []

    def connect(*args: object) -> bool:
        infos.append(args[2])
        return True

    server.connect = connect
    assert status(server.url, auth_token="any") == "connected"
    assert isinstance(infos[0], ConnectInfo)


@needs_phoenix_js
def test_phoenix_js_connects_with_its_token(server: PhoenixServer, seen: Seen) -> None:
    assert NODE is not None
    script = """
        import { Socket } from "phoenix";
        import WebSocket from "ws";
        const socket = new Socket(process.env.URL, {authToken: "good", transport: WebSocket});
        setTimeout(() => process.exit(3), Number(process.env.LIMIT_MS));
        socket.onOpen(() => socket.disconnect(() => process.exit(0)));
        socket.onError(() => process.exit(1));
        socket.connect();
    """
    endpoint = server.url.removesuffix("/websocket")
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", script],
        cwd=CONFORMANCE,
        env={**os.environ, "URL": endpoint, "LIMIT_MS": str(int(TIMEOUT * 1000))},
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 4,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert seen[0][1].auth_token == "good"  # and ws accepted "phoenix" as selected


# -- what Phoenix does around the token --------------------------------------------------


def test_a_server_without_auth_token_ignores_it_and_the_client_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    infos: list[ConnectInfo] = []

    def connect(params: dict[str, str], headers: dict[str, str], info: ConnectInfo) -> bool:
        infos.append(info)
        return True

    with (
        PhoenixServer.with_defaults(connect=connect, auth_token=False) as server,
        caplog.at_level("WARNING", logger="phoenix_actor.transport"),
    ):
        assert status(server.url, auth_token="good") == "connected"
    assert infos[0].auth_token is None
    assert [r.getMessage() for r in caplog.records] == [
        "the server selected no subprotocol, so it ignores the auth token "
        "(a Phoenix socket needs auth_token: true)"
    ]


def test_subprotocols_without_phoenix_are_refused_like_phoenix(server: PhoenixServer) -> None:
    server.connect = None
    assert status(server.url, subprotocols=("v2.app",)) == pa.HandshakeRejected(403)
    assert status(server.url, subprotocols=("v2.app", "phoenix")) == "connected"


def test_a_malformed_token_entry_fails_the_request(server: PhoenixServer) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        websocket.create_connection(
            f"{server.url}?vsn=2.0.0",
            subprotocols=["phoenix", "base64url.bearer.phx.!!!"],
            suppress_origin=True,
            timeout=TIMEOUT,
        )
    assert info.value.status_code == 500


def test_a_subprotocol_the_client_did_not_offer_is_a_handshake_failure() -> None:
    def upgrade(head: str) -> bytes:
        key = header_lines(head, "Sec-WebSocket-Key")[0].split(":", 1)[1].strip()
        magic = f"{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11".encode()
        accept = base64.b64encode(hashlib.sha1(magic).digest()).decode()
        return (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: other\r\n\r\n"
        ).encode()

    raw = RawServer(upgrade)
    try:
        reason = status(raw.url, auth_token="good")
    finally:
        raw.close()
    assert reason == pa.HandshakeFailed(
        "the server selected subprotocol 'other', which was not offered"
    )


def test_check_selected_accepts_an_offered_one_or_none() -> None:
    plan = ConnectPlan({}, ("phoenix", "v2"), False, {}, (), {})
    assert plan.check_selected("phoenix") is None
    assert plan.check_selected("V2") is None
    assert plan.check_selected(None) is None
    assert plan.check_selected("v3") is not None


# -- credentials that change -------------------------------------------------------------


def test_the_headers_callable_is_called_before_every_attempt() -> None:
    keys: list[str] = []

    def connect(params: dict[str, str], headers: dict[str, str]) -> bool:
        keys.append(headers["x-api-key"])
        return headers["x-api-key"] == "k2"

    counter = itertools.count(1)
    options = pa.TransportOptions(headers=lambda: {"X-Api-Key": f"k{next(counter)}"})
    with (
        PhoenixServer.with_defaults(connect=connect) as server,
        TestSocket(server.url, timeout=TIMEOUT, transport_options=options) as sock,
    ):
        assert sock.wait_connect_status() == pa.HandshakeRejected(403)
        sock.connect()
        assert sock.wait_connect_status() == "connected"
    assert keys == ["k1", "k2"]


def broken() -> Any:
    raise RuntimeError("token service down")


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"auth_token": broken}, "the auth_token callable raised RuntimeError"),
        (
            {"auth_token": lambda: 42},
            "the auth_token callable's result must be a str or None, not int",
        ),
        (
            {"auth_token": lambda: ""},
            "the auth_token callable's result must not be empty (use None to send no token)",
        ),
        ({"headers": broken}, "the headers callable raised RuntimeError"),
        (
            {"headers": lambda: [("a", "b")]},
            "the headers callable's result must be a mapping of str to str, not list",
        ),
        (
            {"headers": lambda: {"Authorization": b"Bearer x"}},
            "the headers callable's result: the value of 'Authorization' must be a str, not bytes",
        ),
        (
            {"headers": lambda: {"Authorization": "Bearer x\r\nX-Evil: 1"}},
            "the headers callable's result: the value of 'Authorization' contains a line break "
            "or NUL",
        ),
    ],
)
def test_a_failing_credential_callable_is_a_config_disconnect(
    options: dict[str, Any], error: str, server: PhoenixServer, seen: Seen
) -> None:
    transport = pa.TransportOptions(**options)
    with TestSocket(server.url, timeout=TIMEOUT, transport_options=transport) as sock:
        reason = sock.wait_connect_status()
        assert reason == pa.ConnectFailed("config", error)
        assert sock.ref.is_alive()
        sock.connect()  # the socket carries on: the next attempt calls it again
        assert isinstance(sock.wait_connect_status(), pa.ConnectFailed)
    assert seen == []  # nothing reached the server


def test_the_socket_recovers_when_the_callable_does(server: PhoenixServer) -> None:
    answers: list[Callable[[], str]] = [broken, lambda: "good"]

    def token() -> str:
        return answers.pop(0)()

    options = pa.TransportOptions(auth_token=token)
    with TestSocket(server.url, timeout=TIMEOUT, transport_options=options) as sock:
        assert isinstance(sock.wait_connect_status(), pa.ConnectFailed)
        sock.connect()
        assert sock.wait_connect_status() == "connected"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"auth_token": ""}, "auth_token must not be empty"),
        ({"auth_token": 12}, "auth_token must be a str or None, not int"),
        ({"headers": {"X-Key": 1}}, "the value of 'X-Key' must be a str, not int"),
        ({"headers": {"X Key": "v"}}, "'X Key' is not a valid HTTP header name"),
        ({"headers": {"X-Key": "a\nb"}}, "contains a line break"),
        ({"headers": {"sec-websocket-protocol": "x"}}, "set Sec-WebSocket-Protocol with the"),
        ({"headers": ["X-Key"]}, "headers must be a mapping of str to str, not list"),
        ({"subprotocols": "phoenix"}, "subprotocols must be a sequence of str"),
        ({"subprotocols": ("a b",)}, "each subprotocol must be a non-empty HTTP token"),
        ({"subprotocols": ("base64url.bearer.phx.eA",)}, "pass the auth token as auth_token"),
        ({"extra": {"header": {}}}, "extra must not set header"),
        ({"connect_timeout": 0}, "connect_timeout must be > 0"),
        ({"connect_timeout": True}, "connect_timeout must be > 0"),
        ({"origin": 1}, "origin must be a str or None, not int"),
    ],
)
def test_static_options_are_checked_when_built(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(pa.ConfigError, match=match):
        pa.TransportOptions(**kwargs)
