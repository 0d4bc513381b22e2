"""Websocket ping keepalive (TransportOptions.ping_interval / ping_timeout).

A hand-written websocket server on a raw socket records the opcodes of the frames the
client sends and answers pings with pongs, or not.
"""

from __future__ import annotations

import base64
import hashlib
import queue
import socket
import threading
from collections.abc import Iterator

import pytest

import phoenix_actor as pa
from tests.conftest import TIMEOUT
from tests.test_socket_actor import Recorder

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PING, PONG, CLOSE = 0x9, 0xA, 0x8


def unmask(data: bytes, key: bytes) -> bytes:
    size = len(data)
    mask = int.from_bytes((key * (size // 4 + 1))[:size], "big")
    return (int.from_bytes(data, "big") ^ mask).to_bytes(size, "big")


class RawServer:
    """Accepts one websocket, then reads frames; answers pings when ``pong`` is set.

    With a ``gate``, it reads no frame until the gate is set (a peer that is slow to
    read). ``greeting`` is sent in the same write as the upgrade response; ``answers``
    maps a text frame's data to the bytes sent back when it arrives. Every frame goes to
    ``frames``, its opcode also to ``opcodes``.
    """

    def __init__(
        self,
        pong: bool,
        gate: threading.Event | None = None,
        greeting: bytes = b"",
        answers: dict[bytes, bytes] | None = None,
    ) -> None:
        self.pong = pong
        self.gate = gate
        self.greeting = greeting
        self.answers = answers or {}
        self.opcodes: queue.Queue[int] = queue.Queue()
        self.frames: queue.Queue[tuple[int, bytes]] = queue.Queue()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._conn: socket.socket | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/socket/websocket"

    def _read(self, conn: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        self._conn = conn
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest()).decode()
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                + accept.encode()
                + b"\r\n\r\n"
                + self.greeting
            )
            if self.gate is not None:
                self.gate.wait(TIMEOUT * 2)
            while True:
                first, second = self._read(conn, 2)
                opcode, size = first & 0x0F, second & 0x7F
                if size == 126:
                    size = int.from_bytes(self._read(conn, 2), "big")
                elif size == 127:
                    size = int.from_bytes(self._read(conn, 8), "big")
                mask = self._read(conn, 4)
                data = unmask(self._read(conn, size), mask)
                self.frames.put((opcode, data))
                self.opcodes.put(opcode)
                if opcode == PING and self.pong:
                    conn.sendall(bytes([0x80 | PONG, len(data)]) + data)
                if data in self.answers:
                    conn.sendall(self.answers[data])
                if opcode == CLOSE:
                    return
        except (OSError, EOFError, StopIteration):
            return

    def drop(self) -> None:
        """End the connection from the server's side (a FIN, as a crashed server's kernel)."""
        if self._conn is not None:
            self._conn.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()
        if self._conn is not None:
            self._conn.close()
        self._thread.join(TIMEOUT)


@pytest.fixture
def answering() -> Iterator[RawServer]:
    server = RawServer(pong=True)
    yield server
    server.close()


@pytest.fixture
def silent() -> Iterator[RawServer]:
    server = RawServer(pong=False)
    yield server
    server.close()


def start(server: RawServer, **transport: float) -> tuple[Recorder, object]:
    client = Recorder(pa.Connect(server.url))
    options = pa.TransportOptions(**transport)  # type: ignore[arg-type]
    ref = pa.SocketActor.start(client, transport_options=options, heartbeat_interval=None)
    return client, ref


def test_pings_go_out_and_answered_ones_keep_the_connection(answering: RawServer) -> None:
    client, ref = start(answering, ping_interval=0.02, ping_timeout=0.01)
    try:
        client.wait("connected")
        assert [answering.opcodes.get(timeout=TIMEOUT) for _ in range(5)] == [PING] * 5
        assert [e[0] for e in client.events.snapshot()] == []  # still connected
    finally:
        ref.stop()  # type: ignore[attr-defined]


def test_a_missing_pong_closes_with_ping_timeout(silent: RawServer) -> None:
    client, ref = start(silent, ping_interval=0.02)
    try:
        client.wait("connected")
        assert silent.opcodes.get(timeout=TIMEOUT) == PING
        assert client.wait("disconnected")[1] == pa.PingTimeout(0.02)
    finally:
        ref.stop()  # type: ignore[attr-defined]


def test_no_pings_by_default(answering: RawServer) -> None:
    client, ref = start(answering)
    try:
        client.wait("connected")
        with pytest.raises(queue.Empty):
            answering.opcodes.get(timeout=0.1)
    finally:
        ref.stop()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"ping_interval": 0}, "ping_interval"),
        ({"ping_interval": True}, "ping_interval"),
        ({"ping_timeout": 1}, "ping_timeout needs"),
        ({"ping_interval": 1, "ping_timeout": 2}, "ping_timeout needs"),
    ],
)
def test_keepalive_options_are_checked(options: dict[str, float], match: str) -> None:
    with pytest.raises(pa.ConfigError, match=match):
        pa.TransportOptions(**options)  # type: ignore[arg-type]


def test_ping_timeout_describes_itself() -> None:
    assert pa.PingTimeout(2.0).describe() == "no pong to a websocket ping within 2.0 s"
