"""``python -m benchmarks``: start the load server, run the scenarios, print the table."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from benchmarks import _floor, _machine, _profile, _report, _server
from benchmarks._common import BenchError, Context, Counts
from benchmarks._report import SCENARIOS, Cell, Results
from benchmarks.contenders import (
    CALLBACK,
    CHUNKED,
    CONTENDERS,
    FACADE,
    PHOENIX_JS,
    RAW,
    REALTIME,
    SCALE,
    THREADS,
    Contender,
)

_BY_KEY = {c.key: c for c in CONTENDERS}
_NOTES = {
    REALTIME.key: (
        "realtime speaks protocol V1 only (vsn=1.0.0, JSON objects), prefixes topics with "
        "`realtime:` and parses every message into Supabase's models: its column is measured "
        "on the load server's V1 serializer with Supabase-shaped broadcasts (event "
        '`broadcast`, payload `{"type", "event", "payload"}`: about 140 bytes a frame where '
        "V2 takes 56), and its push replies lose their response (parsed as `postgres_changes`)."
    ),
    FACADE.key: (
        "The facade's inbound broadcasts are read from a `Socket.subscribe` queue in the "
        "caller's thread (scenario 1) and, with 1,000 sockets, through `Socket.on` callbacks "
        "in the actors' threads (scenario 4)."
    ),
    CHUNKED.key: (
        "chunked is the limit of one Python thread: a plain socket, the upgrade by hand, "
        "64 KiB reads, its own frame parser, `json.loads` per text frame, hand-masked "
        "pushes; many sockets are read by one selector loop. raw's reads have no timeout "
        "(connected with one, then `settimeout(None)`)."
    ),
    THREADS.key: (
        'phoenix_actor threads is the callback API with `Config(runtime="threads")`: a '
        "thread per actor (socket and transport), the reader and timer threads shared."
    ),
    PHOENIX_JS.key: (
        "phoenix.js runs on Node.js over `ws`; its stop() is measured until the websocket's "
        "close event (`disconnect(callback)` itself calls back only after polling every 150 ms)."
    ),
}


def _names(values: Sequence[str] | None, allowed: Sequence[str], what: str) -> list[str]:
    if not values:
        return list(allowed)
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    unknown = sorted(set(names) - set(allowed))
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(allowed)})")
    return [name for name in allowed if name in names]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="phoenix_actor against raw websocket-client, realtime and phoenix.js, "
        "on a local Node.js load server.",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny counts, one run: seconds")
    parser.add_argument(
        "--scenario", action="append", help=f"comma-separated, of: {', '.join(SCENARIOS)}"
    )
    parser.add_argument(
        "--contender", action="append", help=f"comma-separated, of: {', '.join(_BY_KEY)}"
    )
    parser.add_argument("--repeat", type=int, help="runs per cell (default 3, smoke 1)")
    parser.add_argument("--timeout", type=float, help="seconds any wait may take (default 60)")
    parser.add_argument(
        "--hold",
        type=float,
        help="scale: seconds to hold the largest size joined (default 3; issue 13 asks 60)",
    )
    parser.add_argument(
        "--sizes", help="scale: comma-separated socket counts (default 100,1000,5000,10000)"
    )
    parser.add_argument(
        "--scale-repeat", type=int, help="scale: runs per size and contender (default 1)"
    )
    parser.add_argument("--output", help="also write the report (Markdown) to this file")
    parser.add_argument("--json", help="write every run's metrics to this JSON file")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead: cProfile phoenix_actor's threads in the inbound scenario",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="instead: measure the design's fixed costs (threads, actors, hand-offs) on "
        "this machine, without phoenix_actor or the load server",
    )
    return parser


class Runner:
    """Starts workers (Python or Node) against one load server."""

    def __init__(self, server: _server.LoadServer, counts: Counts, timeout: float) -> None:
        self.server = server
        self.counts = counts
        self.timeout = timeout
        self._serial = 0

    def job(
        self,
        contender: Contender,
        scenario: str,
        repeats: int,
        *,
        start_at: float | None = None,
        profile: str | None = None,
        counts: Counts | None = None,
    ) -> dict[str, Any]:
        self._serial += 1
        ctx = Context(
            ws_url=self.server.ws_url,
            http_url=self.server.http_url,
            run_id=f"{os.getpid()}.{self._serial}",
            timeout=self.timeout,
            start_at=start_at,
            server_pid=self.server.pid,
        )
        return {
            "contender": contender.key,
            "module": contender.module,
            "scenario": scenario,
            "context": ctx.to_json(),
            "counts": dataclasses.asdict(counts or self.counts),
            "repeats": repeats,
            "profile": profile,
        }

    def start(self, contender: Contender, job: dict[str, Any]) -> subprocess.Popen[str]:
        if contender.module is None:
            command = [_server.node(), str(_server.PHOENIX_JS_SCRIPT)]
        else:
            command = [sys.executable, "-m", "benchmarks._worker"]
        process = subprocess.Popen(
            command,
            cwd=_machine.REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdin is not None
        process.stdin.write(json.dumps(job))
        process.stdin.close()
        process.stdin = None  # written: communicate() must not touch it again
        return process

    def finish(self, process: subprocess.Popen[str], repeats: int, extra: float = 0.0) -> Cell:
        limit = 30 + repeats * 3 * self.timeout + extra
        try:
            out, err = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return Cell(error=f"the worker did not finish within {limit:g} s")
        lines = out.strip().splitlines()
        try:
            answer = json.loads(lines[-1])
        except (IndexError, ValueError):
            tail = "\n".join(err.strip().splitlines()[-5:])
            return Cell(error=f"the worker exited {process.returncode} with no answer: {tail}")
        return Cell(runs=answer.get("runs", []), skip=answer.get("skip"), error=answer.get("error"))

    def interleaved(
        self, contenders: Sequence[Contender], scenario: str, repeats: int, results: Results
    ) -> None:
        """``repeats`` rounds of one run per contender, each in a fresh process, so that
        slow phases of the machine hit every contender alike; into ``results``."""
        for _ in range(repeats):
            for contender in contenders:
                cell = results.setdefault((scenario, contender.key), Cell())
                if cell.skip or cell.error:
                    continue
                t0 = time.monotonic()
                part = self.finish(self.start(contender, self.job(contender, scenario, 1)), 1)
                cell.runs.extend(part.runs)
                cell.skip, cell.error = part.skip, part.error
                _progress(scenario, contender, part, t0)

    def scale(
        self,
        contenders: Sequence[Contender],
        sizes: Sequence[int],
        hold: float,
        repeats: int,
        results: Results,
    ) -> None:
        """The scale scenario: each size, contender and run in a fresh process."""
        for size in sizes:
            counts = dataclasses.replace(
                self.counts,
                sockets=size,
                hold=hold if size == max(sizes) else self.counts.hold,
                fanout=max(self.counts.fanout, -(-self.counts.scale_total // size)),
            )
            scenario = f"scale_{size}"
            for _ in range(repeats):
                for contender in contenders:
                    cell = results.setdefault((scenario, contender.key), Cell())
                    if cell.skip or cell.error:
                        continue
                    t0 = time.monotonic()
                    job = self.job(contender, "scale", 1, counts=counts)
                    part = self.finish(self.start(contender, job), 1, extra=counts.hold)
                    cell.runs.extend(part.runs)
                    cell.skip, cell.error = part.skip, part.error
                    _progress(scenario, contender, part, t0)

    def pair(self) -> tuple[list[Cell], float, float]:
        """Two raw inbound clients at once: their cells, the wall time, the server's CPU."""
        lead = 2.0 if self.counts.inbound >= 10_000 else 0.8  # to connect and warm up
        start_at = time.monotonic() + lead
        cpu0, wall0 = self.server.cpu_seconds(), time.monotonic()
        processes = [
            self.start(RAW, self.job(RAW, "inbound", 1, start_at=start_at)) for _ in range(2)
        ]
        cells = [self.finish(process, 1) for process in processes]
        return cells, time.monotonic() - wall0, self.server.cpu_seconds() - cpu0


