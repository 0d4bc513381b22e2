"""The contenders: each module runs the five scenarios with one client library.

*raw* is websocket-client's loop, *chunked* the limit of one Python thread (its own
frame parser, 64 KiB reads), *phoenix_actor* the callback API on the default (pooled)
runtime and *phoenix_actor threads* the same on ``Config(runtime="threads")``.

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
CHUNKED = Contender("chunked", "chunked", "benchmarks.contenders.chunked")
CALLBACK = Contender("phoenix_actor", "phoenix_actor", "benchmarks.contenders.callback")
THREADS = Contender(
    "phoenix_actor_threads", "phoenix_actor threads", "benchmarks.contenders.callback_threads"
)
FACADE = Contender("facade", "phoenix_actor facade", "benchmarks.contenders.facade")
REALTIME = Contender("realtime", "realtime", "benchmarks.contenders.realtime_client")
PHOENIX_JS = Contender("phoenix_js", "phoenix.js", None)

CONTENDERS = (RAW, CHUNKED, CALLBACK, THREADS, FACADE, REALTIME, PHOENIX_JS)
#: The contenders whose targets the issues set.
OURS = (CALLBACK, THREADS, FACADE)
#: The contenders of the ``scale`` scenario (the others skip it).
SCALE = (CALLBACK, THREADS, CHUNKED)
