#!/usr/bin/env bash
# Runs every test: installs and builds (scripts/setup.sh), then
#   1. all ctest suites of the release build (unit, interop, control, dataplane, ...)
#   2. the unit tests again under ASan+UBSan
#   3. the libFuzzer targets for a bounded time
# Needs root (network namespaces, TUN devices, DPDK).
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh || { echo "test: setup failed"; exit 1; }

failed=0
run() {
  local name=$1; shift
  echo "=== $name"
  if "$@"; then echo "=== $name: ok"; else echo "=== $name: FAILED"; failed=$((failed + 1)); fi
}
run "release: all suites" ctest --test-dir build --output-on-failure -LE fuzz
run "asan+ubsan: unit and control" ctest --test-dir build-asan --output-on-failure -L 'unit|control'
run "fuzz" ctest --test-dir build-fuzz --output-on-failure -L fuzz

if [ $failed -ne 0 ]; then
  echo "test: $failed group(s) failed"
  exit 1
fi
echo "test: all groups passed"
