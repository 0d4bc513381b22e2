"""The contract between a socket and its transport.

The socket actor only sees this: a :class:`TransportFactory` opens a connection and
returns a :class:`Transport` (``send`` a frame, ``close``); the connection reports back
through a :class:`TransportListener` exactly once ``connected`` (or not at all), any
number of ``frame`` calls, and exactly one ``disconnected`` -- unless the client closed
it, in which case nothing more is said. A factory may report ``disconnected`` before it
returns (the default one does when the credentials of :class:`TransportOptions` cannot
be resolved: nothing is attempted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from phoenix_actor._protocol.message import Frame
from phoenix_actor._transport.options import TransportOptions
from phoenix_actor._transport.reasons import DisconnectReason

__all__ = ["Transport", "TransportFactory", "TransportListener"]


class TransportListener(Protocol):
    """Where a transport reports what happens to its connection."""

    def connected(self) -> None:
        """The websocket handshake succeeded."""

    def frame(self, frame: Frame) -> bool | None:
        """A data frame arrived (``False``: hold the reading, as for ``frames``)."""

    def frames(self, frames: list[Frame]) -> bool | None:
        """Several data frames arrived, in this order (one read from the socket).

        ``False`` asks the transport to stop reading until ``resume_reading`` (too many
        frames wait to be handled); a transport that cannot pause may ignore it.
        """

    def disconnected(self, reason: DisconnectReason) -> None:
        """The attempt failed or the connection ended (said once, never after ``close``)."""


class Transport(Protocol):
    """A live connection as the socket actor uses it.

    A transport that honours backpressure (a listener's ``frames`` answering ``False``)
    also has ``resume_reading()``, which the socket calls once its backlog is short.
    """

    def send(self, frame: Frame) -> None:
        """Send one frame (fire and forget: failures surface as a disconnect)."""

    def close(self) -> None:
        """Close the connection and release every resource; idempotent."""

    # Optional: ``frames_sent() -> int``, how many of the frames given to ``send`` (the
    # first ones, in order) were written to the connection, at least in part. Read
    # after ``close``. Without it, every request awaiting its reply when the
    # connection closes fails with ReplyLostError (it may have left).


TransportFactory = Callable[[str, TransportOptions, TransportListener], Transport]
