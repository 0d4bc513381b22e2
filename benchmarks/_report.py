"""Turning runs into the table: medians, ratios to raw, and the issue's targets."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from benchmarks._common import Counts, Metrics
from benchmarks.contenders import OURS, RAW, REALTIME, Contender

SCENARIOS = (
    "inbound",
    "push_reply",
    "connect_join",
    "fanout",
    "fanout_tuned",
    "fanout_shared",
    "stop",
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
    Row(
        "fanout_shared", "msgs_per_s", "4c. the same, TransportOptions(shared_reader=True)", "msg/s"
    ),
    Row("fanout_shared", "threads_per_socket", "4c. threads per socket", "", 2, False),
    Row(
        "fanout_shared", "cpu_sys_s", "4c. CPU in the kernel, during the broadcasts", "s", 2, False
    ),
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
    raw = results.get((row.scenario, RAW.key))
    if row.ratio and contender is not RAW and raw is not None and not math.isnan(value):
        base = raw.median(row.metric)
        if base and not math.isnan(base):
            text += f" ({value / base:.2f}x)"
    return text


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


def _targets(ours: str) -> list[Target]:
    def vs(scenario: str, metric: str, other: tuple[str, str], limit: float) -> Check:
        """ours / other >= limit (limit > 0) or <= -limit (limit < 0)."""

        def check(m: Median) -> tuple[float, bool]:
            value = m(scenario, ours, metric) / m(other[0], other[1], metric)
            return value, value >= limit if limit > 0 else value <= -limit

        return check

    def at_most(scenario: str, metric: str, limit: float) -> Check:
        def check(m: Median) -> tuple[float, bool]:
            value = m(scenario, ours, metric)
            return value, value <= limit

        return check

    def vs_inbound(scenario: str) -> Check:
        def check(m: Median) -> tuple[float, bool]:
            value = m(scenario, ours, "msgs_per_s") / m("inbound", ours, "msgs_per_s")
            return value, value >= 0.7

        return check

    def no_leaks(m: Median) -> tuple[float, bool]:
        value = m("stop", ours, "leaked_threads") + m("stop", ours, "leaked_fds")
        return value, value == 0

    raw, realtime = ("inbound", RAW.key), ("inbound", REALTIME.key)
    ratio = "{value:.2f}x"
    return [
        Target("1. inbound >= 0.8x raw", vs("inbound", "msgs_per_s", raw, 0.8), ratio),
        Target("1. inbound >= 1.5x realtime", vs("inbound", "msgs_per_s", realtime, 1.5), ratio),
        Target(
            "2. push->reply p50 <= 1.2x raw",
            vs("push_reply", "rtt_p50", ("push_reply", RAW.key), -1.2),
            ratio,
        ),
        Target(
            "2. push->reply p99 <= 2x raw",
            vs("push_reply", "rtt_p99", ("push_reply", RAW.key), -2.0),
            ratio,
        ),
        Target(
            "3. connect + join p50 <= 1.3x raw",
            vs("connect_join", "connect_p50", ("connect_join", RAW.key), -1.3),
            ratio,
        ),
        Target(
            "4. peak resident memory <= 200 MiB",
            at_most("fanout", "peak_rss_mb", 200),
            "{value:.0f} MiB",
        ),
        Target(
            "4. threads per socket <= 3", at_most("fanout", "threads_per_socket", 3), "{value:.2f}"
        ),
        Target("4. aggregate inbound >= 0.7x scenario 1", vs_inbound("fanout"), ratio),
        Target("4b. the same, switch interval 50 ms", vs_inbound("fanout_tuned"), ratio),
        Target("4c. the same, shared reader", vs_inbound("fanout_shared"), ratio),
        Target("5. stop() max <= 100 ms", at_most("stop", "stop_max", 100), "{value:.1f} ms"),
        Target("5. no thread or fd left after the cycles", no_leaks, "{value:.0f} left"),
    ]


def targets(results: Results, contenders: Sequence[Contender]) -> list[str]:
    """One line per target and contender of ours: the measured value and whether it holds."""

    def median(scenario: str, key: str, metric: str) -> float:
        cell = results.get((scenario, key))
        return math.nan if cell is None else cell.median(metric)

    lines = []
    for ours in (c for c in OURS if c in contenders):
        if all(results.get((s, ours.key), Cell(skip="-")).skip for s in SCENARIOS):
            continue
        for target in _targets(ours.key):
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
        for scenario in SCENARIOS:
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
