"""Credentials never show: not in log records (any logger, DEBUG), reprs or messages.

One scenario connects with a secret query param, a secret header, the Phoenix 1.8 auth
token and a proxy password, through accepted, closed, dropped, refused and failed
attempts, with every logger at DEBUG (the embedded server's websockets handshake log
included); then every record, reason and repr is searched for each secret in every
form it travels in (plain, base64, the subprotocol entry, Basic auth).
"""

from __future__ import annotations

import base64
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import phoenix_actor as pa
from phoenix_actor._protocol.auth_token import encode_auth_token
from phoenix_actor._protocol.url import (
    build_url,
    check_url,
    param_pairs,
    redact_url,
    resolve_params,
)
from phoenix_actor.testing import PhoenixServer, TestSocket
from phoenix_actor.testing._server.auth import ConnectInfo, Handshake
from tests.conftest import TIMEOUT
from tests.faults import HostileServer
from tests.test_tls import ConnectProxy

PARAM = "param-secret-1357"
HEADER = "header-secret-2468"
TOKEN = "token-secret-9753"
PROXY_PASSWORD = "proxy-secret-8642"


def secret_forms() -> list[str]:
    """Every spelling of a secret that could end up in text."""
    forms = [PARAM, HEADER, TOKEN, PROXY_PASSWORD]
    forms.append(encode_auth_token(TOKEN))
    forms.append(base64.b64encode(TOKEN.encode()).decode().rstrip("="))
    forms.append(base64.b64encode(f"user:{PROXY_PASSWORD}".encode()).decode())
    return forms


def assert_clean(texts: list[str]) -> None:
    for text in texts:
        for secret in secret_forms():
            assert secret not in text, f"{secret!r} leaked in: {text[:300]!r}"


def record_texts(records: list[logging.LogRecord]) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return [formatter.format(record) for record in records]


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectProxy]:
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    running = ConnectProxy()
    yield running
    running.close()


def test_no_secret_in_any_log_record_or_reason(
    caplog: pytest.LogCaptureFixture, proxy: ConnectProxy
) -> None:
    accepting = [True]
    seen: list[ConnectInfo] = []

    def connect(params: dict[str, str], headers: dict[str, str], info: ConnectInfo) -> bool:
        seen.append(info)
        return (
            accepting[0]
            and params.get("token") == PARAM
            and headers.get("authorization") == f"Bearer {HEADER}"
            and info.auth_token == TOKEN
        )

    tokens: list[Any] = [TOKEN, TOKEN, TOKEN, RuntimeError("token refresh failed")]

    def auth_token() -> str:
        answer = tokens.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    options = pa.TransportOptions(
        headers=lambda: {"Authorization": f"Bearer {HEADER}"},
        auth_token=auth_token,
        proxy=f"http://user:{PROXY_PASSWORD}@127.0.0.1:{proxy.port}",
        connect_timeout=TIMEOUT,
    )
    reasons: list[object] = []
    caplog.set_level(logging.DEBUG)
    with (
        PhoenixServer.with_defaults(connect=connect) as server,
        TestSocket(
            server.url, lambda: {"token": PARAM}, timeout=TIMEOUT, transport_options=options
        ) as sock,
    ):
        assert sock.wait_connect_status() == "connected"
        sock.join("echo:secret")
        server.close_all(1000)
        reasons.append(sock.wait_connect_status())
        sock.connect()  # reconnect: every callable is called again
        assert sock.wait_connect_status() == "connected"
        server.kill_all()
        reasons.append(sock.wait_connect_status())
        accepting[0] = False
        sock.connect()
        reasons.append(sock.wait_connect_status())  # refused with 403
        sock.connect()
        reasons.append(sock.wait_connect_status())  # the token callable raised
        sock.connect()
        reasons.append(sock.wait_connect_status())  # ... and now its list is empty
    assert [type(r) for r in reasons] == [
        pa.RemoteClosed,
        pa.ConnectionLost,
        pa.HandshakeRejected,
        pa.ConnectFailed,
        pa.ConnectFailed,
    ]
    assert len(seen) == 3
    texts = record_texts(caplog.records)
    # The scenario really logged what would leak: the URL, handshake headers, failures.
    joined = "\n".join(texts)
    assert "token=***&vsn=2.0.0" in joined
    assert "< Authorization: ***" in joined
    assert "< Sec-WebSocket-Protocol: ***" in joined
    assert "the auth_token callable raised RuntimeError" in joined
    assert_clean(texts)
    assert_clean([repr(r) for r in reasons] + [r.describe() for r in reasons])  # type: ignore[attr-defined]
    assert_clean([repr(options), str(options), repr(seen[0])])


