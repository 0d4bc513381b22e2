"""The websocket transport against real local servers: reasons, headers, binary, cleanup."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import websocket

import phoenix_actor as pa
from phoenix_actor.testing import PhoenixServer, TestSocket
from tests.conftest import TIMEOUT


@pytest.fixture
def server() -> Iterator[PhoenixServer]:
    with PhoenixServer.with_defaults() as running:
        yield running


class SilentServer:
    """A TCP server that accepts, reads the request and answers ``response`` (or nothing)."""

    def __init__(self, response: bytes | None) -> None:
        self.response = response
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            conn.recv(65536)
            self.accepted.set()
            if self.response is not None:
                conn.sendall(self.response)
            self.done.wait(TIMEOUT)

    def close(self) -> None:
        self.done.set()
        self.thread.join(TIMEOUT)
        self.listener.close()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/socket/websocket"


def test_no_origin_header_unless_configured(server: PhoenixServer) -> None:
    server.check_origin = "phoenix.example"
    with TestSocket(server.url, timeout=TIMEOUT) as plain:
        assert plain.wait_connect_status() == "connected"
    options = pa.TransportOptions(origin="http://elsewhere.example")
    with TestSocket(server.url, timeout=TIMEOUT, transport_options=options) as with_origin:
        assert with_origin.wait_connect_status() == pa.HandshakeRejected(403)


def test_extra_headers_reach_the_server(server: PhoenixServer) -> None:
    seen: list[dict[str, str]] = []

    def connect(params: dict[str, str], headers: dict[str, str]) -> bool:
        seen.append({k.lower(): v for k, v in headers.items()})
        return True

    server.connect = connect
    options = pa.TransportOptions(headers={"X-Api-Key": "k-123"})
    with TestSocket(server.url, timeout=TIMEOUT, transport_options=options) as sock:
        assert sock.wait_connect_status() == "connected"
    assert seen[0]["x-api-key"] == "k-123"
    assert "origin" not in seen[0]


@pytest.mark.parametrize(("code", "reason"), [(1000, ""), (1001, "going away"), (1011, "")])
def test_server_close_frames_are_reported_with_their_code(
    server: PhoenixServer, code: int, reason: str
) -> None:
    with TestSocket(server.url, timeout=TIMEOUT) as sock:
        assert sock.wait_connect_status() == "connected"
        sock.join("echo:a")
        server.close_all(code, reason)
        assert sock.wait_connect_status() == pa.RemoteClosed(code, reason)
        with pytest.raises(pa.DisconnectedError):
            sock.push("echo:a", "echo", {})


def test_a_dropped_tcp_connection_is_connection_lost(server: PhoenixServer) -> None:
    with TestSocket(server.url, timeout=TIMEOUT) as sock:
        assert sock.wait_connect_status() == "connected"
        server.kill_all()
        assert isinstance(sock.wait_connect_status(), pa.ConnectionLost)


def test_socket_id_forced_disconnect(server: PhoenixServer) -> None:
    with TestSocket(server.url, {"user": "carol"}, timeout=TIMEOUT) as sock:
        assert sock.wait_connect_status() == "connected"
        # The client may see its handshake answered before the server lists the connection.
        server.wait_for_event(lambda event: event[0] == "connect", TIMEOUT)
        assert server.disconnect("user_socket:carol") == 1
        assert sock.wait_connect_status() == pa.RemoteClosed(1000)


def test_a_connection_is_registered_before_the_client_sees_it_open() -> None:
    """``server.connections`` and ``server.disconnect`` see a connection as soon as the
    client does, even when the server's handler thread is slow to start serving it."""
    gate = threading.Event()
    server = PhoenixServer.with_defaults()
    serve = server._serve

    def slow_serve(*args: Any) -> None:
        gate.wait(TIMEOUT)  # the handler thread lags behind the 101
        serve(*args)

    server._serve = slow_serve  # type: ignore[method-assign]
    with server, TestSocket(server.url, {"user": "carol"}, timeout=TIMEOUT) as sock:
        try:
            assert sock.wait_connect_status() == "connected"
            assert len(server.connections) == 1
            assert server.disconnect("user_socket:carol") == 1
        finally:
            gate.set()
        assert sock.wait_connect_status() == pa.RemoteClosed(1000)


def test_a_malformed_client_frame_makes_the_server_close_1011(server: PhoenixServer) -> None:
    with TestSocket(server.url, timeout=TIMEOUT) as sock:
        assert sock.wait_connect_status() == "connected"

        def send_garbage(conn: pa.Connection) -> None:
            sock_actor_transport = conn._actor._link.transport
            assert sock_actor_transport is not None
            sock_actor_transport.send(pa.Frame.text("not json"))

        pa.execute(sock.ref, send_garbage, TIMEOUT)
        assert sock.wait_connect_status() == pa.RemoteClosed(1011)


