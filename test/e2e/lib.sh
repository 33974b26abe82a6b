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

# gs_dead PID [TENTHS]: true once PID has exited (gone, or a zombie not yet
# reaped), waiting up to TENTHS tenths of a second (default 50). kill -0
# alone cannot tell: it succeeds on a zombie, and a SIGKILLed multi-threaded
# process is reported to its parent only after all its threads are torn down.
gs_dead() {
    local pid=$1 st
    for _ in $(seq "${2:-50}"); do
        st=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$pid/stat" 2>/dev/null) || true
        case "$st" in "" | Z | X) return 0 ;; esac
        sleep 0.1
    done
    return 1
}

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

# GS_PDNS_MODE selects how the tests' pdns_servers reach geosteerd: "remote"
# (the default: launch=remote only) or "pipe" (launch=pipe,remote: lookups
# and AXFR through the pipe backend on DIR/pipe.sock beside the remote
# socket, everything else through the remote backend; doc/pipe.md). ctest
# runs the answer-comparing tests in both modes (test/CMakeLists.txt).
GS_PDNS_MODE=${GS_PDNS_MODE:-remote}
case "$GS_PDNS_MODE" in
remote | pipe) ;;
*) gs_fail "GS_PDNS_MODE must be remote or pipe, not '$GS_PDNS_MODE'" ;;
esac

# gs_start_geosteerd DIR [args...]: starts geosteerd with DIR/backend.sock and
# DIR/zones.db, logging to DIR/geosteerd.log, and in pipe mode also its pipe
# socket DIR/pipe.sock. Sets GS_DAEMON_PID and GS_SOCK.
gs_start_geosteerd() {
    local dir=$1
    shift
    mkdir -p "$dir"
    GS_SOCK=$dir/backend.sock
    local pipe=()
    [ "$GS_PDNS_MODE" = pipe ] && pipe=(-p "$dir/pipe.sock")
    "$GEOSTEERD" -s "$GS_SOCK" "${pipe[@]}" -d "$dir/zones.db" "$@" >>"$dir/geosteerd.log" 2>&1 &
    GS_DAEMON_PID=$!
    gs_register "$GS_DAEMON_PID"
    gs_wait_socket "$GS_SOCK"
    [ "$GS_PDNS_MODE" != pipe ] || gs_wait_socket "$dir/pipe.sock"
}

# gs_start_probe RUNDIR: starts geosteer-probe on runtime directory RUNDIR
# (where geosteerd writes plan.json), logging to RUNDIR/probe.log. Sets
# GS_PROBE_PID.
gs_start_probe() {
    : "${GEOSTEER_PROBE:?GEOSTEER_PROBE must point to the geosteer-probe binary}"
    mkdir -p "$1"
    "$GEOSTEER_PROBE" -r "$1" >>"$1/probe.log" 2>&1 &
    GS_PROBE_PID=$!
    gs_register "$GS_PROBE_PID"
}

# gs_start_targets DIR: starts test/e2e/targets.py (local HTTP/HTTPS/TCP
# targets) in DIR and waits for DIR/targets.json. Sets GS_TARGETS_PID.
# Read ports with: gs_port http.ok (keys as in targets.json).
gs_start_targets() {
    gs_require openssl
    mkdir -p "$1"
    "$GS_PY" "$(dirname "${BASH_SOURCE[0]}")/targets.py" --dir "$1" >>"$1/targets.log" 2>&1 &
    GS_TARGETS_PID=$!
    GS_TARGETS_DIR=$1
    gs_register "$GS_TARGETS_PID"
    for _ in $(seq 200); do
        [ -f "$1/targets.json" ] && return 0
        kill -0 "$GS_TARGETS_PID" 2>/dev/null || gs_fail "targets.py exited; see $1/targets.log"
        sleep 0.05
    done
    gs_fail "targets.py never wrote $1/targets.json"
}

# gs_port KEY: a port (or the CA path for "ca") from targets.json, KEY like http.ok.
gs_port() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[k]
print(d)' "$GS_TARGETS_DIR/targets.json" "$1"
}

# gs_target_mode NAME MODE: sets a toggle target's mode (toggle1 ok|fail|hang|
# refuse, tcp_toggle up|down) atomically.
gs_target_mode() {
    echo "$2" >"$GS_TARGETS_DIR/$1.mode.tmp"
    mv "$GS_TARGETS_DIR/$1.mode.tmp" "$GS_TARGETS_DIR/$1.mode"
}

