#!/bin/sh
# expect_exit.sh CODE PATTERN CMD ARGS...: run CMD, pass only if it exits
# with CODE and its output (stdout + stderr) contains PATTERN. A benchmark's
# self-check is shown to work by a run whose injected fault must fail it.
# Exit 77 from CMD (a crypto engine absent here) is passed on: ctest skips.
set -u
want=$1 pattern=$2
shift 2
out=$("$@" 2>&1)
rc=$?
if [ "$rc" -eq 77 ] && [ "$want" -ne 77 ]; then
	printf '%s\n' "$out" | tail -n 3
	exit 77
fi
if [ "$rc" -ne "$want" ]; then
	printf '%s\n' "$out" | tail -n 30
	echo "FAIL: '$*' exited $rc, expected $want" >&2
	exit 1
fi
if ! printf '%s\n' "$out" | grep -q -- "$pattern"; then
	printf '%s\n' "$out" | tail -n 30
	echo "FAIL: '$*' printed nothing matching '$pattern'" >&2
	exit 1
fi
printf '%s\n' "$out" | grep -- "$pattern" | head -n 5
echo "ok: '$*' exited $rc"
