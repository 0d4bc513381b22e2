"""Benchmarks of phoenix_actor against its limits and its peers (issues 6, 13 and 17).

``python -m benchmarks`` installs the Node.js load server's packages (``npm ci`` in
``benchmarks/node``), starts it on 127.0.0.1, runs each scenario several times for
each contender, each run in a fresh worker process, and prints a Markdown table of
medians with the ratios to *raw*, the machine it ran on and the issue's targets.
``--smoke`` runs every path once with tiny counts (CI does, from a test);
``--scenario`` and ``--contender`` select; ``--profile`` profiles phoenix_actor's
hot path instead. Benchmarks print numbers; they never assert on them.

Contenders (``benchmarks/contenders``): *raw* websocket-client, *chunked* (the limit
of one Python thread: its own frame parser over a plain socket), phoenix_actor's
callback API on the pooled runtime and on ``runtime="threads"``, its thread-safe
facade, *realtime* (PyPI) and *phoenix.js* (npm, on Node). Scenarios: ``inbound``,
``push_reply``, ``connect_join``, ``fanout`` (1,000 sockets), ``stop`` and ``scale``
(100 to 10,000 sockets, issue 13). One-socket runs are interleaved, each in a fresh
process; ratios are to raw and to chunked.
"""
