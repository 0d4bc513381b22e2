"""``phoenix-actor connect``, run in a subprocess against an embedded server.

The subprocess's stdout and stderr are read line by line by two threads into queues,
so every wait has a timeout and nothing sleeps.
"""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import pytest

import phoenix_actor as pa
from phoenix_actor.__main__ import main
from phoenix_actor.testing import ConnectInfo, PhoenixServer
from tests.conftest import TIMEOUT

ROOT = Path(__file__).resolve().parent.parent


class Cli:
    """``python -m phoenix_actor connect ARGS`` with its output lines on queues."""

    def __init__(self, *args: str, stdin: bool = False) -> None:
        command = [sys.executable, "-m", "phoenix_actor", "connect", *args]
        command.append("--stdin" if stdin else "--no-stdin")
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            cwd=ROOT,
        )
        self._out: queue.Queue[str | None] = queue.Queue()
        self._err: queue.Queue[str | None] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self._out)),
            threading.Thread(target=self._read, args=(self.proc.stderr, self._err)),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[str] | None, lines: queue.Queue[str | None]) -> None:
        assert stream is not None
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def __enter__(self) -> Cli:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(TIMEOUT)
        for reader in self._readers:
            reader.join(TIMEOUT)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def line(self) -> str:
        """The next stdout line (a test failure if none comes in time)."""
        try:
            text = self._out.get(timeout=2 * TIMEOUT)
        except queue.Empty:
            pytest.fail(f"no stdout line within {2 * TIMEOUT} s")
        assert text is not None, "stdout ended early"
        return text

    def error_line(self) -> str:
        """The next stderr line."""
        text = self._err.get(timeout=2 * TIMEOUT)
        assert text is not None, "stderr ended early"
        return text

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def finish(self) -> tuple[int, list[str], str]:
        """Wait for the exit: the status, the stdout lines not read yet, all of stderr left."""
        code = self.proc.wait(2 * TIMEOUT)
        for reader in self._readers:
            reader.join(TIMEOUT)
        out = list(iter(self._out.get_nowait, None))
        err = "\n".join(iter(self._err.get_nowait, None))
        return code, out, err


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@pytest.fixture
def server() -> Iterator[PhoenixServer]:
    with PhoenixServer.with_defaults() as running:
        yield running


def test_joins_pushes_and_prints_each_event_as_one_json_line() -> None:
    seen: list[tuple[dict[str, str], dict[str, str], ConnectInfo]] = []

    def connect(params: dict[str, str], headers: dict[str, str], info: ConnectInfo) -> bool:
        seen.append((params, headers, info))
        return True

    with PhoenixServer(demo=True, connect=connect) as server:
        args = [server.url, "--param", "user=ada", "--param", "token=s3cret"]
        args += ["--header", "X-Api-Key: h3ader", "--auth-token", "t0ken", "-v"]
        args += ["--join", 'echo:a={"x": 1}', "--push", 'echo:a echo {"text": "hi"}']
        args += ["--push", 'echo:a binary {"bytes": [0, 1, 255]}']
        args += ["--push", 'echo:a burst {"n": 2}', "--count", "2"]
        with Cli(*args) as cli:
            lines = [cli.line() for _ in range(6)]
            code, rest, err = cli.finish()
    url = f"{server.url}?user=***&token=***&vsn=2.0.0"
    assert lines == [
        '{"type":"connected","url":"' + url + '"}',
        '{"type":"joined","topic":"echo:a","response":{"joined":"echo:a","payload":{"x":1}}}',
        '{"type":"reply","topic":"echo:a","ref":2,"status":"ok","response":{"text":"hi"}}',
        '{"type":"reply","topic":"echo:a","ref":3,"status":"ok","response":{"binary":"AAH/"}}',
        '{"type":"message","topic":"echo:a","event":"burst","payload":{"i":1}}',
        '{"type":"message","topic":"echo:a","event":"burst","payload":{"i":2}}',
    ]
    assert (code, rest) == (0, [])  # --count 2: nothing after the second message
    assert f"connecting to {url}" in err  # -v shows the library's INFO log
    for secret in ("s3cret", "h3ader", "t0ken"):
        assert secret not in err
    ((params, headers, info),) = seen
    assert params == {"user": "ada", "token": "s3cret", "vsn": "2.0.0"}
    assert headers["x-api-key"] == "h3ader"
    assert info.auth_token == "t0ken"