def test_reprs_hide_credentials() -> None:
    options = pa.TransportOptions(
        headers={"Authorization": f"Bearer {HEADER}", "X-Api-Key": PARAM},
        auth_token=TOKEN,
        proxy=f"http://user:{PROXY_PASSWORD}@proxy.example:3128",
        client_cert="/etc/client.pem",
        client_key_password=PROXY_PASSWORD,
        sslopt={},
        extra={"http_proxy_timeout": 3},
    )
    shown = repr(options)
    assert_clean([shown])
    assert "'Authorization', 'X-Api-Key'" in shown
    assert "auth_token=<hidden>" in shown
    assert "proxy='http://***@proxy.example:3128'" in shown
    assert "client_key_password=<hidden>" in shown
    callables = pa.TransportOptions(headers=dict, auth_token=lambda: TOKEN)
    assert "headers=<callable>, auth_token=<callable>" in repr(callables)
    info = ConnectInfo(TOKEN, ("phoenix",), True, {"subject": ()})
    assert repr(info) == (
        "ConnectInfo(auth_token=<hidden>, subprotocols=('phoenix',), tls=True, "
        "peer_cert=<certificate>)"
    )
    handshake = Handshake(("phoenix", encode_auth_token(TOKEN)))
    assert_clean([repr(handshake)])
    assert_clean([repr(pa.Connect("ws://h/x", {"token": PARAM}))])


def test_error_messages_name_keys_and_types_never_values() -> None:
    messages: list[str] = []
    attempts: list[Any] = [
        lambda: param_pairs(f"token={PARAM}"),  # type: ignore[arg-type]
        lambda: param_pairs([("token", PARAM, "x")]),  # type: ignore[list-item]
        lambda: param_pairs([["token", PARAM]]),  # type: ignore[list-item]
        lambda: resolve_params(lambda: [("token", PARAM, 1)]),  # type: ignore[list-item,return-value]
        lambda: check_url(f"ws://h/socket/websocket?token={PARAM}"),
        lambda: check_url(f"ws://user:{PROXY_PASSWORD}@h:nope/x"),
        lambda: check_url(f"https://user:{PROXY_PASSWORD}@h/x?token={PARAM}"),
        lambda: check_url(f"ws://user:{PROXY_PASSWORD}@h/x#{PARAM}"),
        lambda: pa.TransportOptions(headers={"Authorization": f"Bearer {HEADER}\r\n"}),
        lambda: pa.TransportOptions(headers={"Authorization": HEADER.encode()}),  # type: ignore[dict-item]
        lambda: pa.TransportOptions(proxy=f"ftp://user:{PROXY_PASSWORD}@h:1"),
        lambda: pa.TransportOptions(proxy=f"http://user:{PROXY_PASSWORD}@h"),
        lambda: pa.TransportOptions(subprotocols=(encode_auth_token(TOKEN),)),
    ]
    for attempt in attempts:
        with pytest.raises(pa.ConfigError) as info:
            attempt()
        messages.append(str(info.value))
    assert_clean(messages)


def test_redact_url_hides_query_values_and_user_info() -> None:
    url = build_url(f"wss://user:{PROXY_PASSWORD}@h/socket/websocket", [("token", PARAM)], "2.0.0")
    assert redact_url(url) == "wss://***@h/socket/websocket?token=***&vsn=2.0.0"


@pytest.mark.parametrize("which", ["params", "headers", "auth_token"])
def test_a_credential_callable_that_raises_is_reported_by_type_only(
    which: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Its exception's message may quote the credential: no reason or record shows it."""
    secret = {"params": PARAM, "headers": HEADER, "auth_token": TOKEN}[which]

    def broken() -> Any:
        raise RuntimeError(f"could not refresh {secret}")

    params = broken if which == "params" else None
    options = pa.TransportOptions(**({} if which == "params" else {which: broken}))
    caplog.set_level(logging.DEBUG)
    with TestSocket("ws://127.0.0.1:9/socket/websocket", params, transport_options=options) as sock:
        reason = sock.wait_connect_status()
    assert reason == pa.ConnectFailed("config", f"the {which} callable raised RuntimeError")
    texts = record_texts(caplog.records)
    assert any(f"the {which} callable raised RuntimeError" in text for text in texts)
    assert_clean([*texts, repr(reason), reason.describe()])  # type: ignore[union-attr]


def test_a_refusal_that_echoes_the_request_shows_no_credential(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The body and headers of a refusal stay out of its repr, describe() and the logs;
    ``.body`` and ``.headers`` still hold them for code that asks."""

    def echo(conn: socket.socket, _stop: threading.Event) -> None:
        request = server.request
        conn.sendall(
            b"HTTP/1.1 400 Bad Request\r\nX-Echo: %s\r\nContent-Length: %d\r\n\r\n%s"
            % (request.split(b"\r\n")[0], len(request), request)
        )

    options = pa.TransportOptions(headers={"Authorization": f"Bearer {HEADER}"}, auth_token=TOKEN)
    caplog.set_level(logging.DEBUG)
    with (
        HostileServer(echo) as server,
        TestSocket(server.url(), {"token": PARAM}, transport_options=options) as sock,
    ):
        reason = sock.wait_connect_status()
    assert isinstance(reason, pa.HandshakeRejected)
    assert reason.status == 400
    assert HEADER.encode() in reason.body  # there for whoever asks
    assert PARAM in reason.headers["x-echo"]
    assert repr(reason) == "HandshakeRejected(status=400)"
    assert_clean([*record_texts(caplog.records), repr(reason), str(reason), reason.describe()])