# gs_wait_log FILE PATTERN SECONDS: waits until FILE has a line matching the
# extended regex PATTERN; fails after SECONDS. Prints the seconds waited.
gs_wait_log() {
    local file=$1 pat=$2 max=$3 t0
    t0=$(date +%s.%N)
    while ! grep -Eq -- "$pat" "$file" 2>/dev/null; do
        if [ "$(echo "$(date +%s.%N) - $t0 > $max" | bc -l 2>/dev/null || python3 -c "import sys; print(int(float(sys.argv[1]) - float(sys.argv[2]) > float(sys.argv[3])))" "$(date +%s.%N)" "$t0" "$max")" = 1 ]; then
            gs_fail "no line matching '$pat' in $file after $max s"
        fi
        sleep 0.1
    done
    python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) - float(sys.argv[2])))" "$(date +%s.%N)" "$t0"
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
# pdns_server with the remote backend only (on SOCK), on 127.0.0.1:PORT. The
# reply timeout is $GS_PDNS_TIMEOUT ms (default 5000, as in examples/).
# In pipe mode it also writes DIR/pdns-pipe.conf, the same with the pipe
# backend in front (the pipe socket beside SOCK), which gs_start_pdns and
# gs_pdns_control then use, as doc/pipe.md's recipe runs pdns_server with
# --config-name=pipe; pdnsutil (gs_pdnsutil) keeps reading pdns.conf.
gs_pdns_conf() {
    local dir=$1 sock=$2 port=$3
    shift 3
    mkdir -p "$dir"
    {
        echo "remote-connection-string=unix:path=$sock,timeout=${GS_PDNS_TIMEOUT:-5000}"
        echo "edns-subnet-processing=yes"
        echo "loglevel=6"
        gs_pdns_local "$dir" "$port"
        for line in "$@"; do echo "$line"; done
    } >"$dir/common.conf"
    { echo "launch=remote"; cat "$dir/common.conf"; } >"$dir/pdns.conf"
    if [ "$GS_PDNS_MODE" = pipe ]; then
        {
            echo "launch=pipe,remote"
            echo "pipe-command=$(dirname "$sock")/pipe.sock"
            echo "pipe-abi-version=5"
            # The pipe backend cannot list zones: pdns exits at start-up
            # unless its zone cache is off.
            echo "zone-cache-refresh-interval=0"
            # As examples/pdns-geosteer-pipe.conf recommends: pipe mode runs
            # the answer-comparing tests with it, remote mode at pdns's
            # default (yes).
            echo "consistent-backends=no"
            cat "$dir/common.conf"
        } >"$dir/pdns-pipe.conf"
    fi
    rm -f "$dir/common.conf"
}

# gs_pdns_name DIR: the --config-name option pdns_server and pdns_control use
# for DIR ("--config-name=pipe" when DIR has a pdns-pipe.conf), or nothing.
gs_pdns_name() { [ ! -f "$1/pdns-pipe.conf" ] || echo "--config-name=pipe"; }

# gs_pdns_control DIR ARGS...: pdns_control for the pdns_server of DIR.
gs_pdns_control() {
    local dir=$1
    shift
    pdns_control --config-dir="$dir" $(gs_pdns_name "$dir") "$@"
}