def test_stdin_lines_are_pushed_joined_and_left_and_a_bad_line_is_skipped(
    server: PhoenixServer,
) -> None:
    with Cli(server.url, "--join", "echo:b", stdin=True) as cli:
        assert json.loads(cli.line())["type"] == "connected"
        assert json.loads(cli.line())["type"] == "joined"
        cli.send('{"topic": "echo:b", "event": "echo", "payload": {"n": 1}}')
        assert cli.line() == compact(
            {"type": "reply", "topic": "echo:b", "ref": 2, "status": "ok", "response": {"n": 1}}
        )
        cli.send('{"topic": "echo:b", "event": "echo", "payload": {"token": "x"')
        assert cli.error_line() == (
            "phoenix-actor: stdin line 2: not JSON (Expecting ',' delimiter: "
            "line 1 column 62 (char 61)); skipped"
        )
        cli.send('{"topic": "echo:c", "event": "phx_join"}')
        assert cli.line() == compact(
            {"type": "joined", "topic": "echo:c", "response": {"joined": "echo:c", "payload": {}}}
        )
        cli.send('{"topic": "echo:b", "event": "phx_leave"}')
        assert cli.line() == compact(
            {"type": "reply", "topic": "echo:b", "ref": 4, "status": "ok", "response": {}}
        )
        assert cli.line() == compact({"type": "channel_closed", "topic": "echo:b", "payload": {}})
        cli.close_stdin()  # EOF: every reply is in, so the run ends
        code, rest, err = cli.finish()
    assert (code, rest, err) == (1, [], "")  # the bad line 2 makes the status 1


def test_protocol_v1_and_the_end_of_stdin_right_after_the_pushes(server: PhoenixServer) -> None:
    args = ["--vsn", "1.0.0", "--join", "echo:v", "--push", 'echo:v echo {"a": 1}']
    with Cli(server.url, *args, stdin=True) as cli:
        cli.close_stdin()  # nothing to push: the run ends once the --push reply is in
        code, out, err = cli.finish()
    assert (code, err) == (0, "")
    assert out == [
        compact({"type": "connected", "url": f"{server.url}?vsn=1.0.0"}),
        compact(
            {"type": "joined", "topic": "echo:v", "response": {"joined": "echo:v", "payload": {}}}
        ),
        compact(
            {"type": "reply", "topic": "echo:v", "ref": 2, "status": "ok", "response": {"a": 1}}
        ),
    ]
    first = server.received.wait_for(lambda frame: True)
    assert isinstance(first.data, str)
    assert json.loads(first.data)["event"] == "phx_join"  # v1 frames are JSON objects


def test_a_dropped_connection_is_reported_reconnected_and_rejoined(
    server: PhoenixServer,
) -> None:
    if sys.platform == "win32":
        pytest.skip("sends SIGINT")
    with Cli(server.url, "--join", "echo:r") as cli:
        assert json.loads(cli.line())["type"] == "connected"
        assert json.loads(cli.line())["type"] == "joined"
        server.close_all(1000)
        assert cli.line() == compact(
            {
                "type": "disconnected",
                "kind": "RemoteClosed",
                "reason": "server closed the connection with code 1000",
                "code": 1000,
                "reconnect": True,
            }
        )
        assert cli.line() == compact({"type": "reconnected", "url": f"{server.url}?vsn=2.0.0"})
        assert json.loads(cli.line()) == {
            "type": "joined",
            "topic": "echo:r",
            "response": {"joined": "echo:r", "payload": {}},
        }
        cli.proc.send_signal(signal.SIGINT)
        code, rest, err = cli.finish()
    assert (code, rest, err) == (130, [], "phoenix-actor: interrupted")


def test_no_reconnect_ends_with_status_7_when_the_server_closes(server: PhoenixServer) -> None:
    with Cli(server.url, "--join", "echo:n", "--no-reconnect") as cli:
        assert json.loads(cli.line())["type"] == "connected"
        assert json.loads(cli.line())["type"] == "joined"
        server.close_all(1000)
        assert json.loads(cli.line())["reconnect"] is False
        code, rest, err = cli.finish()
    assert (code, rest) == (7, [])
    assert err == (
        f"phoenix-actor: error: the connection to {server.url}?vsn=2.0.0 ended: "
        "server closed the connection with code 1000"
    )


