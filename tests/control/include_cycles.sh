#!/bin/sh
# Fails on a dependency cycle among the modules of control/:
#  1. includes: X.c / X.h -> every "Y.h" of control/ that it includes;
#  2. calls (with the rvcontrol archive given): X.o -> the module whose
#     object defines a symbol that X.o uses. Functions declared in rpc.h
#     (the call interface handlers answer through) count as module "rpc".
# A file X_Y.c (or .h) beside an X.c is part of module X (server_unary.c,
# server_stream.c and server_call.h are the server's). tsort(1) reports any
# loop.
# Usage: include_cycles.sh <control dir> [librvcontrol.a]
dir=$1
lib=$2
status=0

# module of a file's base name (no extension)
module() {
	case $1 in
	*_*) [ -f "$dir/${1%%_*}.c" ] && { echo "${1%%_*}"; return; } ;;
	esac
	echo "$1"
}

check() { # $1: what, stdin: edges
	if out=$(tsort 2>&1 >/dev/null) && [ -z "$out" ]; then
		echo "$1: no cycle"
	else
		echo "$1: cycle among control/ modules:"
		printf '%s\n' "$out"
		return 1
	fi
}

for f in "$dir"/*.c "$dir"/*.h; do
	m=$(basename "$f"); m=$(module "${m%.*}")
	sed -n 's/^#include "\([^"/]*\)\.h".*/\1/p' "$f" | while read -r h; do
		[ -f "$dir/$h.h" ] && h=$(module "$h") && [ "$h" != "$m" ] && echo "$m $h"
	done
done | check "includes" || status=1

if [ -n "$lib" ]; then
	tmp=$(mktemp -d) || exit 1
	trap 'rm -rf "$tmp"' EXIT
	sed -n 's/^[a-z_ ]*[ *]\(rv_[a-z0-9_]*\)(.*/\1/p' "$dir/rpc.h" | sort -u >"$tmp/rpc"
	# "symbol module" for every defined global symbol
	nm -A -g --defined-only "$lib" 2>/dev/null |
		sed -n 's/^[^:]*:\([a-z0-9_]*\)\.c\.o: *[0-9a-f]* [A-Z] \(.*\)/\2 \1/p' |
		awk 'NR == FNR { rpc[$1] = 1; next } { print $1, ($1 in rpc) ? "rpc" : $2 }' \
			"$tmp/rpc" - | sort >"$tmp/defs"
	nm -A -u "$lib" 2>/dev/null | sed -n 's/^[^:]*:\([a-z0-9_]*\)\.c\.o: *U \(.*\)/\2 \1/p' |
		sort | join - "$tmp/defs" | while read -r _ a b; do
			a=$(module "$a"); b=$(module "$b")
			[ "$a" != "$b" ] && echo "$a $b"
		done | sort -u >"$tmp/edges"
	echo "$(wc -l <"$tmp/edges") call edges"
	check "calls" <"$tmp/edges" || status=1
fi
exit $status
