#!/usr/bin/env bash
# Lints every man page in DIR with mandoc (-T lint -W warning): any message
# fails. Exit 77 (SKIP) when mandoc is not installed.
set -u
dir=$1
if ! command -v mandoc >/dev/null 2>&1; then
    echo "SKIP: mandoc is not installed (scripts/setup.sh installs it)"
    exit 77
fi
pages=("$dir"/*.[158])
[ -e "${pages[0]}" ] || { echo "FAIL: no man pages in $dir"; exit 1; }
out=$(mandoc -T lint -W warning "${pages[@]}" 2>&1)
if [ -n "$out" ]; then
    echo "$out"
    echo "FAIL: mandoc -T lint reports the lines above"
    exit 1
fi
echo "ok: ${#pages[@]} man pages lint clean: ${pages[*]##*/}"
