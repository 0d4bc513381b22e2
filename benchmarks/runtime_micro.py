"""Micro-benchmark of the actor runtimes: ThreadingActor against PooledActor.

    python -m benchmarks.runtime_micro [--quick]

Prints, for each runtime: tell throughput to one actor, tell throughput spread over 100
actors, the round trip of a blocking ``ask`` from a plain thread, the round trip of an
``ask`` from one actor to another, and the start time, threads and resident memory of
many actors.
Numbers only; nothing is asserted (tests never judge speed).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import pykka

from phoenix_actor.runtime import PooledActor, WorkerPool

POOL = WorkerPool(name="bench-pool")


class PooledBase(PooledActor):
    worker_pool = POOL


def make(base: type[pykka.Actor]) -> type[pykka.Actor]:
    class Counter(base):  # type: ignore[misc,valid-type]
        def __init__(self, peer: pykka.ActorRef[Any] | None = None) -> None:
            super().__init__()
            self.count = 0
            self.peer = peer

        def on_receive(self, message: Any) -> Any:
            if message == "count":
                return self.count
            if message == "relay":
                assert self.peer is not None
                return self.peer.ask("count")
            self.count += 1
            return None

    return Counter


def best_of(runs: int, measure: Callable[[], float]) -> float:
    return min(measure() for _ in range(runs))


def tell_one(actor: type[pykka.Actor], n: int) -> float:
    ref = actor.start()
    try:
        start = time.perf_counter()
        for _ in range(n):
            ref.tell(1)
        ref.ask("count")
        return n / (time.perf_counter() - start)
    finally:
        ref.stop()


def tell_many(actor: type[pykka.Actor], n: int, actors: int = 100) -> float:
    refs = [actor.start() for _ in range(actors)]
    try:
        start = time.perf_counter()
        for _ in range(n // actors):
            for ref in refs:
                ref.tell(1)
        for ref in refs:
            ref.ask("count")
        return n / (time.perf_counter() - start)
    finally:
        for ref in refs:
            ref.stop()


def ask_round_trip(actor: type[pykka.Actor], n: int) -> float:
    ref = actor.start()
    try:
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            ref.ask(1)
            samples.append(time.perf_counter() - start)
        return statistics.median(samples) * 1e6
    finally:
        ref.stop()


def actor_to_actor(actor: type[pykka.Actor], n: int) -> float:
    target = actor.start()
    relay = actor.start(target)
    try:
        start = time.perf_counter()
        for _ in range(n):
            relay.ask("relay")
        return (time.perf_counter() - start) / n * 1e6
    finally:
        relay.stop()
        target.stop()


def rss_kib() -> int:
    """The process's resident memory (Linux), or 0 where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def many_actors(actor: type[pykka.Actor], count: int) -> tuple[float, int, float]:
    before, rss = threading.active_count(), rss_kib()
    start = time.perf_counter()
    refs = [actor.start() for _ in range(count)]
    pykka.get_all([ref.ask("count", block=False) for ref in refs])
    elapsed = time.perf_counter() - start
    threads = threading.active_count() - before
    per_actor = (rss_kib() - rss) / count
    for ref in refs:
        ref.stop(block=False)
    for ref in refs:
        ref.actor_stopped.wait()
    return elapsed, threads, per_actor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    runtimes = {
        "ThreadingActor": make(pykka.ThreadingActor),
        f"PooledActor ({POOL.size} workers)": make(PooledBase),
    }
    rows: dict[str, list[str]] = {name: [] for name in runtimes}
    for name, actor in runtimes.items():
        rows[name].append(f"{best_of(3, lambda a=actor: tell_one(a, 100_000 // scale)):,.0f}")
        rows[name].append(f"{best_of(3, lambda a=actor: tell_many(a, 100_000 // scale)):,.0f}")
        rows[name].append(f"{best_of(3, lambda a=actor: ask_round_trip(a, 5_000 // scale)):.1f}")
        rows[name].append(f"{best_of(3, lambda a=actor: actor_to_actor(a, 2_000 // scale)):.1f}")
        count = 1_000 if name == "ThreadingActor" else 10_000
        elapsed, threads, per_actor = many_actors(actor, count // scale)
        rows[name].append(
            f"{count // scale:,}: {elapsed:.2f} s, +{threads} threads, {per_actor:.1f} KiB each"
        )
    headers = [
        "tell/s (1 actor)",
        "tell/s (100 actors)",
        "ask p50 µs",
        "actor->actor ask µs",
        "start+ask N actors",
    ]
    width = max(len(name) for name in rows)
    print(f"{'runtime':<{width}} | " + " | ".join(headers))
    for name, cells in rows.items():
        print(
            f"{name:<{width}} | "
            + " | ".join(f"{c:>{len(h)}}" for c, h in zip(cells, headers, strict=True))
        )
    POOL.shutdown()


if __name__ == "__main__":
    main()
