#!/usr/bin/env bash
# Protocol server robustness against a real geosteerd process: socket
# creation and mode, concurrent connections, over-long and malformed lines,
# a stalled slow reader not delaying others, idle connections kept open,
# single-instance guards (socket and zone store), foreign and newer stores
# left untouched, clean shutdown. The client logic is in server.py.
. "$(dirname "$0")/lib.sh"
gs_require python3 timeout cmp

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

# A second daemon on another socket but the same zone store refuses to start
# (EX_IOERR, the store and the holder named) before touching anything; the
# first keeps serving, and a plain SQLite reader is not blocked.
set +e
timeout 30 "$GEOSTEERD" -s "$GS_TMP/b.sock" -d "$GS_TMP/gs/zones.db" >"$GS_TMP/samedb.log" 2>&1
rc=$?
set -e
gs_expect_eq "second daemon on the same store exit status (EX_IOERR)" "74" "$rc"
gs_expect_contains "second daemon on the same store: reason" \
    "zone store '$GS_TMP/gs/zones.db' is in use by another geosteerd (pid $GS_DAEMON_PID)" \
    "$(cat "$GS_TMP/samedb.log")"
[ ! -e "$GS_TMP/b.sock" ] || gs_fail "the refused daemon created its socket"
ln -s zones.db "$GS_TMP/gs/alias.db"
set +e
timeout 30 "$GEOSTEERD" -s "$GS_TMP/b.sock" -d "$GS_TMP/gs/alias.db" >"$GS_TMP/alias.log" 2>&1
rc=$?
set -e
gs_expect_eq "second daemon on a symlink to the store (EX_IOERR)" "74" "$rc"
zones=$(python3 -c 'import sqlite3,sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=5)
print(c.execute("SELECT name FROM zones").fetchall())' "$GS_TMP/gs/zones.db")
gs_expect_contains "a read-only SQLite reader is not blocked" "big.test." "$zones"
gs_cli zone create other.test --ns ns1.other.test >/dev/null || gs_fail "first daemon cannot write"

# A foreign SQLite file and a newer store are refused (EX_IOERR) and left
# byte for byte as they were (no switch to WAL, no upgrade).
for kind in foreign newer; do
    f=$GS_TMP/$kind.db
    python3 -c 'import sqlite3,sys
c = sqlite3.connect(sys.argv[1])
if sys.argv[2] == "foreign":
    c.execute("CREATE TABLE t(x)"); c.execute("INSERT INTO t VALUES (1)")
else:
    c.execute("CREATE TABLE zones(id INTEGER PRIMARY KEY, name TEXT)")
    c.execute("PRAGMA user_version=9")
c.commit(); c.close()' "$f" "$kind"
    cp "$f" "$f.orig"
    set +e
    timeout 30 "$GEOSTEERD" -s "$GS_TMP/$kind.sock" -d "$f" >"$GS_TMP/$kind.log" 2>&1
    rc=$?
    set -e
    gs_expect_eq "$kind store refused (EX_IOERR)" "74" "$rc"
    gs_expect_contains "$kind store: reason names the file" "zone store '$f'" "$(cat "$GS_TMP/$kind.log")"
    cmp "$f" "$f.orig" || gs_fail "$kind store was modified by a refused start"
    [ ! -e "$f-wal" ] || gs_fail "$kind store got a WAL"
    echo "ok: $kind store byte-identical after the refusal"
done

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
