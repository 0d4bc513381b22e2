"""One contender's scenario in a fresh process: a JSON job on stdin, a JSON answer on stdout.

Job: ``{"contender", "scenario", "context", "counts", "repeats", "profile"}``.
Answer (the last stdout line): ``{"runs": [metrics, ...]}``, ``{"skip": why}`` or
``{"error": what, "runs": [...]}``. ``scenario`` may also be ``"probe"`` (the
realtime compatibility probe). Run as ``python -m benchmarks._worker``.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import sys
import traceback
from typing import Any

from benchmarks import _common, _profile
from benchmarks._common import BenchError, Context, Counts, Skip

#: Scenarios run as another, with the interpreter or phoenix_actor tuned first: name ->
#: (scenario, ``sys.setswitchinterval`` seconds or None (CPython's default is 0.005),
#: ``TransportOptions`` fields for phoenix_actor).
VARIANTS: dict[str, tuple[str, float | None, dict[str, Any]]] = {
    "fanout_tuned": ("fanout", 0.05, {}),
}


def run(job: dict[str, Any]) -> dict[str, Any]:
    """Carry out ``job``; never raises."""
    if job.get("profile"):
        _profile.install()
    try:
        module = importlib.import_module(job["module"])
    except Skip as exc:
        return {"skip": str(exc)}
    ctx = Context(**job["context"])
    counts = Counts(**{**job["counts"], "scale_sizes": tuple(job["counts"]["scale_sizes"])})
    limit = _common.raise_fd_limit()
    if job["scenario"] == "scale" and counts.sockets + 100 > limit:
        return {"skip": f"{counts.sockets:,} sockets need more than RLIMIT_NOFILE {limit:,}"}
    if job["scenario"] == "probe":
        return {"runs": [module.probe(ctx)]}
    name, switch_interval, transport = VARIANTS.get(job["scenario"], (job["scenario"], None, {}))
    if switch_interval is not None:
        sys.setswitchinterval(switch_interval)
    _common.TRANSPORT_OPTIONS.update(transport)
    scenario = module.SCENARIOS.get(name)
    if scenario is None:
        return {"skip": f"{job['contender']} has no {job['scenario']} scenario"}
    runs = []
    for index in range(job["repeats"]):
        try:
            runs.append(scenario(dataclasses.replace(ctx, run_id=f"{ctx.run_id}.{index}"), counts))
        except Skip as exc:
            return {"skip": str(exc)}
        except BenchError as exc:
            return {"error": str(exc), "runs": runs}
        except Exception as exc:  # noqa: BLE001 -- reported to the orchestrator
            detail = "".join(traceback.format_exception(exc)[-3:]).strip()
            return {"error": f"{type(exc).__name__}: {exc}\n{detail}", "runs": runs}
    if job.get("profile"):
        _profile.collect(job["profile"])
    return {"runs": runs}


def main() -> int:
    """Read the job, print the answer."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    answer = run(json.load(sys.stdin))
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
