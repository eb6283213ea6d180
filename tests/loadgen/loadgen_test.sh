#!/usr/bin/env bash
# Black-box tests of roomvpn-loadgen. Usage:
#   loadgen_test.sh CASE LOADGEN [DATAPLANE DPCTL]
# CASE: args | unreachable | reflect | reflect-corrupt | dataplane-agent | dataplane-rx-lcore |
#       dataplane-file | reflect-inner6 | dataplane-inner6
# The data-plane cases run roomvpn-dataplane as a memif server and the
# loadgen as its memif client (unix socket in a private temp dir).
set -u
case_name=$1
LG=$2
DP=${3:-}
DPCTL=${4:-}
PY=/usr/bin/python3 # Debian's python (json is all we need)
tag="h7lg$$"
tmp=$(mktemp -d /tmp/rv-loadgen-test.XXXXXX)
dp_pid=""
fail=0

cleanup() {
	if [ -n "$dp_pid" ] && kill -0 "$dp_pid" 2>/dev/null; then
		kill "$dp_pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$dp_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$dp_pid" 2>/dev/null
	fi
	rm -rf "$tmp" "/var/run/dpdk/${tag}lg" "/var/run/dpdk/${tag}dp" "/var/run/dpdk/${tag}x"
}
trap cleanup EXIT

ok() { echo "ok:   $*"; }
bad() { echo "FAIL: $*"; fail=1; }

EAL=(--no-huge -m 256 --no-pci --log-level=lib.eal:error --log-level=pmd.net.memif:error)

# expect CODE PATTERN -- command...: exit code and a stderr/stdout line.
expect() {
	local code=$1 pat=$2
	shift 3
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -ne "$code" ]; then
		bad "exit $rc (want $code) from: ${*: -6}"; echo "$out" | tail -5; return
	fi
	if ! grep -qE -- "$pat" <<<"$out"; then
		bad "no /$pat/ in the output of: ${*: -6}"; echo "$out" | tail -5; return
	fi
	ok "exit $code, /$pat/"
}

case_args() {
	expect 0 'usage: roomvpn-loadgen' -- "$LG" --help
	expect 2 "missing '--'" -- "$LG" --reflect
	expect 2 "invalid --clients '1'" -- "$LG" -- --reflect --clients 1
	expect 2 "invalid --cipher 'AES-128-CBC'" -- "$LG" -- --reflect --cipher AES-128-CBC
	expect 2 "invalid --sizes '20'" -- "$LG" -- --reflect --sizes 64,20
	expect 2 "invalid --dp 'nowhere'" -- "$LG" -- --agent /x --dp nowhere
	expect 2 "missing --dp" -- "$LG" -- --agent /x
	expect 2 "choose one of --agent, --session-file, --reflect" -- "$LG" -- --agent /x --reflect
	expect 2 "missing provisioning" -- "$LG" -- --dp 192.0.2.1:1194
	expect 2 "'--bogus' is unknown" -- "$LG" -- --reflect --bogus
	expect 2 "every room needs at least 2 members" -- "$LG" -- --reflect --clients 3 --rooms 2
	expect 2 "needs --seed" -- "$LG" -- --session-file "$tmp/s" --dp 192.0.2.1:1194
	expect 2 "must end in .png or .svg" -- "$LG" -- --reflect --plot-out "$tmp/p.jpg"
	expect 2 "invalid --rate '-5'" -- "$LG" -- --reflect --rate -5
	expect 2 "unexpected argument 'extra'" -- "$LG" -- --reflect extra
	expect 1 "EAL initialisation failed" -- "$LG" --no-such-eal-option -- --reflect
	expect 1 "port 0 does not exist" -- "$LG" "${EAL[@]}" --file-prefix "${tag}x" -- --reflect
}

