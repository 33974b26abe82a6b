#!/usr/bin/env bash
# `geosteer geoip build` over the real tor-geoipdb range files: the build
# takes under 60 s, and mmdblookup (libmaxminddb's own tool, not our reader)
# finds for ~300 addresses drawn at random from the range files the country
# of the line they came from (IPv4 and IPv6) with its location in MaxMind's
# City layout (latitude, longitude, accuracy_radius, time_zone), and nothing for addresses
# outside every range. The expectations are computed here, in Python, from
# the range files and geo/data/countries.tsv. GS_SEED=N replays a run.
. "$(dirname "$0")/lib.sh"
gs_require mmdblookup python3
V4=${GS_TOR_GEOIP:-/usr/share/tor/geoip}
V6=${GS_TOR_GEOIP6:-/usr/share/tor/geoip6}
[ -r "$V4" ] && [ -r "$V6" ] || gs_skip "tor-geoipdb is not installed ($V4, $V6)"
db=$GS_TMP/geoip.mmdb

start=$(date +%s.%N)
out=$("$GEOSTEER" geoip build --v4 "$V4" --v6 "$V6" -o "$db")
end=$(date +%s.%N)
echo "$out"
secs=$(python3 -c "print(f'{$end - $start:.2f}')")
python3 -c "import sys; sys.exit(0 if $secs < 60 else 1)" || gs_fail "build took $secs s (limit 60 s)"
echo "ok: build took $secs s"
gs_expect_contains "build reports ranges" "IPv4 ranges from $V4" "$out"
gs_expect_contains "build reports networks" "networks (" "$out"
gs_expect_contains "build reports the size" "$(stat -c %s "$db") bytes" "$out"
gs_expect_contains "build reports the time" "took " "$out"

meta=$(mmdblookup --file "$db" --ip 127.0.0.1 --verbose 2>&1 || true)
gs_expect_contains "metadata: type" "GeoSteer-Country" "$meta"
gs_expect_contains "metadata: date of the data" "$(sed -n 's/^# Generated: *//p' "$V4" | head -1 |
    python3 -c 'import sys,email.utils,time; t=email.utils.parsedate_to_datetime(sys.stdin.read().strip()); print(t.strftime("%Y-%m-%d %H:%M:%S UTC"))')" "$meta"

seed=${GS_SEED:-$RANDOM}
echo "sampling with GS_SEED=$seed"
python3 - "$db" "$V4" "$V6" "$GS_SOURCE_DIR/geo/data/countries.tsv" "$seed" <<'PY'
import ipaddress, random, re, subprocess, sys

db, v4, v6, tsv, seed = sys.argv[1:6]
rnd = random.Random(int(seed))
countries = {}
for line in open(tsv, encoding="utf-8"):
    if line.startswith("#") or not line.strip():
        continue
    f = line.rstrip("\n").split("\t")
    countries[f[0]] = (f[1], float(f[2]), float(f[3]), f[4][3:] if f[4].startswith("tz:") else None)

def expect(cc):
    """(country, continent) the database must give for a source code, or None."""
    if cc == "UK":
        cc = "GB"
    if cc in ("EU", "AP"):
        return (None, {"EU": "EU", "AP": "AS"}[cc])
    if cc in countries:
        return (cc, countries[cc][0])
    return None

def ranges(path, v6):
    out = []
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        lo, hi, cc = line.strip().split(",")
        if v6:
            lo, hi = int(ipaddress.IPv6Address(lo)), int(ipaddress.IPv6Address(hi))
        else:
            lo, hi = int(lo), int(hi)
        out.append((lo, hi, cc))
    return out

def lookup(ip):
    p = subprocess.run(["mmdblookup", "--file", db, "--ip", ip], capture_output=True, text=True)
    if "Could not find an entry" in p.stderr + p.stdout:
        return None
    if p.returncode != 0:
        sys.exit(f"FAIL: mmdblookup {ip}: rc {p.returncode}: {p.stderr.strip()}")
    t = p.stdout
    def field(outer, inner):
        m = re.search(r'"%s":\s*\{[^}]*?"%s":\s*("([^"]*)"|(-?[0-9.]+))' % (outer, inner), t, re.S)
        return None if not m else (m.group(2) if m.group(2) is not None else float(m.group(3)))
    # MaxMind's City layout of location: pdns's geoip backend reads a
    # location only with a uint16 accuracy_radius beside it.
    radius = re.search(r'"accuracy_radius":\s*([0-9]+) <uint16>', t)
    return (field("country", "iso_code"), field("continent", "code"), field("location", "latitude"),
            field("location", "longitude"), int(radius.group(1)) if radius else None,
            field("location", "time_zone"))

failures = checked = 0
for path, v6, n in ((v4, False, 200), (v6, True, 100)):
    rs = ranges(path, v6)
    for lo, hi, cc in rnd.sample(rs, n):
        a = rnd.randint(lo, hi)
        ip = str(ipaddress.IPv6Address(a) if v6 else ipaddress.IPv4Address(a))
        want, got = expect(cc), lookup(ip)
        c = countries.get(want[0]) if want else None
        ok = (got is None) if want is None else (
            got is not None and got[0] == want[0] and got[1] == want[1]
            and (c is None or (abs(got[2] - c[1]) < 1e-9 and abs(got[3] - c[2]) < 1e-9
                               and got[4] == 1000 and got[5] == c[3])))
        checked += 1
        if not ok:
            failures += 1
            print(f"FAIL: {ip} (line {lo}-{hi} {cc}): expected {want}, got {got}")
    # Addresses in gaps between ranges: no answer.
    rs.sort()
    gaps = [(a[1] + 1, b[0] - 1) for a, b in zip(rs, rs[1:]) if b[0] > a[1] + 1]
    for lo, hi in rnd.sample(gaps, 10):
        a = rnd.randint(lo, hi)
        ip = str(ipaddress.IPv6Address(a) if v6 else ipaddress.IPv4Address(a))
        if v6 and any(ipaddress.IPv6Address(a) in ipaddress.IPv6Network(n)
                      for n in ("::/96", "::ffff:0:0/96")):
            continue  # IPv4 space inside IPv6: answers with IPv4 data
        got = lookup(ip)
        checked += 1
        if got is not None:
            failures += 1
            print(f"FAIL: {ip} is outside every range but mmdblookup found {got}")
print(f"checked {checked} addresses, {failures} wrong")
sys.exit(1 if failures else 0)
PY
echo "ok: mmdblookup agrees with the range files"

# Fixed points outside every range and a malformed input.
if mmdblookup --file "$db" --ip 192.168.1.1 >/dev/null 2>&1; then
    gs_fail "192.168.1.1 (private) has an entry"
fi
echo "ok: no entry for 192.168.1.1"
printf '16777216,16777471,AU\n1,2\n' >"$GS_TMP/bad"
set +e
err=$("$GEOSTEER" geoip build --v4 "$GS_TMP/bad" --v6 '' -o "$GS_TMP/bad.mmdb" 2>&1)
rc=$?
set -e
gs_expect_eq "bad line exit status" 65 "$rc"
gs_expect_contains "bad line names file:line" "$GS_TMP/bad:2: error: expected INTIPLOW,INTIPHIGH,CC, got '1,2'" "$err"
set +e
err=$("$GEOSTEER" geoip build --v4 "$GS_TMP/none" -o "$GS_TMP/x.mmdb" 2>&1)
rc=$?
set -e
gs_expect_eq "missing input exit status" 66 "$rc"
gs_expect_contains "missing input named" "$GS_TMP/none: cannot open: No such file or directory" "$err"
