"""The README's commands and example, the examples folder and the demo all run."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from phoenix_actor.__main__ import main
from phoenix_actor._cli.demo import run_demo
from tests.conftest import TIMEOUT

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.rst").read_text(encoding="utf-8")


def _code_blocks(language: str) -> list[str]:
    pattern = rf"\.\. code-block:: {language}\n\n((?:    .*\n|\n)+)"
    return [
        "\n".join(line[4:] for line in block.splitlines()) for block in re.findall(pattern, README)
    ]


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    demo_command, test_command = _code_blocks("sh")[:2]
    assert "python -m phoenix_actor demo" in demo_command
    assert test_command.strip().endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "README.rst" in ci  # .ci/run reads the test command from the README


@pytest.mark.parametrize("needle", ["AsyncSocket(", "auth_token=", "pa.Socket("])
def test_the_readme_facade_asyncio_and_auth_examples_are_run(needle: str) -> None:
    # Only the python blocks run (below): each of these must be one of them.
    assert any(needle in block for block in _code_blocks("python"))
    assert not any(needle in block for block in _code_blocks("text"))


@pytest.mark.parametrize("number", range(len(_code_blocks("python"))))
def test_readme_example_runs(number: int) -> None:
    example = _code_blocks("python")[number]
    exec(compile(example, f"README.rst example {number + 1}", "exec"), {})


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.py")), ids=lambda p: p.name)
def test_example_runs(path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(path)],
        capture_output=True,
        text=True,
        timeout=6 * TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_demo_prints_the_tour_and_succeeds() -> None:
    out = io.StringIO()
    assert run_demo(out, timeout=2 * TIMEOUT) == 0
    text = out.getvalue()
    for expected in (
        "<- connected",
        "<- joined 'room:lobby'",
        "<- reply to ref 2 on 'room:lobby'",
        "<- 'broadcasted' on 'room:lobby'",
        "<- 'news' on 'echo:demo'",
        "<- join of 'echo:refuse' refused",
        "<- channel 'echo:demo' closed by the server",
        "demo finished",
    ):
        assert expected in text


def test_cli_demo_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--timeout", str(2 * TIMEOUT)]) == 0
    assert "demo finished" in capsys.readouterr().out


def test_cli_rejects_unknown_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["nope"])
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
