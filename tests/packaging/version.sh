#!/usr/bin/env bash
# Each program's --version prints "NAME VERSION" with the CMake project version.
# Usage: version.sh VERSION PROGRAM...
set -u
want=$1; shift
fail=0
for p in "$@"; do
  name=$(basename "$p")
  out=$("$p" --version 2>&1); rc=$?
  if [ $rc -ne 0 ] || [ "$out" != "$name $want" ]; then
    echo "FAIL: $p --version: exit $rc, printed '$out', want '$name $want'"
    fail=1
  else
    echo "ok: $out"
  fi
done
[ $# -ge 3 ] || { echo "FAIL: only $# programs built"; fail=1; }
exit $fail
