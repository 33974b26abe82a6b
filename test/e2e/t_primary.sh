#!/usr/bin/env bash
# Primary side of replication (doc/replication.md): a real pdns_server with
# primary=yes sends NOTIFYs for geosteer zones of kind primary, learns from
# getUpdatedMasters which serials are new, and records what it sent with
# setNotified, which geosteerd keeps across restarts of either process.
# A loopback NOTIFY catcher (only-notify empty, also-notify to it) stands
# for the secondaries; AXFR of the zone through pdns carries its records.
# Changes that keep the serial (add-record, replace-rrset, delete-rrset)
# raise it in a primary zone, and are notified too.
# shellcheck source=test/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil kdig python3
GS_PDNS_MODE=remote

# The NOTIFY catcher: answers each NOTIFY (so pdns does not retry) and logs
# "<zone> <unix time>" per NOTIFY received.
NPORT=$(gs_free_port)
cat >"$GS_TMP/catch.py" <<'PY'
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
log = open(sys.argv[2], "a", buffering=1)
while True:
    data, peer = s.recvfrom(4096)
    if len(data) < 12:
        continue
    qid, flags = struct.unpack("!HH", data[:4])
    if (flags >> 11) & 0xF != 4 or flags & 0x8000:
        continue
    i, labels = 12, []
    while data[i]:
        labels.append(data[i + 1:i + 1 + data[i]].decode())
        i += 1 + data[i]
    end = i + 5
    log.write("%s. %d\n" % (".".join(labels).lower(), int(time.time())))
    reply = struct.pack("!HHHHHH", qid, 0x8000 | (4 << 11) | 0x0400, 1, 0, 0, 0) + data[12:end]
    s.sendto(reply, peer)
PY
: >"$GS_TMP/notifies"
"$GS_PY" "$GS_TMP/catch.py" "$NPORT" "$GS_TMP/notifies" &
gs_register "$!"

gs_start_geosteerd "$GS_TMP/gs"
gs_cli zone create p.test --ns ns1.p.test --soa-serial 1 --kind primary >/dev/null
gs_cli zone create n.test --ns ns1.n.test --soa-serial 1 >/dev/null
port=$(gs_free_port)
P=$GS_TMP/pdns
gs_pdns_conf "$P" "$GS_SOCK" "$port" primary=yes xfr-cycle-interval=1 only-notify= \
    "also-notify=127.0.0.1:$NPORT" allow-axfr-ips=127.0.0.0/8
gs_pdnsutil "$P" add-record p.test www A 300 192.0.2.10 >/dev/null 2>&1
gs_start_pdns "$P" "$port"

count() { grep -c "^$1 " "$GS_TMP/notifies" || true; }
# wait_notify ZONE N: waits up to 10 s for the N-th NOTIFY of ZONE.
wait_notify() {
    for _ in $(seq 100); do
        [ "$(count "$1")" -ge "$2" ] && return 0
        sleep 0.1
    done
    gs_fail "no NOTIFY number $2 for $1 within 10 s (got $(count "$1"))"
}
wait_notify p.test. 1
# (add-record raised the created zone's serial 1 to 2: see below.)
gs_expect_contains "setNotified recorded serial 2" "p.test. id=1 serial=2 records=3 kind=primary notified_serial=2" \
    "$(gs_cli zone list)"

# A committed change with a new serial is notified within a few seconds.
gs_pdnsutil "$P" increase-serial p.test >/dev/null 2>&1
wait_notify p.test. 2
gs_expect_contains "the new serial notified" "serial=3 records=3 kind=primary notified_serial=3" "$(gs_cli zone list)"
# Changes that leave the serial as it was raise it by one (primary zones
# only), so each reaches the secondaries: add-record, replace-rrset,
# delete-rrset. increase-serial above raised it once, not twice.
serial_of() { gs_cli zone list | sed -n "s/^$1 id=[0-9]* serial=\([0-9]*\) .*/\1/p"; }
n=3 k=2
for change in "add-record p.test new A 300 192.0.2.11" "replace-rrset p.test new A 300 192.0.2.12" \
    "delete-rrset p.test new A"; do
    read -r -a args <<<"$change"
    gs_pdnsutil "$P" "${args[@]}" >/dev/null 2>&1
    n=$((n + 1)) k=$((k + 1))
    gs_expect_eq "pdnsutil ${args[0]} raised the serial" "$n" "$(serial_of p.test.)"
    wait_notify p.test. "$k"
done
gs_pdnsutil "$P" add-record n.test new A 300 192.0.2.13 >/dev/null 2>&1
gs_expect_eq "a native zone's serial is left as it is" 1 "$(serial_of n.test.)"
gs_expect_contains "native zone: the record is there" "192.0.2.13" "$(kdig @127.0.0.1 -p "$port" +short new.n.test A)"
axfr=$(kdig @127.0.0.1 -p "$port" +timeout=5 p.test AXFR)
gs_expect_contains "AXFR of the primary zone carries its records" "192.0.2.10" "$axfr"
gs_expect_eq "AXFR carries the new serial, first and last" 2 \
    "$(echo "$axfr" | grep -cE 'IN[[:space:]]+SOA[[:space:]]+ns1\.p\.test\. hostmaster\.p\.test\. 6 ')"

# Restarting pdns does not notify again: the notified serial is kept.
kill "$GS_PDNS_PID"
wait "$GS_PDNS_PID" 2>/dev/null || true
gs_start_pdns "$P" "$port"
sleep 4
gs_expect_eq "no NOTIFY again after a pdns restart" 5 "$(count p.test.)"
# Nor does restarting geosteerd: the zone store keeps the notified serial
# (pdns's remote backend reconnects by itself).
kill "$GS_DAEMON_PID"
wait "$GS_DAEMON_PID" 2>/dev/null || true
rm -f "$GS_SOCK"
gs_start_geosteerd "$GS_TMP/gs"
# pdns 4.7 with primary=yes does not survive this: its communicator thread's
# next call on the broken connection is fatal ("Exiting because communicator
# thread died"), so pdns must be restarted with geosteerd (systemd's
# Restart= does; doc/replication.md). Seen here, then pdns restarted.
for _ in $(seq 50); do kill -0 "$GS_PDNS_PID" 2>/dev/null || break; sleep 0.1; done
if ! kill -0 "$GS_PDNS_PID" 2>/dev/null; then
    gs_wait_log "$P/pdns.log" "communicator thread died" 1 >/dev/null
    echo "ok: pdns (primary=yes) exited after the geosteerd restart, as pdns 4.7 does"
    gs_start_pdns "$P" "$port"
fi
gs_expect_contains "notified serial kept across a geosteerd restart" "kind=primary notified_serial=6" \
    "$(gs_cli zone list)"
sleep 3
gs_expect_eq "no NOTIFY again after a geosteerd restart" 5 "$(count p.test.)"
gs_expect_eq "a native zone is never notified" 0 "$(count n.test.)"

# Turning a native zone into a primary notifies its current serial.
gs_expect_contains "set-kind" "OK zone n.test. is primary" "$(gs_cli zone set-kind n.test primary)"
wait_notify n.test. 1
gs_expect_contains "bad kind refused" "must be native, primary or secondary" "$(gs_cli zone set-kind n.test slave 2>&1 || true)"
echo "ok: NOTIFYs received: $(tr '\n' ' ' <"$GS_TMP/notifies")"
