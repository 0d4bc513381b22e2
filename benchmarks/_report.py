"""Turning runs into the table: medians, ratios to raw, and the issue's targets."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from benchmarks._common import Counts, Metrics
from benchmarks.contenders import CHUNKED, FACADE, OURS, RAW, SCALE, Contender

SCENARIOS = (
    "inbound",
    "push_reply",
    "connect_join",
    "fanout",
    "fanout_tuned",
    "stop",
    "scale",
)


@dataclass
class Cell:
    """What one contender did in one scenario: its runs, or why there are none."""

    runs: list[Metrics] = field(default_factory=list)
    skip: str | None = None
    error: str | None = None

    def median(self, metric: str) -> float:
        """The median over runs (NaN when no run has the metric)."""
        values = [run[metric] for run in self.runs if metric in run]
        return statistics.median(values) if values else math.nan


Results = dict[tuple[str, str], Cell]  # (scenario, contender key) -> cell


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    scenario: str
    metric: str
    label: str  #: may use the fields of :class:`Counts`
    unit: str
    digits: int = 0
    ratio: bool = True  #: show the ratio to raw


ROWS = (
    Row("inbound", "msgs_per_s", "1. inbound, {inbound:,} broadcasts", "msg/s"),
    Row("push_reply", "rtt_p50", "2. push->reply p50 ({push:,} sequential)", "us"),
    Row("push_reply", "rtt_p99", "2. push->reply p99", "us"),
    Row("connect_join", "connect_p50", "3. connect + join p50 ({connect} times)", "ms", 2),
    Row("connect_join", "connect_p99", "3. connect + join p99", "ms", 2),
    Row("fanout", "msgs_per_s", "4. {sockets:,} sockets x {fanout} broadcasts", "msg/s"),
    Row("fanout", "rss_mb", "4. resident memory, all joined", "MiB", 0, False),
    Row("fanout", "peak_rss_mb", "4. peak resident memory", "MiB", 0, False),
    Row("fanout", "threads", "4. threads started", "", 0, False),
    Row("fanout", "threads_per_socket", "4. threads per socket", "", 2, False),
    Row("fanout", "connect_s", "4. time to join them all", "s", 2, False),
    Row("fanout", "cpu_user_s", "4. CPU in Python code, during the broadcasts", "s", 2, False),
    Row("fanout", "cpu_sys_s", "4. CPU in the kernel, during the broadcasts", "s", 2, False),
    Row("fanout_tuned", "msgs_per_s", "4b. the same, sys.setswitchinterval(0.05)", "msg/s"),
    Row("fanout_tuned", "cpu_sys_s", "4b. CPU in the kernel, during the broadcasts", "s", 2, False),
    Row("stop", "stop_p50", "5. stop() of a joined socket, p50", "ms", 2),
    Row("stop", "stop_max", "5. stop(), max of {stops}", "ms", 2),
    Row("stop", "cycles_per_s", "5. start/join/stop cycles ({cycles:,})", "cycles/s", 0),
    Row("stop", "leaked_threads", "5. threads left after the cycles", "", 0, False),
    Row("stop", "leaked_fds", "5. fds left after the cycles", "", 0, False),
)


def derive(results: Results, counts: Counts) -> None:
    """Add metrics computed from others (threads per socket)."""
    for (scenario, _), cell in results.items():
        if scenario.startswith("fanout"):
            for run in cell.runs:
                if "threads" in run:  # rounded: a thread shared by all is not per socket
                    run["threads_per_socket"] = round(run["threads"] / counts.sockets, 2)


def _number(value: float, digits: int) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def _cell_text(results: Results, row: Row, contender: Contender) -> str:
    cell = results.get((row.scenario, contender.key))
    if cell is None:
        return "not run"
    if cell.skip is not None:
        return "skipped"
    if cell.error is not None and not cell.runs:
        return "error"
    value = cell.median(row.metric)
    text = _number(value, row.digits)
    if not row.ratio or math.isnan(value):
        return text
    ratios = []
    for other, mark in ((RAW, "r"), (CHUNKED, "c")):
        base_cell = results.get((row.scenario, other.key))
        base = math.nan if base_cell is None or contender is other else base_cell.median(row.metric)
        if base and not math.isnan(base):
            ratios.append(f"{value / base:.2f}x {mark}")
    return f"{text} ({', '.join(ratios)})" if ratios else text


def table(results: Results, counts: Counts, contenders: Sequence[Contender]) -> list[str]:
    """The Markdown table of medians, with ratios to raw in parentheses."""
    header = ["scenario", "unit", *(c.label for c in contenders)]
    lines = [header]
    for row in ROWS:
        if not any((row.scenario, c.key) in results for c in contenders):
            continue
        lines.append(
            [
                row.label.format(**vars(counts)),
                row.unit,
                *(_cell_text(results, row, c) for c in contenders),
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        padded = [
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * (w + 2) if i < 2 else "-" * (w + 1) + ":" for i, w in enumerate(widths)]
    return [render(lines[0]), "|" + "|".join(rule) + "|"] + [render(line) for line in lines[1:]]


#: The median of (scenario, contender key, metric), NaN when not measured.
Median = Callable[[str, str, str], float]
#: A target's check: the measured value and whether it holds.
Check = Callable[[Median], tuple[float, bool]]


@dataclass(frozen=True)
class Target:
    """One of the issue's targets."""

    text: str
    check: Check
    shown: str  #: how the measured value is printed, with {value}


