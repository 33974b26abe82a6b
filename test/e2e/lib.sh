# Shared helpers for the end-to-end tests. Source it from a test script:
#   . "$(dirname "$0")/lib.sh"
# Binaries come from the environment ctest sets: GEOSTEERD, GEOSTEER.
# Every process a test starts is registered and stopped by PID on exit.
# A missing external tool makes the test exit 77 (ctest SKIP) with a loud line.

set -eu

: "${GEOSTEERD:?GEOSTEERD must point to the geosteerd binary}"
: "${GEOSTEER:?GEOSTEER must point to the geosteer binary}"

# Resolve python3 once: behind a version-manager shim (pyenv) every call can
# cost seconds on a busy machine. Tests call python3 by name; background
# processes should use "$GS_PY" so that $! is the interpreter's own PID.
if command -v python3 >/dev/null 2>&1; then
    GS_PY=$(python3 -c 'import sys; print(sys.executable)')
    python3() { "$GS_PY" "$@"; }
fi

GS_PIDS=""
GS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/gs-e2e.XXXXXX")

gs_cleanup() {
    local rc=$?
    for pid in $GS_PIDS; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $GS_PIDS; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
        echo "--- test failed (rc $rc); logs in $GS_TMP:" >&2
        for f in "$GS_TMP"/*.log "$GS_TMP"/*/*.log; do
            [ -f "$f" ] || continue
            echo "--- $f (last 30 lines)" >&2
            tail -n 30 "$f" >&2
        done
    else
        rm -rf "$GS_TMP"
    fi
    exit "$rc"
}
trap gs_cleanup EXIT
trap 'exit 130' INT TERM

gs_skip() {
    echo "SKIP: $*" >&2
    echo "SKIP: $*"
    exit 77
}

# gs_require CMD... : skip the test loudly unless every command exists.
gs_require() {
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || gs_skip "'$c' is not installed (CI installs it; see .ci/run)"
    done
}

gs_fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# gs_free_port: prints a TCP+UDP port on 127.0.0.1 that is free right now.
gs_free_port() {
    python3 - <<'PY'
import socket
for _ in range(100):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close(); continue
    print(port); break
PY
}

gs_register() { GS_PIDS="$GS_PIDS $1"; }

# gs_stop PID: SIGTERM, wait up to 5 s, then SIGKILL; unregisters the PID.
gs_stop() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    GS_PIDS=$(echo "$GS_PIDS" | tr ' ' '\n' | grep -vx "$pid" | tr '\n' ' ')
}

# gs_wait_socket PATH: waits until a unix socket accepts connections.
gs_wait_socket() {
    for _ in $(seq 100); do
        if python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])" "$1" 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    gs_fail "socket $1 never came up"
}

# gs_start_geosteerd DIR [args...]: starts geosteerd with DIR/backend.sock and
# DIR/zones.db, logging to DIR/geosteerd.log. Sets GS_DAEMON_PID and GS_SOCK.
gs_start_geosteerd() {
    local dir=$1
    shift
    mkdir -p "$dir"
    GS_SOCK=$dir/backend.sock
    "$GEOSTEERD" -s "$GS_SOCK" -d "$dir/zones.db" "$@" >>"$dir/geosteerd.log" 2>&1 &
    GS_DAEMON_PID=$!
    gs_register "$GS_DAEMON_PID"
    gs_wait_socket "$GS_SOCK"
}

# gs_cli ARGS...: runs the geosteer CLI against the current daemon.
gs_cli() { "$GEOSTEER" -s "$GS_SOCK" "$@"; }

# gs_pdns_local DIR PORT: prints the pdns.conf lines every test server shares:
# loopback address and port, its own socket dir, foreground, no syslog, no
# security poll.
gs_pdns_local() {
    cat <<CONF
local-address=127.0.0.1
local-port=$2
socket-dir=$1
guardian=no
daemon=no
disable-syslog=yes
write-pid=no
security-poll-suffix=
CONF
}

# gs_pdns_conf DIR SOCK PORT [extra lines]: writes DIR/pdns.conf for a
# pdns_server with the remote backend only, on 127.0.0.1:PORT. The reply
# timeout is $GS_PDNS_TIMEOUT ms (default 5000, as in examples/).
gs_pdns_conf() {
    local dir=$1 sock=$2 port=$3
    shift 3
    mkdir -p "$dir"
    {
        echo "launch=remote"
        echo "remote-connection-string=unix:path=$sock,timeout=${GS_PDNS_TIMEOUT:-5000}"
        echo "edns-subnet-processing=yes"
        echo "loglevel=6"
        gs_pdns_local "$dir" "$port"
        for line in "$@"; do echo "$line"; done
    } >"$dir/pdns.conf"
}

# gs_pdns_bind_conf DIR PORT ZONE ZONEFILE [extra lines]: writes DIR/pdns.conf
# and DIR/named.conf for a pdns_server with the bind backend serving ZONEFILE,
# the reference that geosteerd is compared with.
gs_pdns_bind_conf() {
    local dir=$1 port=$2 zone=$3 file=$4
    shift 4
    mkdir -p "$dir"
    echo "zone \"$zone\" { type master; file \"$file\"; };" >"$dir/named.conf"
    {
        echo "launch=bind"
        echo "bind-config=$dir/named.conf"
        echo "edns-subnet-processing=yes"
        echo "loglevel=6"
        gs_pdns_local "$dir" "$port"
        for line in "$@"; do echo "$line"; done
    } >"$dir/pdns.conf"
}

# gs_start_pdns DIR PORT: starts pdns_server with DIR/pdns.conf, waits until
# it answers on PORT. Sets GS_PDNS_PID.
gs_start_pdns() {
    local dir=$1 port=$2
    pdns_server --config-dir="$dir" >>"$dir/pdns.log" 2>&1 &
    GS_PDNS_PID=$!
    gs_register "$GS_PDNS_PID"
    for _ in $(seq 100); do
        if kdig @127.0.0.1 -p "$port" +timeout=1 +retry=0 id.server CH TXT >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$GS_PDNS_PID" 2>/dev/null || gs_fail "pdns_server exited; see $dir/pdns.log"
        sleep 0.1
    done
    gs_fail "pdns_server did not answer on port $port"
}

# gs_pdnsutil DIR ARGS...: pdnsutil against the pdns config in DIR.
gs_pdnsutil() {
    local dir=$1
    shift
    pdnsutil --config-dir="$dir" "$@"
}

# gs_expect_eq WHAT EXPECTED ACTUAL
gs_expect_eq() {
    if [ "$2" != "$3" ]; then
        printf 'FAIL: %s\n--- expected:\n%s\n--- got:\n%s\n' "$1" "$2" "$3" >&2
        exit 1
    fi
    echo "ok: $1"
}

# gs_expect_contains WHAT NEEDLE HAYSTACK
gs_expect_contains() {
    case "$3" in
    *"$2"*) echo "ok: $1" ;;
    *) printf 'FAIL: %s\n--- expected to contain:\n%s\n--- got:\n%s\n' "$1" "$2" "$3" >&2; exit 1 ;;
    esac
}
