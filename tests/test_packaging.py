"""The package's metadata says what CI checks: the licence, the Pythons, the lower bounds.

(The sdist's completeness and the wheel's contents are checked by ``.ci/run``, which
builds both and runs this suite from the unpacked sdist.)
"""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    return config


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def test_the_licence_is_an_spdx_expression_with_its_file() -> None:
    metadata = _setup_cfg()["metadata"]
    assert metadata["license_expression"] == "MIT"
    assert "license" not in metadata  # the legacy field, which setuptools now warns about
    assert metadata["license_files"] == "LICENSE"
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License\n")
    assert "Copyright (c) 2026 The phoenix_actor developers" in licence
    assert not any(c.startswith("License ::") for c in _lines(metadata["classifiers"]))
    assert metadata["author"] == metadata["maintainer"] == "The phoenix_actor developers"


def test_the_claimed_pythons_are_the_ones_ci_tests() -> None:
    config = _setup_cfg()
    classifiers = _lines(config["metadata"]["classifiers"])
    claimed = [
        c.rsplit(" ", 1)[-1] for c in classifiers if re.fullmatch(r".*:: Python :: 3\.\d+", c)
    ]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    match = re.search(r"^SUPPORTED_PYTHONS=\(([^)]*)\)", ci, re.MULTILINE)
    assert match is not None, ".ci/run names no SUPPORTED_PYTHONS"
    assert match.group(1).split() == claimed
    assert config["options"]["python_requires"] == f">={claimed[0]}"
    assert config["mypy"]["python_version"] == claimed[0]
    ruff = (ROOT / "ruff.toml").read_text(encoding="utf-8")
    assert f'target-version = "py{claimed[0].replace(".", "")}"' in ruff


def test_every_dependency_has_a_lower_bound_for_the_lowest_versions_run() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "lowest_constraints.py"), "test", "server", "docs"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    pins = dict(line.split("==") for line in done.stdout.splitlines())
    assert pins["pykka"] == "4.4.2"
    assert pins["websocket-client"] == "1.9.1"
    assert pins["websockets"] == "17.0"


def test_the_lowest_versions_script_refuses_a_requirement_without_a_lower_bound(
    tmp_path: Path,
) -> None:
    ci = tmp_path / ".ci"
    ci.mkdir()
    script = (ROOT / ".ci" / "lowest_constraints.py").read_text(encoding="utf-8")
    (ci / "lowest_constraints.py").write_text(script, encoding="utf-8")
    (tmp_path / "setup.cfg").write_text(
        "[options]\ninstall_requires =\n    pykka>=4.0\n    websocket-client<2\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(ci / "lowest_constraints.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "websocket-client<2" in done.stderr


def test_the_websocket_client_range_has_an_upper_bound() -> None:
    # phoenix_actor uses websocket-client's private modules: only tested releases.
    requires = _lines(_setup_cfg()["options"]["install_requires"])
    (websocket_client,) = [r for r in requires if r.startswith("websocket-client")]
    assert "<" in websocket_client.replace("<=", "<")


def test_there_is_no_benchmarks_extra() -> None:
    # realtime pins websockets<16, against the server extra's >=17: see docs/benchmarks.md.
    assert "benchmarks" not in _setup_cfg()["options.extras_require"]
