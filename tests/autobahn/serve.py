"""Run ``wstest -m fuzzingserver`` (Python 2) on the interface of the spec's URL only.

Autobahn|Testsuite's fuzzing server listens on every interface whatever its spec's URL
says (``listenWS`` is called with ``interface=''``). This wraps ``listenWS`` so that it
binds the host of ``"url"`` (127.0.0.1 in tests/autobahn/fuzzingserver.json), then runs
wstest with the given arguments. Its embedded web server is turned off with ``-u 0``.
"""
import functools
import json
import sys

from autobahntestsuite import wstest  # first: it picks the Twisted reactor

from autobahn.twisted import websocket
from autobahntestsuite import fuzzing


def main(argv):
    spec_path = argv[argv.index("-s") + 1]
    with open(spec_path) as spec_file:
        url = json.load(spec_file)["url"]
    host = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
    fuzzing.listenWS = functools.partial(websocket.listenWS, interface=host)
    sys.argv = ["wstest"] + argv
    wstest.run()


if __name__ == "__main__":
    main(sys.argv[1:])
