"""Unit tests for phoenix_actor._protocol.url: URL checks, query params, vsn, redaction.

Rules from protocol.md 1.5, 4.1 and section 7 (items 1-2): a user-given vsn wins,
otherwise vsn=2.0.0 is appended last; form encoding; a URL with a query is refused.
"""

from __future__ import annotations

import types
from collections.abc import Callable

import pytest

from phoenix_actor._protocol.url import (
    build_url,
    check_url,
    param_pairs,
    redact_url,
    resolve_params,
)
from phoenix_actor.exceptions import ConfigError, InvalidURLError, PhoenixActorError
from phoenix_actor.serializer import JSONSerializer

URL = "ws://localhost:4000/socket/websocket"

# -- check_url -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        URL,
        "wss://example.com/socket/websocket",
        "ws://127.0.0.1/socket/websocket",
        "ws://[::1]:4000/socket/websocket",
        "ws://localhost:4000",
        "ws://h",
        "WSS://Example.COM/x",
        "ws://user:secret@h:80/socket/websocket",
    ],
)
def test_check_url_accepts(url: str) -> None:
    assert check_url(url) is url


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://localhost:4000/socket/websocket", "must start with ws:// or wss://"),
        ("https://localhost:4000/socket/websocket", "must start with ws:// or wss://"),
        ("ftp://h/x", "must start with ws:// or wss://"),
        ("localhost:4000/socket/websocket", "must start with ws:// or wss://"),
        ("/socket/websocket", "must start with ws:// or wss://"),
        ("", "must start with ws:// or wss://"),
        ("ws:///socket/websocket", "has no host"),
        ("ws://:4000/socket/websocket", "has no host"),
        ("ws://", "has no host"),
        ("ws://h/socket/websocket?token=1", "must not have a query string"),
        ("ws://h/socket/websocket?vsn=2.0.0", "must not have a query string"),
        ("ws://h/socket/websocket?", "must not have a query string"),
        ("ws://h?", "must not have a query string"),
        ("ws://h/x?a=1#f", "must not have a query string"),
        ("ws://h/socket/websocket#frag", "must not have a fragment"),
        ("ws://h:abc/x", "invalid socket URL"),
        ("ws://h:99999/x", "invalid socket URL"),
        ("ws://h:-1/x", "invalid socket URL"),
        ("ws://[::1/x", "invalid socket URL"),
    ],
)
def test_check_url_rejects(url: str, match: str) -> None:
    with pytest.raises(InvalidURLError, match=match) as info:
        check_url(url)
    assert repr(redact_url(url)) in str(info.value)  # query values never shown
    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, PhoenixActorError)


def test_check_url_http_message_shows_a_ws_example() -> None:
    with pytest.raises(InvalidURLError) as info:
        check_url("http://localhost:4000/socket")
    message = str(info.value)
    assert "ws://" in message
    assert "ws://localhost:4000/socket/websocket" in message
    assert "/websocket" in message


def test_check_url_bad_port_chains_the_cause() -> None:
    with pytest.raises(InvalidURLError) as info:
        check_url("ws://h:port/x")
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize(
    ("url", "type_name"),
    [(None, "NoneType"), (b"ws://h/x", "bytes"), (42, "int"), (["ws://h/x"], "list")],
)
def test_check_url_rejects_non_str(url: object, type_name: str) -> None:
    with pytest.raises(InvalidURLError, match=f"must be a str, not {type_name}$"):
        check_url(url)


@pytest.mark.parametrize("url", ["ws://h/socket/websocket#", "ws://h/socket/websocket?#"])
def test_check_url_rejects_empty_fragment(url: str) -> None:
    with pytest.raises(InvalidURLError):
        check_url(url)


