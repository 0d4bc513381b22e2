"""Compare Autobahn|Testsuite's report with the expected verdicts; exit 1 on a mismatch.

    python tests/autobahn/check.py REPORTS/index.json tests/autobahn/expected.json
    python tests/autobahn/check.py --table REPORTS/index.json   # docs/autobahn.rst's table

Each agent of the report must have run every case, each with its
expected ``behavior`` (OK unless expected.json says otherwise), and a ``behaviorClose``
that is OK (or INFORMATIONAL where the case is).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any


def case_key(case: str) -> tuple[int, ...]:
    return tuple(int(part) for part in case.split("."))


def check(report: dict[str, dict[str, Any]], expected: dict[str, Any]) -> list[str]:
    """Every mismatch, one line each (none: all as expected)."""
    problems: list[str] = []
    verdicts: dict[str, str] = expected["verdicts"]
    problems += [
        f"expected.json: case {case} is expected {verdict} without a reason"
        for case, verdict in verdicts.items()
        if not expected["reasons"].get(case)
    ]
    for agent, cases in sorted(report.items()):
        counts = Counter(result["behavior"] for result in cases.values())
        summary = ", ".join(f"{n} {verdict}" for verdict, n in counts.most_common())
        print(f"{agent}: {len(cases)} cases: {summary}")
        if len(cases) != expected["cases"]:
            problems.append(f"{agent}: {len(cases)} cases ran, not {expected['cases']}")
        for case in sorted(cases, key=case_key):
            result = cases[case]
            want = verdicts.get(case, "OK")
            closing_ok = {"OK", want}
            if result["behavior"] != want or result["behaviorClose"] not in closing_ok:
                problems.append(
                    f"{agent}: case {case} is {result['behavior']} "
                    f"(closing {result['behaviorClose']}), expected {want}"
                )
    if not report:
        problems.append("the report has no agent: no case ran")
    return problems


SECTIONS = {
    "1": "Framing",
    "2": "Pings and pongs",
    "3": "Reserved bits",
    "4": "Opcodes",
    "5": "Fragmentation",
    "6": "UTF-8 handling",
    "7": "Close handling",
    "9": "Limits and performance",
    "10": "Miscellaneous",
}
SHORT = {"OK": "OK", "NON-STRICT": "non-strict", "INFORMATIONAL": "info", "FAILED": "failed"}


def table(report: dict[str, dict[str, Any]]) -> str:
    """The verdicts of each agent by section, as a reStructuredText simple table."""
    agents = sorted(report)
    header = ["section", "cases", *agents]
    rows: list[list[str]] = []
    for number, title in [*SECTIONS.items(), ("", "all")]:
        cells = []
        cases = 0
        for agent in agents:
            picked = [
                result["behavior"]
                for case, result in report[agent].items()
                if not number or case.split(".")[0] == number
            ]
            cases = len(picked)
            counts = Counter(picked)
            known = [f"{counts[v]} {short}" for v, short in SHORT.items() if counts[v]]
            other = [f"{n} {v}" for v, n in counts.items() if v not in SHORT]
            cells.append(", ".join(known + other))
        name = f"{number}. {title}" if number else title
        rows.append([name, str(cases), *cells])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    rule = "  ".join("=" * width for width in widths)
    lines = [
        rule,
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
        rule,
    ]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.append(rule)
    return "\n".join(lines)


def main() -> int:
    if sys.argv[1] == "--table":
        with open(sys.argv[2]) as f:
            print(table(json.load(f)))
        return 0
    report_path, expected_path = sys.argv[1:3]
    with open(report_path) as f:
        report = json.load(f)
    with open(expected_path) as f:
        expected = json.load(f)
    problems = check(report, expected)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} unexpected verdict(s)", file=sys.stderr)
        return 1
    print("every case has its expected verdict")
    return 0


if __name__ == "__main__":
    sys.exit(main())
