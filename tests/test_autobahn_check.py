"""tests/autobahn/check.py, which fails CI on an unexpected Autobahn|Testsuite verdict."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent / "autobahn"
_spec = importlib.util.spec_from_file_location("autobahn_check", HERE / "check.py")
assert _spec is not None
assert _spec.loader is not None
check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check)

EXPECTED: dict[str, Any] = json.loads((HERE / "expected.json").read_text())


def report(**changed: tuple[str, str]) -> dict[str, dict[str, Any]]:
    """A report where every case passed, but for ``changed`` (``"7_13_1"=(verdict, close)``)."""
    cases = {f"1.1.{n}": ("OK", "OK") for n in range(1, EXPECTED["cases"] - 2)}
    cases.update(dict.fromkeys(EXPECTED["verdicts"], ("INFORMATIONAL", "INFORMATIONAL")))
    cases.update({case.replace("_", "."): verdicts for case, verdicts in changed.items()})
    return {
        "agent": {
            case: {"behavior": behavior, "behaviorClose": closing}
            for case, (behavior, closing) in cases.items()
        }
    }


def test_the_expected_verdicts_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.check(report(), EXPECTED) == []
    assert "298 OK, 3 INFORMATIONAL" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("changed", "problem"),
    [
        ({"1_1_1": ("NON-STRICT", "OK")}, "case 1.1.1 is NON-STRICT (closing OK), expected OK"),
        ({"1_1_2": ("OK", "WRONG CODE")}, "case 1.1.2 is OK (closing WRONG CODE)"),
        ({"7_13_1": ("OK", "OK")}, "case 7.13.1 is OK (closing OK), expected INFORMATIONAL"),
        ({"9_9_9": ("OK", "OK")}, "302 cases ran, not 301"),
    ],
)
def test_an_unexpected_verdict_fails(changed: dict[str, tuple[str, str]], problem: str) -> None:
    assert any(problem in line for line in check.check(report(**changed), EXPECTED))


def test_no_agent_fails_and_every_expected_verdict_needs_a_reason() -> None:
    assert check.check({}, EXPECTED) == ["the report has no agent: no case ran"]
    unexplained = {**EXPECTED, "reasons": {}}
    assert len(check.check(report(), unexplained)) == len(EXPECTED["verdicts"])


def test_the_table_counts_each_section() -> None:
    table = check.table(report(**{"6_1_1": ("FAILED", "FAILED")}))
    assert "6. UTF-8 handling          1      1 failed" in table
    assert "all                        302    298 OK, 3 info, 1 failed" in table