def test_duration_ends_the_run_and_binary_payloads_print_as_base64(
    server: PhoenixServer,
) -> None:
    with Cli(server.url, "--join", "echo:d", "--duration", str(TIMEOUT / 4)) as cli:
        assert json.loads(cli.line())["type"] == "connected"
        assert json.loads(cli.line())["type"] == "joined"
        server.send_info("echo:d", ("push", "blob", b"\x00\xff"))
        assert cli.line() == compact(
            {"type": "message", "topic": "echo:d", "event": "blob", "payload": {"binary": "AP8="}}
        )
        code, rest, err = cli.finish()
    assert (code, rest, err) == (0, [], "")


def test_a_refused_handshake_ends_with_status_4_and_says_why(server: PhoenixServer) -> None:
    with Cli(server.url, "--param", "token=bad", "--join", "echo:x") as cli:
        code, out, err = cli.finish()
    assert code == 4
    assert out == [
        compact(
            {
                "type": "disconnected",
                "kind": "HandshakeRejected",
                "reason": "upgrade refused with HTTP 403 Forbidden",
                "status": 403,
                "reconnect": False,
            }
        )
    ]
    assert err == (
        "phoenix-actor: error: the server refused the websocket connection with HTTP 403 "
        "Forbidden: it rejected the params, headers or auth token (or the Origin header or "
        "the protocol version)"
    )


def test_an_unreachable_port_ends_with_status_3() -> None:
    with socket.socket() as bound:  # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        url = f"ws://127.0.0.1:{bound.getsockname()[1]}/socket/websocket"
        with Cli(url, "--join", "echo:x") as cli:
            code, out, err = cli.finish()
    assert code == 3
    assert [json.loads(line)["kind"] for line in out] == ["ConnectionRefused"]
    assert err.startswith(f"phoenix-actor: error: cannot connect to {url}?vsn=2.0.0: ")
    assert "connection refused" in err


def test_a_refused_join_ends_with_status_5(server: PhoenixServer) -> None:
    with Cli(server.url, "--join", "echo:ok", "--join", "echo:refuse") as cli:
        code, out, err = cli.finish()
    assert code == 5
    assert out[1:] == [
        compact(
            {"type": "joined", "topic": "echo:ok", "response": {"joined": "echo:ok", "payload": {}}}
        ),
        compact({"type": "join_error", "topic": "echo:refuse", "response": {"reason": "refused"}}),
    ]
    assert err == (
        'phoenix-actor: error: the server refused to join \'echo:refuse\': {"reason":"refused"}'
    )


