"""*phoenix_actor threads*: the callback API with ``Config(runtime="threads")``.

The same scenarios as :mod:`benchmarks.contenders.callback`, with a thread per actor
(the socket actor and its transport actor) instead of the shared pool.
"""

from __future__ import annotations

from benchmarks._common import CONFIG_OPTIONS

CONFIG_OPTIONS["runtime"] = "threads"

from benchmarks._common import Context, Counts, Metrics, Skip  # noqa: E402
from benchmarks.contenders.callback import SCENARIOS as _POOLED  # noqa: E402 -- after the option

#: The most sockets the scale scenario tries with a thread per actor: at 10,000 (20,000
#: threads) a trial run on the 2-core benchmark machine had not finished joining them
#: within 215 s (the worker's limit), so 10,000 is skipped rather than waited for.
MAX_SCALE_SOCKETS = 5_000


def _scale(ctx: Context, counts: Counts) -> Metrics:
    if counts.sockets > MAX_SCALE_SOCKETS:
        raise Skip(
            f"{counts.sockets:,} sockets with a thread per actor: capped at "
            f"{MAX_SCALE_SOCKETS:,} (at 10,000, 20,000 threads did not finish joining "
            "within 215 s on the 2-core benchmark machine)"
        )
    return _POOLED["scale"](ctx, counts)


SCENARIOS = {**_POOLED, "scale": _scale}
__all__ = ["SCENARIOS"]
