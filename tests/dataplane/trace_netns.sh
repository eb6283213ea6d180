#!/usr/bin/env bash
# roomvpn-dpctl trace on a real data plane, in network namespaces (root):
# roomvpn-dataplane on net_af_packet, rvpeer members with TUNs.
#
#   spoofed:      member 1 (peer-id 1, 10.77.0.11) pings member 2 from an
#                 inner source that is not its virtual IP: the trace of
#                 peer-id 1 shows "route  drop: spoofed".
#   unknown peer: member 3 sends as peer-id 77, which names no session: the
#                 trace of peer-id 77 shows "look-up  drop: unknown_peer".
#   relayed:      member 1 pings member 2: a traced packet passes every stage
#                 (classify, look-up, open, replay, route: deliver to
#                 peer-id 2, seal, tx: queued on the port).
# Both checked in `dpctl trace show` and `dpctl --json trace show`.
#
# usage: trace_netns.sh BUILD_DIR
set -uo pipefail
BIN=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
RUN=$(mktemp -d /tmp/rv-trace-test.XXXXXX)
SFX=tr$$
. "$HERE/relay_lib.sh"
trap rv_cleanup EXIT
PY=/usr/bin/python3

setup() {
	rv_topology
	local n
	for n in 1 2 3; do
		rv_member $n
		# no IPv6 chatter on the TUNs: only the test's packets are traced
		in_ns $n sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	done
	rv_dataplane rss 1 || exit 1
	dpctl room add 1 --subnet 10.77.0.0/24 >/dev/null || exit 1
	for n in 1 2; do
		dpctl session add --peer-id $n --room 1 --vip 10.77.0.$((10 + n)) \
			--cipher AES-256-GCM --key "$(rv_key k$n)" >/dev/null || exit 1
		rv_peer $n $n 10.77.0.$((10 + n)) k$n
	done
	rv_peer 3 77 10.77.0.13 k3 # peer-id 77: no such session
}

# has_drop OUT STAGE REASON PEER: the text trace OUT shows a packet of PEER
# dropped at STAGE for REASON.
has_drop() {
	grep -Eq "^ +[0-9:.]+ lcore [0-9]+ +$2 +drop: $3 peer-id $4( |$)" <<<"$1"
}

# has_drop_json STAGE REASON PEER: the same through --json.
has_drop_json() {
	dpctl --json trace show | $PY -c '
import json, sys
t = json.load(sys.stdin)
stage, reason, peer = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.exit(0 if any(r["stage"] == stage and r["decision"] == "drop" and r["reason"] == reason
                  and r["peer_id"] == peer for r in t["records"]) else 1)' "$1" "$2" "$3"
}

# wait_traced PEER: wait (up to 5 s) until a packet of PEER was dropped in
# the trace.
wait_traced() {
	local i
	for i in $(seq 50); do
		dpctl --json trace show | grep -q "\"decision\":\"drop\",\"reason\":\"[a-z_]*\",\"peer_id\":$1," &&
			return 0
		sleep 0.1
	done
	return 1
}

t_spoofed() {
	dpctl trace start --count 20 --peer-id 1 >/dev/null || {
		fail "trace start"
		return
	}
	in_ns 1 ip addr add 10.77.0.99/32 dev tun0
	in_ns 1 ping -c 1 -W 1 -I 10.77.0.99 10.77.0.12 >/dev/null 2>&1 && fail "spoofed ping answered"
	wait_traced 1
	local out
	out=$(dpctl trace show)
	if has_drop "$out" route spoofed 1 && has_drop_json route spoofed 1; then
		pass "spoofed inner source: trace shows 'route drop: spoofed' (text and --json)"
	else
		fail "no 'route drop: spoofed' for peer-id 1 in the trace"
		echo "$out"
	fi
	in_ns 1 ip addr del 10.77.0.99/32 dev tun0
}

t_unknown_peer() {
	dpctl trace start --count 20 --peer-id 77 >/dev/null || {
		fail "trace start"
		return
	}
	in_ns 3 ping -c 1 -W 1 10.77.0.11 >/dev/null 2>&1 && fail "unknown peer's ping answered"
	wait_traced 77
	local out
	out=$(dpctl trace show)
	if has_drop "$out" look-up unknown_peer 77 && has_drop_json look-up unknown_peer 77; then
		pass "unknown peer-id: trace shows 'look-up drop: unknown_peer' (text and --json)"
	else
		fail "no 'look-up drop: unknown_peer' for peer-id 77 in the trace"
		echo "$out"
	fi
	dpctl trace stop >/dev/null
}

t_relayed() {
	# member 2 has sent nothing yet: its address becomes known with its ping
	in_ns 2 ping -c 1 -W 2 10.77.0.11 >/dev/null 2>&1 || fail "member 2 cannot ping member 1"
	dpctl trace start --count 5 --peer-id 1 >/dev/null || {
		fail "trace start"
		return
	}
	in_ns 1 ping -c 1 -W 2 10.77.0.12 >/dev/null 2>&1 || fail "member 1 cannot ping member 2"
	local i
	for i in $(seq 50); do
		dpctl --json trace show | grep -q '"stage":"tx"' && break
		sleep 0.1
	done
	if dpctl --json trace show | $PY -c '
import json, sys
want = [("classify", "next"), ("look-up", "next"), ("open", "next"), ("replay", "next"),
        ("route", "deliver", 2), ("seal", "next"), ("tx", "queued", 0)]
pkts = {}
for r in json.load(sys.stdin)["records"]:
    if r["peer_id"] == 1:
        pkts.setdefault(r["packet"], []).append(r)
def stages(rs):
    return [(r["stage"], r["decision"]) + ((r["arg"],) if r["decision"] in ("deliver", "queued") else ())
            for r in rs]
sys.exit(0 if any(stages(rs) == want for rs in pkts.values()) else 1)'; then
		pass "relayed packet: trace shows classify, look-up, open, replay, route (deliver to 2), seal, tx"
	else
		fail "no traced packet of peer-id 1 with every stage"
		dpctl trace show
	fi
	dpctl trace stop >/dev/null
}

setup
t_spoofed
t_unknown_peer
t_relayed
if [ "$FAILS" -ne 0 ]; then
	echo "--- data plane log"
	cat "$RUN/dp.log"
	exit 1
fi
echo "all trace checks passed"