case_unreachable() {
	local ring=(--vdev net_ring0 --file-prefix "${tag}x" -l 0)
	expect 1 "data plane unreachable: cannot connect to the agent socket $tmp/none.sock" -- \
		"$LG" "${EAL[@]}" "${ring[@]}" -- --agent "$tmp/none.sock" --dp 192.0.2.1:1194
	# An agent that accepts and never answers.
	"$PY" -c 'import socket,sys,time
s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
c=s.accept(); time.sleep(30)' "$tmp/mute.sock" &
	local mute=$!
	for _ in $(seq 50); do [ -S "$tmp/mute.sock" ] && break; sleep 0.1; done
	expect 1 "data plane unreachable: the agent at $tmp/mute.sock did not reply within 500 ms" -- \
		"$LG" "${EAL[@]}" "${ring[@]}" -- --agent "$tmp/mute.sock" --dp 192.0.2.1:1194 --timeout 0.5
	kill "$mute" 2>/dev/null; wait "$mute" 2>/dev/null
	# Nobody answers ARP on a loopback ring.
	expect 1 "data plane unreachable: no ARP reply from 192.0.2.1 on port 0 within 0.5 s" -- \
		"$LG" "${EAL[@]}" "${ring[@]}" -- --session-file "$tmp/s" --seed 7 \
		--dp 192.0.2.1:1194 --timeout 0.5
	# MAC given, but nothing relays: no packet comes back.
	expect 1 "data plane unreachable: none of [0-9]+ packet\(s\) sent to 192.0.2.1:1194 came back within 0.5 s" -- \
		"$LG" "${EAL[@]}" "${ring[@]}" -- --session-file "$tmp/s" --seed 7 \
		--dp 192.0.2.1:1194 --dp-mac 02:00:00:00:00:01 --timeout 0.5
}

# json_check NAME=FILE... -- EXPR...: each Python expression over the named
# JSON documents must hold (prints each one with ok/FAIL).
json_check() {
	"$PY" - "$@" <<'PYEOF'
import json, sys
args = sys.argv[1:]
cut = args.index("--")
env = {}
for a in args[:cut]:
    name, path = a.split("=", 1)
    env[name] = json.load(open(path))
bad = 0
for expr in args[cut + 1:]:
    ok = eval(expr, dict(env))
    print(("ok:   " if ok else "FAIL: ") + expr)
    bad |= not ok
sys.exit(1 if bad else 0)
PYEOF
	[ $? -eq 0 ] || fail=1
}

case_reflect() {
	local cipher
	for cipher in AES-256-GCM CHACHA20-POLY1305 AES-256-CBC; do
		"$LG" "${EAL[@]}" --vdev net_ring0 --file-prefix "${tag}x" -l 0 -- --reflect \
			--cipher "$cipher" --clients 20 --rooms 4 --sizes 64,imix --trial-time 0.2 \
			--max-trials 4 --max-rate 20000 --quiet --json-out "$tmp/r.json" >"$tmp/out" 2>&1
		local rc=$?
		[ $rc -eq 0 ] || { bad "reflect $cipher: exit $rc"; cat "$tmp/out"; continue; }
		grep -q "^IMIX " "$tmp/out" || bad "reflect $cipher: no table row for IMIX"
		json_check r="$tmp/r.json" -- "r['cipher'] == '$cipher'" \
			"all(x['ndr']['found'] and x['ndr']['pps'] > 0 for x in r['results'])" \
			"r['totals']['decrypt_errors'] == 0" \
			"r['totals']['payload_errors'] == 0" \
			"all(x['ndr']['limited_by'] in ('none', 'generator', 'data_plane') for x in r['results'])" \
			"r['totals']['sent'] == r['totals']['received'] + r['totals']['late']" \
			"all(x['ndr']['latency_ns']['p50'] > 0 for x in r['results'])"
	done
}

# A relay that changes payloads (the reflector flips a byte in every 50th
# packet after opening it, then seals it properly): the loadgen must count
# them as payload errors and exit 1.
case_reflect_corrupt() {
	expect 1 "packet\(s\) came back authenticated but with their payload changed" -- \
		"$LG" "${EAL[@]}" --vdev net_ring0 --file-prefix "${tag}x" -l 0 -- --reflect \
		--clients 20 --rooms 4 --sizes 64,1400 --rate 20000 --trial-time 0.2 --quiet \
		--test-corrupt-payload 50 --json-out "$tmp/c.json"
	json_check c="$tmp/c.json" -- "c['totals']['payload_errors'] > 0" \
		"all(x['payload_errors'] > 0 for x in c['results'])" \
		"c['totals']['decrypt_errors'] == 0"
	expect 2 "test-corrupt-payload needs --reflect" -- "$LG" -- --agent /x \
		--dp 192.0.2.1:1194 --test-corrupt-payload 5
}

