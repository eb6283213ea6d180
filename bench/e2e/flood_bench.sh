#!/usr/bin/env bash
# roomvpn under a garbage flood (--flood PPS), and the first single-run
# comparison with stock OpenVPN 2.6 (bench_vs_openvpn.sh is the comparison
# now: alternated rounds, more systems, medians), on the same namespaces,
# veths and addresses (scripts/lib/roomvpn_ns.sh):
#   client A (ns m1, 10.99.0.11) -> server (ns dp, 10.99.0.1:1194) -> client B (ns m2, 10.99.0.12)
# 1. roomvpn: roomvpn-control + roomvpn-dataplane (net_af_packet on dp0) and
#    two `roomvpn up` clients in one room.
# 2. OpenVPN: the data plane stopped, dp0 gets 10.99.0.1 in the kernel, and
#    `openvpn --server ... --client-to-client --data-ciphers AES-256-GCM`
#    (TLS mode, a CA + server + two client certificates made here with
#    openssl) with two `openvpn --client` in m1 and m2.
# For each: ping RTT A -> B (avg, p50, p99 of N pings), iperf3 TCP A -> B
# (best of ROUNDS runs of T seconds), and the CPU used by each process
# during the last iperf3 run (from /proc, plus a `top -H` snapshot).
# Prints figures; not a test. Usage (root):
#   bench/e2e/flood_bench.sh [--build-dir DIR] [--time T] [--rounds R] [--pings N]
#       [--idle-sleep-us US]   (the data plane's idle sleep, default 200; 0 = busy-poll)
#       [--dp-ring N]          (frames in the data plane's af_packet rings, default 4096;
#                               0 = the PMD's default, 512)
#       [--flood PPS]          (then roomvpn's iperf3 rounds again while rv-udp-garbage
#                               floods the data port from a third namespace at PPS:
#                               the flooder's CPU in the table, the drops by reason)
#       [--no-openvpn]         (roomvpn only)
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$SRC/build T=5 ROUNDS=2 NPING=20 IDLE=200 RING=4096 FLOOD=0 OPENVPN=1
while [ $# -gt 0 ]; do
	case "$1" in
	--build-dir) BUILD=$2; shift ;;
	--time) T=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--pings) NPING=$2; shift ;;
	--idle-sleep-us) IDLE=$2; shift ;;
	--dp-ring) RING=$2; shift ;;
	--flood) FLOOD=$2; shift ;;
	--no-openvpn) OPENVPN=0 ;;
	-h | --help) sed -n '2,24p' "$0"; exit 0 ;;
	*) echo "bench: unknown option $1 (try --help)" >&2; exit 2 ;;
	esac
	shift
done
BIN=$(cd "$BUILD" && pwd) || exit 1
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
for t in openvpn iperf3 ping openssl top; do
	command -v $t >/dev/null || { echo "bench: missing $t" >&2; exit 1; }
done
RUN=$(mktemp -d /tmp/rv-bench-e2e.XXXXXX)
SFX=h10b$$
source "$SRC/scripts/lib/roomvpn_ns.sh"
trap rv_cleanup EXIT
trap 'exit 130' INT TERM
die() {
	echo "bench: FAILED: $*" >&2
	for f in dp.log control.log ovpn-server.log ovpn-1.log ovpn-2.log; do
		[ -f "$RUN/$f" ] && { echo "--- $f"; tail -10 "$RUN/$f"; } >&2
	done
	exit 1
}
HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
calc() { awk "BEGIN { print $* }"; }
# sysc PID: read/write-family syscalls (file I/O, i.e. TUN; not socket sendmmsg/recvmmsg)
sysc() { awk '/^sysc[rw]/ { s += $2 } END { print s + 0 }' "/proc/$1/io" 2>/dev/null || echo 0; }
# pkts N: packets sent out of eth0 in ns mN (one per tunnelled packet of client A)
pkts() { ip -n "$(mns "$1")" -s -j link show eth0 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["tx"]["packets"])'; }
# relayed DEV: packets in and out of the relay's device dp0 (what the relay
# received but did not send was lost inside it: ring or socket overflow).
relayed() { ip -n "$NS_DP" -s -j link show dp0 | "$PY" -c 'import json,sys; s=json.load(sys.stdin)[0]["stats64"]; print(s["rx"]["packets"], s["tx"]["packets"])'; }
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }

