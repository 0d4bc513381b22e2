#!/usr/bin/env bash
# RFC 6455 conformance: Autobahn|Testsuite's fuzzing server against phoenix_actor's own
# transport, in both reader modes; fails unless every case has its expected verdict
# (tests/autobahn/expected.json). See docs/autobahn.rst.
#
# Autobahn|Testsuite runs on Python 2.7: it is installed into .venv-autobahn/ (made
# once, with virtualenv, from pyenv's 2.7). The fuzzing server listens on 127.0.0.1
# only, on a port free at run time, and is always stopped. Set AUTOBAHN_REPORTS=DIR to
# keep its HTML and JSON report.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
venv=$root/.venv-autobahn
suite=autobahntestsuite==25.10.1

find_python27() {
    local prefix
    if command -v pyenv >/dev/null 2>&1; then
        if prefix=$(pyenv prefix 2.7.18 2>/dev/null); then
            echo "$prefix/bin/python"
            return
        fi
        for prefix in "$(pyenv root)"/versions/2.7*; do
            if [ -x "$prefix/bin/python" ]; then
                echo "$prefix/bin/python"
                return
            fi
        done
    fi
    # pyenv's root when pyenv itself is not on the PATH (a non-login shell).
    for prefix in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7*; do
        if [ -x "$prefix/bin/python" ]; then
            echo "$prefix/bin/python"
            return
        fi
    done
    if command -v python2.7 >/dev/null 2>&1; then
        command -v python2.7
        return
    fi
    echo "Autobahn|Testsuite needs Python 2.7 (pyenv install 2.7.18)" >&2
    return 1
}

if [ ! -f "$venv/.installed" ] || [ "$(cat "$venv/.installed")" != "$suite" ]; then
    echo "== installing $suite into $venv (Python 2.7)"
    py27=$(find_python27)
    if ! "$py27" -m virtualenv --version >/dev/null 2>&1; then
        "$py27" -m pip install --quiet --disable-pip-version-check "virtualenv<20.22"
    fi
    rm -rf "$venv"
    "$py27" -m virtualenv --quiet "$venv"
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$suite" \
        >"$venv/pip.log" 2>&1; then
        cat "$venv/pip.log" >&2
        exit 1
    fi
    echo "$suite" >"$venv/.installed"
fi

work=$(mktemp -d)
reports=${AUTOBAHN_REPORTS:-$work/reports}
server=""
stop_server() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$server" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
        server=""
    fi
}
cleanup() {
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$python" - "$here/fuzzingserver.json" "$work/spec.json" "$port" "$reports" <<'PY'
import json, sys
source, target, port, reports = sys.argv[1:]
with open(source) as f:
    spec = json.load(f)
spec["url"] = f"ws://127.0.0.1:{port}"
spec["outdir"] = reports
with open(target, "w") as f:
    json.dump(spec, f)
PY

echo "== Autobahn|Testsuite fuzzing server on 127.0.0.1:$port"
(cd "$work" && exec "$venv/bin/python" "$here/serve.py" -m fuzzingserver -s "$work/spec.json" -u 0 >"$work/wstest.log" 2>&1) &
server=$!
started=$(date +%s)
status=0
"$python" "$here/driver.py" "ws://127.0.0.1:$port" --agent phoenix_actor || status=$?
if [ "$status" = 0 ]; then
    "$python" "$here/driver.py" "ws://127.0.0.1:$port" --report || status=$?
fi
stop_server
if [ "$status" != 0 ]; then
    echo "the driver failed ($status); the fuzzing server said:" >&2
    tail -n 30 "$work/wstest.log" >&2
    exit "$status"
fi
echo "== Autobahn|Testsuite done in $(($(date +%s) - started)) s"
"$python" "$here/check.py" "$reports/index.json" "$here/expected.json"
