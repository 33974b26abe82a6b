#!/usr/bin/env bash
# Runs `geosteerd --check` and `geosteer check` on an example config, which
# must pass. Both open every file the config names, as start-up does, so the
# example's files are provided: its GeoIP and ASN databases (paths under
# /var/lib/geosteer/) are rewritten to fixtures made here with gs_mkmmdb, and
# a ca_file that this machine lacks is rewritten to a test certificate.
#   run_example.sh GEOSTEERD GS_MKMMDB EXAMPLE.json
set -eu
geosteerd=$1
mkmmdb=$2
example=$3
geosteer="$(dirname "$geosteerd")/geosteer"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cfg=$tmp/$(basename "$example")
sed "s|/var/lib/geosteer/|$tmp/|g" "$example" >"$cfg"
# Every database the example names: a small fixture with country, location
# and ASN data (the same file serves as a city and as an ASN database).
grep -o "$tmp/[A-Za-z0-9._-]*\.mmdb" "$cfg" | sort -u | while read -r db; do
    printf '%s\n' '192.0.2.0/24 country=DE continent=EU lat=52.5 lon=13.4 asn=64496' \
        '2001:db8::/32 country=US continent=NA lat=37.8 lon=-122.4 asn=64497' | "$mkmmdb" "$db"
done
# A ca_file this machine does not have: a PEM file holding the marker the
# check looks for (the check reads it; the probe would hand it to libcurl).
grep -o '"ca_file": *"[^"]*"' "$cfg" | sed 's/.*"\([^"]*\)"$/\1/' | sort -u | while read -r ca; do
    [ -r "$ca" ] && continue
    printf '%s\n%s\n' '-----BEGIN CERTIFICATE-----' '-----END CERTIFICATE-----' >"$tmp/ca.pem"
    sed -i "s|\"$ca\"|\"$tmp/ca.pem\"|" "$cfg"
done
"$geosteerd" --check -c "$cfg" || { echo "geosteerd --check refused $example"; exit 1; }
if [ -x "$geosteer" ]; then
    "$geosteer" check -c "$cfg" || { echo "geosteer check refused $example"; exit 1; }
fi
echo "ok: $example"
