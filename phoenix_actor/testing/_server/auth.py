"""The embedded server's connect decision: Phoenix 1.8's auth token, subprotocols, TLS peer.

Phoenix 1.8 (``socket "/socket", UserSocket, websocket: [auth_token: true]``) takes
the one offered subprotocol starting with ``base64url.bearer.phx.``, decodes the rest
as unpadded base64 (a malformed one makes the request fail), removes it from the
offered list, then requires ``phoenix`` among what is left (if anything is left) and
selects it. The token reaches ``connect/3`` as ``connect_info.auth_token``; here it
reaches the connect callback as :attr:`ConnectInfo.auth_token`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union, cast

from phoenix_actor._protocol.auth_token import (
    AUTH_TOKEN_PREFIX,
    PHOENIX_SUBPROTOCOL,
    decode_auth_token,
)

__all__ = [
    "ConnectCallback",
    "ConnectInfo",
    "ConnectVerdict",
    "Handshake",
    "call_connect",
    "offered_subprotocols",
    "take_auth_token",
]

#: What a connect callback returns: ``False`` refuses with HTTP 403; a ``str``
#: accepts with that socket id; ``True`` or ``None`` accepts an anonymous socket.
ConnectVerdict = Union[bool, str, None]


@dataclass(frozen=True)
class ConnectInfo:
    """What Phoenix gives ``connect/3`` as ``connect_info``, for a connect callback.

    * ``auth_token``: the Phoenix 1.8 auth token the client offered (phoenix.js
      ``authToken``), or None. Hidden from the repr.
    * ``subprotocols``: the other subprotocols the client offered, in order.
    * ``tls``: whether the connection came over TLS (``wss://``).
    * ``peer_cert``: the client certificate checked by the server's TLS context, as
      :meth:`ssl.SSLSocket.getpeercert` returns it, or None.
    """

    auth_token: str | None = field(default=None, repr=False)
    subprotocols: tuple[str, ...] = ()
    tls: bool = False
    peer_cert: Mapping[str, Any] | None = None

    def __repr__(self) -> str:
        token = "<hidden>" if self.auth_token is not None else None
        peer = "<certificate>" if self.peer_cert is not None else None
        return (
            f"ConnectInfo(auth_token={token}, subprotocols={self.subprotocols!r}, "
            f"tls={self.tls!r}, peer_cert={peer})"
        )


#: ``connect(params, headers)`` or ``connect(params, headers, info)``: a callable with a
#: third positional parameter also gets the :class:`ConnectInfo`. Header names are lower
#: case; the auth token entry is removed from ``sec-websocket-protocol``, as Phoenix does.
ConnectCallback = Union[
    Callable[[dict[str, str], dict[str, str]], ConnectVerdict],
    Callable[[dict[str, str], dict[str, str], ConnectInfo], ConnectVerdict],
]


@dataclass(frozen=True)
class Handshake:
    """What the websocket layer saw of a request besides its path and headers."""

    #: Every offered subprotocol, in order, the auth token entry included.
    subprotocols: tuple[str, ...] = ()
    tls: bool = False
    peer_cert: Mapping[str, Any] | None = None

    def __repr__(self) -> str:
        shown = tuple(
            f"{AUTH_TOKEN_PREFIX}***" if s.startswith(AUTH_TOKEN_PREFIX) else s
            for s in self.subprotocols
        )
        return f"Handshake(subprotocols={shown!r}, tls={self.tls!r})"


def offered_subprotocols(header_values: Iterable[str]) -> tuple[str, ...]:
    """The entries of every ``Sec-WebSocket-Protocol`` header, split on commas."""
    return tuple(
        item.strip() for value in header_values for item in value.split(",") if item.strip()
    )


def take_auth_token(offered: Iterable[str]) -> tuple[str | None, tuple[str, ...]]:
    """Split ``offered`` into the auth token and the other subprotocols, as Phoenix does.

    Only a single token entry counts; token entries are dropped from the rest in any
    case. Raises ValueError (without the token) when that entry is not valid base64.
    """
    entries = [s for s in offered if s.startswith(AUTH_TOKEN_PREFIX)]
    rest = tuple(s for s in offered if not s.startswith(AUTH_TOKEN_PREFIX))
    token = decode_auth_token(entries[0]) if len(entries) == 1 else None
    return token, rest


def subprotocol_refusal(rest: tuple[str, ...]) -> bool:
    """Whether Phoenix (``auth_token: true``) answers 403 to these other subprotocols."""
    return bool(rest) and PHOENIX_SUBPROTOCOL not in rest


def _takes_info(callback: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(callback).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature
        return False
    positional = 0
    for parameter in parameters:
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return True
        if parameter.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            positional += 1
    return positional >= 3


def call_connect(
    callback: ConnectCallback,
    params: dict[str, str],
    headers: dict[str, str],
    info: ConnectInfo,
) -> ConnectVerdict:
    """Call a two- or three-argument connect callback."""
    if _takes_info(callback):
        with_info = cast(
            "Callable[[dict[str, str], dict[str, str], ConnectInfo], ConnectVerdict]", callback
        )
        return with_info(params, headers, info)
    plain = cast("Callable[[dict[str, str], dict[str, str]], ConnectVerdict]", callback)
    return plain(params, headers)
