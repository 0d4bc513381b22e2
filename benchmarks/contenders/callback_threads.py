"""*phoenix_actor threads*: the callback API with ``Config(runtime="threads")``.

The same scenarios as :mod:`benchmarks.contenders.callback`, with a thread per actor
(the socket actor and its transport actor) instead of the shared pool.
"""

from __future__ import annotations

from benchmarks._common import CONFIG_OPTIONS

CONFIG_OPTIONS["runtime"] = "threads"

from benchmarks.contenders.callback import SCENARIOS  # noqa: E402 -- after the option

__all__ = ["SCENARIOS"]
