"""Phoenix 1.8's auth token, carried in ``Sec-WebSocket-Protocol`` (phoenix.js ``authToken``).

phoenix.js 1.8 offers ``["phoenix", "base64url.bearer.phx." + btoa(token)]`` with the
``=`` padding removed; Phoenix 1.8 (socket option ``auth_token: true``) takes that
entry out, decodes it with ``Base.decode64!(padding: false)``, selects ``phoenix``
and hands the token to ``connect/3`` as ``connect_info.auth_token``. Despite the
prefix, the alphabet is standard base64 (``+`` and ``/``), not base64url.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

#: The subprotocol phoenix.js 1.8 offers next to its auth token; Phoenix selects it.
PHOENIX_SUBPROTOCOL: Final = "phoenix"
#: Prefix of the subprotocol entry carrying the Phoenix 1.8 auth token. Despite its
#: name, phoenix.js encodes the token with ``btoa`` (the standard base64 alphabet) and
#: strips the padding, and Phoenix decodes it with ``Base.decode64!(padding: false)``.
AUTH_TOKEN_PREFIX: Final = "base64url.bearer.phx."


def encode_auth_token(token: str) -> str:
    """The subprotocol entry carrying ``token``, as phoenix.js 1.8 builds it.

    The token is encoded as UTF-8 first; ``btoa`` only takes Latin-1 text (it throws
    beyond), so for ASCII tokens, the usual case, the two are byte for byte the same.
    """
    encoded = base64.b64encode(token.encode("utf-8")).decode("ascii").rstrip("=")
    return f"{AUTH_TOKEN_PREFIX}{encoded}"


def decode_auth_token(entry: str) -> str:
    """The token in a subprotocol ``entry`` (as Phoenix 1.8 decodes it); ValueError if bad."""
    if not entry.startswith(AUTH_TOKEN_PREFIX):
        raise ValueError("not an auth token subprotocol")
    encoded = entry[len(AUTH_TOKEN_PREFIX) :]
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("the auth token is not unpadded base64 of UTF-8 text") from None
