"""Command line: ``python -m phoenix_actor demo`` | ``serve`` | ``connect`` (``phoenix-actor``)."""

from __future__ import annotations

import argparse
import errno
import importlib.util
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from phoenix_actor import __version__
from phoenix_actor._cli.args import ConnectArgs
from phoenix_actor._cli.connect import run_connect
from phoenix_actor._cli.input import Request
from phoenix_actor._cli.output import (
    EXIT_NO_SERVER_EXTRA,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from phoenix_actor._protocol.constants import EVENT_JOIN, RESERVED_EVENTS
from phoenix_actor._protocol.url import check_url, redact_url
from phoenix_actor.exceptions import ConfigError

SERVER_EXTRA_HINT = (
    "the embedded server needs the 'server' extra: pip install 'phoenix_actor[server]'"
)

#: Read when ``--auth-token`` is not given: a token there stays out of ``ps`` listings.
AUTH_TOKEN_ENV = "PHOENIX_ACTOR_AUTH_TOKEN"

CONNECT_DESCRIPTION = """\
Connect to a Phoenix socket, join the --join topics, send the --push events (waiting
for each reply), then print every inbound event as one JSON line on stdout. When stdin
is not a terminal (or with --stdin), each line read from it is pushed.
"""

CONNECT_EPILOG = f"""\
output (stdout, one JSON object per line; binary payloads as {{"binary": "<base64>"}}):
  {{"type":"connected","url":URL}}            also "reconnected"; query values show as ***
  {{"type":"joined","topic":T,"response":R}}  also "join_error"
  {{"type":"message","topic":T,"event":E,"payload":P}}
  {{"type":"reply","topic":T,"ref":N,"status":S,"response":R}}
  {{"type":"channel_closed","topic":T,"payload":P}}
  {{"type":"disconnected","kind":K,"reason":TEXT,"reconnect":BOOL}}  (+ "status"/"code")

input (stdin): {{"topic":T,"event":E,"payload":P}} per line ("payload" optional);
  event "phx_join" joins T, "phx_leave" leaves it. A line that is bad, cannot be
  sent or fails (no reply, an error reply, a refused join) is reported on stderr and
  the run goes on, but its end status is then that failure's, not 0.

the run ends on Ctrl-C, after --count messages or --duration seconds, or, without
either, once stdin ends and the replies to its lines are in (with --no-stdin or a
terminal on stdin: at Ctrl-C). A closed connection is reopened and its topics
rejoined, unless --no-reconnect.

exit status:
  0    ok
  1    bad argument: invalid JSON, --param, --header, URL, or a push to a topic
       that no --join joins; a stdin line that is not a request or was not sent
       (2: a usage error found by argparse)
  3    cannot connect: connection refused, host unreachable, DNS or TLS failure
  4    the server refused the websocket upgrade (HTTP 401/403: it rejected the
       params, headers or auth token; 404: not the socket's path), or did not
       answer with a websocket handshake
  5    the server refused a join (--join or stdin)
  6    timeout: not connected, or no reply to a join or push, within --timeout
  7    the connection closed and was not reopened (--no-reconnect, or the server
       refused the reconnect with close code 1008), or closed before a reply
  8    a push or leave got a reply with an error status (not "ok")
  9    the channel closed or crashed (phx_close, phx_error) before a reply
  130  interrupted (Ctrl-C); 143 on SIGTERM

The auth token is also read from ${AUTH_TOKEN_ENV}. Tokens, header values and
query values are never printed.
"""


SERVE_EPILOG = f"""\
exit status:
  0    stopped by Ctrl-C or SIGTERM
  2    a usage error found by argparse
  {EXIT_UNREACHABLE}    cannot listen on --host/--port: the port is in use, the address is not
       the machine's, or the port needs privileges
  {EXIT_NO_SERVER_EXTRA}   the 'server' extra is not installed
"""

DEMO_EPILOG = f"""\
exit status:
  0    the demo ran to its end
  2    a usage error found by argparse
  6    the demo did not finish within --timeout
  {EXIT_NO_SERVER_EXTRA}   the 'server' extra is not installed
"""


class UsageError(ValueError):
    """An argument is wrong (exit status 1)."""


def _error(message: str) -> None:
    print(f"phoenix-actor: error: {message}", file=sys.stderr, flush=True)


def _serve(host: str, port: int) -> int:
    from phoenix_actor.testing import PhoenixServer

    server = PhoenixServer.with_defaults(host=host, port=port)
    try:
        server.start()
    except OSError as exc:
        why = {
            errno.EADDRINUSE: "the port is in use",
            errno.EADDRNOTAVAIL: "the address is not one of this machine's",
            errno.EACCES: "permission denied (ports below 1024 need privileges)",
        }.get(exc.errno or 0, exc.strerror or str(exc))
        _error(f"cannot listen on {host}:{port}: {why}")
        return EXIT_UNREACHABLE
    stop = threading.Event()
    signums = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in signums}
    try:
        print(f"embedded Phoenix server listening at {server.url}", flush=True)
        print("channels: echo:* (EchoChannel), room:* (PresenceChannel); Ctrl-C stops", flush=True)
        stop.wait()
    finally:
        server.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return EXIT_OK