def _progress(scenario: str, contender: Contender, cell: Cell, t0: float) -> None:
    status = (
        "skipped" if cell.skip else f"error: {cell.error.splitlines()[0]}" if cell.error else "ok"
    )
    print(
        f"  {scenario:<12} {contender.label:<22} {status} ({time.monotonic() - t0:.1f} s)",
        file=sys.stderr,
        flush=True,
    )


def _server_check(runner: Runner, single: Cell) -> list[str]:
    cells, wall, cpu = runner.pair()
    runs = [cell.runs[0] for cell in cells if cell.runs]
    if len(runs) != 2 or not single.runs:
        errors = "; ".join(cell.error or cell.skip or "no run" for cell in cells)
        return [f"- two raw clients at once could not be measured: {errors}"]
    both = (
        2
        * runner.counts.inbound
        / (max(r["ended"] for r in runs) - min(r["started"] for r in runs))
    )
    alone = single.median("msgs_per_s")
    each = " and ".join(f"{r['msgs_per_s']:,.0f}" for r in runs)
    return [
        f"- one raw client: {alone:,.0f} msg/s; two at once (separate processes): "
        f"{both:,.0f} msg/s together ({both / alone:.2f}x one), {each} msg/s each",
        f"- the load server used {cpu:.2f} CPU-seconds over those {wall:.1f} s "
        f"(connects and warm-ups included): {100 * cpu / wall:.0f} % of one core",
        f"- the server's send loop encodes and queues broadcasts at "
        f"{single.median('server_msgs_per_s'):,.0f} msg/s (timed inside the server)",
    ]