# gs_pdns_ctl_socket DIR: the control socket of the pdns_server gs_pdns_conf
# configures in DIR (known before the config is written).
gs_pdns_ctl_socket() {
    if [ "$GS_PDNS_MODE" = pipe ]; then echo "$1/pdns-pipe.controlsocket"; else echo "$1/pdns.controlsocket"; fi
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

# gs_pdns_lua_conf DIR PORT ZONE ZONEFILE MMDB [extra lines]: writes DIR/pdns.conf
# for pdns's own LUA records, the reference geosteer is compared with: the
# bind backend serving ZONEFILE and the geoip backend reading the MaxMind
# files in MMDB (space-separated paths), enable-lua-records, caches off.
gs_pdns_lua_conf() {
    local dir=$1 port=$2 zone=$3 file=$4 mmdb=$5 f
    shift 5
    mkdir -p "$dir"
    echo "zone \"$zone\" { type master; file \"$file\"; };" >"$dir/named.conf"
    echo "domains: []" >"$dir/geo.yaml"
    {
        echo "launch=bind,geoip"
        echo "bind-config=$dir/named.conf"
        echo "geoip-database-files=$(for f in $mmdb; do printf 'mmdb:%s\n' "$f"; done | paste -sd' ')"
        echo "geoip-zones-file=$dir/geo.yaml"
        echo "enable-lua-records=yes"
        echo "edns-subnet-processing=yes"
        echo "loglevel=6"
        echo "cache-ttl=0"
        echo "query-cache-ttl=0"
        echo "negquery-cache-ttl=0"
        gs_pdns_local "$dir" "$port"
        for f in "$@"; do echo "$f"; done
    } >"$dir/pdns.conf"
}

# gs_start_pdns DIR PORT [ADDR]: starts pdns_server with DIR/pdns.conf, waits
# until it answers on ADDR (default 127.0.0.1) port PORT. Sets GS_PDNS_PID.
gs_start_pdns() {
    local dir=$1 port=$2 addr=${3:-127.0.0.1}
    pdns_server --config-dir="$dir" $(gs_pdns_name "$dir") >>"$dir/pdns.log" 2>&1 &
    GS_PDNS_PID=$!
    gs_register "$GS_PDNS_PID"
    for _ in $(seq 100); do
        if kdig @"$addr" -p "$port" +timeout=1 +retry=0 id.server CH TXT >/dev/null 2>&1; then
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

# gs_pdnsutil_q DIR ARGS...: gs_pdnsutil with the remote backend's connection
# chatter ("Reconnecting to backend", "closing socket") left out of its
# output, which is also kept in $GS_TMP/pu.out; the exit status is
# pdnsutil's.
gs_pdnsutil_q() {
    local rc=0
    gs_pdnsutil "$@" >"$GS_TMP/pu.out" 2>&1 || rc=$?
    grep -v "Reconnecting to backend\|closing socket" "$GS_TMP/pu.out" || true
    return $rc
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

# gs_check_installed ROOT PREFIX ETC UNITDIR: the programs installed under
# ROOT (PREFIX/sbin, PREFIX/bin) run, the installed ETC/geosteer/geosteer.json
# passes --check, and the two units in ROOT/UNITDIR pass `systemd-analyze
# verify` with no message (their ExecStart= pointed at the installed copies,
# which verify resolves on this host), and so do the GeoIP update service
# and timer.
gs_check_installed() {
    local root=$1 prefix=$2 etc=$3 units=$1$4 p out
    for p in geosteerd geosteer-probe; do
        "$root$prefix/sbin/$p" --version | grep -q "^$p " || gs_fail "installed $p does not run"
    done
    "$root$prefix/bin/geosteer" --version | grep -q '^geosteer ' ||
        gs_fail "installed geosteer does not run"
    "$root$prefix/sbin/geosteerd" --check -c "$root$etc/geosteer/geosteer.json" >/dev/null ||
        gs_fail "the installed config does not pass --check"
    mkdir -p "$GS_TMP/verify"
    for p in geosteerd geosteer-probe; do
        sed "s|$prefix/sbin/|$root$prefix/sbin/|g" "$units/$p.service" >"$GS_TMP/verify/$p.service"
    done
    out=$(systemd-analyze verify --man=no "$GS_TMP/verify/geosteerd.service" \
        "$GS_TMP/verify/geosteer-probe.service" 2>&1) || gs_fail "systemd-analyze verify failed: $out"
    [ -z "$out" ] || gs_fail "systemd-analyze verify complains: $out"
    # The GeoIP download (geosteer geoip update) and the timer that starts it.
    sed "s|$prefix/bin/geosteer |$root$prefix/bin/geosteer |g" "$units/geosteer-geoip-update.service" \
        >"$GS_TMP/verify/geosteer-geoip-update.service"
    cp "$units/geosteer-geoip-update.timer" "$GS_TMP/verify/"
    out=$(systemd-analyze verify --man=no "$GS_TMP/verify/geosteer-geoip-update.service" \
        "$GS_TMP/verify/geosteer-geoip-update.timer" 2>&1) ||
        gs_fail "systemd-analyze verify failed on the GeoIP update units: $out"
    [ -z "$out" ] || gs_fail "systemd-analyze verify complains about the GeoIP update units: $out"
}