# -- param_pairs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (None, []),
        ({}, []),
        ([], []),
        ((), []),
        ({"token": "abc"}, [("token", "abc")]),
        (
            {"s": "x", "i": 3, "neg": -1, "f": 1.5, "t": True, "no": False, "empty": ""},
            [
                ("s", "x"),
                ("i", "3"),
                ("neg", "-1"),
                ("f", "1.5"),
                ("t", "true"),
                ("no", "false"),
                ("empty", ""),
            ],
        ),
        ([("a", "1"), ("a", 2), ("b", True)], [("a", "1"), ("a", "2"), ("b", "true")]),
        ((("k", 0.25),), [("k", "0.25")]),
        (types.MappingProxyType({"user": "alice"}), [("user", "alice")]),
        ({"b": 1, "a": 2}, [("b", "1"), ("a", "2")]),  # order is kept
    ],
)
def test_param_pairs(params: object, expected: list[tuple[str, str]]) -> None:
    assert param_pairs(params) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "params",
    ["token=abc", b"token=abc", 42, 1.5, {"a", "b"}, frozenset(), (x for x in ()), object()],
    ids=repr,
)
def test_param_pairs_rejects_containers(params: object) -> None:
    with pytest.raises(ConfigError, match="params must be a mapping or a sequence of pairs"):
        param_pairs(params)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "params",
    [
        [["a", "1"]],
        [("a",)],
        [("a", "1", "2")],
        [(1, "x")],
        [(None, "x")],
        [(b"a", "x")],
        ["ab"],
        ["a=1"],
        [None],
        {1: "x"},
        {("a", "b"): "x"},
    ],
    ids=repr,
)
def test_param_pairs_rejects_bad_pairs(params: object) -> None:
    with pytest.raises(ConfigError, match=r"each query param must be a \(str, value\) pair"):
        param_pairs(params)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (None, "NoneType"),
        (b"x", "bytes"),
        ([1], "list"),
        ({"a": 1}, "dict"),
        (("x",), "tuple"),
        (object(), "object"),
        (1j, "complex"),
    ],
)
def test_param_pairs_rejects_bad_values(value: object, type_name: str) -> None:
    expected = f"query param 'key' must be a str, int, float or bool, not {type_name}$"
    with pytest.raises(ConfigError, match=expected):
        param_pairs({"key": value})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match=expected):
        param_pairs([("key", value)])  # type: ignore[list-item]


# -- resolve_params --------------------------------------------------------------------


def test_resolve_params_passes_plain_params_through() -> None:
    assert resolve_params(None) == []
    assert resolve_params({"a": 1}) == [("a", "1")]
    assert resolve_params([("a", True)]) == [("a", "true")]


def test_resolve_params_calls_a_callable_every_time() -> None:
    tokens = iter(["t1", "t2"])

    def params() -> dict[str, str]:
        return {"token": next(tokens)}

    assert resolve_params(params) == [("token", "t1")]
    assert resolve_params(params) == [("token", "t2")]


def test_resolve_params_callable_returning_pairs_or_none() -> None:
    assert resolve_params(lambda: [("a", 1), ("b", 2.5)]) == [("a", "1"), ("b", "2.5")]
    assert resolve_params(lambda: None) == []  # type: ignore[arg-type,return-value]


def test_resolve_params_callable_raising_is_a_config_error() -> None:
    def broken() -> dict[str, str]:
        raise RuntimeError("token service down")

    with pytest.raises(ConfigError, match=r"^the params callable raised RuntimeError$") as info:
        resolve_params(broken)
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.parametrize(
    ("produce", "match"),
    [
        (lambda: "a=1", "params must be a mapping or a sequence of pairs"),
        (lambda: [("a", None)], "must be a str, int, float or bool"),
        (lambda: [("a",)], "must be a"),
    ],
)
def test_resolve_params_validates_what_the_callable_returns(
    produce: Callable[[], object], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        resolve_params(produce)  # type: ignore[arg-type]


# -- build_url -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pairs", "query"),
    [
        ([], "vsn=2.0.0"),
        ([("token", "abc")], "token=abc&vsn=2.0.0"),
        ([("a", "1"), ("b", "2")], "a=1&b=2&vsn=2.0.0"),
        ([("vsn", "1.0.0")], "vsn=1.0.0"),  # the user's vsn wins, nothing appended
        ([("vsn", "2.0.0"), ("token", "x")], "vsn=2.0.0&token=x"),
        ([("token", "x"), ("vsn", "1.0.0")], "token=x&vsn=1.0.0"),
        ([("a", "1"), ("a", "2")], "a=1&a=2&vsn=2.0.0"),
        ([("name", "a b")], "name=a+b&vsn=2.0.0"),  # form encoding: space -> +
        ([("q", "&=?#/+%")], "q=%26%3D%3F%23%2F%2B%25&vsn=2.0.0"),
        ([("k y", "v")], "k+y=v&vsn=2.0.0"),
        ([("s", "h\u00e9llo \u2603")], "s=h%C3%A9llo+%E2%98%83&vsn=2.0.0"),
        ([("e", "")], "e=&vsn=2.0.0"),
    ],
)
def test_build_url(pairs: list[tuple[str, str]], query: str) -> None:
    assert build_url(URL, pairs, "2.0.0") == f"{URL}?{query}"


