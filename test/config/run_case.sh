#!/usr/bin/env bash
# Runs `geosteerd --check` on DIR/config.json (from inside DIR, so messages
# name "config.json") and compares stderr with DIR/error exactly. A case
# without an "error" file must be accepted (exit 0).
# The same case is then run through `geosteer check` (the CLI built beside
# geosteerd), which must give the same errors and status: both use cfg_load.
set -eu
geosteerd=$1
dir=$2
geosteer="$(dirname "$geosteerd")/geosteer"
cd "$dir"
# stderr goes to a private temporary file: several build trees may run the
# same case directory at once.
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# run_one LABEL COMMAND...: runs COMMAND and checks its status and stderr.
run_one() {
    local label=$1 rc
    shift
    set +e
    "$@" >/dev/null 2>"$out"
    rc=$?
    set -e
    if [ -f error ]; then
        [ "$rc" -eq 78 ] || { echo "$label: expected exit 78 (EX_CONFIG), got $rc"; exit 1; }
        diff -u error "$out" || { echo "$label: stderr differs"; exit 1; }
    else
        [ "$rc" -eq 0 ] || { echo "$label: expected exit 0, got $rc"; cat "$out"; exit 1; }
    fi
}

run_one "geosteerd --check" "$geosteerd" --check -c config.json
if [ -x "$geosteer" ]; then
    run_one "geosteer check" "$geosteer" check -c config.json
else
    echo "note: $geosteer not built; geosteer check not exercised"
fi
echo "ok: $dir"
