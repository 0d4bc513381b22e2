"""The design floor still runs: ``python -m benchmarks --floor --smoke`` end to end.

It needs no Node.js (only local sockets and a helper Python process) and asserts
nothing about speed: only that it exits 0 and prints every row with numbers in it.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import TIMEOUT
from tests.test_benchmarks_smoke import run_benchmarks
from tests.test_benchmarks_smoke import table_cells as _cells

ROWS = (
    "1. threading.Thread start()",
    "2. ThreadingActor.start()",
    "3. hand-off: actor tell",
    "3. hand-off: queue.Queue",
    "4. TCP echo round trip, raw",
    "4. round trip + 1 hand-off",
    "4. round trip + 3 hand-offs",
    "5. 20 sockets x 5: reader + 2 actors",
    "5. 20 sockets x 5: the same, switch interval 50 ms",
    "5. 20 sockets x 5: one reader thread for all",
    "5. 20 sockets x 5: one selector thread",
    "5. 20 sockets x 5: the helper's send loop",
    "5. 1 socket x 100: reader + 2 actors",
    "5. set-up",
)
#: a number, with a ratio in parentheses or as a range "low - high" of runs
VALUE = re.compile(r"^[\d,]+(\.\d+)?( \(\d+\.\d\dx\)| - [\d,]+(\.\d+)?)?$")


@pytest.mark.timeout(30 + 6 * TIMEOUT)
def test_floor_smoke_prints_every_row() -> None:
    done = run_benchmarks("--floor", "--smoke", timeout=20 + 6 * TIMEOUT)
    lines = done.stdout.splitlines()
    header = _cells(next(line for line in lines if line.startswith("| design floor")))
    rows = [_cells(line) for line in lines if re.match(r"\| \d\. ", line)]
    assert len(rows) == len(ROWS), done.stdout
    for prefix, cells in zip(ROWS, rows, strict=True):
        assert cells[0].startswith(prefix), f"expected {prefix!r}, got {cells[0]!r}"
        assert len(cells) == len(header), cells
        values = [value for value in cells[2:] if value]  # 5.: only the unpinned column
        assert values, f"{cells[0]}: no number"
        for value in values:
            assert VALUE.match(value), f"{cells[0]}: {value!r}"
    assert "- CPU: " in done.stdout  # the machine is described
    assert re.search(r"one hand-off \(the callback API\) takes [+-]\d+\.\d us", done.stdout)
    assert re.search(r"= [\d.]+x of one selector thread", done.stdout)
