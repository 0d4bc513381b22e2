"""Benchmarks of phoenix_actor against its limit and its peers (issue 6).

``python -m benchmarks`` installs the Node.js load server's packages (``npm ci`` in
``benchmarks/node``), starts it on 127.0.0.1, runs each scenario several times for
each contender, each run in a fresh worker process, and prints a Markdown table of
medians with the ratios to *raw*, the machine it ran on and the issue's targets.
``--smoke`` runs every path once with tiny counts (CI does, from a test);
``--scenario`` and ``--contender`` select; ``--profile`` profiles phoenix_actor's
hot path instead. Benchmarks print numbers; they never assert on them.

Contenders (``benchmarks/contenders``): *raw* websocket-client, phoenix_actor's
callback API, its thread-safe facade (when it exists), *realtime* (PyPI) and
*phoenix.js* (npm, on Node). Scenarios: ``inbound``, ``push_reply``,
``connect_join``, ``fanout`` (1,000 sockets) and ``stop``.
"""