def test_binary_push_reply_and_broadcast_end_to_end(server: PhoenixServer) -> None:
    with TestSocket(server.url, timeout=TIMEOUT) as sock:
        assert sock.wait_connect_status() == "connected"
        sock.join("echo:bin")
        reply = sock.push_sync("echo:bin", "bin_echo", b"\xde\xad\xbe\xef\x00{")
        assert reply == {"status": "ok", "response": b"\xde\xad\xbe\xef\x00{"}
        received = server.wait_for(lambda r: r.opcode == "binary")
        assert received.data == b"\x00\x01\x01\x08\x08" + b"12echo:binbin_echo\xde\xad\xbe\xef\x00{"
        sock.push("echo:bin", "binary_push", {"bytes": [1, 2, 3]})
        assert sock.await_message() == ("echo:bin", "bin_pushed", b"\x01\x02\x03")
        sock.push("echo:bin", "binary_broadcast", {"bytes": [9, 8, 7]})
        assert sock.await_message() == ("echo:bin", "bin_broadcasted", b"\t\x08\x07")


def test_unicode_round_trip(server: PhoenixServer) -> None:
    payload: dict[str, Any] = {"s": "héllo ☃", "nested": {"a": [1, 2.5, None, True]}}
    with TestSocket(server.url, timeout=TIMEOUT) as sock:
        assert sock.wait_connect_status() == "connected"
        sock.join("echo:u")
        assert sock.push_sync("echo:u", "echo", payload) == {"status": "ok", "response": payload}


def test_an_invalid_handshake_is_handshake_failed() -> None:
    bogus = SilentServer(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: bogus\r\n\r\n"
    )
    try:
        with TestSocket(bogus.url, timeout=TIMEOUT) as sock:
            assert isinstance(sock.wait_connect_status(), pa.HandshakeFailed)
    finally:
        bogus.close()


def test_a_handshake_without_answer_times_out() -> None:
    silent = SilentServer(None)
    options = pa.TransportOptions(connect_timeout=0.2)
    try:
        with TestSocket(silent.url, timeout=TIMEOUT, transport_options=options) as sock:
            reason = sock.wait_connect_status()
            assert isinstance(reason, pa.ConnectFailed)
            assert reason.kind == "timeout"
    finally:
        silent.close()


def test_stop_during_the_handshake_returns_and_leaves_nothing_behind() -> None:
    silent = SilentServer(None)
    try:
        sock = TestSocket(silent.url, timeout=TIMEOUT)
        assert silent.accepted.wait(TIMEOUT)
        sock.stop()
        assert not sock.ref.is_alive()
    finally:
        silent.close()
    # the autouse fixture asserts no actor or thread is left


def test_stop_closes_the_websocket(server: PhoenixServer) -> None:
    sock = TestSocket(server.url, timeout=TIMEOUT)
    assert sock.wait_connect_status() == "connected"
    conn_id = server.connections[0]
    sock.stop()
    server.wait_for_event(lambda e: e == ("disconnect", conn_id))


def test_connect_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="connect_timeout"):
        pa.TransportOptions(connect_timeout=0)


def test_transport_options_repr_hides_header_values() -> None:
    options = pa.TransportOptions(headers={"Authorization": "Bearer secret-token"})
    assert "secret-token" not in repr(options)
    assert "Authorization" in repr(options)


def test_a_redirect_is_not_followed() -> None:
    # Following it would send the credentials wherever it points (browsers do not either).
    redirecting = SilentServer(
        b"HTTP/1.1 301 Moved Permanently\r\nLocation: ws://elsewhere.invalid/socket\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    try:
        with TestSocket(redirecting.url, timeout=TIMEOUT) as sock:
            reason = sock.wait_connect_status()
    finally:
        redirecting.close()
    assert reason == pa.HandshakeRejected(301)
    assert isinstance(reason, pa.HandshakeRejected)
    assert reason.headers["location"] == "ws://elsewhere.invalid/socket"


@pytest.mark.skipif(not hasattr(socket, "TCP_KEEPIDLE"), reason="TCP_KEEPIDLE is Linux-only")
def test_sockopt_in_extra_reaches_the_socket(
    server: PhoenixServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[websocket.WebSocket] = []

    class Recording(websocket.WebSocket):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setattr(websocket, "WebSocket", Recording)
    keepidle = (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
    options = pa.TransportOptions(extra={"sockopt": [(*keepidle, 77)]})
    with TestSocket(server.url, timeout=TIMEOUT, transport_options=options) as sock:
        assert sock.wait_connect_status() == "connected"
        assert created[0].sock.getsockopt(*keepidle) == 77


def test_extra_must_not_override_what_the_transport_sets() -> None:
    with pytest.raises(pa.ConfigError, match="extra must not set sslopt, timeout"):
        pa.TransportOptions(extra={"timeout": 1, "sslopt": {}})
