"""How to open the websocket: :class:`TransportOptions`, and what one attempt sends.

The options are validated when built. Credentials that change (``headers`` and
``auth_token`` given as callables), TLS files and the proxy are turned into a
:class:`ConnectPlan` by :func:`resolve_options` before every connection attempt, so a
reconnect never reuses an expired token or a rotated certificate. Nothing here ever
puts a header value, token or password in a message or a repr.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import ssl
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Union
from urllib.parse import unquote, urlsplit

from phoenix_actor._protocol.auth_token import (
    AUTH_TOKEN_PREFIX,
    PHOENIX_SUBPROTOCOL,
    encode_auth_token,
)
from phoenix_actor._protocol.url import redact_url
from phoenix_actor._transport.checks import is_seconds
from phoenix_actor.exceptions import ConfigError

logger = logging.getLogger("phoenix_actor.transport")

#: Extra HTTP headers: a mapping, or a callable returning one (or None for none).
HeaderMap = Mapping[str, str]
HeadersOption = Union[HeaderMap, Callable[[], Union[HeaderMap, None]]]
#: The Phoenix 1.8 auth token: a str, or a callable returning one (or None: no token).
AuthTokenOption = Union[str, Callable[[], Union[str, None]]]
#: A file system path.
PathOption = Union[str, "os.PathLike[str]"]

_TCHARS: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
_PROXY_SCHEMES: Final = ("http", "socks4", "socks4a", "socks5", "socks5h")
_PROXY_KEYS: Final = frozenset(
    {"http_proxy_host", "http_proxy_port", "http_proxy_auth", "http_no_proxy", "proxy_type"}
)
#: ``connect`` arguments the transport sets itself.
_OWN_KEYS: Final = frozenset(
    {"header", "origin", "suppress_origin", "subprotocols", "timeout", "sslopt"}
)
#: Further ``connect`` arguments websocket-client understands (``sockopt`` is ours: it
#: goes to the ``WebSocket`` constructor).
_EXTRA_KEYS: Final = frozenset(
    {
        "connection",
        "cookie",
        "host",
        "http_no_proxy",
        "http_proxy_auth",
        "http_proxy_host",
        "http_proxy_port",
        "http_proxy_timeout",
        "proxy_type",
        "redirect_limit",
        "sockopt",
    }
)
_SSL_FIELDS: Final = ("ca_file", "client_cert", "client_key")
#: ``TransportOptions.max_message_size`` by default: 16 MiB.
DEFAULT_MAX_MESSAGE_SIZE: Final = 16 * 1024 * 1024


def _is_token(text: str) -> bool:
    return bool(text) and all(c in _TCHARS for c in text)


def check_headers(headers: object, source: str = "headers") -> dict[str, str]:
    """Validate extra headers and return them as a dict; messages name keys, not values."""
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise ConfigError(f"{source} must be a mapping of str to str, not {type(headers).__name__}")
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _is_token(name):
            shown = repr(name) if isinstance(name, str) else type(name).__name__
            raise ConfigError(f"{source}: {shown} is not a valid HTTP header name")
        if name.lower() == "sec-websocket-protocol":
            raise ConfigError(
                f"{source}: set Sec-WebSocket-Protocol with the subprotocols and auth_token "
                "options, not as a header"
            )
        if not isinstance(value, str):
            raise ConfigError(
                f"{source}: the value of {name!r} must be a str, not {type(value).__name__}"
            )
        if any(c in value for c in "\r\n\0"):
            raise ConfigError(f"{source}: the value of {name!r} contains a line break or NUL")
        checked[name] = value
    return checked


def check_auth_token(token: object, source: str = "auth_token") -> str | None:
    """Validate an auth token (a non-empty str, or None for none) without showing it."""
    if token is None:
        return None
    if not isinstance(token, str):
        raise ConfigError(f"{source} must be a str or None, not {type(token).__name__}")
    if not token:
        raise ConfigError(f"{source} must not be empty (use None to send no token)")
    return token


def _call(produce: Callable[[], object], what: str) -> object:
    try:
        return produce()
    except Exception as exc:
        # By type only: the message of an exception from credential code may quote a
        # credential (the exception itself is the __cause__).
        raise ConfigError(f"the {what} callable raised {type(exc).__name__}") from exc


def parse_proxy(url: str) -> dict[str, Any]:
    """``scheme://[user:password@]host:port`` as websocket-client's proxy arguments."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"invalid proxy URL {shown!r}: {exc}") from None
    if parts.scheme not in _PROXY_SCHEMES:
        raise ConfigError(
            f"the proxy URL {shown!r} must start with one of "
            f"{', '.join(s + '://' for s in _PROXY_SCHEMES)}"
        )
    if not parts.hostname or port is None:
        raise ConfigError(f"the proxy URL {shown!r} needs a host and a port")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"the proxy URL {shown!r} must not have a path or query")
    if parts.scheme != "http" and importlib.util.find_spec("python_socks") is None:
        raise ConfigError("a SOCKS proxy needs the python-socks package: pip install python-socks")
    kwargs: dict[str, Any] = {
        "http_proxy_host": parts.hostname,
        "http_proxy_port": port,
        "proxy_type": parts.scheme,
    }
    if parts.username is not None:
        kwargs["http_proxy_auth"] = (unquote(parts.username), unquote(parts.password or ""))
    return kwargs


