"""The embedded Phoenix server (:class:`phoenix_actor.testing.PhoenixServer`), on websockets."""
