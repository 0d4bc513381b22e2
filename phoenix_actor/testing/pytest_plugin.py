"""Pytest fixtures for testing code that uses phoenix_actor (a ``pytest11`` plugin).

Installed with the package and loaded by pytest automatically:

* ``phoenix_fake``: a :class:`FakeConnector`; pass it as ``transport_factory`` and
  play the server by hand, with no network.
* ``phoenix_server``: a started :class:`PhoenixServer` on a free port with the demo
  app (``echo:*`` and ``room:*`` channels); stopped after the test. Needs the
  ``server`` extra; the test is skipped with a reason without it.
* ``phoenix_test_socket``: a factory of :class:`TestSocket` objects connected to
  ``phoenix_server`` (keyword arguments go to ``TestSocket``), stopped after the test.

And, for every test, without being asked: a socket the test started and left running
(a ``Socket``, ``AsyncSocket``, ``TestSocket`` or ``SocketActor`` not closed) is
stopped after it, and reported with a :class:`LeakedSocketWarning`, so that the run
does not hang after its last test. Make the warning an error to fail such tests:
``filterwarnings = error::phoenix_actor.testing.LeakedSocketWarning``.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pykka
import pytest

from phoenix_actor._socket.actor import SocketActor
from phoenix_actor.testing._fake import FakeConnector
from phoenix_actor.testing._leaks import LeakedSocketWarning
from phoenix_actor.testing._server.server import PhoenixServer
from phoenix_actor.testing._test_socket import TestSocket

#: Seconds to wait for each leaked socket to stop.
LEAK_STOP_TIMEOUT = 5.0


def _running_sockets() -> set[pykka.ActorRef[Any]]:
    return {ref for ref in pykka.ActorRegistry.get_by_class(SocketActor) if ref.is_alive()}


def _describe(ref: pykka.ActorRef[Any]) -> str:
    name = ref.actor_class.__name__
    return "Socket" if name == "_FacadeActor" else name


@pytest.fixture(autouse=True)
def _phoenix_stop_leaked_sockets() -> Iterator[None]:
    """After each test, stop the sockets it started and left running, and warn."""
    before = _running_sockets()
    yield
    leaked = _running_sockets() - before
    if not leaked:
        return
    for ref in leaked:
        try:
            ref.stop(block=True, timeout=LEAK_STOP_TIMEOUT)
        except (pykka.ActorDeadError, pykka.Timeout):
            pass  # stopped meanwhile, or stuck: reported all the same
    names = ", ".join(sorted(_describe(ref) for ref in leaked))
    warnings.warn(
        f"the test left {len(leaked)} socket(s) running ({names}); phoenix_actor's pytest "
        "plugin stopped them. Close each socket (socket.close(), ref.stop()) in the test, "
        "with a with-block or a fixture.",
        LeakedSocketWarning,
        stacklevel=1,
    )


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
