"""Pytest fixtures for testing code that uses phoenix_actor (a ``pytest11`` plugin).

Installed with the package and loaded by pytest automatically:

* ``phoenix_fake``: a :class:`FakeConnector`; pass it as ``transport_factory`` and
  play the server by hand, with no network.
* ``phoenix_server``: a started :class:`PhoenixServer` on a free port with the demo
  app (``echo:*`` and ``room:*`` channels); stopped after the test. Needs the
  ``server`` extra; the test is skipped with a reason without it.
* ``phoenix_test_socket``: a factory of :class:`TestSocket` objects connected to
  ``phoenix_server`` (keyword arguments go to ``TestSocket``), stopped after the test.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from phoenix_actor.testing._fake import FakeConnector
from phoenix_actor.testing._server.server import PhoenixServer
from phoenix_actor.testing._test_socket import TestSocket


@pytest.fixture
def phoenix_fake() -> FakeConnector:
    """A fake transport factory: each connection attempt becomes a FakeConnection."""
    return FakeConnector()


@pytest.fixture
def phoenix_server() -> Iterator[PhoenixServer]:
    """An embedded Phoenix server with the demo app, on a free loopback port."""
    if importlib.util.find_spec("websockets") is None:
        pytest.skip(
            "the embedded server needs the 'server' extra (pip install phoenix_actor[server])"
        )
    with PhoenixServer(demo=True) as server:
        yield server


@pytest.fixture
def phoenix_test_socket(phoenix_server: PhoenixServer) -> Iterator[Callable[..., TestSocket]]:
    """Make TestSockets connected to ``phoenix_server``; all are stopped afterwards."""
    sockets: list[TestSocket] = []

    def make(params: Any = None, **options: Any) -> TestSocket:
        sock = TestSocket(phoenix_server.url, params, **options)
        sockets.append(sock)
        return sock

    yield make
    for sock in sockets:
        sock.stop()
