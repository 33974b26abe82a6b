#!/usr/bin/env bash
# Runs `geosteerd --check` on DIR/config.json (from inside DIR, so messages
# name "config.json") and compares stderr with DIR/error exactly. A case
# without an "error" file must be accepted (exit 0).
set -eu
geosteerd=$1
dir=$2
cd "$dir"
set +e
"$geosteerd" --check -c config.json >/dev/null 2>stderr.out
rc=$?
set -e
trap 'rm -f stderr.out' EXIT
if [ -f error ]; then
    [ "$rc" -eq 78 ] || { echo "expected exit 78 (EX_CONFIG), got $rc"; exit 1; }
    diff -u error stderr.out
else
    [ "$rc" -eq 0 ] || { echo "expected exit 0, got $rc"; cat stderr.out; exit 1; }
fi
echo "ok: $dir"
