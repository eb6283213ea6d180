#!/usr/bin/env bash
# The TCP fallback under an attacker who holds connections open, against the
# real data plane in network namespaces (descriptor limit 1024, as a unit
# without LimitNOFILE gets):
#   1. idle TLS connections and connections that never start TLS are shed
#      (shed_idle, shed_handshake);
#   2. with 1,000 connections held (and re-opened when shed) the agent socket
#      answers (roomvpn-dpctl stats) and a member whose UDP is blocked
#      works over TCP (pings a member over UDP);
#   3. an oversize frame before authentication closes its connection
#      (frames_oversize);
#   4. the data plane's log stays small during the attack (rate-limited).
#
#   ns dp: dp0 driven by the data plane (net_af_packet, 10.99.0.1, UDP 1194)
#          k0 10.99.0.2: the TCP fallback (TLS, port 8443)
#   ns m1: rvpeer over UDP, TUN 10.77.0.11
#   ns m2: agent_tcp_member.py over TLS/TCP as 10.77.0.12
#   ns m3: the attacker (tcp_attacker.py)
#
# usage: tcp_attack.sh BUILD_DIR
set -uo pipefail
BIN=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
RUN=$(mktemp -d /tmp/rv-tcp-attack.XXXXXX)
SFX=ta$$
. "$HERE/relay_lib.sh"
trap rv_cleanup EXIT
PY=/usr/bin/python3
TCP=$DP_TCP_IP:8443
LOG_LINES_MAX=300 # rate-limited: a few lines a second per cause

tcp_stat() { # FIELD
	timeout 10 "$BIN/dataplane/roomvpn-dpctl" --socket "$RUN/agent.sock" --json stats |
		$PY -c 'import json,sys; print(json.load(sys.stdin)["tcp"][sys.argv[1]])' "$1"
}

# wait_stat FIELD MIN: until the counter reaches MIN (at most 60 s).
wait_stat() {
	local i v
	for i in $(seq 300); do
		v=$(tcp_stat "$1") && [ "$v" -ge "$2" ] && return 0
		sleep 0.2
	done
	return 1
}

attacker() { # READY_FILE attacker args...
	local ready=$1
	shift
	# not through in_ns (a function: its subshell would get the pid, and
	# killing it would leave python running)
	ip netns exec "$(mns 3)" $PY "$HERE/tcp_attacker.py" --server $TCP --ready "$ready" "$@" \
		>"$ready.log" 2>&1 &
	ATT_PID=$!
	PIDS+=("$ATT_PID")
	local i
	for i in $(seq 600); do
		[ -f "$ready" ] && return 0
		kill -0 $ATT_PID 2>/dev/null || break
		sleep 0.1
	done
	cat "$ready.log"
	return 1
}

rv_topology
rv_member 1
rv_member 2
rv_member 3
rv_dp_kernel_if
RV_DP_NOFILE=1024 rv_dataplane rss 1 --set tcp=true --set tcp-listen=$TCP \
	--set tcp-cert="$RUN/tcp-cert.pem" --set tcp-key="$RUN/tcp-key.pem" \
	--set tcp-idle-timeout=3s --set tcp-handshake-timeout=2s || exit 1
dpctl room add 1 --subnet 10.77.0.0/24 >/dev/null || exit 1
dpctl session add --peer-id 1 --room 1 --vip 10.77.0.11 --cipher AES-256-GCM \
	--key "$(rv_key k1)" >/dev/null || exit 1
dpctl session add --peer-id 2 --room 1 --vip 10.77.0.12 --cipher AES-256-GCM \
	--key "$(rv_key k2)" >/dev/null || exit 1
rv_peer 1 1 10.77.0.11 k1 --ping 1
max=$(tcp_stat max_conns)
[ "$max" -lt 1000 ] && pass "connection cap $max, below the descriptor limit 1024" ||
	fail "connection cap $max at a descriptor limit of 1024"

# 1. Idle and slow connections are shed.
attacker "$RUN/a1" --tls 100 --raw 100 || fail "attacker did not start"
log "attacker 1: $(cat "$RUN/a1")"
wait_stat shed_idle 100 && pass "idle TLS connections shed ($(tcp_stat shed_idle))" ||
	fail "shed_idle $(tcp_stat shed_idle), want 100"
wait_stat shed_handshake 100 &&
	pass "connections without a TLS handshake shed ($(tcp_stat shed_handshake))" ||
	fail "shed_handshake $(tcp_stat shed_handshake), want 100"
kill $ATT_PID 2>/dev/null
wait $ATT_PID 2>/dev/null

# 2. 1,000 idle TLS connections held, and re-opened when shed.
lines0=$(wc -l <"$RUN/dp.log")
attacker "$RUN/a2" --tls 1000 --refill || fail "attacker did not start"
log "attacker 2: $(cat "$RUN/a2")"
if out=$(timeout 10 "$BIN/dataplane/roomvpn-dpctl" --socket "$RUN/agent.sock" stats 2>&1); then
	pass "the agent socket answers during the attack ($(tcp_stat active) connections open)"
else
	fail "dpctl stats during the attack: $out"
fi
if in_ns 2 $PY "$HERE/agent_tcp_member.py" --server $TCP --ca "$RUN/tcp-cert.pem" \
	--key "$(rv_key k2)" --peer-id 2 --vip 10.77.0.12 --target 10.77.0.11 \
	--count 5 --need 3 >"$RUN/member2.log" 2>&1; then
	pass "a member over TCP works during the attack ($(tail -1 "$RUN/member2.log"))"
else
	fail "member over TCP during the attack: $(tail -3 "$RUN/member2.log")"
fi
a=$(tcp_stat shed_unauth) b=$(tcp_stat refused_fds)
shed=$((${a:-0} + ${b:-0}))
[ "$shed" -gt 0 ] && pass "connections shed at the cap: $shed" || fail "nothing shed at the cap"

# 3. An oversize frame before authentication.
over0=$(tcp_stat frames_oversize)
in_ns 2 $PY "$HERE/tcp_attacker.py" --server $TCP --oversize 3000 >"$RUN/over.log" 2>&1 &&
	wait_stat frames_oversize $((over0 + 1)) &&
	pass "oversize unauthenticated frame: closed and counted ($(tcp_stat frames_oversize))" ||
	fail "oversize: $(cat "$RUN/over.log"), frames_oversize $(tcp_stat frames_oversize)"

# 4. The log stays small.
lines=$(($(wc -l <"$RUN/dp.log") - lines0))
[ "$lines" -le $LOG_LINES_MAX ] && pass "data plane log: $lines lines during the attack" ||
	fail "data plane log: $lines lines during the attack (max $LOG_LINES_MAX)"
for t in /proc/$DP_PID/task/*; do # figures only
	case $(cat "$t/comm") in rv-tcp | rv-agent)
		echo "info: thread $(cat "$t/comm"): $(awk '{print ($14 + $15) / 100}' "$t/stat") s CPU"
		;;
	esac
done
kill $ATT_PID 2>/dev/null

if [ "$FAILS" -ne 0 ]; then
	echo "--- data plane log (last lines)"
	tail -20 "$RUN/dp.log"
	dpctl stats
	echo "$FAILS check(s) failed"
	exit 1
fi
echo "TCP attack test passed"
