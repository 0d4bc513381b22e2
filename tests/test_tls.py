"""TLS against the embedded server with a CA made at test time, and HTTP CONNECT proxies.

Verification is on by default (websocket-client's default with no ``sslopt``): a
server whose CA the client does not know is refused with ``ConnectFailed("tls", ...)``
carrying OpenSSL's verification message. The proxy tests run a tiny CONNECT proxy on
port 0 and check what websocket-client asked it for.
"""

from __future__ import annotations

import base64
import queue
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

import phoenix_actor as pa
from phoenix_actor.testing import PhoenixServer, TestSocket
from phoenix_actor.testing._server.auth import ConnectInfo
from tests.conftest import TIMEOUT


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def server_context(ca: trustme.CA, *names: str, client_certs: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    if client_certs:
        context.verify_mode = ssl.CERT_REQUIRED
        ca.configure_trust(context)
    return context


@pytest.fixture
def wss_server(ca: trustme.CA) -> Iterator[PhoenixServer]:
    context = server_context(ca, "127.0.0.1", "localhost")
    with PhoenixServer.with_defaults(ssl_context=context) as running:
        yield running


def connect_status(url: str, options: pa.TransportOptions) -> object:
    with TestSocket(url, timeout=TIMEOUT, transport_options=options) as sock:
        return sock.wait_connect_status()


# -- verification ----------------------------------------------------------------------


def test_the_server_url_is_wss(wss_server: PhoenixServer) -> None:
    assert wss_server.url == f"wss://127.0.0.1:{wss_server.port}/socket/websocket"


def test_an_unknown_ca_is_refused_by_default(wss_server: PhoenixServer) -> None:
    reason = connect_status(wss_server.url, pa.TransportOptions())
    assert reason == pa.ConnectFailed(
        "tls", "certificate verify failed: unable to get local issuer certificate"
    )
    assert not any(event[0] == "connect" for event in wss_server.events.snapshot())


def test_the_right_ca_file_connects_and_carries_channels(
    wss_server: PhoenixServer, ca_file: Path
) -> None:
    options = pa.TransportOptions(ca_file=ca_file)
    with TestSocket(wss_server.url, timeout=TIMEOUT, transport_options=options) as sock:
        assert sock.wait_connect_status() == "connected"
        sock.join("echo:tls")
        reply = sock.push_sync("echo:tls", "echo", {"over": "tls"})
        assert reply == {"status": "ok", "response": {"over": "tls"}}


def test_a_host_name_mismatch_is_refused(ca: trustme.CA, ca_file: Path) -> None:
    context = server_context(ca, "elsewhere.example")
    with PhoenixServer.with_defaults(ssl_context=context) as server:
        reason = connect_status(server.url, pa.TransportOptions(ca_file=str(ca_file)))
    assert isinstance(reason, pa.ConnectFailed)
    assert reason.kind == "tls"
    assert reason.error.startswith("certificate verify failed: IP address mismatch")


def test_an_ssl_context_is_used_as_given(wss_server: PhoenixServer, ca: trustme.CA) -> None:
    context = ssl.create_default_context()
    assert connect_status(wss_server.url, pa.TransportOptions(ssl_context=context)) != "connected"
    ca.configure_trust(context)
    assert connect_status(wss_server.url, pa.TransportOptions(ssl_context=context)) == "connected"


def test_websocket_client_sslopt_still_works(wss_server: PhoenixServer, ca_file: Path) -> None:
    options = pa.TransportOptions(sslopt={"ca_certs": str(ca_file)})
    assert connect_status(wss_server.url, options) == "connected"


def test_a_missing_ca_file_is_a_config_failure(wss_server: PhoenixServer, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    reason = connect_status(wss_server.url, pa.TransportOptions(ca_file=missing))
    assert isinstance(reason, pa.ConnectFailed)
    assert reason.kind == "config"
    assert reason.error.startswith(f"cannot load ca_file {str(missing)!r}:")


def test_tls_options_are_ignored_for_ws_urls(tmp_path: Path) -> None:
    with PhoenixServer.with_defaults() as server:
        options = pa.TransportOptions(ca_file=tmp_path / "never-read.pem")
        assert connect_status(server.url, options) == "connected"


# -- client certificates ---------------------------------------------------------------


@pytest.fixture
def client_files(ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path]:
    issued = ca.issue_cert("client.example")
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    return cert, key


def test_a_client_certificate_is_presented_and_seen_by_connect(
    ca: trustme.CA, ca_file: Path, client_files: tuple[Path, Path]
) -> None:
    seen: list[ConnectInfo] = []

    def connect(params: dict[str, str], headers: dict[str, str], info: ConnectInfo) -> bool:
        seen.append(info)
        return True

    context = server_context(ca, "127.0.0.1", client_certs=True)
    with PhoenixServer.with_defaults(ssl_context=context, connect=connect) as server:
        cert, key = client_files
        options = pa.TransportOptions(ca_file=ca_file, client_cert=cert, client_key=key)
        assert connect_status(server.url, options) == "connected"
    assert seen[0].tls
    assert seen[0].peer_cert is not None
    assert seen[0].peer_cert["subjectAltName"] == (("DNS", "client.example"),)


def test_no_client_certificate_is_a_tls_failure(ca: trustme.CA, ca_file: Path) -> None:
    context = server_context(ca, "127.0.0.1", client_certs=True)
    # Under TLS 1.3 the client's handshake ends before the server asks for its
    # certificate, so the refusal comes as an alert or, by timing, as a reset ("os"; on
    # Python 3.13 about half the time). Under TLS 1.2 it is part of the handshake.
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with PhoenixServer.with_defaults(ssl_context=context) as server:
        reason = connect_status(server.url, pa.TransportOptions(ca_file=ca_file))
    assert isinstance(reason, pa.ConnectFailed)
    assert reason.kind == "tls"


def test_cert_and_key_in_one_file(
    ca: trustme.CA, ca_file: Path, client_files: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = client_files
    both = tmp_path / "both.pem"
    both.write_bytes(key.read_bytes() + cert.read_bytes())
    context = server_context(ca, "127.0.0.1", client_certs=True)
    with PhoenixServer.with_defaults(ssl_context=context) as server:
        options = pa.TransportOptions(ca_file=ca_file, client_cert=both)
        assert connect_status(server.url, options) == "connected"


def test_an_unreadable_client_key_is_a_config_failure(
    wss_server: PhoenixServer, ca_file: Path, tmp_path: Path
) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    reason = connect_status(wss_server.url, pa.TransportOptions(ca_file=ca_file, client_cert=bogus))
    assert isinstance(reason, pa.ConnectFailed)
    assert reason.kind == "config"
    assert reason.error.startswith(f"cannot load client_cert {str(bogus)!r}:")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"client_key": "k.pem"}, "client_key needs client_cert"),
        ({"client_key_password": "pw"}, "client_key_password needs client_cert"),
        ({"ssl_context": ssl.create_default_context(), "ca_file": "ca.pem"}, "excludes ca_file"),
        ({"ssl_context": ssl.create_default_context(), "sslopt": {"x": 1}}, "excludes sslopt"),
        ({"sslopt": {"ca_certs": "a"}, "client_cert": "c.pem"}, "sslopt excludes client_cert"),
        ({"ssl_context": "yes"}, "ssl_context must be an ssl.SSLContext, not str"),
        ({"ca_file": 3}, "ca_file must be a path, not int"),
    ],
)
def test_tls_option_combinations_are_checked(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(pa.ConfigError, match=match):
        pa.TransportOptions(**kwargs)  # type: ignore[arg-type]


def test_turning_verification_off_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with caplog.at_level("WARNING", logger="phoenix_actor"):
        pa.TransportOptions(ssl_context=context)
        pa.TransportOptions(sslopt={"cert_reqs": ssl.CERT_NONE})
    assert [r.getMessage() for r in caplog.records] == [
        "ssl_context does not verify certificates: use it only for tests",
        "sslopt turns certificate verification off: use it only for tests",
    ]


# -- HTTP proxy ------------------------------------------------------------------------


class ConnectProxy:
    """An HTTP CONNECT proxy on port 0: records each request head, then tunnels (or
    answers ``refuse`` instead)."""

    def __init__(self, refuse: bytes | None = None) -> None:
        self.refuse = refuse
        self.requests: queue.Queue[str] = queue.Queue()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._track(client)
            self._spawn(self._tunnel, client)

    def _tunnel(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        request, _, early = head.partition(b"\r\n\r\n")
        self.requests.put(request.decode("latin-1"))
        if self.refuse is not None:
            client.sendall(self.refuse)
            client.shutdown(socket.SHUT_RDWR)
            return
        host, _, port = request.split()[1].decode().rpartition(":")
        upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=TIMEOUT)
        upstream.settimeout(None)
        self._track(upstream)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if early:
            upstream.sendall(early)
        self._spawn(self._pipe, upstream, client)
        self._pipe(client, upstream)

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        try:
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def next_request(self) -> str:
        return self.requests.get(timeout=TIMEOUT)

    def close(self) -> None:
        for sock in [self.listener, *self._sockets]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(TIMEOUT)
        for sock in [self.listener, *self._sockets]:
            sock.close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectProxy]:
    for name in ("no_proxy", "NO_PROXY"):  # a CI's no_proxy=127.0.0.1 would bypass it
        monkeypatch.delenv(name, raising=False)
    running = ConnectProxy()
    yield running
    running.close()