# start_dp KEY=VALUE...: roomvpn-dataplane as memif server (its address
# keys given); agent socket in $tmp.
start_dp() {
	local sets=()
	for kv in "$@"; do sets+=(--set "$kv"); done
	"$DP" "${EAL[@]}" -l 0,1 --file-prefix "${tag}dp" \
		--vdev "net_memif0,role=server,socket=$tmp/memif.sock" -- "${sets[@]}" \
		--set agent-socket="$tmp/agent.sock" --set stats-file="$tmp/dp-stats.json" \
		--set idle-sleep-us=20 >"$tmp/dp.log" 2>&1 &
	dp_pid=$!
	for _ in $(seq 100); do [ -S "$tmp/agent.sock" ] && return 0; sleep 0.1; done
	bad "the data plane did not start"; cat "$tmp/dp.log"; return 1
}

# Clients off the data plane's link, behind a gateway the loadgen plays.
DP_GW=(ip=198.19.255.1/24 gateway=198.19.255.254)
LG_GW=(--dp 198.19.255.1:1194 --gateway 198.19.255.254)
# Clients on the data plane's link: it resolves each of them with ARP.
DP_LINK=(ip=198.18.255.254/16)
LG_LINK=(--dp 198.18.255.254:1194 --client-net 198.18.0.0/16)
LGDP=(--sizes 64 --trial-time 0.3
	--max-trials 8 --max-rate 400000 --timeout 15 --quiet)

run_lg_dp() {
	"$LG" "${EAL[@]}" -l "${LG_LCORES:-1}" --file-prefix "${tag}lg" \
		--vdev "net_memif0,role=client,socket=$tmp/memif.sock" -- "${LGDP[@]}" "$@" \
		--json-out "$tmp/lg.json" >"$tmp/out" 2>&1
	local rc=$?
	cat "$tmp/out"
	[ $rc -eq 0 ] || { bad "loadgen exit $rc"; echo "--- data plane log:"; tail -20 "$tmp/dp.log"; return 1; }
}

# The loadgen's counts against the data plane's (sessions kept for this).
compare_counters() {
	"$DPCTL" --socket "$tmp/agent.sock" --json sessions >"$tmp/sessions.json" || bad "dpctl sessions"
	"$DPCTL" --socket "$tmp/agent.sock" --json stats >"$tmp/stats.json" || bad "dpctl stats"
	echo "data plane stats: $(cat "$tmp/stats.json")"
	local t="lg['totals']" d="st['drops']"
	local pin="sum(s['packets_in'] for s in ss['sessions'])"
	local pout="sum(s['packets_out'] for s in ss['sessions'])"
	json_check lg="$tmp/lg.json" ss="$tmp/sessions.json" st="$tmp/stats.json" -- \
		"lg['results'][0]['ndr']['found'] and lg['results'][0]['ndr']['pps'] > 0" \
		"$t['decrypt_errors'] == 0" \
		"$pin == $t['sent']" \
		"$pout == $t['received'] + $t['late'] + sum($d[k] for k in ('tx_full', 'ring_full', 'arp_unresolved', 'no_gateway'))" \
		"0 <= sum(l['rx_packets'] for l in st['lcores']) - $t['sent'] <= 16" \
		"all($d[k] == 0 for k in ('auth', 'replay', 'unknown_peer', 'unknown_key', 'no_route', 'spoofed', 'malformed'))"
	# The stats file (written on SIGUSR1) has dpctl's keys and the same totals.
	rm -f "$tmp/dp-stats.json"
	kill -USR1 "$dp_pid"
	for _ in $(seq 50); do [ -s "$tmp/dp-stats.json" ] && break; sleep 0.1; done
	json_check dp="$tmp/dp-stats.json" st="$tmp/stats.json" -- \
		"'rx_pkts' not in dp and dp['rx_packets'] >= sum(l['rx_packets'] for l in st['lcores'])" \
		"dp['tx_packets'] >= sum(l['tx_packets'] for l in st['lcores'])" \
		"set(dp['drops']) == set(st['drops']) and all(dp['drops'][k] >= v for k, v in st['drops'].items())"
}