def test_build_url_uses_the_given_vsn_and_does_not_mutate_pairs() -> None:
    pairs = [("token", "x")]
    assert build_url(URL, pairs, "9.9.9") == f"{URL}?token=x&vsn=9.9.9"
    assert pairs == [("token", "x")]


def test_build_url_end_to_end() -> None:
    url = check_url("wss://example.com/socket/websocket")
    pairs = resolve_params(lambda: {"token": "s3cret value", "user": "bob", "n": 2, "x": True})
    full = build_url(url, pairs, JSONSerializer.vsn)
    assert full == (
        "wss://example.com/socket/websocket?token=s3cret+value&user=bob&n=2&x=true&vsn=2.0.0"
    )
    assert redact_url(full) == (
        "wss://example.com/socket/websocket?token=***&user=***&n=***&x=***&vsn=2.0.0"
    )


# -- redact_url ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (URL, URL),
        (f"{URL}?", URL),
        (f"{URL}?vsn=2.0.0", f"{URL}?vsn=2.0.0"),
        (f"{URL}?token=secret&vsn=2.0.0", f"{URL}?token=***&vsn=2.0.0"),
        (f"{URL}?vsn=1.0.0&token=secret", f"{URL}?vsn=1.0.0&token=***"),
        (f"{URL}?a=1&a=2&b=x%26y&vsn=2.0.0", f"{URL}?a=***&a=***&b=***&vsn=2.0.0"),
        (f"{URL}?token=a=b", f"{URL}?token=***"),
        (f"{URL}?flag&vsn=2.0.0", f"{URL}?flag=***&vsn=2.0.0"),
        (f"{URL}?empty=", f"{URL}?empty=***"),
        (f"{URL}?VSN=x", f"{URL}?VSN=***"),
        ("ws://bob:pw@h:4000/x?token=t", "ws://***@h:4000/x?token=***"),
        ("wss://key@h/x", "wss://***@h/x"),
        ("ws://a:b@c@h", "ws://***@h"),
        ("http://u:p@proxy:3128", "http://***@proxy:3128"),
        ("ws://h/x@y?z=1", "ws://h/x@y?z=***"),  # an @ in the path is not user info
        ("ws://h/x#frag", "ws://h/x#***"),
        ("ws://h/x?a=1#f", "ws://h/x?a=***#***"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_url_hides_every_value() -> None:
    full = build_url(URL, [("token", "TOPSECRET"), ("user", "ALICE")], "2.0.0")
    redacted = redact_url(full)
    assert "TOPSECRET" not in redacted
    assert "ALICE" not in redacted
    assert redacted.endswith("&vsn=2.0.0")


def test_messages_about_bad_params_show_types_not_values() -> None:
    with pytest.raises(ConfigError) as info:
        param_pairs("token=SECRET")  # type: ignore[arg-type]
    assert str(info.value) == "params must be a mapping or a sequence of pairs, not str"
    with pytest.raises(ConfigError) as info:
        param_pairs([("token", "SECRET", "x")])  # type: ignore[list-item]
    assert (
        str(info.value)
        == "each query param must be a (str, value) pair, not tuple of (str, str, str)"
    )
    with pytest.raises(ConfigError) as info:
        check_url("ws://h/socket/websocket?token=SECRET")
    assert "SECRET" not in str(info.value)
