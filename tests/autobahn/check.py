"""Compare Autobahn|Testsuite's report with the expected verdicts; exit 1 on a mismatch.

    python tests/autobahn/check.py REPORTS/index.json tests/autobahn/expected.json

Each agent of the report (one per reader mode) must have run every case, each with its
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


def main() -> int:
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
