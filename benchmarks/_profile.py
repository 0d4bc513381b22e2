"""cProfile for every thread a run starts (actors, readers), merged into one report.

cProfile only sees the thread that enables it, and the hot path of phoenix_actor runs
in two threads that the library starts (the transport's reader and the socket
actor). :func:`install` wraps ``threading.Thread.run`` so that each thread started
afterwards profiles itself; :func:`collect` merges the finished ones.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import threading
import time
from typing import Any

_profiles: list[tuple[threading.Thread, cProfile.Profile]] = []
_lock = threading.Lock()


def install() -> None:
    """Profile every thread started from now on, in thread CPU time."""
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        profile = cProfile.Profile(time.thread_time)  # CPU time: waiting is not a cost
        with _lock:
            _profiles.append((self, profile))
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()

    threading.Thread.run = run  # type: ignore[method-assign]


def collect(path: str) -> int:
    """Merge the profiles of the threads that have ended into ``path``; how many."""
    with _lock:
        done = [profile for thread, profile in _profiles if not thread.is_alive()]
    if not done:
        return 0
    stats = pstats.Stats(done[0])
    for profile in done[1:]:
        stats.add(profile)
    stats.dump_stats(path)
    return len(done)


def report(path: str, top: int = 30) -> str:
    """The ``top`` functions by own time, then by cumulative time, as text."""
    out = io.StringIO()
    stats: Any = pstats.Stats(path, stream=out)
    stats.strip_dirs()
    out.write(f"== own time (tottime), top {top}\n")
    stats.sort_stats("tottime").print_stats(top)
    out.write(f"== cumulative time, top {top}\n")
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()
