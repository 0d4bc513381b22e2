"""What the numbers were measured on: cores, load, Python, Node and package versions."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from benchmarks import _server

REPO = Path(__file__).resolve().parent.parent
_PACKAGES = ("phoenix_actor", "pykka", "websocket-client", "realtime", "websockets", "pydantic")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _run(*command: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _git() -> str:
    head = _run("git", "-C", str(REPO), "rev-parse", "--short", "HEAD")
    if not head:
        return "not a git checkout"
    dirty = _run("git", "-C", str(REPO), "status", "--porcelain", "--", "phoenix_actor")
    return f"{head}{' + uncommitted changes in phoenix_actor/' if dirty else ''}"


def host() -> list[str]:
    """The CPU (with the load average now) and the OS."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return [
        f"- CPU: {os.cpu_count()} cores, {_cpu_model()}; load average at start {load}",
        f"- OS: {platform.system()} {platform.release()}",
    ]


def describe() -> list[str]:
    """Lines describing this machine and the software measured."""
    versions = []
    for name in _PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    npm = ", ".join(f"{name} {v}" for name, v in sorted(_server.installed_versions().items()))
    return [
        *host(),
        f"- Python {platform.python_version()} ({platform.python_implementation()}); "
        f"Node.js {_run(_server.node(), '--version') or 'unknown'}",
        f"- Python packages: {', '.join(versions)}",
        f"- npm packages: {npm or 'none'}",
        f"- phoenix_actor source: {_git()}",
    ]