# rtt SYSTEM DEST: NPING pings A -> B after a warm-up; prints and stores avg/p50/p99.
rtt() {
	in_ns 1 ping -c 3 -i 0.2 -W 2 "$2" >/dev/null || return 1
	in_ns 1 ping -c "$NPING" -i 0.2 -W 2 "$2" >"$RUN/ping-$1.out" || return 1
	"$PY" - "$RUN/ping-$1.out" >"$RUN/rtt-$1" <<'EOF'
import re, sys
v = sorted(float(x) for x in re.findall(r"time=([\d.]+)", open(sys.argv[1]).read()))
p = lambda q: v[min(len(v) - 1, max(0, -(-len(v) * q // 100) - 1))]
print("%.3f %.3f %.3f %d" % (sum(v) / len(v), p(50), p(99), len(v)))
EOF
	read -r a p50 p99 n <"$RUN/rtt-$1"
	printf '  ping %s: %d replies, avg %s ms, p50 %s ms, p99 %s ms\n' "$1" "$n" "$a" "$p50" "$p99"
}

# drops FILE: packet-loss counters of the namespaces m1, m2, dp (UDP
# receive/send buffer errors, per-device rx/tx drops) as JSON into FILE.
drops() {
	"$PY" - "$(mns 1)" "$(mns 2)" "$NS_DP" >"$1" <<'EOF'
import json, subprocess, sys
out = {}
for ns in sys.argv[1:]:
    tag = ns.split("-")[1]
    snmp = subprocess.run(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp"],
                          capture_output=True, text=True).stdout.splitlines()
    udp = [l.split()[1:] for l in snmp if l.startswith("Udp:")]
    if len(udp) == 2:
        for k in ("RcvbufErrors", "SndbufErrors"):
            out["%s udp %s" % (tag, k)] = int(udp[1][udp[0].index(k)])
    links = json.loads(subprocess.run(["ip", "-n", ns, "-s", "-j", "link"],
                                      capture_output=True, text=True).stdout or "[]")
    for l in links:
        st = l.get("stats64", {})
        for d in ("rx", "tx"):
            out["%s %s %s_dropped" % (tag, l["ifname"], d)] = st.get(d, {}).get("dropped", 0)
print(json.dumps(out))
EOF
}
drops_delta() { # BEFORE AFTER: non-zero growth
	"$PY" -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:3]); d={k: v-a.get(k,0) for k,v in b.items() if v-a.get(k,0)}; print("    " + (", ".join("%s +%d" % kv for kv in sorted(d.items())) or "none"))' "$1" "$2"
}

# through SYSTEM DEST "LABEL:PID ...": ROUNDS iperf3 runs A -> B. CPU of the
# listed processes (and the iperf3 pair) over the last run, read from /proc
# just before iperf3 ends; a `top` snapshot in the middle of it.
through() {
	local sys=$1 dest=$2 procs=$3 r best=0 bps lp p all isrv icli start el s0 w0 s1 w1
	drops "$RUN/drops0-$sys"
	local rin0 rout0 rin1 rout1
	read -r rin0 rout0 < <(relayed)
	for r in $(seq "$ROUNDS"); do
		rvn_iperf_server 2 "$dest" || return 1
		isrv=${PIDS[-1]}
		ip netns exec "$(mns 1)" iperf3 -c "$dest" -t "$T" -J >"$RUN/iperf-$sys-$r.json" 2>&1 &
		icli=$!
		all="$procs iperf3-client:$icli iperf3-server:$isrv"
		declare -A t0=() t1=() c0=() c1=()
		for lp in $all; do t0[$lp]=$(ticks "${lp#*:}") c0[$lp]=$(sysc "${lp#*:}"); done
		local k0 k1
		k0=$(pkts 1)
		read -r s0 w0 < <(busy)
		start=$EPOCHREALTIME
		sleep "$(calc "$T / 2 - 0.5")"
		top -b -H -n2 -d1 -w 120 -p "$(echo "$all" | tr ' ' '\n' | cut -d: -f2 | paste -sd,)" \
			>"$RUN/top-$sys.out" 2>&1 &
		top -b -n2 -d1 -w 120 >"$RUN/top-all-$sys.out" 2>&1
		wait $!
		sleep "$(calc "x = $T - 0.3 - ($EPOCHREALTIME - $start); x > 0 ? x : 0")"
		for lp in $all; do t1[$lp]=$(ticks "${lp#*:}") c1[$lp]=$(sysc "${lp#*:}"); done
		k1=$(pkts 1)
		read -r s1 w1 < <(busy)
		el=$(calc "$EPOCHREALTIME - $start")
		wait "$icli" || { cat "$RUN/iperf-$sys-$r.json"; return 1; }
		wait "$isrv" 2>/dev/null
		bps=$("$PY" -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]; print("%d %d" % (e["sum_received"]["bits_per_second"], e["sum_sent"].get("retransmits", 0)))' \
			"$RUN/iperf-$sys-$r.json")
		printf '  iperf3 %s round %d: %.1f Mbit/s (%d TCP retransmits)\n' "$sys" "$r" \
			"$(calc "${bps% *} / 1000000")" "${bps#* }"
		[ "${bps% *}" -gt "$best" ] && best=${bps% *}
		CPU_LINES="  CPU over ${el}s of round $r (100% = one core; s/GB = CPU-seconds per GB delivered; file r/w syscalls (TUN) per packet A sent, $((k1 - k0)) packets); machine: $(nproc) cores, $(calc "int(100 * $(nproc) * ($s1 - $s0) / ($w1 - $w0))")% busy:"
		for lp in $all; do
			p=$(calc "(${t1[$lp]} - ${t0[$lp]}) / $HZ")
			CPU_LINES+=$'\n'"$(printf '    %-16s pid %-7s %4.0f%%  %5.1f s/GB  %5.2f syscalls/packet' \
				"${lp%%:*}" "${lp#*:}" "$(calc "100 * $p / $el")" \
				"$(calc "$p / (${bps% *} * $el / 8e9)")" \
				"$(calc "(${c1[$lp]} - ${c0[$lp]}) / ($k1 - $k0 + 1)")")"
		done
	done
	drops "$RUN/drops1-$sys"
	read -r rin1 rout1 < <(relayed)
	echo "$best" >"$RUN/bps-$sys"
	echo "$CPU_LINES"
	echo "  top -H (threads of those processes), mid-run, second frame:"
	awk '/^top -/{f++} f==2 && /^ *[0-9]+ /{print "    " $0}' "$RUN/top-$sys.out" | head -8
	echo "  top, whole machine (other users of the shared cores included), same second:"
	awk '/^top -/{f++} f==2 && (/^%Cpu/ || /^ *[0-9]+ /){print "    " $0}' "$RUN/top-all-$sys.out" |
		head -9
	echo "  packet drops in the namespaces during the runs (kernel counters):"
	drops_delta "$RUN/drops0-$sys" "$RUN/drops1-$sys"
	echo "  relay device dp0 over all rounds: $((rin1 - rin0)) packets in, $((rout1 - rout0)) out" \
		"($((rin1 - rin0 - rout1 + rout0)) not relayed: lost in the relay, or ARP/other traffic)"
}

echo "== roomvpn e2e relay bench vs OpenVPN $(openvpn --version | head -1 | cut -d' ' -f2)," \
	"$(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   iperf3 TCP A -> B, $ROUNDS x ${T}s (best shown), $NPING pings; build $BIN"
rv_topology
for n in 1 2 9; do rv_member "$n"; done

RING_OPTS=
[ "$RING" != 0 ] && RING_OPTS="blocksz=4096,framesz=2048,framecnt=$RING"
echo "-- roomvpn: data plane (1 worker, net_af_packet on dp0, ${RING_OPTS:-default rings (512 frames)}," \
	"idle-sleep-us $IDLE), control plane, 2 clients; client TUN offloads:" \
	"${ROOMVPN_TUN_OFFLOAD:-on}"
rvn_cert || die "openssl"
RVN_AF_PACKET_OPTS=$RING_OPTS
rvn_dataplane --set idle-sleep-us="$IDLE" || die "data plane did not start"
rvn_control admin-password-1 || die "control init"
rvn_login admin admin-password-1 9 || die "admin login"
for u in alice bob; do
	echo "$u-password-1" | rv admin 9 admin users create "$u" --password-stdin >/dev/null ||
		die "create $u"
done
rvn_login alice alice-password-1 1 || die "alice login"
rvn_login bob bob-password-1 2 || die "bob login"
rv alice 1 rooms create bench >/dev/null || die "rooms create"
rvn_up alice 1 bench || die "alice up"
rvn_up bob 2 bench || die "bob up"
APID=$(cat "$RUN/cfg-alice/run/bench.pid") BPID=$(cat "$RUN/cfg-bob/run/bench.pid")
VB=$(rvn_vip bob 2) || die "status"
rtt roomvpn "$VB" || die "roomvpn ping"
through roomvpn "$VB" "roomvpn-A:$APID dataplane:$DP_PID roomvpn-B:$BPID" ||
	die "roomvpn iperf3"
if [ "$FLOOD" != 0 ]; then
	# Alice's real peer-id: a quarter of the flood reaches the tag check.
	PEER=$(dpctl sessions --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["sessions"][0]["peer_id"])')
	dur=$((ROUNDS * (T + 4) + 4))
	echo "-- roomvpn under a garbage flood: $FLOOD datagrams/s to $DP_IP:$DP_PORT from ns $(mns 9)" \
		"for ${dur}s (rv-udp-garbage: real peer-id $PEER / unknown peer-id / control opcode / 3 bytes)"
	dpctl stats >"$RUN/stats-before-flood"
	in_ns 9 "$BIN/bench/e2e/rv-udp-garbage" "$DP_IP" "$DP_PORT" "$FLOOD" "$dur" "$PEER" \
		>"$RUN/flood.out" 2>&1 &
	FL_PID=$!
	PIDS+=("$FL_PID")
	# the flooder itself (in_ns may leave a wrapper process in between)
	FL_CPU=
	for _ in $(seq 50); do
		FL_CPU=$(pgrep -n -f "rv-udp-garbage $DP_IP") && break
		sleep 0.1
	done
	through roomvpn-flood "$VB" "roomvpn-A:$APID dataplane:$DP_PID roomvpn-B:$BPID flooder:${FL_CPU:-$FL_PID}" ||
		die "roomvpn iperf3 under the flood"
	wait "$FL_PID"
	echo "  flooder: $(cat "$RUN/flood.out")"
	echo "  data plane counters that grew during the flood (dpctl stats):"
	dpctl stats >"$RUN/stats-after-flood"
	"$PY" - "$RUN/stats-before-flood" "$RUN/stats-after-flood" <<'PYEOF'
import re, sys
def read(f):
    out = {}
    for line in open(f):
        m = re.match(r"^([a-z_]+)\s+(\d+)$", line.strip())
        if m:
            out[m.group(1)] = int(m.group(2))
    return out
a, b = read(sys.argv[1]), read(sys.argv[2])
for k in b:
    if b[k] - a.get(k, 0):
        print("    %-24s +%d" % (k, b[k] - a.get(k, 0)))
PYEOF
	printf '  iperf3 best: %.1f Mbit/s without the flood, %.1f Mbit/s under it\n' \
		"$(calc "$(cat "$RUN/bps-roomvpn") / 1000000")" "$(calc "$(cat "$RUN/bps-roomvpn-flood") / 1000000")"
fi
echo "  data plane counters after the runs (dpctl stats):"
dpctl stats 2>&1 | grep -v -E '^$|^tcp|^[a-z_]+ +0$' | sed 's/^/    /'
for ub in alice:1 bob:2; do
	rv "${ub%:*}" "${ub#*:}" --json status | "$PY" -c '
import json, sys
s = json.load(sys.stdin)["tunnels"][0]["status"]["stats"]
d = {k: v for k, v in s.items() if not isinstance(v, (dict, list))}
print("    client %s: %s" % (sys.argv[1], d))
print("      drops:", {k: v for k, v in s.get("drops", {}).items() if v})' "${ub%:*}"
done
rv alice 1 down bench >/dev/null
rv bob 2 down bench >/dev/null
kill "$CTL_PID" "$DP_PID"
wait "$CTL_PID" "$DP_PID" 2>/dev/null
[ "$OPENVPN" = 1 ] || exit 0

echo "-- OpenVPN: server in ns dp on dp0 (kernel, 10.99.0.1), --client-to-client, AES-256-GCM, TLS"
ip -n "$NS_DP" link del k0
ip -n "$NS_DP" addr add $DP_IP/24 dev dp0
P=$RUN/pki
mkdir -p "$P"
EC="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
# shellcheck disable=SC2086
openssl req -x509 $EC -days 1 -subj /CN=bench-ca -keyout "$P/ca.key" -out "$P/ca.crt" \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
	>/dev/null 2>&1 || die "CA"
for c in server:serverAuth client1:clientAuth client2:clientAuth; do
	n=${c%:*}
	# shellcheck disable=SC2086
	openssl req -new $EC -subj "/CN=$n" -keyout "$P/$n.key" -out "$P/$n.csr" >/dev/null 2>&1 &&
		printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=%s\n' \
			"${c#*:}" >"$P/$n.ext" &&
		openssl x509 -req -in "$P/$n.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial \
			-days 1 -extfile "$P/$n.ext" -out "$P/$n.crt" >/dev/null 2>&1 || die "cert $n"
done
ip netns exec "$NS_DP" openvpn --server 10.89.0.0 255.255.255.0 --topology subnet \
	--proto udp4 --local $DP_IP --port $DP_PORT --dev tun0 --dev-type tun --client-to-client \
	--data-ciphers AES-256-GCM --ca "$P/ca.crt" --cert "$P/server.crt" --key "$P/server.key" \
	--dh none --keepalive 10 60 --disable-dco --verb 3 --log "$RUN/ovpn-server.log" &
OS_PID=$!
PIDS+=("$OS_PID")
for n in 1 2; do
	until grep -q "Initialization Sequence Completed" "$RUN/ovpn-server.log" 2>/dev/null; do
		kill -0 "$OS_PID" 2>/dev/null || die "openvpn server exited"
		sleep 0.1
	done
	ip netns exec "$(mns $n)" openvpn --client --proto udp4 --remote $DP_IP $DP_PORT --nobind --dev tun0 \
		--dev-type tun --data-ciphers AES-256-GCM --ca "$P/ca.crt" --cert "$P/client$n.crt" \
		--key "$P/client$n.key" --remote-cert-tls server --disable-dco --verb 3 \
		--log "$RUN/ovpn-$n.log" &
	eval "OC${n}_PID=$!"
	PIDS+=("$!")
	for _ in $(seq 200); do
		grep -q "Initialization Sequence Completed" "$RUN/ovpn-$n.log" 2>/dev/null && break
		sleep 0.1
	done
	grep -q "Initialization Sequence Completed" "$RUN/ovpn-$n.log" || die "openvpn client $n"
done
grep -h -E "Data Channel: cipher|Outgoing Data Channel: Cipher" "$RUN/ovpn-1.log" | head -2 |
	sed 's/^.*\(Data Channel\)/  client 1: \1/'
OB=$(ip -n "$(mns 2)" -4 -o addr show dev tun0 | awk '{print $4}' | cut -d/ -f1)
[ -n "$OB" ] || die "no address on client 2's tun0"
rtt openvpn "$OB" || die "openvpn ping"
through openvpn "$OB" "openvpn-A:$OC1_PID openvpn-server:$OS_PID openvpn-B:$OC2_PID" ||
	die "openvpn iperf3"

echo "== results (same run, same namespaces and addresses)"
R=$(cat "$RUN/bps-roomvpn") O=$(cat "$RUN/bps-openvpn")
read -r ra _ rp _ <"$RUN/rtt-roomvpn"
read -r oa _ op _ <"$RUN/rtt-openvpn"
printf '  %-8s %10s %12s %12s\n' "" "Mbit/s" "RTT avg ms" "RTT p99 ms"
printf '  %-8s %10.1f %12s %12s\n' roomvpn "$(calc "$R / 1000000")" "$ra" "$rp"
printf '  %-8s %10.1f %12s %12s\n' openvpn "$(calc "$O / 1000000")" "$oa" "$op"
printf '  throughput ratio roomvpn/openvpn: %.2fx (target >= 5x)\n' "$(calc "$R / $O")"
