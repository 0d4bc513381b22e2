"""The blocking :class:`Socket` and asyncio :class:`AsyncSocket` facades over a socket actor."""
