"""Unit-test your own SocketClient with no network, using the fake transport.

Run it with pytest (``pytest examples/test_handler_with_fake.py``) or as a script. The
``phoenix_fake`` fixture comes from phoenix_actor's pytest plugin; it is a
``phoenix_actor.testing.FakeConnector``: you play the server by hand, and every wait
has a timeout instead of a sleep.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

import phoenix_actor as pa
from phoenix_actor.testing import FakeConnector


class PriceWatcher(pa.SocketClient):
    """The handler under test: joins a ticker, asks for a quote, keeps the prices."""

    def __init__(self) -> None:
        self.prices: dict[str, float] = {}

    def init(self) -> pa.InitResult:
        return pa.Connect("wss://prices.example/socket/websocket", {"token": "secret"})

    def handle_connected(self, conn: pa.Connection) -> None:
        conn.join("ticker:ACME", {"currency": "EUR"})

    def handle_joined(self, topic: str, response: Any, conn: pa.Connection) -> None:
        conn.push(topic, "quote", {})

    def handle_reply(self, topic: str, ref: Any, payload: Any, conn: pa.Connection) -> None:
        if payload["status"] == "ok":
            self.prices[topic] = payload["response"]["price"]

    def handle_message(self, topic: str, event: str, payload: Any, conn: pa.Connection) -> None:
        if event == "price":
            self.prices[topic] = payload["price"]

    def handle_call(self, request: Any, caller: pa.Caller, conn: pa.Connection) -> pa.Reply:
        return pa.Reply(dict(self.prices))


def test_the_watcher_joins_quotes_and_follows_prices(phoenix_fake: FakeConnector) -> None:
    ref = pa.SocketActor.start(PriceWatcher(), transport_factory=phoenix_fake)
    try:
        server = phoenix_fake.next_connection()
        assert server.params == {"token": "secret", "vsn": "2.0.0"}
        server.accept()

        join = server.expect("phx_join", "ticker:ACME")
        assert join.payload == {"currency": "EUR"}
        server.refute("quote")  # it waits for the join to be accepted
        server.reply(join, "ok")

        quote = server.expect("quote", "ticker:ACME")
        assert quote.join_ref == join.join_ref
        server.reply(quote, "ok", {"price": 10.5})
        server.push("ticker:ACME", "price", {"price": 11.0}, join_ref=join.join_ref)

        assert pa.call(ref, "prices") == {"ticker:ACME": 11.0}
    finally:
        ref.stop()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