def _ratio(scenario: str, metric: str, ours: str, other: str, limit: float) -> Check:
    """ours / other >= limit (limit > 0) or <= -limit (limit < 0)."""

    def check(m: Median) -> tuple[float, bool]:
        value = m(scenario, ours, metric) / m(scenario, other, metric)
        return value, value >= limit if limit > 0 else value <= -limit

    return check


def _at_most(scenario: str, metric: str, ours: str, limit: float) -> Check:
    def check(m: Median) -> tuple[float, bool]:
        value = m(scenario, ours, metric)
        return value, value <= limit

    return check


def _targets(ours: str) -> list[Target]:
    """Issue 17's targets for one socket: the callback API's and the facade's."""
    facade = ours == FACADE.key
    ratio = "{value:.2f}x"
    inbound = 0.6 if facade else 0.8
    p50, join = (1.5, 1.5) if facade else (1.1, 1.3)
    return [
        Target(
            f"1. inbound >= {inbound}x chunked",
            _ratio("inbound", "msgs_per_s", ours, CHUNKED.key, inbound),
            ratio,
        ),
        Target(
            f"2. push->reply p50 <= {p50}x raw",
            _ratio("push_reply", "rtt_p50", ours, RAW.key, -p50),
            ratio,
        ),
        Target(
            "2. push->reply p99 <= 2x raw",
            _ratio("push_reply", "rtt_p99", ours, RAW.key, -2.0),
            ratio,
        ),
        Target(
            f"3. connect + join p50 <= {join}x raw",
            _ratio("connect_join", "connect_p50", ours, RAW.key, -join),
            ratio,
        ),
        Target(
            "5. stop() max <= 100 ms", _at_most("stop", "stop_max", ours, 100), "{value:.1f} ms"
        ),
    ]


def _scale_targets(ours: str, sizes: Sequence[int], hold: float) -> list[Target]:
    """Issue 13's targets at the largest size (10,000 in the full run)."""
    big, small = max(sizes), min(sizes)
    at = f"scale_{big}"

    def no_leaks(m: Median) -> tuple[float, bool]:
        value = m(at, ours, "threads_left") + m(at, ours, "fds_left")
        return value, value == 0

    def cliff(m: Median) -> tuple[float, bool]:
        mid = 5_000 if 5_000 in sizes else big
        value = m(f"scale_{mid}", ours, "msgs_per_s") / m(f"scale_{small}", ours, "msgs_per_s")
        return value, value >= 0.7

    mid = 5_000 if 5_000 in sizes else big
    goals = [
        Target(
            f"{big:,} sockets: <= 16 OS threads",
            _at_most(at, "os_threads", ours, 16),
            "{value:.0f}",
        ),
        Target(
            f"{big:,} sockets: RSS <= 400 MiB", _at_most(at, "rss_mb", ours, 400), "{value:.0f} MiB"
        ),
        Target(
            f"{big:,} sockets: all joined within 15 s",
            _at_most(at, "join_s", ours, 15),
            "{value:.1f} s",
        ),
        Target(
            f"{big:,} sockets: no heartbeat timeout or disconnect in a {hold:g} s hold",
            lambda m: (
                m(at, ours, "heartbeat_timeouts") + m(at, ours, "disconnects"),
                m(at, ours, "heartbeat_timeouts") + m(at, ours, "disconnects") == 0,
            ),
            "{value:.0f}",
        ),
    ]
    for size in sorted({s for s in sizes if s in (1_000, big)} or {big}):
        goals.append(
            Target(
                f"{size:,} sockets: aggregate >= 0.8x chunked",
                _ratio(f"scale_{size}", "msgs_per_s", ours, CHUNKED.key, 0.8),
                "{value:.2f}x",
            )
        )
    goals += [
        Target(
            f"{big:,} sockets: stop all within 5 s",
            _at_most(at, "stop_s", ours, 5),
            "{value:.2f} s",
        ),
        Target(
            f"{big:,} sockets: no thread or fd left after the stop", no_leaks, "{value:.0f} left"
        ),
        Target(f"aggregate at {mid:,} >= 0.7x at {small:,} sockets", cliff, "{value:.2f}x"),
    ]
    return goals


