#!/usr/bin/env bash
# The data plane's own log at notice (journald priority 5): start, the
# port's link at start and on each change, stop. roomvpn-dataplane runs in a
# network namespace of its own on a net_tap port; the test takes the TAP
# interface down and up and watches the log (JOURNAL_STREAM set: "<5>").
# usage: link_log.sh BUILD_DIR   (root: netns, /dev/net/tun)
set -uo pipefail
BIN=$1
NS=rv-link-$$
RUN=$(mktemp -d /tmp/rv-link-XXXXXX)
LOG=$RUN/dp.log
DP_PID=

cleanup() {
	[ -n "$DP_PID" ] && kill "$DP_PID" 2>/dev/null && wait "$DP_PID" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$RUN"
}
trap cleanup EXIT
die() {
	echo "FAIL: $*"
	echo "--- data plane log:"
	cat "$LOG"
	exit 1
}

# wait_line PATTERN: grep -E in the log, up to 20 s
wait_line() {
	for _ in $(seq 200); do
		grep -Eq "$1" "$LOG" && return 0
		sleep 0.1
	done
	return 1
}

ip netns add "$NS" || { echo "SKIP: cannot create a network namespace"; exit 0; }
JOURNAL_STREAM=8:1 ip netns exec "$NS" "$BIN/dataplane/roomvpn-dataplane" -l 0-1 --no-huge -m 256 \
	--no-pci --file-prefix "rv-link-$$" --vdev net_tap0,iface=rvtap0 --log-level=lib.eal:error \
	-- --set ip=10.98.0.1/24 --set agent-socket="$RUN/agent.sock" --set idle-sleep-us=1000 \
	>"$LOG" 2>&1 &
DP_PID=$!

wait_line '^<5>dataplane up: ' || die "no 'dataplane up' at notice"
wait_line '^<5>port 0: link up' || die "no 'port 0: link up' at notice at start"
echo "ok: start and the port's link logged at notice"
ip -n "$NS" link set rvtap0 down || die "ip link set rvtap0 down"
wait_line '^<5>port 0: link down' || die "the link going down was not logged at notice"
ip -n "$NS" link set rvtap0 up || die "ip link set rvtap0 up"
[ "$(grep -c '^<5>port 0: link up' "$LOG")" -ge 1 ] || die "lost the first link line"
for _ in $(seq 200); do
	[ "$(grep -c '^<5>port 0: link up' "$LOG")" -ge 2 ] && break
	sleep 0.1
done
[ "$(grep -c '^<5>port 0: link up' "$LOG")" -ge 2 ] || die "the link coming back was not logged"
echo "ok: link down and up again logged at notice"
kill -TERM "$DP_PID"
wait "$DP_PID"
rc=$?
DP_PID=
[ "$rc" -eq 0 ] || die "the data plane exited $rc on SIGTERM"
grep -Eq '^<5>dataplane stopping \(Terminated\)' "$LOG" || die "no 'dataplane stopping' at notice"
grep -Eq '^<5>dataplane stopped$' "$LOG" || die "no 'dataplane stopped' at notice"
echo "ok: stop logged at notice"
echo "PASS"