def _hidden(value: object) -> str:
    if value is None:
        return "None"
    return "<callable>" if callable(value) else "<hidden>"


def _names(headers: HeadersOption) -> str:
    return "<callable>" if callable(headers) else repr(sorted(headers))


@dataclass(frozen=True)
class TransportOptions:
    """How to open the websocket. Every field has a safe default; all are validated here.

    Request:

    * ``headers``: extra HTTP headers for the upgrade request, or a callable returning
      them, called before every connection attempt (tokens that expire).
    * ``auth_token``: Phoenix 1.8's auth token (phoenix.js ``authToken``), or a callable
      returning it (or None to send none), called before every attempt. It travels in
      ``Sec-WebSocket-Protocol`` as ``phoenix, base64url.bearer.phx.<base64 of the
      token, unpadded>``; the Phoenix socket needs ``auth_token: true`` and gets it as
      ``connect_info.auth_token``. It keeps the token out of URLs and access logs.
    * ``origin``: the Origin header; none is sent by default (Phoenix answers 403 to an
      Origin whose host it does not expect, and only checks it when present).
    * ``subprotocols``: further subprotocols offered in ``Sec-WebSocket-Protocol``.
      A server may select none; one it selects must have been offered (RFC 6455).
    * ``connect_timeout``: seconds for TCP connect, proxy, TLS and the upgrade (10).

    TLS (``wss://`` only). The server certificate and host name are **verified by
    default**, against the system CA store (or websocket-client's
    ``WEBSOCKET_CLIENT_CA_BUNDLE``); only a context or ``sslopt`` of yours can turn
    that off, and building one that does logs a warning:

    * ``ca_file``: PEM file of the CA certificates to trust instead of the system ones.
    * ``client_cert`` / ``client_key``: PEM files of a client certificate and its key
      (the key may be in ``client_cert``); ``client_key_password`` if it is encrypted.
      The files are read again before every attempt, so rotated files are picked up.
    * ``ssl_context``: an :class:`ssl.SSLContext` used as is (not with the above).
    * ``sslopt``: websocket-client's own TLS options, passed through (not with the above).

    Proxy (websocket-client otherwise honours the ``http_proxy``, ``https_proxy`` and
    ``no_proxy`` environment variables; ``no_proxy=("*",)`` ignores them):

    * ``proxy``: ``http://[user:password@]host:port`` (HTTP CONNECT), or ``socks4://``,
      ``socks4a://``, ``socks5://``, ``socks5h://`` (these need ``python-socks``).
    * ``no_proxy``: host names, domains (``.example.com``) or networks to reach directly
      (when empty, the ``no_proxy`` environment variable applies, even to ``proxy``).

    Keepalive:

    * ``ping_interval``: send a websocket ping every that many seconds (off by default:
      Phoenix heartbeats already detect dead connections; pings help when a proxy drops
      connections idle at the websocket level, or with ``heartbeat_interval=None``).
    * ``ping_timeout``: seconds to wait for the pong (default and most:
      ``ping_interval``); a
      missing pong closes the connection with :class:`~phoenix_actor.PingTimeout`.

    Other:

    * ``max_message_size``: the largest message the server may send, in bytes (16 MiB
      by default; ``None``: no limit). A message over it, one frame or the fragments
      of one, closes the connection with 1009 as soon as a frame header announces it,
      before its payload is read, and is reported as
      :class:`~phoenix_actor.MessageTooBig`; ``Reconnect()`` then retries as after any
      lost connection. The default leaves room for large presence states and replies
      while bounding what one connection can make the process hold (without it, a
      message that never ends grows without bound).
    * ``shared_reader``: deprecated and ignored: every connection is read by the one
      reader thread of the process now (a ``DeprecationWarning`` when set).
    * ``extra``: further keyword arguments for ``websocket.WebSocket.connect``
      (``redirect_limit``, ``http_proxy_timeout``...), and ``sockopt``, a sequence of
      ``setsockopt`` argument tuples. Redirects are not followed by default, as in
      browsers (a redirect is :class:`~phoenix_actor.HandshakeRejected` with its 3xx
      status): following one would send the credentials to wherever it points.
    """

    headers: HeadersOption = field(default_factory=dict)
    origin: str | None = None
    subprotocols: Sequence[str] = ()
    connect_timeout: float = 10.0
    sslopt: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    auth_token: AuthTokenOption | None = None
    ca_file: PathOption | None = None
    client_cert: PathOption | None = None
    client_key: PathOption | None = None
    client_key_password: str | None = None
    ssl_context: ssl.SSLContext | None = None
    proxy: str | None = None
    no_proxy: Sequence[str] = ()
    ping_interval: float | None = None
    ping_timeout: float | None = None
    shared_reader: bool = False
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE

    def __post_init__(self) -> None:
        size = self.max_message_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ConfigError(f"max_message_size must be an int >= 1 (bytes) or None, not {size!r}")
        if not isinstance(self.shared_reader, bool):
            raise ConfigError(f"shared_reader must be True or False, not {self.shared_reader!r}")
        if self.shared_reader:
            warnings.warn(
                "TransportOptions(shared_reader=True) is ignored: every connection is read "
                "by the one reader thread of the process",
                DeprecationWarning,
                stacklevel=3,
            )
        timeout = self.connect_timeout
        if not is_seconds(timeout):
            raise ConfigError(f"connect_timeout must be > 0 seconds (finite), not {timeout!r:.100}")
        for name in ("ping_interval", "ping_timeout"):
            value = getattr(self, name)
            if value is not None and not is_seconds(value):
                raise ConfigError(f"{name} must be a number of seconds > 0 or None, not {value!r}")
        if self.ping_timeout is not None and (
            self.ping_interval is None or self.ping_timeout > self.ping_interval
        ):
            raise ConfigError("ping_timeout needs a ping_interval at least as long")
        if not callable(self.headers):
            check_headers(self.headers)
        if not callable(self.auth_token):
            check_auth_token(self.auth_token)
        if self.origin is not None and not isinstance(self.origin, str):
            raise ConfigError(f"origin must be a str or None, not {type(self.origin).__name__}")
        self._check_subprotocols()
        self._check_tls()
        self._check_proxy()
        if not isinstance(self.extra, Mapping):
            raise ConfigError(f"extra must be a mapping, not {type(self.extra).__name__}")
        own = sorted(_OWN_KEYS.intersection(self.extra))
        if own:
            raise ConfigError(
                f"extra must not set {', '.join(own)}: use the fields of the same role"
            )
        unknown = sorted(str(key)[:40] for key in set(self.extra) - _OWN_KEYS - _EXTRA_KEYS)
        if unknown:
            raise ConfigError(
                f"extra has unknown key(s) {', '.join(unknown)}; websocket-client takes "
                f"{', '.join(sorted(_EXTRA_KEYS))}"
            )
        sockopt = self.extra.get("sockopt", ())
        if (
            isinstance(sockopt, (str, bytes))
            or not isinstance(sockopt, Sequence)
            or not all(isinstance(option, tuple) for option in sockopt)
        ):
            raise ConfigError("extra['sockopt'] must be a sequence of setsockopt argument tuples")

    def _check_subprotocols(self) -> None:
        if isinstance(self.subprotocols, str) or not isinstance(self.subprotocols, Sequence):
            raise ConfigError("subprotocols must be a sequence of str")
        for item in self.subprotocols:
            if not isinstance(item, str) or not _is_token(item):
                raise ConfigError(
                    "each subprotocol must be a non-empty HTTP token (no spaces, commas, /)"
                )
            if item.startswith(AUTH_TOKEN_PREFIX):
                raise ConfigError("pass the auth token as auth_token, not as a subprotocol")

    def _check_tls(self) -> None:
        for name in _SSL_FIELDS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, (str, os.PathLike)):
                raise ConfigError(f"{name} must be a path, not {type(value).__name__}")
        if self.client_key is not None and self.client_cert is None:
            raise ConfigError("client_key needs client_cert")
        if self.client_key_password is not None and self.client_cert is None:
            raise ConfigError("client_key_password needs client_cert")
        files = [name for name in _SSL_FIELDS if getattr(self, name) is not None]
        if self.ssl_context is not None:
            if not isinstance(self.ssl_context, ssl.SSLContext):
                raise ConfigError(
                    f"ssl_context must be an ssl.SSLContext, not {type(self.ssl_context).__name__}"
                )
            if files or self.sslopt:
                raise ConfigError(f"ssl_context excludes {', '.join(files) or 'sslopt'}")
            if self.ssl_context.verify_mode == ssl.CERT_NONE:
                logger.warning("ssl_context does not verify certificates: use it only for tests")
        if not isinstance(self.sslopt, Mapping):
            raise ConfigError(f"sslopt must be a mapping, not {type(self.sslopt).__name__}")
        if self.sslopt and files:
            raise ConfigError(f"sslopt excludes {', '.join(files)}: use one or the other")
        if self.sslopt.get("cert_reqs", ssl.CERT_REQUIRED) == ssl.CERT_NONE:
            logger.warning("sslopt turns certificate verification off: use it only for tests")

    def _check_proxy(self) -> None:
        if self.proxy is not None:
            if not isinstance(self.proxy, str):
                raise ConfigError(f"proxy must be a URL str, not {type(self.proxy).__name__}")
            parse_proxy(self.proxy)
            clash = sorted(_PROXY_KEYS.intersection(self.extra))
            if clash:
                raise ConfigError(f"proxy excludes extra {', '.join(clash)}")
        if isinstance(self.no_proxy, str) or not all(isinstance(h, str) for h in self.no_proxy):
            raise ConfigError("no_proxy must be a sequence of host names")

    def __repr__(self) -> str:
        # Values of headers, tokens, passwords and TLS options may be credentials.
        shown = [
            f"headers={_names(self.headers)}",
            f"auth_token={_hidden(self.auth_token)}",
            f"origin={self.origin!r}",
            f"subprotocols=<{len(self.subprotocols)}>",
            f"connect_timeout={self.connect_timeout!r}",
        ]
        if self.max_message_size != DEFAULT_MAX_MESSAGE_SIZE:
            shown.append(f"max_message_size={self.max_message_size!r}")
        for name in _SSL_FIELDS:
            value = getattr(self, name)
            if value is not None:
                shown.append(f"{name}={os.fspath(value)!r}")
        if self.client_key_password is not None:
            shown.append("client_key_password=<hidden>")
        if self.ssl_context is not None:
            shown.append(f"ssl_context=<{type(self.ssl_context).__name__}>")
        if self.sslopt:
            shown.append(f"sslopt={sorted(self.sslopt)!r}")
        if self.proxy is not None:
            shown.append(f"proxy={redact_url(self.proxy)!r}")
        if self.no_proxy:
            shown.append(f"no_proxy={list(self.no_proxy)!r}")
        if self.extra:
            shown.append(f"extra={sorted(self.extra)!r}")
        return f"TransportOptions({', '.join(shown)})"


