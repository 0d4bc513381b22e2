"""Print a pip constraints file that pins every dependency of setup.cfg to its lower bound.

Usage: python .ci/lowest_constraints.py [EXTRA ...] > constraints.txt
The runtime requirements are always included; each EXTRA adds that extra's. A
requirement without a ``>=`` bound is an error: the lowest-versions run must know it.
"""

from __future__ import annotations

import configparser
import re
import sys
from pathlib import Path

SETUP_CFG = Path(__file__).resolve().parent.parent / "setup.cfg"
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*?)\s*(;.*)?$")


def lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def main(extras: list[str]) -> int:
    config = configparser.ConfigParser()
    config.read(SETUP_CFG)
    requirements = lines(config["options"]["install_requires"])
    for extra in extras:
        requirements += lines(config["options.extras_require"][extra])
    pins: dict[str, str] = {}
    for requirement in requirements:
        match = REQUIREMENT.match(requirement)
        low = None
        if match:
            for clause in match.group(2).split(","):
                if clause.strip().startswith(">="):
                    low = clause.strip()[2:].strip()
        if match is None or low is None:
            print(f"no lower bound in {requirement!r}", file=sys.stderr)
            return 1
        pins[match.group(1)] = low
    for name, low in pins.items():
        print(f"{name}=={low}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
