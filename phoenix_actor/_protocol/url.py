"""Socket URL validation, query building and redaction.

Query values and URL user info may carry credentials: every message built here names
keys and types, never values, and :func:`redact_url` is what logs show.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Union
from urllib.parse import urlencode, urlsplit

from phoenix_actor._protocol.constants import VSN_PARAM
from phoenix_actor.exceptions import ConfigError, InvalidURLError

ParamValue = Union[str, int, float, bool]
ParamPairs = Union[Mapping[str, ParamValue], Sequence[tuple[str, ParamValue]]]
#: Query params: a mapping, a sequence of pairs, or a callable returning either; a
#: callable is called before every connection attempt (fresh tokens on reconnect).
Params = Union[ParamPairs, Callable[[], ParamPairs]]


def check_url(url: object) -> str:
    """Return ``url`` if it is a ``ws://`` or ``wss://`` URL with no query or fragment."""
    if not isinstance(url, str):
        raise InvalidURLError(f"the socket URL must be a str, not {type(url).__name__}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidURLError(f"invalid socket URL {redact_url(url)!r}: {exc}") from exc
    if parts.scheme not in ("ws", "wss"):
        raise InvalidURLError(
            f"the socket URL must start with ws:// or wss://, got {redact_url(url)!r} "
            "(Phoenix serves websockets at <socket path>/websocket, e.g. "
            "ws://localhost:4000/socket/websocket)"
        )
    if not parts.hostname:
        raise InvalidURLError(f"the socket URL has no host: {redact_url(url)!r}")
    if parts.query or url.endswith("?"):
        raise InvalidURLError(
            f"the socket URL must not have a query string ({redact_url(url)!r}); pass query "
            "parameters as params so they are encoded and vsn is added"
        )
    if parts.fragment or "#" in url:
        raise InvalidURLError(f"the socket URL must not have a fragment: {redact_url(url)!r}")
    return url


def _text(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ConfigError(
        f"query param {key!r} must be a str, int, float or bool, not {type(value).__name__}"
    )


def _shape(item: object) -> str:
    """Describe ``item`` by its types only (it may hold a secret)."""
    if isinstance(item, (tuple, list)):
        inner = ", ".join(type(x).__name__ for x in item[:3])
        more = ", ..." if len(item) > 3 else ""
        return f"{type(item).__name__} of ({inner}{more})"
    return type(item).__name__


def param_pairs(params: ParamPairs | None) -> list[tuple[str, str]]:
    """Validate params and return them as a list of string pairs, in order."""
    if params is None:
        return []
    if isinstance(params, Mapping):
        items = list(params.items())
    elif isinstance(params, (str, bytes)) or not isinstance(params, Sequence):  # type: ignore[unreachable]
        raise ConfigError(
            f"params must be a mapping or a sequence of pairs, not {type(params).__name__}"
        )
    else:
        items = list(params)
    pairs: list[tuple[str, str]] = []
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise ConfigError(f"each query param must be a (str, value) pair, not {_shape(item)}")
        pairs.append((item[0], _text(item[0], item[1])))
    return pairs


def resolve_params(params: Params | None) -> list[tuple[str, str]]:
    """Call ``params`` if it is callable, then validate it."""
    if callable(params):
        try:
            produced = params()
        except Exception as exc:
            # By type only: the message of an exception from credential code may quote
            # a credential (the exception itself is the __cause__).
            raise ConfigError(f"the params callable raised {type(exc).__name__}") from exc
        return param_pairs(produced)
    return param_pairs(params)


def build_url(url: str, pairs: list[tuple[str, str]], vsn: str) -> str:
    """``url`` + ``?`` + the form-encoded params, with ``vsn`` appended unless given."""
    if not any(key == VSN_PARAM for key, _ in pairs):
        pairs = [*pairs, (VSN_PARAM, vsn)]
    return f"{url}?{urlencode(pairs)}"


def redact_url(url: str) -> str:
    """The URL for logs: user info, every query value but ``vsn`` and any fragment
    become ``***``.

    >>> redact_url("wss://bob:pw@h/socket/websocket?token=t&vsn=2.0.0")
    'wss://***@h/socket/websocket?token=***&vsn=2.0.0'
    """
    url, hash_sign, _fragment = url.partition("#")
    fragment = "#***" if hash_sign else ""
    base, _, query = url.partition("?")
    base = _redact_userinfo(base)
    if not query:
        return base + fragment
    shown = []
    for part in query.split("&"):
        key, _, _value = part.partition("=")
        shown.append(part if key == VSN_PARAM else f"{key}=***")
    return f"{base}?{'&'.join(shown)}{fragment}"


def _redact_userinfo(base: str) -> str:
    scheme, sep, rest = base.partition("://")
    authority, slash, path = rest.partition("/")
    if not sep or "@" not in authority:
        return base
    return f"{scheme}://***@{authority.rpartition('@')[2]}{slash}{path}"