@dataclass(frozen=True)
class ConnectPlan:
    """What one connection attempt sends: the options with every callable resolved."""

    header: dict[str, str] = field(repr=False)
    #: Offered subprotocols other than the auth token entry, in order.
    subprotocols: tuple[str, ...]
    sends_auth_token: bool
    #: For the ``websocket.WebSocket`` constructor (``connect`` ignores them).
    sslopt: dict[str, Any] = field(repr=False)
    sockopt: tuple[Any, ...] = field(repr=False)
    connect_kwargs: dict[str, Any] = field(repr=False)

    def check_selected(self, selected: str | None) -> str | None:
        """Why the server's selected subprotocol is not acceptable, or None if it is."""
        if selected is None:
            if self.sends_auth_token:
                logger.warning(
                    "the server selected no subprotocol, so it ignores the auth token "
                    "(a Phoenix socket needs auth_token: true)"
                )
            return None
        if selected.lower() not in (s.lower() for s in self.subprotocols):
            return f"the server selected subprotocol {selected[:40]!r}, which was not offered"
        return None


def _tls_context(options: TransportOptions) -> ssl.SSLContext:
    cafile = None if options.ca_file is None else os.fspath(options.ca_file)
    try:
        context = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load ca_file {cafile!r}: {exc}") from exc
    if options.client_cert is not None:
        password = options.client_key_password
        try:
            context.load_cert_chain(
                options.client_cert,
                options.client_key,
                # Never let OpenSSL prompt on the terminal for a missing password.
                password if password is not None else (lambda: b""),
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot load client_cert {os.fspath(options.client_cert)!r}: {exc}"
            ) from exc
    return context


