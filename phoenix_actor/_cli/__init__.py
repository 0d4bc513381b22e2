"""The ``phoenix-actor`` command: ``connect``, ``serve`` and ``demo``."""
