#!/usr/bin/env bash
# Protocol server robustness against a real geosteerd process: socket
# creation and mode, concurrent connections, over-long and malformed lines,
# a stalled slow reader not delaying others, idle connections kept open,
# single-instance guard, clean shutdown. The client logic is in server.py.
. "$(dirname "$0")/lib.sh"
gs_require python3

# The socket's parent directory does not exist yet: geosteerd creates it.
gs_start_geosteerd "$GS_TMP/gs" -c "$GS_SOURCE_DIR/test/e2e/data/server/geosteer.json"
sock=$GS_SOCK
mode=$(stat -c %a "$sock")
gs_expect_eq "socket mode" "660" "$mode"
gs_cli zone create big.test --ns ns1.big.test --soa-serial 1 >/dev/null

python3 "$(dirname "$0")/server.py" "$sock"

# A second daemon on the same socket refuses to start and leaves it alone.
set +e
"$GEOSTEERD" -s "$sock" -d "$GS_TMP/gs/other.db" >"$GS_TMP/second.log" 2>&1
rc=$?
set -e
gs_expect_eq "second instance exit status (EX_UNAVAILABLE)" "69" "$rc"
gs_expect_contains "second instance reason" "another process is serving" "$(cat "$GS_TMP/second.log")"
gs_cli status >/dev/null || gs_fail "first daemon stopped answering"

# A non-socket file at the path is never removed.
touch "$GS_TMP/notasocket"
set +e
"$GEOSTEERD" -s "$GS_TMP/notasocket" -d "$GS_TMP/gs/other.db" >"$GS_TMP/third.log" 2>&1
rc=$?
set -e
gs_expect_eq "non-socket path refused" "69" "$rc"
[ -f "$GS_TMP/notasocket" ] || gs_fail "geosteerd removed a regular file"

# SIGTERM: clean exit, socket removed.
kill -TERM "$GS_DAEMON_PID"
set +e
wait "$GS_DAEMON_PID"
rc=$?
set -e
GS_PIDS=""
gs_expect_eq "exit status after SIGTERM" "0" "$rc"
[ ! -e "$sock" ] || gs_fail "socket left behind after shutdown"

# A stale socket of a killed daemon is replaced at the next start.
gs_start_geosteerd "$GS_TMP/gs" -c "$GS_SOURCE_DIR/test/e2e/data/server/geosteer.json"
kill -KILL "$GS_DAEMON_PID"
wait "$GS_DAEMON_PID" 2>/dev/null || true
[ -S "$sock" ] || gs_fail "expected a stale socket after SIGKILL"
gs_start_geosteerd "$GS_TMP/gs" -c "$GS_SOURCE_DIR/test/e2e/data/server/geosteer.json"
out=$(gs_cli zone list)
gs_expect_contains "restart over a stale socket keeps the zones" "big.test. id=1" "$out"
