"""Wire strings of Phoenix Channels, defined once."""

from __future__ import annotations

from typing import Final

VSN_PARAM: Final = "vsn"
PROTOCOL_V2: Final = "2.0.0"
PROTOCOL_V1: Final = "1.0.0"

PHOENIX_TOPIC: Final = "phoenix"
EVENT_JOIN: Final = "phx_join"
EVENT_LEAVE: Final = "phx_leave"
EVENT_REPLY: Final = "phx_reply"
EVENT_CLOSE: Final = "phx_close"
EVENT_ERROR: Final = "phx_error"
EVENT_HEARTBEAT: Final = "heartbeat"

#: Events a client must never push itself: they are the protocol's own.
RESERVED_EVENTS: Final = frozenset({EVENT_JOIN, EVENT_LEAVE, EVENT_REPLY, EVENT_CLOSE, EVENT_ERROR})

STATUS_OK: Final = "ok"
STATUS_ERROR: Final = "error"

KEY_STATUS: Final = "status"
KEY_RESPONSE: Final = "response"