def resolve_options(options: TransportOptions, url: str) -> ConnectPlan:
    """Call the credential callables and load TLS files for one attempt at ``url``.

    Raises :class:`ConfigError` (never showing a credential) when a callable raises or
    returns the wrong type, or a TLS file cannot be loaded.
    """
    headers = options.headers
    if callable(headers):
        header = check_headers(_call(headers, "headers"), "the headers callable's result")
    else:
        header = check_headers(headers)
    token_option = options.auth_token
    if callable(token_option):
        token = check_auth_token(
            _call(token_option, "auth_token"), "the auth_token callable's result"
        )
    else:
        token = token_option
    subprotocols = list(options.subprotocols)
    offered = list(subprotocols)
    if token is not None:
        if PHOENIX_SUBPROTOCOL not in subprotocols:
            subprotocols.insert(0, PHOENIX_SUBPROTOCOL)
        offered = [*subprotocols, encode_auth_token(token)]
    if offered:
        header["Sec-WebSocket-Protocol"] = ", ".join(offered)
    if url.lower().startswith("wss:"):
        if options.ssl_context is not None:
            sslopt: dict[str, Any] = {"context": options.ssl_context}
        elif options.ca_file is not None or options.client_cert is not None:
            sslopt = {"context": _tls_context(options)}
        else:
            sslopt = dict(options.sslopt)  # websocket-client's default verifies
    else:
        sslopt = {}
    kwargs: dict[str, Any] = {"redirect_limit": 0}
    if options.proxy is not None:
        kwargs.update(parse_proxy(options.proxy))
    if options.no_proxy:
        kwargs["http_no_proxy"] = list(options.no_proxy)
    kwargs.update(options.extra)
    sockopt = tuple(kwargs.pop("sockopt", ()) or ())
    return ConnectPlan(header, tuple(subprotocols), token is not None, sslopt, sockopt, kwargs)
