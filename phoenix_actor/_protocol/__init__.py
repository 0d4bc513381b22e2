"""The Phoenix protocol, pure: messages, serializers, the session's rules, presence, URLs.

Nothing here touches threads, sockets, clocks or Pykka (an import-linter contract in
setup.cfg keeps it so), so every rule can be tested as plain functions.
"""
