#!/usr/bin/env bash
# Runs every test: format check, then the whole ctest suite (unit, protocol,
# config, fuzz-corpus replay, end-to-end against real pdns_server/pdnsutil/
# kdig) twice: in a normal -Werror build and in an ASan+UBSan build. Any
# sanitizer report fails the run, including reports from geosteerd processes
# started by the end-to-end tests (they log to build-asan/sanitizer/).
set -eu
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

if command -v clang-format >/dev/null; then
    echo "== clang-format"
    git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror
else
    echo "SKIP: clang-format not installed (scripts/setup.sh installs it)"
fi

echo "== normal build"
cmake -S . -B build -DGEOSTEER_WERROR=ON
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -DGEOSTEER_WERROR=ON -DGEOSTEER_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
cmake --build build-asan -j"$jobs"
logs=$PWD/build-asan/sanitizer
rm -rf "$logs"
mkdir -p "$logs"
export ASAN_OPTIONS="log_path=$logs/asan:abort_on_error=1:detect_leaks=1"
export UBSAN_OPTIONS="log_path=$logs/ubsan:halt_on_error=1:print_stacktrace=1"
# check's per-test timeout (4 s) guards against quadratic regressions in the
# normal build; sanitized code runs 3-5 times slower (test_reply_buffer_trim
# takes 3.5 s of its 4 alone), so the sanitizer run gives each test 3 times
# as long.
export CK_TIMEOUT_MULTIPLIER=3
ctest --test-dir build-asan --output-on-failure -j"$jobs"
if compgen -G "$logs/*" >/dev/null; then
    echo "FAIL: sanitizer reports:"
    for f in "$logs"/*; do echo "--- $f"; cat "$f"; done
    exit 1
fi
echo "== all tests passed (normal and sanitizer builds)"
