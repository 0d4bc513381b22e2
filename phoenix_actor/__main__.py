"""Command line: ``python -m phoenix_actor demo`` / ``serve`` (also ``phoenix-actor``)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

SERVER_EXTRA_HINT = (
    "the embedded server needs the 'server' extra: pip install 'phoenix_actor[server]'"
)


def _serve(host: str, port: int) -> int:
    from phoenix_actor.testing import PhoenixServer

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with PhoenixServer.with_defaults(host=host, port=port) as server:
        print(f"embedded Phoenix server listening at {server.url}", flush=True)
        print("channels: echo:* and room:* (EchoChannel); Ctrl-C stops", flush=True)
        stop.wait()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m phoenix_actor`` and the ``phoenix-actor`` script."""
    parser = argparse.ArgumentParser(
        prog="phoenix-actor", description="Phoenix Channels client on Pykka actors."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run a client against an embedded server")
    demo.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    serve = commands.add_parser("serve", help="run the embedded Phoenix server")
    serve.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=4000, help="port (default 4000; 0 = any)")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from phoenix_actor._demo import run_demo

            return run_demo(sys.stdout, args.timeout)
        return _serve(args.host, args.port)
    except ModuleNotFoundError as exc:
        if exc.name != "websockets":
            raise
        print(f"phoenix-actor: {SERVER_EXTRA_HINT}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