case_dataplane_agent() {
	start_dp "${DP_GW[@]}" || return
	run_lg_dp "${LG_GW[@]}" --agent "$tmp/agent.sock" --clients 10 --rooms 2 --keep-sessions || return
	compare_counters
}

# --inner6: inner IPv6/UDP between vip6s, the same header and pattern
# checks (reflected; then through the data plane, dual-stack rooms through
# the agent, no IPv6 drops); sizes under an IPv6/UDP packet are refused.
case_reflect_inner6() {
	"$LG" "${EAL[@]}" --vdev net_ring0 --file-prefix "${tag}x" -l 0 -- --reflect --inner6 \
		--clients 20 --rooms 4 --sizes 72,1400 --trial-time 0.2 --max-trials 4 \
		--max-rate 20000 --quiet --json-out "$tmp/r6.json" >"$tmp/out" 2>&1 ||
		{ bad "reflect --inner6: exit $?"; cat "$tmp/out"; return; }
	json_check r="$tmp/r6.json" -- \
		"all(x['ndr']['found'] and x['ndr']['pps'] > 0 for x in r['results'])" \
		"r['totals']['decrypt_errors'] == 0 and r['totals']['payload_errors'] == 0" \
		"r['totals']['sent'] == r['totals']['received'] + r['totals']['late']"
	expect 2 "below an IPv6/UDP packet" -- "$LG" -- --reflect --inner6 --sizes 64
	expect 2 "needs --agent or --reflect" -- "$LG" -- --inner6 --session-file /x --seed 1 \
		--dp 192.0.2.1:1194
}

case_dataplane_inner6() {
	start_dp "${DP_GW[@]}" || return
	run_lg_dp "${LG_GW[@]}" --agent "$tmp/agent.sock" --clients 10 --rooms 2 --keep-sessions \
		--inner6 --sizes 72 || return
	compare_counters
	json_check st="$tmp/stats.json" -- \
		"all(st['drops'][k] == 0 for k in ('v6_malformed', 'v6_spoofed', 'v6_no_route', 'v6_nd', 'v6_mcast_scope'))"
}

case_dataplane_file() {
	start_dp "${DP_LINK[@]}" || return
	local sf="$tmp/sessions.conf"
	expect 0 "wrote 3 rooms and 6 sessions to $sf" -- "$LG" -- --session-file "$sf" \
		--write-only --seed 42 --cipher AES-256-CBC --clients 6 --rooms 3 "${LG_LINK[@]}"
	"$DPCTL" --socket "$tmp/agent.sock" resync --file "$sf" || { bad "dpctl resync --file"; return; }
	ok "dpctl resync --file accepted the loadgen's session file"
	run_lg_dp "${LG_LINK[@]}" --session-file "$sf" --seed 42 --cipher AES-256-CBC \
		--clients 6 --rooms 3 || return
	compare_counters
	# On the link, the data plane asked for every client's MAC but the first
	# (it learnt that one from the loadgen's own request for the data plane).
	json_check lg="$tmp/lg.json" -- "lg['totals']['arp_replies'] >= 5"
}

case "$case_name" in
args) case_args ;;
unreachable) case_unreachable ;;
reflect) case_reflect ;;
reflect-corrupt) case_reflect_corrupt ;;
dataplane-agent) case_dataplane_agent ;;
dataplane-rx-lcore) LG_LCORES=0,1 case_dataplane_agent ;; # receiving on a second lcore
dataplane-file) case_dataplane_file ;;
reflect-inner6) case_reflect_inner6 ;;
dataplane-inner6) case_dataplane_inner6 ;;
*) echo "unknown case $case_name"; exit 2 ;;
esac
[ $fail -eq 0 ] && echo "PASS $case_name" || echo "FAILED $case_name"
exit $fail
