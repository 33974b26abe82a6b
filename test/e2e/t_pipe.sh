#!/usr/bin/env bash
# The pipe-backend interface (doc/pipe.md), whatever GS_PDNS_MODE says:
#   1. the protocol, spoken directly on geosteerd's pipe socket: HELO and
#      the ABIs served, the exact DATA lines of each record form (MX and SRV
#      priority as a field of its own, TXT with blanks, the client subnet's
#      scope of a compiled LUA record), names with nothing to say, AXFR by
#      zone id and by name, CMD, and refusals (before HELO, old ABI,
#      malformed or unknown requests) that leave the connection usable;
#   2. pdns_server with launch=pipe,remote in front of it: answers, AXFR,
#      which backend pdns asks for names that exist, that do not, that are
#      empty non-terminals or get no data (counted by geosteerd's metrics per
#      interface), a pdnsutil write seen by the very next query, pdnsutil
#      list-zone / check-zone / backend-cmd;
#   3. a restart of geosteerd: pdns 4.7's pipe backend never reconnects a
#      connection whose write failed (EPIPE), so its queries fail until pdns
#      itself restarts, which is why doc/pipe.md ties pdns's unit to
#      geosteerd's. If this check starts failing because pdns recovers on its
#      own, the documentation must change with it.
. "$(dirname "$0")/lib.sh"
gs_require pdns_server pdnsutil kdig python3
[ -e /usr/lib/x86_64-linux-gnu/pdns/libpipebackend.so ] || ls /usr/lib/*/pdns/libpipebackend.so >/dev/null 2>&1 ||
    gs_skip "pdns's pipe backend (pdns-backend-pipe) is not installed (CI installs it; see .ci/run)"
GS_PDNS_MODE=pipe
ZONEFILE=$(cd "$(dirname "$0")" && pwd)/data/pipe/pipe.zone
NOCACHE=(cache-ttl=0 query-cache-ttl=0 negquery-cache-ttl=0)

gs_start_geosteerd "$GS_TMP/gs"
PIPE=$GS_TMP/gs/pipe.sock
gs_cli zone create pipe.test --ns ns1.pipe.test >/dev/null
port=$(gs_free_port)
gs_pdns_conf "$GS_TMP/pdns" "$GS_SOCK" "$port" "${NOCACHE[@]}"
pu() { gs_pdnsutil "$GS_TMP/pdns" "$@" 2>&1 </dev/null; }
pu load-zone pipe.test "$ZONEFILE" >"$GS_TMP/load.log" || gs_fail "load-zone: $(cat "$GS_TMP/load.log")"
nrec=$(grep -c . "$ZONEFILE")
gs_expect_contains "zone loaded" "records=$nrec" "$(gs_cli zone list)"

# --- 1. the protocol, directly ---------------------------------------------
cat >"$GS_TMP/proto.py" <<'PY'
import socket, sys

path, nrec = sys.argv[1], int(sys.argv[2])
fails = 0

class Conn:
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.f = self.s.makefile("r")
    def ask(self, line):
        """Sends one line, returns the reply lines up to END or FAIL."""
        self.s.sendall((line + "\n").encode())
        out = []
        while True:
            l = self.f.readline()
            if not l:
                raise SystemExit("FAIL: connection closed after %r" % line)
            l = l.rstrip("\n")
            out.append(l)
            if l in ("END", "FAIL") or l.startswith("OK\t"):
                return out

def check(what, want, got):
    global fails
    if want != got:
        fails += 1
        print("FAIL: %s\n  want %r\n  got  %r" % (what, want, got))
    else:
        print("ok: %s" % what)

def q(c, name, qtype="ANY", subnet="192.0.2.1/32", zid="-1"):
    return c.ask("Q\t%s\tIN\t%s\t%s\t192.0.2.1\t127.0.0.1\t%s" % (name, qtype, zid, subnet))

c = Conn()
r = q(c, "www.pipe.test.", "A")
check("Q before HELO: refused with a reason", True, r[-1] == "FAIL" and r[0].startswith("LOG\t") and "HELO" in r[0])
r = c.ask("HELO\t2")
check("HELO 2 (no client subnet, no scope): refused", True, r[-1] == "FAIL" and "pipe-abi-version=5" in r[0])
r = q(c, "www.pipe.test.", "A")
check("Q after a refused HELO: still refused", "FAIL", r[-1])
r = c.ask("HELO\t5")
check("HELO 5: OK banner", True, len(r) == 1 and r[0].startswith("OK\tgeosteerd "))

check("A", ["DATA\t0\t1\twww.pipe.test.\tIN\tA\t300\t1\t192.0.2.1", "END"], q(c, "www.pipe.test.", "A"))
check("ANY, client's case kept out: both types", sorted([
    "DATA\t0\t1\twww.pipe.test.\tIN\tA\t300\t1\t192.0.2.1",
    "DATA\t0\t1\twww.pipe.test.\tIN\tAAAA\t300\t1\t2001:db8::1"]), sorted(q(c, "WWW.Pipe.Test.")[:-1]))
check("MX: priority is a field of its own", ["DATA\t0\t1\tpipe.test.\tIN\tMX\t300\t1\t10\tmail.pipe.test", "END"],
      q(c, "pipe.test.", "MX"))
check("SRV: priority, then the rest", ["DATA\t0\t1\t_sip._udp.pipe.test.\tIN\tSRV\t300\t1\t10\t20 5060 sip.pipe.test", "END"],
      q(c, "_sip._udp.pipe.test.", "SRV"))
check("TXT with blanks", ['DATA\t0\t1\ttxt.pipe.test.\tIN\tTXT\t300\t1\t"two words" "and more"', "END"],
      q(c, "txt.pipe.test.", "TXT"))
r = q(c, "pipe.test.", "SOA")
check("SOA question: the SOA alone", True, len(r) == 2 and "\tSOA\t3600\t1\tns1.pipe.test hostmaster.pipe.test 7 " in r[0])
check("compiled LUA, client inside the netmask: its scope", ["DATA\t24\t1\tgeo.pipe.test.\tIN\tA\t60\t1\t192.0.2.77", "END"],
      q(c, "geo.pipe.test.", "ANY", "203.0.113.0/24"))
r = q(c, "geo.pipe.test.", "ANY", "198.51.100.0/24")
check("compiled LUA, client outside: the other arm, non-zero scope", True,
      len(r) == 2 and r[0].startswith("DATA\t") and r[0].split("\t")[1] != "0" and r[0].endswith("\t192.0.2.78"))
check("no such name: END alone", ["END"], q(c, "nope.pipe.test."))
check("outside every zone: END alone", ["END"], q(c, "www.example.org."))
check("empty non-terminal: END alone (pdns asks the remote backend)", ["END"], q(c, "ent.pipe.test."))
check("dynamic name with no data for this client: END alone", ["END"],
      q(c, "mixed.pipe.test.", "ANY", "203.0.113.0/24"))
r = q(c, "mixed.pipe.test.", "ANY", "198.51.100.0/24")
check("dynamic name with data: static and computed records", 3, len(r))
check("by zone id", ["DATA\t0\t1\twww.pipe.test.\tIN\tA\t300\t1\t192.0.2.1", "END"], q(c, "www.pipe.test.", "A", zid="1"))

r = c.ask("AXFR\t1\tpipe.test.")
check("AXFR by id: every record, then END", (nrec, "END"), (len(r) - 1, r[-1]))
check("AXFR: LUA records travel as LUA", True, any("\tLUA\t60\t1\tA " in l for l in r))
r2 = c.ask("AXFR\t-1\tPIPE.test")
check("AXFR by name (no id, no trailing dot, any case)", r, r2)
r = c.ask("AXFR\t99\tnope.test.")
check("AXFR of an unknown zone: FAIL with a reason", True, r[-1] == "FAIL" and "no zone" in r[0])
r = c.ask("CMD\tzone list")
check("CMD: the command's reply, then END", True, r[-1] == "END" and any("pipe.test. id=1" in l for l in r))
for bad in ("Q\twww.pipe.test.\tIN\tA\t-1", "Q\twww.pipe.test.\tIN\tA\tx1\t1.2.3.4\t127.0.0.1\t1.2.3.0/24",
            "BOGUS\tx", "", "AXFR\tabc"):
    r = c.ask(bad)
    check("refused: %r" % bad, True, r[-1] == "FAIL" and r[0].startswith("LOG\t"))
check("the connection still serves after the refusals", ["DATA\t0\t1\twww.pipe.test.\tIN\tA\t300\t1\t192.0.2.1", "END"],
      q(c, "www.pipe.test.", "A"))
sys.exit(1 if fails else 0)
PY
python3 "$GS_TMP/proto.py" "$PIPE" "$nrec" || gs_fail "pipe protocol"

# --- 2. through pdns_server (launch=pipe,remote) ----------------------------
gs_start_pdns "$GS_TMP/pdns" "$port"
dq() { kdig @127.0.0.1 -p "$port" +retry=0 +timeout=3 +short "$@"; }
gs_expect_eq "MX through pdns" "10 mail.pipe.test." "$(dq pipe.test MX)"
gs_expect_eq "SRV through pdns" "10 20 5060 sip.pipe.test." "$(dq _sip._udp.pipe.test SRV)"
gs_expect_eq "TXT through pdns" '"two words" "and more"' "$(dq txt.pipe.test TXT)"
gs_expect_eq "LUA through pdns, ECS inside" "192.0.2.77" "$(dq +subnet=203.0.113.9/24 geo.pipe.test A)"
scoped=$(kdig @127.0.0.1 -p "$port" +retry=0 +subnet=203.0.113.9/24 geo.pipe.test A)
gs_expect_contains "LUA through pdns: the scope reaches the client" "203.0.113.0/24/24" "$scoped"

# AXFR through pdns (pdns asks the pipe backend: it answered the SOA) has
# the records pdnsutil list-zone (remote backend) prints.
kdig @127.0.0.1 -p "$port" +retry=0 +timeout=5 AXFR pipe.test >"$GS_TMP/axfr.txt"
gs_pdnsutil "$GS_TMP/pdns" list-zone pipe.test >"$GS_TMP/list.txt" 2>/dev/null </dev/null
# owner, type and TTL of each record (kdig names LUA TYPE65402; pdnsutil
# leaves the owner's final dot out), one line each, sorted.
rrkeys() {
    awk '$3 == "IN" && NF >= 4 { n = $1; sub(/\.$/, "", n); t = $4; if (t == "TYPE65402") t = "LUA"
                                 print n, t, $2 }' "$1" | sort -u
}
gs_expect_eq "AXFR through pdns: the records of list-zone" "$(rrkeys "$GS_TMP/list.txt")" \
    "$(rrkeys "$GS_TMP/axfr.txt")"
cz=$(pu check-zone pipe.test)
gs_expect_contains "check-zone through the pipe configuration" "Checked $nrec records of 'pipe.test', 0 errors" "$cz"

# Which backend pdns asks, counted by geosteerd per interface.
counts() {
    gs_cli metrics | awk '/^geosteer_requests_total\{interface="(remote|pipe)",method="lookup"/ {
        split($1, a, "\""); n[a[2]] += $2 } END { printf "%d %d\n", n["pipe"], n["remote"] }'
}
asked() { # NAME TYPE: prints "pipe-lookups remote-lookups" one query cost
    local a b
    a=$(counts)
    dq "$1" "$2" >/dev/null
    b=$(counts)
    echo "$a $b" | awk '{ printf "%d %d\n", $3 - $1, $4 - $2 }'
}
read -r p r <<<"$(asked www.pipe.test A)"
echo "lookups for an existing name: pipe $p, remote $r"
[ "$p" -ge 1 ] && [ "$r" -ge 1 ] || gs_fail "existing name: expected pipe and remote lookups, got $p/$r"
# Without pdns's zone cache (the pipe backend cannot fill it), finding the
# zone asks every backend for an SOA at the query name first: so one
# remote lookup per query even for names the pipe answers, unless pdns's
# negative query cache holds that SOA miss (doc/pipe.md).
r_exist=$r
read -r p r <<<"$(asked nope.pipe.test A)"
echo "lookups for a name that does not exist: pipe $p, remote $r"
[ "$r" -gt "$r_exist" ] || gs_fail "NXDOMAIN: expected more remote lookups than for an existing name ($r vs $r_exist)"
st=$(kdig @127.0.0.1 -p "$port" +retry=0 nope.pipe.test A | grep -o 'status: [A-Z]*')
gs_expect_eq "NXDOMAIN through the pipe configuration" "status: NXDOMAIN" "$st"
st=$(kdig @127.0.0.1 -p "$port" +retry=0 ent.pipe.test A | grep -o 'status: [A-Z]*')
gs_expect_eq "empty non-terminal: NOERROR (the remote backend's ENT)" "status: NOERROR" "$st"
mixed=$(kdig @127.0.0.1 -p "$port" +retry=0 +subnet=203.0.113.9/24 mixed.pipe.test A)
gs_expect_contains "no data for this client: NODATA" "status: NOERROR" "$mixed"
gs_expect_eq "the other client gets data" "192.0.2.90" "$(dq +subnet=198.51.100.7/24 mixed.pipe.test A)"
# Each query's decision is counted once (the scope histogram's count), also
# when the pipe's answer needed an ENT and pdns asked the remote backend
# again (the pipe holds its results until it knows its answer is sent).
decisions() { gs_cli metrics | awk '/^geosteer_answer_scope_prefix_length_count/ { n += $2 } END { print n + 0 }'; }
for q in "+subnet=203.0.113.9/24 mixed.pipe.test" "+subnet=198.51.100.7/24 mixed.pipe.test" \
    "+subnet=203.0.113.9/24 geo.pipe.test"; do
    before=$(decisions)
    read -r -a qa <<<"$q"
    dq "${qa[@]}" A >/dev/null
    gs_expect_eq "one decision counted for $q" 1 "$(($(decisions) - before))"
done

# A write goes through the remote backend; the next query, through the
# pipe, sees it (caches off).
pu replace-rrset pipe.test www A 300 192.0.2.111 >/dev/null
gs_expect_eq "a pdnsutil write is seen by the next query" "192.0.2.111" "$(dq www.pipe.test A)"
# pdnsutil reads the remote-only pdns.conf (doc/pipe.md); the pipe's CMD is
# reached through the pipe config.
bc=$(pu --config-name=pipe backend-cmd pipe "zone list")
gs_expect_contains "pdnsutil backend-cmd pipe (CMD, ABI 5)" "pipe.test. id=1" "$bc"
# The reason pdnsutil keeps a config without the pipe backend: with it,
# increase-serial asks the backend that answered the SOA (the pipe, which
# has no writes) and fails.
set +e
is=$(pu --config-name=pipe increase-serial pipe.test)
set -e
gs_expect_contains "pdnsutil increase-serial with the pipe backend loaded fails" \
    "Backend did not replace SOA record" "$is"
gs_expect_contains "the same through pdns.conf (remote only) works" "set to 8" "$(pu increase-serial pipe.test)"

# geosteer relay: the remote backend's pipe connector (doc/pipe.md, "Big
# zones") lists the same zone as the unix connector.
{
    echo "launch=remote"
    echo "remote-connection-string=pipe:command=$GEOSTEER -s $GS_SOCK relay,timeout=0"
    gs_pdns_local "$GS_TMP/pdns" "$port"
} >"$GS_TMP/pdns/pdns-relay.conf"
via_relay=$(gs_pdnsutil "$GS_TMP/pdns" --config-name=relay list-zone pipe.test 2>/dev/null </dev/null)
via_unix=$(gs_pdnsutil "$GS_TMP/pdns" list-zone pipe.test 2>/dev/null </dev/null)
gs_expect_eq "list-zone through geosteer relay equals the unix connector's" "$via_unix" "$via_relay"
set +e
"$GEOSTEER" -s "$GS_TMP/nosuch.sock" relay </dev/null >/dev/null 2>"$GS_TMP/relay.err"
rc=$?
set -e
gs_expect_eq "relay without a daemon: exit 69" 69 "$rc"

# The shipped example, with this test's paths, drives a pdns_server.
ex=$GS_TMP/example
mkdir -p "$ex"
ex_port=$(gs_free_port)
{
    sed -e "s|/run/geosteer/pipe.sock|$PIPE|" -e "s|/run/geosteer/backend.sock|$GS_SOCK|" \
        -e "s|^socket-dir=.*|socket-dir=$ex|" "$GS_SOURCE_DIR/examples/pdns-geosteer-pipe.conf"
    gs_pdns_local "$ex" "$ex_port" | grep -v '^socket-dir='
} >"$ex/pdns-pipe.conf"
pdns_server --config-dir="$ex" --config-name=pipe >>"$ex/pdns.log" 2>&1 &
EX_PID=$!
gs_register "$EX_PID"
for _ in $(seq 100); do
    kdig @127.0.0.1 -p "$ex_port" +timeout=1 +retry=0 id.server CH TXT >/dev/null 2>&1 && break
    kill -0 "$EX_PID" 2>/dev/null || gs_fail "pdns_server with examples/pdns-geosteer-pipe.conf exited"
    sleep 0.1
done
gs_expect_eq "examples/pdns-geosteer-pipe.conf serves" "192.0.2.77" \
    "$(kdig @127.0.0.1 -p "$ex_port" +retry=0 +timeout=3 +short +subnet=203.0.113.9/24 geo.pipe.test A)"
[ -S "$ex/pdns-pipe.controlsocket" ] || gs_fail "no control socket pdns-pipe.controlsocket in socket-dir"
gs_stop "$EX_PID"

# --- 3. geosteerd restarts --------------------------------------------------
gs_stop "$GS_DAEMON_PID"
gs_start_geosteerd "$GS_TMP/gs"
servfail=0
for _ in 1 2 3 4 5 6 7 8; do
    case "$(kdig @127.0.0.1 -p "$port" +retry=0 +timeout=2 www.pipe.test A)" in
    *"status: SERVFAIL"*) servfail=$((servfail + 1)) ;;
    esac
done
echo "after a geosteerd restart: $servfail of 8 queries SERVFAIL until pdns restarts"
[ "$servfail" -ge 6 ] ||
    gs_fail "pdns recovered its pipe connections by itself ($servfail of 8 failed): update doc/pipe.md's restart advice"
gs_stop "$GS_PDNS_PID"
gs_start_pdns "$GS_TMP/pdns" "$port"
gs_expect_eq "after pdns restarts too: answers again" "192.0.2.111" "$(dq www.pipe.test A)"