def _server_extra_missing() -> bool:
    try:
        return importlib.util.find_spec("websockets") is None
    except ValueError:  # a module without a spec: it is there
        return False


# -- connect: arguments ------------------------------------------------------------------


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 to 65535, not {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {text!r}")
    return value


def _add_connect(commands: Any) -> None:
    connect = commands.add_parser(
        "connect",
        help="join topics, push events, print every inbound event as a JSON line",
        description=CONNECT_DESCRIPTION,
        epilog=CONNECT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = connect.add_argument
    add(
        "url",
        metavar="URL",
        help="the socket's websocket URL, e.g. ws://localhost:4000/socket/websocket",
    )
    add("--param", action="append", default=[], metavar="K=V", help="query parameter (repeatable)")
    add(
        "--header",
        action="append",
        default=[],
        metavar="'K: V'",
        help="HTTP header of the upgrade request (repeatable)",
    )
    add("--auth-token", metavar="T", help=f"Phoenix 1.8 auth token (default: ${AUTH_TOKEN_ENV})")
    add(
        "--join",
        action="append",
        default=[],
        metavar="TOPIC[=JSON]",
        help="join TOPIC with an optional JSON payload (repeatable)",
    )
    add(
        "--push",
        action="append",
        default=[],
        metavar="'TOPIC EVENT [JSON]'",
        help="push EVENT to a joined TOPIC and wait for the reply (repeatable)",
    )
    add(
        "--timeout",
        type=_seconds,
        default=10.0,
        metavar="S",
        help="seconds for connecting, each join and each reply (default 10)",
    )
    add(
        "--no-reconnect",
        action="store_true",
        help="end (status 7) when the connection closes, instead of reconnecting",
    )
    add(
        "--vsn",
        choices=("2.0.0", "1.0.0"),
        default="2.0.0",
        help="protocol version (default 2.0.0)",
    )
    add(
        "--stdin",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="push the JSON lines read on stdin (default: when stdin is not a terminal)",
    )
    add(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log the library's INFO (-vv: DEBUG) on stderr",
    )
    until = connect.add_mutually_exclusive_group()
    until.add_argument(
        "--count",
        type=_positive_int,
        metavar="N",
        help="stop after N messages (pushes and broadcasts, not replies)",
    )
    until.add_argument(
        "--duration", type=_seconds, metavar="S", help="stop S seconds after the joins and pushes"
    )


def _json_argument(option: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:  # the message gives the position, never the text
        raise UsageError(f"{option}: the payload is not valid JSON: {exc}") from None


def _split_url(url: str) -> tuple[str, list[tuple[str, str]]]:
    """``url`` without its query, and the query's params (they join the --param ones)."""
    base, _, query = url.partition("?")
    scheme = urlsplit(base).scheme.lower()
    if scheme in ("http", "https"):
        hint = f"ws{'s' if scheme == 'https' else ''}://"
        raise UsageError(f"the URL must be a websocket URL: {hint}..., not {redact_url(base)!r}")
    try:
        check_url(base)
    except ConfigError as exc:
        raise UsageError(str(exc).replace(base, redact_url(base))) from None
    return base, parse_qsl(query, keep_blank_values=True)


def _params(url_params: list[tuple[str, str]], given: list[str]) -> list[tuple[str, str]]:
    params = list(url_params)
    for number, text in enumerate(given, 1):
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise UsageError(f"--param #{number} must be NAME=VALUE")
        params.append((key, value))
    if any(key == "vsn" for key, _ in params):
        raise UsageError("set the protocol version with --vsn, not with a vsn parameter")
    return params


def _headers(given: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for number, text in enumerate(given, 1):
        name, sep, value = text.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"--header #{number} must be 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


def _connect_args(ns: argparse.Namespace, stdin_is_tty: bool) -> ConnectArgs:
    """The validated :class:`~phoenix_actor._cli.args.ConnectArgs`; UsageError if wrong."""
    url, url_params = _split_url(ns.url)
    joins: list[Request] = []
    for text in ns.join:
        topic, sep, payload = text.partition("=")
        if not topic:
            raise UsageError("--join needs a topic: TOPIC or TOPIC=JSON")
        if any(join.topic == topic for join in joins):
            raise UsageError(f"--join {topic}: the topic is given twice")
        joins.append(
            Request(topic, EVENT_JOIN, _json_argument(f"--join {topic}", payload) if sep else None)
        )
    pushes: list[Request] = []
    for text in ns.push:
        parts = text.split(None, 2)
        if len(parts) < 2:
            raise UsageError("--push needs 'TOPIC EVENT' and an optional JSON payload")
        topic, event = parts[0], parts[1]
        payload = _json_argument(f"--push {topic} {event}", parts[2]) if len(parts) == 3 else None
        if event in RESERVED_EVENTS:
            raise UsageError(
                f"--push {topic} {event}: {event!r} is a protocol event: use --join, or a "
                "phx_join / phx_leave line on stdin"
            )
        if not any(join.topic == topic for join in joins):
            raise UsageError(f"--push {topic} {event}: {topic!r} is not joined: add --join {topic}")
        pushes.append(Request(topic, event, payload))
    token = ns.auth_token if ns.auth_token is not None else os.environ.get(AUTH_TOKEN_ENV) or None
    return ConnectArgs(
        url=url,
        params=_params(url_params, ns.param),
        headers=_headers(ns.header),
        auth_token=token,
        joins=joins,
        pushes=pushes,
        timeout=ns.timeout,
        reconnect=not ns.no_reconnect,
        vsn=ns.vsn,
        count=ns.count,
        duration=ns.duration,
        stdin=not stdin_is_tty if ns.stdin is None else ns.stdin,
        verbose=ns.verbose,
    )


def _connect(ns: argparse.Namespace) -> int:
    try:
        args = _connect_args(ns, _isatty(0))
        args.config()  # checks the headers and the token before connecting
    except (UsageError, ConfigError) as exc:
        print(f"phoenix-actor: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return run_connect(args, sys.stdout, sys.stderr, 0)


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m phoenix_actor`` and the ``phoenix-actor`` script."""
    parser = argparse.ArgumentParser(
        prog="phoenix-actor", description="Phoenix Channels client on Pykka actors."
    )
    parser.add_argument("--version", action="version", version=f"phoenix-actor {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    raw = argparse.RawDescriptionHelpFormatter
    demo = commands.add_parser(
        "demo",
        help="run a client against an embedded server",
        epilog=DEMO_EPILOG,
        formatter_class=raw,
    )
    demo.add_argument("--timeout", type=_seconds, default=10.0, help="seconds (default 10)")
    serve = commands.add_parser(
        "serve", help="run the embedded Phoenix server", epilog=SERVE_EPILOG, formatter_class=raw
    )
    serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=4000, help="port (default 4000; 0 = any)")
    _add_connect(commands)
    args = parser.parse_args(argv)
    if args.command == "connect":
        return _connect(args)
    if _server_extra_missing():
        _error(SERVER_EXTRA_HINT)
        return EXIT_NO_SERVER_EXTRA
    if args.command == "demo":
        from phoenix_actor._cli.demo import run_demo

        return run_demo(sys.stdout, args.timeout)
    return _serve(args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
