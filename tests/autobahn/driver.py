"""Drive Autobahn|Testsuite's fuzzing server with phoenix_actor's own transport.

Each case is one connection made with ``websocket_transport`` (the transport the
socket uses), whose listener echoes every message back; when every case has run, the
server is asked to write its report. Run by tests/autobahn/run.sh::

    python tests/autobahn/driver.py ws://127.0.0.1:PORT [--agent NAME]
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time

from phoenix_actor import DisconnectReason, Frame, Transport, TransportOptions, websocket_transport

#: How long one case may take (the slowest, 9.* and 6.4.*, take a few seconds).
CASE_TIMEOUT = 60.0
#: How long the fuzzing server may take to start listening.
START_TIMEOUT = 30.0


class Echo:
    """A listener that sends every data frame back, and remembers how it ended."""

    def __init__(self) -> None:
        self.transport: Transport | None = None
        self.ready = threading.Event()  # set once ``transport`` is known
        self.ended: queue.Queue[DisconnectReason] = queue.Queue()
        self.received: list[Frame] = []
        self.echo = True
        self.reason: DisconnectReason | None = None

    def connected(self) -> None:
        pass

    def frame(self, frame: Frame) -> None:
        self.frames([frame])

    def frames(self, frames: list[Frame]) -> None:
        if not self.echo:
            self.received.extend(frames)
            return
        self.ready.wait(CASE_TIMEOUT)
        assert self.transport is not None
        for frame in frames:
            self.transport.send(frame)

    def disconnected(self, reason: DisconnectReason) -> None:
        self.ended.put(reason)


def connect(url: str, options: TransportOptions, *, echo: bool = True) -> Echo:
    """Open ``url``, echo (or collect) its messages until it ends; the listener."""
    listener = Echo()
    listener.echo = echo
    transport = websocket_transport(url, options, listener)
    listener.transport = transport
    listener.ready.set()
    try:
        listener.reason = listener.ended.get(timeout=CASE_TIMEOUT)
    except queue.Empty:
        sys.exit(f"{url} did not end within {CASE_TIMEOUT} s")
    finally:
        transport.close()
    return listener


def case_count(base: str, options: TransportOptions) -> int:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        listener = connect(f"{base}/getCaseCount", options, echo=False)
        if listener.received:
            return int(json.loads(listener.received[0].data))
        if time.monotonic() > deadline:
            sys.exit(f"the fuzzing server at {base} did not answer: {listener.reason}")
        time.sleep(0.2)  # the server is still starting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the fuzzing server, ws://127.0.0.1:PORT")
    parser.add_argument("--agent", default="phoenix_actor")
    parser.add_argument(
        "--report", action="store_true", help="only ask the server to write its report"
    )
    args = parser.parse_args()
    options = TransportOptions()
    base = args.url.rstrip("/")
    if args.report:
        connect(f"{base}/updateReports?agent={args.agent}", options, echo=False)
        return
    count = case_count(base, options)
    print(f"{args.agent}: {count} cases", flush=True)
    started, cpu = time.monotonic(), time.process_time()
    for number in range(1, count + 1):
        connect(f"{base}/runCase?case={number}&agent={args.agent}", options)
    print(
        f"{args.agent}: ran {count} cases in {time.monotonic() - started:.1f} s "
        f"({time.process_time() - cpu:.1f} s of CPU in the client)",
        flush=True,
    )


if __name__ == "__main__":
    main()
