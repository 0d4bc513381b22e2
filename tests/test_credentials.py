"""Credentials that change: every connect and reconnect calls the callables again."""

from __future__ import annotations

import itertools
from typing import Any

import phoenix_actor as pa
from phoenix_actor.testing import FakeConnector
from tests.test_socket_actor import URL, Recorder


def test_each_reconnect_sends_fresh_params_headers_and_token(connector: FakeConnector) -> None:
    counter = itertools.count(1)
    issued: list[int] = []

    def fresh() -> str:
        n = next(counter)
        issued.append(n)
        return f"token-{n}"

    options = pa.TransportOptions(
        auth_token=fresh, headers=lambda: {"Authorization": f"Bearer h{len(issued)}"}
    )
    client = Recorder(
        pa.Connect(URL, lambda: {"session": str(len(issued))}),
        disconnected=lambda _r: pa.Reconnect(),
    )
    ref = pa.SocketActor.start(
        client, transport_factory=connector, transport_options=options, reconnect_after=[0.0]
    )
    try:
        seen: list[tuple[Any, ...]] = []
        for _ in range(3):
            attempt = connector.next_connection()
            seen.append(
                (attempt.auth_token, attempt.headers["Authorization"], attempt.params["session"])
            )
            attempt.refuse(pa.HandshakeRejected(500))
        # params, then headers, then the token: each called once per attempt
        assert seen == [
            ("token-1", "Bearer h0", "0"),
            ("token-2", "Bearer h1", "1"),
            ("token-3", "Bearer h2", "2"),
        ]
    finally:
        ref.stop()


def test_a_failing_credential_callable_is_a_config_failure_and_retried(
    connector: FakeConnector,
) -> None:
    calls = itertools.count()

    def flaky() -> str:
        if next(calls) == 0:
            raise RuntimeError("vault unavailable: secret-value")
        return "good"

    options = pa.TransportOptions(auth_token=flaky)
    client = Recorder(pa.Connect(URL), disconnected=lambda _r: pa.Reconnect())
    ref = pa.SocketActor.start(
        client, transport_factory=connector, transport_options=options, reconnect_after=[0.0]
    )
    try:
        failed = connector.next_connection()
        assert failed.failed is not None
        reason = client.wait("disconnected")[1]
        assert isinstance(reason, pa.ConnectFailed)
        assert reason.kind == "config"
        retry = connector.next_connection()
        assert retry.auth_token == "good"
        retry.accept()
        client.wait("connected")
    finally:
        ref.stop()
