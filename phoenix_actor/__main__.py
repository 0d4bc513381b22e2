"""``python -m phoenix_actor``: the command line (see :mod:`phoenix_actor._cli.connect`)."""

from phoenix_actor._cli.main import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
