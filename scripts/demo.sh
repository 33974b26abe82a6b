#!/usr/bin/env bash
# Builds geosteer and runs the demo: geosteerd owning a zone store with the
# demo zone (examples/demo.zone), a real pdns_server (launch=remote) on
# 127.0.0.1:${GS_DEMO_PORT:-5300}, and example queries with kdig. Everything
# runs from a temporary directory and is stopped by PID at the end; pass
# --keep to leave it running until Ctrl-C. geosteer-probe health-checks two
# local web servers (python3 http.server on loopback) behind a failover name;
# the demo stops one and shows the answer move.
set -eu
cd "$(dirname "$0")/.."
top=$PWD
port=${GS_DEMO_PORT:-5300}
keep=0
[ "${1:-}" = "--keep" ] && keep=1

cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
echo "built: build/geosteerd, build/geosteer, build/geosteer-probe"

run=$(mktemp -d /tmp/geosteer-demo.XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n$ %s\n' "$*"; }
say geosteer geoip build -o "$run/geoip.mmdb"   "# the default country database, from tor-geoipdb"
build/geosteer geoip build -o "$run/geoip.mmdb"
# Two local web servers stand in for the failover name's endpoints.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
app1_port=$(free_port)
app2_port=$(free_port)
mkdir -p "$run/www"
echo ok >"$run/www/index.html"
python3 -m http.server --bind 127.0.0.1 --directory "$run/www" "$app1_port" >"$run/app1.log" 2>&1 &
app1_pid=$!
pids="$pids $app1_pid"
python3 -m http.server --bind 127.0.0.1 --directory "$run/www" "$app2_port" >"$run/app2.log" 2>&1 &
pids="$pids $!"
sed -e "s|/var/lib/geosteer/geoip.mmdb|$run/geoip.mmdb|" -e "s|\"/run/geosteer\"|\"$run/run\"|" \
    -e "s|/run/pdns/pdns.controlsocket|$run/pdns.controlsocket|" \
    -e "s|\"port\": 8081|\"port\": $app1_port|" -e "s|\"port\": 8082|\"port\": $app2_port|" \
    examples/demo-geosteer.json >"$run/geosteer.json"

sock=$run/backend.sock
build/geosteerd -c "$run/geosteer.json" -s "$sock" -d "$run/zones.db" >"$run/geosteerd.log" 2>&1 &
pids="$pids $!"
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
build/geosteer-probe -r "$run/run" >"$run/probe.log" 2>&1 &
pids="$pids $!"

sed "s|/run/geosteer/backend.sock|$sock|" examples/pdns-geosteer.conf >"$run/pdns.conf"
cat >>"$run/pdns.conf" <<CONF
local-address=127.0.0.1
local-port=$port
socket-dir=$run
guardian=no
daemon=no
disable-syslog=yes
write-pid=no
security-poll-suffix=
CONF

say geosteer zone create demo.test --ns ns1.demo.test --ns ns2.demo.test
build/geosteer -s "$sock" zone create demo.test --ns ns1.demo.test --ns ns2.demo.test
say pdnsutil load-zone demo.test examples/demo.zone
pdnsutil --config-dir="$run" load-zone demo.test examples/demo.zone 2>&1 | grep -v -e Reconnecting -e 'closing socket'

addrec() {
    say pdnsutil add-record demo.test "$1" LUA "$2"
    pdnsutil --config-dir="$run" add-record demo.test "$1" LUA "$2" 2>/dev/null | tail -n +2
}
addrec geo "A \"steer('web')\""
addrec geo "AAAA \"steer('web')\""
addrec near "A \"steer('near')\""
addrec sticky "A \"steer('sticky')\""
addrec app "A \"steer('app')\""

pdns_server --config-dir="$run" >"$run/pdns.log" 2>&1 &
pids="$pids $!"
for _ in $(seq 100); do
    kdig @127.0.0.1 -p "$port" +timeout=1 +retry=0 demo.test SOA >/dev/null 2>&1 && break
    sleep 0.1
done
echo
echo "pdns_server (launch=remote) answers on 127.0.0.1:$port, backed by geosteerd at $sock"

q() {
    say kdig @127.0.0.1 -p "$port" "$@"
    kdig @127.0.0.1 -p "$port" +noquestion +nostats "$@" | grep -v '^$'
}
echo
echo "steered names (ECS client subnets from the IPFire data: DE, US, JP, BR, AU):"
for sn in 2.28.0.0/16 2.0.0.0/16 1.5.0.0/16 4.160.0.0/16 1.16.64.0/24; do
    q geo.demo.test A +subnet=$sn +noall +answer +opt
done
q near.demo.test A +subnet=1.16.64.0/24 +short
q geo.demo.test AAAA +subnet=2.28.0.0/16 +short
say geosteer explain geo.demo.test 1.5.0.0/16 A
build/geosteer -s "$sock" explain geo.demo.test 1.5.0.0/16 A
echo
echo "health: app.demo.test fails over from app1 (192.0.2.51) to app2 (192.0.2.52):"
q app.demo.test A +short
say geosteer health
build/geosteer -s "$sock" health
say kill "$app1_pid" "# stop app1's web server"
kill "$app1_pid"
for _ in $(seq 100); do
    [ "$(kdig @127.0.0.1 -p "$port" +short app.demo.test A)" = 192.0.2.52 ] && break
    sleep 0.1
done
q app.demo.test A +short
say geosteer health app1
build/geosteer -s "$sock" health app1
say tail -n 2 "$run/probe.log"
tail -n 2 "$run/probe.log"
q api.demo.test A +short
q demo.test MX +short
q x.apps.demo.test A +short
q nope.demo.test A
q www.demo.test A +subnet=203.0.113.0/24
q demo.test ANY +tcp +short

say geosteer zone list
build/geosteer -s "$sock" zone list
say pdnsutil backend-cmd remote status
pdnsutil --config-dir="$run" backend-cmd remote status 2>/dev/null
say pdnsutil list-zone demo.test
pdnsutil --config-dir="$run" list-zone demo.test 2>/dev/null

if [ "$keep" = 1 ]; then
    echo
    echo "running; config and logs in $run; Ctrl-C stops geosteerd and pdns_server"
    wait
fi
