"""Sockets still running when the program ends are stopped, so that it does end.

Pykka's actor threads are not daemons: a script that forgets to close a socket would
wait for it forever once its main thread is done. When the first socket starts, a hook
is registered that runs when the main thread has finished, *before* Python joins the
remaining non-daemon threads (``atexit`` would run too late: after that join). It stops
every socket actor still running, as ``ref.stop()`` does: the websockets are closed,
``terminate`` is called, pending futures fail with ``SocketStoppedError``.

The hook uses ``threading._register_atexit`` (Python 3.9 and later, and the mechanism
``concurrent.futures`` relies on). Closing sockets by hand stays the clean way; the hook
only catches what was left running.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pykka

logger = logging.getLogger("phoenix_actor.socket")

#: Seconds the hook waits, in all, for the sockets to stop.
EXIT_STOP_TIMEOUT = 10.0

_lock = threading.Lock()
_installed: list[bool] = []  # [True] once the hook is registered (or cannot be)
#: The actor classes to stop at exit, in groups: supervisors first (so that none restarts
#: a socket), then the sockets.
_FIRST: set[type[pykka.Actor]] = set()
_THEN: set[type[pykka.Actor]] = set()


def install(actor_class: type[pykka.Actor], *, first: bool = False) -> None:
    """Stop the running actors of ``actor_class`` at exit (``first``: before the others),
    registering the exit hook once per process; called whenever such an actor starts."""
    (_FIRST if first else _THEN).add(actor_class)
    if _installed:
        return
    with _lock:
        if _installed:
            return
        register: Callable[[Callable[[], None]], None] | None = getattr(
            threading, "_register_atexit", None
        )
        if register is not None:  # None: not CPython's threading, nothing to hook into
            try:
                register(_at_exit)
            except RuntimeError:  # the interpreter is shutting down already
                return
        _installed.append(True)


def _at_exit() -> None:
    stop_left_running()


def _running(cls: type[Any]) -> list[pykka.ActorRef[Any]]:
    return [ref for ref in pykka.ActorRegistry.get_by_class(cls) if ref.is_alive()]


def stop_left_running(timeout: float = EXIT_STOP_TIMEOUT) -> int:
    """Stop every socket actor still running (supervisors first, so that none restarts
    them); return how many sockets were stopped. Waits at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    stopped = 0
    for _round in range(3):  # a terminate() may start another socket
        supervisors = [ref for cls in _FIRST for ref in _running(cls)]
        sockets = [ref for cls in _THEN for ref in _running(cls)]
        if not (supervisors or sockets):
            break
        if sockets:
            logger.info("stopping %d socket(s) still running at exit", len(sockets))
        for group in (supervisors, sockets):
            futures = []
            for ref in group:
                try:
                    futures.append(ref.stop(block=False))
                except pykka.ActorDeadError:  # it stopped meanwhile
                    pass
            for future in futures:
                try:
                    future.get(timeout=max(deadline - time.monotonic(), 0.0))
                except pykka.Timeout:
                    logger.warning("a socket did not stop within %.1f s at exit", timeout)
                    return stopped
                except Exception:  # an actor that died meanwhile: nothing left to stop
                    logger.debug("stopping at exit failed", exc_info=True)
        stopped += len(sockets)
    return stopped
