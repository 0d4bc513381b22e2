"""The warning of the pytest plugin for sockets a test left running (no pytest import
here: ``phoenix_actor.testing`` works without pytest)."""

from __future__ import annotations


class LeakedSocketWarning(UserWarning):
    """A test left a socket running; phoenix_actor's pytest plugin stopped it after the
    test. To fail such tests, make it an error:
    ``filterwarnings = error::phoenix_actor.testing.LeakedSocketWarning``."""