def test_a_push_without_reply_ends_with_status_6(server: PhoenixServer) -> None:
    args = ["--join", "echo:t", "--push", "echo:t noreply", "--timeout", str(TIMEOUT / 10)]
    with Cli(server.url, *args) as cli:
        code, out, err = cli.finish()
    assert (code, len(out)) == (6, 2)
    assert err == (
        f"phoenix-actor: error: no reply to push 'noreply' to 'echo:t' within {TIMEOUT / 10} s"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--join", "echo:a={bad"], "--join echo:a: the payload is not valid JSON: Expecting"),
        (
            ["--join", "echo:a", "--push", 'echo:a ev {"token": s3cret}'],
            "--push echo:a ev: the payload is not valid JSON: Expecting value",
        ),
        (["--push", "echo:a"], "--push needs 'TOPIC EVENT' and an optional JSON payload"),
        (["--push", "echo:z ev"], "'echo:z' is not joined: add --join echo:z"),
        (["--join", "echo:a", "--push", "echo:a phx_leave"], "is a protocol event"),
        (["--join", "echo:a", "--join", "echo:a"], "--join echo:a: the topic is given twice"),
        (["--param", "s3cret"], "--param #1 must be NAME=VALUE"),
        (["--param", "vsn=1.0.0"], "set the protocol version with --vsn"),
        (["--header", "Authorization Bearer s3cret"], "--header #1 must be 'Name: value'"),
        (["--header", "Bad Name: s3cret"], "'Bad Name' is not a valid HTTP header name"),
    ],
)
def test_bad_arguments_end_with_status_1_before_connecting(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "ws://127.0.0.1:9/socket/websocket"  # never contacted
    assert main(["connect", url, *args, "--no-stdin"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("phoenix-actor: error: ")
    assert message in err
    assert "s3cret" not in err


def test_a_non_websocket_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connect", "https://bob:pw@example.com/socket", "--no-stdin"]) == 1
    err = capsys.readouterr().err
    assert "must be a websocket URL: wss://..., not 'https://***@example.com/socket'" in err


@pytest.mark.parametrize("args", [["--count", "0"], ["--count", "1", "--duration", "1"]])
def test_argparse_usage_errors_end_with_status_2(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["connect", "ws://127.0.0.1:9/socket/websocket", *args])
    assert exited.value.code == 2
    assert "phoenix-actor connect: error:" in capsys.readouterr().err


def test_help_documents_the_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["connect", "--help"])
    assert exited.value.code == 0
    help_text = capsys.readouterr().out
    for status in ("0 ", "1 ", "3 ", "4 ", "5 ", "6 ", "7 ", "8 ", "9 ", "130 "):
        assert f"\n  {status}" in help_text


# -- every failure has its own status ----------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"phoenix-actor {pa.__version__}\n"


def test_a_push_answered_with_an_error_ends_with_status_8(server: PhoenixServer) -> None:
    args = ["--join", "echo:t", "--push", 'echo:t error {"why": "asked"}', "--duration", "60"]
    with Cli(server.url, *args) as cli:
        code, out, err = cli.finish()
    assert code == 8
    assert out[-1] == compact(
        {
            "type": "reply",
            "topic": "echo:t",
            "ref": 2,
            "status": "error",
            "response": {"why": "asked"},
        }
    )
    assert err == (
        "phoenix-actor: error: the server answered push 'error' to 'echo:t' with status "
        '\'error\': {"why":"asked"}'
    )


def test_a_push_whose_channel_crashes_ends_with_status_9(server: PhoenixServer) -> None:
    with Cli(server.url, "--join", "echo:t", "--push", "echo:t crash", "--duration", "60") as cli:
        code, _out, err = cli.finish()
    assert code == 9
    assert err == (
        "phoenix-actor: error: no reply to push 'crash' to 'echo:t': "
        "the channel of 'echo:t' closed (phx_error)"
    )


@pytest.mark.parametrize(
    ("line", "code", "message"),
    [
        (
            '{"topic": "echo:t", "event": "noreply"}',
            6,
            "no reply to push 'noreply' to 'echo:t' within",
        ),
        (
            '{"topic": "echo:t", "event": "error"}',
            8,
            "the server answered push 'error' to 'echo:t'",
        ),
        ('{"topic": "echo:t", "event": "crash"}', 9, "the channel of 'echo:t' closed (phx_error)"),
        ('{"topic": "echo:refuse", "event": "phx_join"}', 5, "refused to join 'echo:refuse'"),
        ('{"topic": "echo:nowhere", "event": "ping"}', 1, "push 'ping' to 'echo:nowhere' not sent"),
        ("not json", 1, "not JSON"),
    ],
)
def test_a_failed_stdin_line_is_reported_once_and_sets_the_status(
    server: PhoenixServer, line: str, code: int, message: str
) -> None:
    args = ["--join", "echo:t", "--join", "echo:u", "--timeout", str(TIMEOUT / 10)]
    with Cli(server.url, *args, stdin=True) as cli:
        assert json.loads(cli.line())["type"] == "connected"
        assert json.loads(cli.line())["type"] == "joined"
        assert json.loads(cli.line())["type"] == "joined"
        cli.send(line)
        cli.send('{"topic": "echo:u", "event": "echo", "payload": {"after": 1}}')  # goes on
        cli.close_stdin()
        status, out, err = cli.finish()
    assert status == code
    assert any('"response":{"after":1}' in record for record in out)
    [reported] = err.splitlines()  # once, on one line
    assert reported.startswith("phoenix-actor: stdin line 1: ")
    assert message in reported
    assert reported.count("no reply") <= 1


def test_serve_on_a_busy_port_says_so_in_one_line_and_ends_with_status_3(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"phoenix-actor: error: cannot listen on 127.0.0.1:{port}: the port is in use\n"


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["demo"]])
def test_serve_and_demo_without_the_server_extra_end_with_status_10(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "websockets", None)  # as if not installed
    assert main(command) == 10
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "phoenix-actor: error: the embedded server needs the 'server' extra: "
        "pip install 'phoenix_actor[server]'\n"
    )


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_serve_and_demo_help_document_their_exit_statuses(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    help_text = capsys.readouterr().out
    assert "exit status:" in help_text
    assert "\n  10   the 'server' extra is not installed" in help_text