def targets(
    results: Results, contenders: Sequence[Contender], counts: Counts, hold: float
) -> list[str]:
    """One line per target and contender of ours: the measured value and whether it holds."""

    def median(scenario: str, key: str, metric: str) -> float:
        cell = results.get((scenario, key))
        return math.nan if cell is None else cell.median(metric)

    lines = []
    for ours in (c for c in OURS if c in contenders):
        one = ("inbound", "push_reply", "connect_join", "stop")
        goals = _targets(ours.key) if any((s, ours.key) in results for s in one) else []
        if ours in SCALE and any(k == ours.key and s.startswith("scale_") for s, k in results):
            goals += _scale_targets(ours.key, counts.scale_sizes, hold)
        for target in goals:
            try:
                value, holds = target.check(median)
            except ZeroDivisionError:
                value, holds = math.nan, False
            if math.isnan(value):
                lines.append(f"- {ours.label}: {target.text}: - -> n/a (not measured)")
            else:
                shown = target.shown.format(value=value)
                verdict = "holds" if holds else "FAILS"
                lines.append(f"- {ours.label}: {target.text}: {shown} -> {verdict}")
    return lines


def notes(results: Results, contenders: Sequence[Contender]) -> list[str]:
    """Why cells are empty: skips and errors, once per contender and reason."""
    seen: set[tuple[str, str]] = set()
    lines = []
    for contender in contenders:
        scenarios = [s for s in SCENARIOS if s != "scale"]
        scenarios += sorted({s for s, _ in results if s.startswith("scale_")})
        for scenario in scenarios:
            cell = results.get((scenario, contender.key))
            if cell is None:
                continue
            for kind, text in (("skipped", cell.skip), ("error", cell.error)):
                if text is None or (contender.key, text) in seen:
                    continue
                seen.add((contender.key, text))
                where = "" if kind == "skipped" else f" in {scenario}"
                first = text.strip().splitlines()[0] if kind == "error" else text
                lines.append(f"- {contender.label} {kind}{where}: {first}")
    return lines


#: The scale table's columns: (metric, header, digits).
SCALE_COLUMNS = (
    ("os_threads", "OS threads", 0),
    ("py_threads", "Python threads", 0),
    ("rss_mb", "RSS MiB", 0),
    ("join_s", "join all, s", 2),
    ("hold_s", "hold, s", 0),
    ("heartbeat_timeouts", "heartbeat timeouts", 0),
    ("disconnects", "disconnects", 0),
    ("each", "each", 0),
    ("msgs_per_s", "broadcasts, msg/s", 0),
    ("blast_s", "broadcasts took, s", 2),
    ("cpu_s", "our CPU s", 2),
    ("server_cpu_s", "server CPU s", 2),
    ("stop_s", "stop all, s", 2),
    ("threads_left", "threads left", 0),
    ("fds_left", "fds left", 0),
)


def scale_table(
    results: Results, sizes: Sequence[int], contenders: Sequence[Contender]
) -> list[str]:
    """One row per size and contender: threads, memory, join, hold, rate, stop, leftovers."""
    header = ["sockets", "contender", *(h for _, h, _ in SCALE_COLUMNS), "rate vs chunked"]
    lines = [header]
    for size in sizes:
        scenario = f"scale_{size}"
        base = results.get((scenario, CHUNKED.key))
        for contender in (c for c in SCALE if c in contenders):
            cell = results.get((scenario, contender.key))
            if cell is None:
                continue
            row = [f"{size:,}", contender.label]
            if cell.skip is not None or (cell.error is not None and not cell.runs):
                word = "skipped" if cell.skip is not None else "error"
                lines.append(row + [word] * (len(header) - 2))
                continue
            for run in cell.runs:
                if "cpu_user_s" in run:
                    run["cpu_s"] = run["cpu_user_s"] + run["cpu_sys_s"]
            row += [_number(cell.median(metric), digits) for metric, _, digits in SCALE_COLUMNS]
            rate = cell.median("msgs_per_s")
            chunked = math.nan if base is None else base.median("msgs_per_s")
            row.append("-" if math.isnan(chunked) or not chunked else f"{rate / chunked:.2f}x")
            lines.append(row)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        padded = [
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * (w + 2) if i < 2 else "-" * (w + 1) + ":" for i, w in enumerate(widths)]
    return [render(lines[0]), "|" + "|".join(rule) + "|"] + [render(line) for line in lines[1:]]