def test_an_http_proxy_tunnels_ws_with_credentials(proxy: ConnectProxy) -> None:
    with PhoenixServer.with_defaults() as server:
        options = pa.TransportOptions(proxy=f"http://user:p%40ss@127.0.0.1:{proxy.port}")
        with TestSocket(server.url, timeout=TIMEOUT, transport_options=options) as sock:
            assert sock.wait_connect_status() == "connected"
            sock.join("echo:proxied")
        request = proxy.next_request()
    lines = request.split("\r\n")
    assert lines[0] == f"CONNECT 127.0.0.1:{server.port} HTTP/1.1"
    expected = base64.b64encode(b"user:p@ss").decode()
    assert f"Proxy-Authorization: Basic {expected}" in lines


def test_wss_goes_through_the_proxy_tunnel(
    proxy: ConnectProxy, wss_server: PhoenixServer, ca_file: Path
) -> None:
    options = pa.TransportOptions(proxy=f"http://127.0.0.1:{proxy.port}", ca_file=ca_file)
    assert connect_status(wss_server.url, options) == "connected"
    assert proxy.next_request().startswith(f"CONNECT 127.0.0.1:{wss_server.port} HTTP/1.1")


def test_no_proxy_hosts_are_reached_directly(proxy: ConnectProxy) -> None:
    with PhoenixServer.with_defaults() as server:
        options = pa.TransportOptions(
            proxy=f"http://127.0.0.1:{proxy.port}", no_proxy=("127.0.0.1",)
        )
        assert connect_status(server.url, options) == "connected"
    assert proxy.requests.empty()


def test_a_proxy_refusal_is_a_proxy_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    refusing = ConnectProxy(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
    try:
        options = pa.TransportOptions(proxy=f"http://127.0.0.1:{refusing.port}")
        reason = connect_status("ws://127.0.0.1:9/socket/websocket", options)
    finally:
        refusing.close()
    assert reason == pa.ConnectFailed("proxy", "failed CONNECT via proxy status: 407")


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("ftp://h:1", "must start with one of http://"),
        ("http://h", "needs a host and a port"),
        ("http://:8080", "needs a host and a port"),
        ("http://h:99999", "invalid proxy URL"),
        ("http://h:1/path", "must not have a path"),
    ],
)
def test_bad_proxy_urls_are_config_errors(url: str, match: str) -> None:
    with pytest.raises(pa.ConfigError, match=match):
        pa.TransportOptions(proxy=url)


def test_proxy_and_extra_proxy_keys_exclude_each_other() -> None:
    with pytest.raises(pa.ConfigError, match="proxy excludes extra http_proxy_host"):
        pa.TransportOptions(proxy="http://h:1", extra={"http_proxy_host": "h"})
