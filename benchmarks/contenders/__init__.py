"""The contenders: each module runs the five scenarios with one client library.

A Python contender module exposes ``SCENARIOS``, a mapping of scenario name to a
function ``(Context, Counts) -> Metrics``, and raises
:class:`~benchmarks._common.Skip` at import when it cannot run here. phoenix.js runs
on Node (``benchmarks/node/phoenix_js_bench.mjs``) and answers in the same form.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Contender:
    """One column of the table."""

    key: str  #: the name ``--contender`` takes
    label: str  #: the column header
    module: str | None  #: the Python module, or None for the Node driver


RAW = Contender("raw", "raw", "benchmarks.contenders.raw")
CALLBACK = Contender("phoenix_actor", "phoenix_actor", "benchmarks.contenders.callback")
FACADE = Contender("facade", "phoenix_actor facade", "benchmarks.contenders.facade")
REALTIME = Contender("realtime", "realtime", "benchmarks.contenders.realtime_client")
PHOENIX_JS = Contender("phoenix_js", "phoenix.js", None)

CONTENDERS = (RAW, CALLBACK, FACADE, REALTIME, PHOENIX_JS)
#: The contenders whose targets the issue sets.
OURS = (CALLBACK, FACADE)
