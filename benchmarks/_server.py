"""The Node.js load server: installing its packages, starting it, reading its CPU time."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
from pathlib import Path
from types import TracebackType

NODE_DIR = Path(__file__).parent / "node"
SERVER_SCRIPT = NODE_DIR / "load_server.mjs"
PHOENIX_JS_SCRIPT = NODE_DIR / "phoenix_js_bench.mjs"
_TICKS = os.sysconf("SC_CLK_TCK")


def _raise_fd_limit() -> None:
    """RLIMIT_NOFILE's soft limit up to the hard one (for this process and its children)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class ServerError(Exception):
    """Node, npm or the load server are missing or would not start."""


def node() -> str:
    """The ``node`` executable, or :class:`ServerError`."""
    found = shutil.which("node")
    if found is None:
        raise ServerError("node is not on PATH: the load server runs on Node.js (>= 18)")
    return found


def _locked_versions() -> dict[str, str]:
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    return {
        path.removeprefix("node_modules/"): entry["version"]
        for path, entry in lock["packages"].items()
        if path.startswith("node_modules/")
    }


def installed_versions() -> dict[str, str]:
    """The npm packages installed under ``benchmarks/node``, by name."""
    versions = {}
    for name in _locked_versions():
        manifest = NODE_DIR / "node_modules" / name / "package.json"
        if manifest.is_file():
            versions[name] = json.loads(manifest.read_text())["version"]
    return versions


def ensure_packages() -> bool:
    """Run ``npm ci`` unless the locked packages are installed; True if it ran."""
    if installed_versions() == _locked_versions():
        return False
    npm = shutil.which("npm")
    if npm is None:
        raise ServerError("npm is not on PATH: it installs the load server's packages")
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise ServerError(f"npm ci failed in {NODE_DIR}:\n{done.stderr.strip()}")
    return True


class LoadServer:
    """``benchmarks/node/load_server.mjs`` on 127.0.0.1 and a free port."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def ws_url(self) -> str:
        """The websocket endpoint (no query)."""
        return f"ws://127.0.0.1:{self.port}/socket/websocket"

    @property
    def http_url(self) -> str:
        """The control endpoint."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LoadServer:
        _raise_fd_limit()  # inherited by the server: 10,000 sockets and more (scale)
        self._process = subprocess.Popen(
            [node(), str(SERVER_SCRIPT), "127.0.0.1", "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        try:
            self.port = int(json.loads(line)["port"])
        except (ValueError, KeyError) as exc:
            self.__exit__(None, None, None)
            raise ServerError(f"the load server did not start: {line!r}") from exc
        return self

    @property
    def pid(self) -> int:
        """The server's process id (0 when not running)."""
        return 0 if self._process is None else self._process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far."""
        assert self._process is not None
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.close()  # the server exits when its stdin closes
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
