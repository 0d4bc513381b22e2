"""The benchmark harness still runs: ``python -m benchmarks --smoke`` end to end.

It asserts nothing about speed (benchmarks print numbers; tests never judge them):
only that every path runs, exits 0 and prints the table with a number in each cell
of raw and phoenix_actor. Needs Node.js and npm (the harness runs ``npm ci`` in
``benchmarks/node`` for its load server and phoenix.js).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TIMEOUT

REPO = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH"),
    pytest.mark.skipif(
        shutil.which("npm") is None,
        reason="npm is not on PATH (the harness installs its load server with npm ci)",
    ),
]

ROWS = ("1. inbound", "2. push->reply p50", "3. connect + join p50", "4. ", "5. stop()")
#: a number, with its ratios to raw (r) and chunked (c) in parentheses
NUMBER = re.compile(r"^-?[\d,]+(\.\d+)?( \(\d+\.\d\dx [rc](, \d+\.\d\dx c)?\))?$")


def table_cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def run_benchmarks(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m benchmarks *args``, which must exit 0 within ``timeout`` seconds."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


@pytest.mark.timeout(60 + 30 * TIMEOUT)  # npm ci may run first (a mark on a helper does nothing)
def test_smoke_run_prints_the_table() -> None:
    done = run_benchmarks("--smoke", timeout=30 + 30 * TIMEOUT)
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("| scenario"))
    columns = table_cells(header)
    assert columns[:6] == [
        "scenario",
        "unit",
        "raw",
        "chunked",
        "phoenix_actor",
        "phoenix_actor threads",
    ]
    assert "phoenix.js" in columns
    rows = {
        table_cells(line)[0]: table_cells(line) for line in lines if re.match(r"\| \d\. ", line)
    }
    for prefix in ROWS:
        assert any(label.startswith(prefix) for label in rows), f"no row {prefix!r}"
    for label, cells in rows.items():
        for column in ("raw", "chunked", "phoenix_actor", "phoenix_actor threads"):
            value = cells[columns.index(column)]
            assert value == "-" or NUMBER.match(value), f"{label} / {column}: {value!r}"
    assert "- CPU: " in done.stdout  # the machine is described
    assert "Load server check" in done.stdout
    # the scale scenario: 300 sockets on the pooled runtime, measured to the end
    scale = {
        tuple(table_cells(line)[:2]): table_cells(line)
        for line in lines
        if re.match(r"\| 300 ", line)
    }
    pooled = scale[("300", "phoenix_actor")]
    assert all(NUMBER.match(value) or value.endswith("x") for value in pooled[2:]), pooled