def _profile_run(runner: Runner, counts: Counts) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "inbound.prof")
        job = runner.job(CALLBACK, "inbound", 1, profile=path)
        cell = runner.finish(runner.start(CALLBACK, job), 1)
        if cell.error or cell.skip or not os.path.exists(path):
            print(f"profiling failed: {cell.error or cell.skip or 'no profile written'}")
            return 1
        rate = cell.median("msgs_per_s")
        print(f"phoenix_actor inbound, {counts.inbound:,} broadcasts, under cProfile: ", end="")
        print(f"{rate:,.0f} msg/s (profiling slows it down)\n")
        print(_profile.report(path))
    return 0


def _floor_run(
    argv: Sequence[str] | None, args: argparse.Namespace, repeats: int, timeout: float
) -> int:
    """``--floor``: the design's fixed costs, measured here; no Node.js, no phoenix_actor."""
    command = " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])])
    machine = _floor.machine()
    print(f"# phoenix_actor design floor\n\n`{command}`\n", flush=True)
    print("\n".join(machine), end="\n\n", flush=True)
    try:
        lines = _floor.run(args.smoke, repeats, timeout)
    except (BenchError, OSError) as exc:
        print(f"benchmarks: the floor could not be measured: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as output:
            output.write("\n".join([*machine, "", *lines]) + "\n")
    return 0


def _report_lines(
    results: Results,
    *,
    counts: Counts,
    contenders: list[Contender],
    check: list[str],
    smoke: bool,
    repeats: int,
    hold: float,
    scale_repeats: int,
) -> list[str]:
    _report.derive(results, counts)
    lines: list[str] = []
    if any(not s.startswith("scale_") for s, _ in results):
        lines += [
            f"Medians of {repeats} interleaved run{'s' if repeats > 1 else ''} per cell, each "
            "in a fresh process; in parentheses the ratio of the medians to raw (r) and to "
            "chunked (c) (for msg/s higher is better, for latencies lower is better).",
            "",
            *_report.table(results, counts, contenders),
        ]
    if any(s.startswith("scale_") for s, _ in results):
        sizes = [n for n in counts.scale_sizes if any(s == f"scale_{n}" for s, _ in results)]
        lines += [
            "",
            f"Scale: each socket joins one topic; medians of {scale_repeats} run"
            f"{'s' if scale_repeats > 1 else ''}, a fresh process each; the largest size is "
            f"held {hold:g} s, the others {counts.hold:g} s; broadcasts: {counts.fanout} to "
            f"every socket, or more to reach {counts.scale_total:,} in all (column 'each'), "
            "sent by the load server's /blast and counted where the user sees them; CPU: "
            "user + system time of the client's process and of the load server while they "
            "arrive; threads left: after the stop "
            "(and up to 8 s for idle threads to end), against the count after one warm-up "
            "socket.",
            "",
            *_report.scale_table(results, sizes, contenders),
        ]
    if check:
        lines += ["", "Load server check (is the server the limit?):", *check]
    goals = _report.targets(results, contenders, counts, hold)
    if goals:
        caveat = " (smoke counts: not meaningful)" if smoke else ""
        lines += ["", f"Targets of issues 13 and 17{caveat}:", *goals]
    notes = _report.notes(results, contenders)
    notes += [f"- {_NOTES[c.key]}" for c in contenders if c.key in _NOTES]
    if notes:
        lines += ["", "Notes:", *notes]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; 0 if every cell ran or was skipped, 1 on errors, 2 without Node."""
    args = _parser().parse_args(argv)
    scenarios = _names(args.scenario, SCENARIOS, "scenario")
    contenders = [_BY_KEY[k] for k in _names(args.contender, list(_BY_KEY), "contender")]
    counts = Counts.smoke() if args.smoke else Counts()
    if args.sizes:
        try:
            sizes = tuple(int(size.replace("_", "")) for size in args.sizes.split(","))
        except ValueError:
            raise SystemExit(
                f"--sizes takes comma-separated integers, not {args.sizes!r}"
            ) from None
        counts = dataclasses.replace(counts, scale_sizes=sizes)
    hold = args.hold if args.hold is not None else counts.hold
    repeats = args.repeat or (1 if args.smoke else 3)
    scale_repeats = args.scale_repeat or 1
    timeout = args.timeout or (20.0 if args.smoke else 60.0)
    if args.floor:  # its runs are short: five of each, to see the spread
        return _floor_run(argv, args, args.repeat or (1 if args.smoke else 5), timeout)
    try:
        _server.node()
        if _server.ensure_packages():
            print("installed the load server's npm packages (npm ci)", file=sys.stderr)
    except _server.ServerError as exc:
        print(f"benchmarks: {exc}", file=sys.stderr)
        return 2
    began = time.monotonic()
    with _server.LoadServer() as server:
        runner = Runner(server, counts, timeout)
        if args.profile:
            return _profile_run(runner, counts)
        command = " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])])
        print(f"# phoenix_actor benchmarks\n\n`{command}`\n", flush=True)
        print("\n".join(_machine.describe()), end="\n\n", flush=True)
        results: Results = {}
        cpu0 = server.cpu_seconds()
        for scenario in scenarios:
            if scenario == "scale":
                scalers = [c for c in SCALE if c in contenders]
                runner.scale(scalers, counts.scale_sizes, hold, scale_repeats, results)
            else:
                runner.interleaved(contenders, scenario, repeats, results)
        server_cpu = server.cpu_seconds() - cpu0
        check: list[str] = []
        if "inbound" in scenarios and RAW in contenders:
            check = _server_check(runner, results["inbound", RAW.key])
        if "scale" in scenarios:
            check.append(
                f"- the load server used {server_cpu:.1f} CPU-seconds over all the runs above "
                f"({time.monotonic() - began:.0f} s of wall time)"
            )
        if REALTIME in contenders and not results.get(("inbound", REALTIME.key), Cell()).skip:
            probe = runner.finish(runner.start(REALTIME, runner.job(REALTIME, "probe", 1)), 1)
            if probe.runs:
                delivered = probe.runs[0]["plain_delivered"]
                check.append(
                    f"- realtime probe: {delivered:.0f} of 3 plain broadcasts (event `tick`) "
                    "reached its callback; the Supabase-shaped ones did"
                )
    lines = _report_lines(
        results,
        counts=counts,
        contenders=contenders,
        check=check,
        smoke=args.smoke,
        repeats=repeats,
        hold=hold,
        scale_repeats=scale_repeats,
    )
    lines.append(f"\n(total {time.monotonic() - began:.0f} s)")
    print("\n".join(lines))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as output:
            output.write("\n".join(lines) + "\n")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as dump:
            json.dump({f"{s}/{c}": dataclasses.asdict(v) for (s, c), v in results.items()}, dump)
    errors = any(cell.error for cell in results.values())
    return 1 if errors else 0
