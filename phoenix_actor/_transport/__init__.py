"""The websocket: the wire, the frame codec, the readers, the transport actor.

It knows frames and connections, not channels: what it reports goes to a
:class:`~phoenix_actor._transport.base.TransportListener`.
"""
