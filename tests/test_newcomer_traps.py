"""What a newcomer gets without configuring anything: callback errors on stderr, and a
script that ends even though it forgot to close its sockets. Each runs a script in a
fresh interpreter, against an embedded server in this process."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from phoenix_actor.testing import PhoenixServer
from tests.conftest import TIMEOUT

ROOT = Path(__file__).resolve().parent.parent


def run_script(source: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``source`` in a new interpreter; a test failure if it does not end in time."""
    command = [sys.executable, "-c", textwrap.dedent(source), *args]
    try:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=4 * TIMEOUT, cwd=ROOT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the script did not end within {4 * TIMEOUT} s: {exc.stderr!r}")


@pytest.fixture
def server() -> PhoenixServer:
    with PhoenixServer.with_defaults() as running:
        yield running  # type: ignore[misc]


def test_a_raising_callback_prints_its_traceback_with_logging_unconfigured(
    server: PhoenixServer,
) -> None:
    done = run_script(
        """
        import sys, threading
        import phoenix_actor as pa

        class Client(pa.SocketClient):
            def __init__(self):
                self.raised = threading.Event()

            def init(self):
                return pa.Connect(sys.argv[1])

            def handle_connected(self, conn):
                self.raised.set()
                raise RuntimeError("callback bug")

        client = Client()
        ref = pa.SocketActor.start(client)
        assert client.raised.wait(10)
        ref.stop()  # after the callback's error is logged
        """,
        server.url,
    )
    assert done.returncode == 0, done.stderr
    assert "Client.handle_connected raised RuntimeError: callback bug" in done.stderr
    assert "Traceback (most recent call last):" in done.stderr
    # Python 3.13 also prints the source line of code given with -c.
    assert re.search(
        r"line 14, in handle_connected\n(    .*\n)*RuntimeError: callback bug", done.stderr
    )


def test_a_script_that_forgets_to_close_its_sockets_still_ends(server: PhoenixServer) -> None:
    done = run_script(
        """
        import sys, threading
        import phoenix_actor as pa

        socket = pa.Socket(sys.argv[1], timeout=10)
        socket.join("echo:forgotten")

        class Client(pa.SocketClient):
            def init(self):
                return pa.Connect(sys.argv[1])

            def handle_connected(self, conn):
                connected.set()

        connected = threading.Event()
        raw = pa.SocketActor.start(Client())
        assert connected.wait(10)
        print("the end of the script")
        """,
        server.url,
    )
    assert (done.returncode, done.stdout) == (0, "the end of the script\n"), done.stderr
    assert done.stderr == ""  # nothing to complain about: INFO is not shown by default
    # Both websockets were closed, and the channel with them.
    server.wait_for_event(lambda e: e[:2] == ("terminate", "echo:forgotten"), TIMEOUT)
    connections = {event[1] for event in server.events if event[0] == "connect"}
    assert len(connections) == 2
    for conn_id in connections:
        server.wait_for_event(lambda e, c=conn_id: e == ("disconnect", c), TIMEOUT)


def test_the_exit_hook_leaves_closed_sockets_alone_and_stops_the_rest(
    server: PhoenixServer,
) -> None:
    done = run_script(
        """
        import sys, logging
        import phoenix_actor as pa
        from phoenix_actor._socket import exit as _exit

        logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
        closed = pa.Socket(sys.argv[1], timeout=10)
        closed.close()
        left = pa.Socket(sys.argv[1], timeout=10)
        left.wait_connected()
        """,
        server.url,
    )
    assert done.returncode == 0, done.stderr
    assert "phoenix_actor.socket stopping 1 socket(s) still running at exit" in done.stderr
