#!/usr/bin/env bash
# End-to-end relay benchmark: roomvpn (data plane on net_af_packet and on
# net_af_xdp) against OpenVPN 2.6 (tuned and with its defaults) and
# wireguard-go, all up at once on one bridge (bench/e2e/systems.sh):
#   client A (ns m1) -> relay (roomvpn data plane / OpenVPN or wireguard-go hub) -> client B (ns m2)
# Rounds alternate between the systems (round r starts with the r-th one);
# each round runs iperf3 TCP for T seconds A -> B ("fwd"), B -> A ("rev",
# iperf3 -R) and A -> B with 4 parallel flows ("par4"). For each run: the
# throughput, and the CPU time of client A, the relay and client B (from
# /proc/PID/stat) per GB delivered ("whole path" = their sum; the iperf3
# ends are not in it). Prints min / median / max over the rounds, and the
# targets (met or not). Prints figures; not pass/fail, except --smoke.
# Usage (root):
#   bench/e2e/bench_vs_openvpn.sh [--build-dir DIR] [--time T] [--rounds R]
#       [--systems "rv-afp rv-xdp ovpn-tuned ovpn-def wg-go"] [--tests "fwd rev par4"]
#       [--smoke]   (1 round of 2 s, fwd only: exits 1 unless every system
#                    carried traffic; what ctest runs, label "bench")
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$SRC/build T=10 ROUNDS=5 SMOKE=0 TESTS="fwd rev par4"
SYSTEMS="rv-afp rv-xdp ovpn-tuned ovpn-def wg-go"
while [ $# -gt 0 ]; do
	case "$1" in
	--build-dir) BUILD=$2; shift ;;
	--time) T=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--systems) SYSTEMS=$2; shift ;;
	--tests) TESTS=$2; shift ;;
	--smoke) SMOKE=1 T=2 ROUNDS=1 TESTS=fwd ;;
	-h | --help) sed -n '2,17p' "$0"; exit 0 ;;
	*) echo "bench: unknown option $1 (try --help)" >&2; exit 2 ;;
	esac
	shift
done
BIN=$(cd "$BUILD" && pwd) || exit 1
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
for t in iperf3 ping openssl openvpn wireguard-go wg; do
	command -v $t >/dev/null || { echo "bench: missing $t (scripts/setup.sh installs it)" >&2; exit 1; }
done
RUN=$(mktemp -d /tmp/rv-bench-e2e.XXXXXX)
SFX=e2e$$
source "$SRC/bench/e2e/systems.sh"
trap rv_cleanup EXIT
trap 'exit 130' INT TERM
HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }

# run SYS TEST ROUND: one iperf3 run; one line into $RUN/results:
# sys test round Mbit/s bytes cpuA cpuRelay cpuB retransmits machine-busy%
run() {
	local s=$1 test=$2 r=$3 dest=${SYS_DEST[$1]} opt=() lp a0 r0 b0 a1 r1 b1 w0 t0 w1 t1 out
	case "$test" in rev) opt=(-R) ;; par4) opt=(-P 4) ;; esac
	rvn_iperf_server 2 "$dest" || return 1
	local -A c0=() c1=()
	for lp in ${SYS_PROCS[$s]}; do c0[${lp%%:*}]=$(ticks "${lp#*:}"); done
	read -r w0 t0 < <(busy)
	in_ns 1 iperf3 -c "$dest" -t "$T" -J "${opt[@]}" >"$RUN/iperf-$s-$test-$r.json" 2>&1 || {
		echo "bench: iperf3 through $s ($test) failed:" >&2
		tail -5 "$RUN/iperf-$s-$test-$r.json" >&2
		return 1
	}
	read -r w1 t1 < <(busy)
	for lp in ${SYS_PROCS[$s]}; do c1[${lp%%:*}]=$(ticks "${lp#*:}"); done
	wait "${PIDS[-1]}" 2>/dev/null # the one-shot iperf3 server
	out=$("$PY" -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]; r=e["sum_received"]; print("%.1f %d %d" % (r["bits_per_second"] / 1e6, r["bytes"], e["sum_sent"].get("retransmits", 0)))' \
		"$RUN/iperf-$s-$test-$r.json") || return 1
	read -r mbps bytes retr <<<"$out"
	echo "$s $test $r $mbps $bytes $(((c1[A] - c0[A]))) $(((c1[relay] - c0[relay]))) $(((c1[B] - c0[B]))) $retr $(((200 * (w1 - w0) / (t1 - t0) + 1) / 2))" >>"$RUN/results"
	printf '  round %d %-10s %-4s %8.1f Mbit/s  CPU s/GB A %.2f relay %.2f B %.2f  (%d retransmits, machine %d%% busy)\n' \
		"$r" "$s" "$test" "$mbps" \
		"$(awk "BEGIN{print $((c1[A] - c0[A])) / $HZ / ($bytes / 1e9 + 1e-9)}")" \
		"$(awk "BEGIN{print $((c1[relay] - c0[relay])) / $HZ / ($bytes / 1e9 + 1e-9)}")" \
		"$(awk "BEGIN{print $((c1[B] - c0[B])) / $HZ / ($bytes / 1e9 + 1e-9)}")" \
		"$retr" "$(((200 * (w1 - w0) / (t1 - t0) + 1) / 2))"
}

echo "== roomvpn e2e bench: $SYSTEMS; $ROUNDS round(s) of $TESTS, ${T}s each;" \
	"$(date -u +%FT%TZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   OpenVPN $(openvpn --version | head -1 | cut -d' ' -f2), wireguard-go $(wireguard-go --version 2>&1 | grep -o -m1 'v[0-9.]*'), build $BIN"
# shellcheck disable=SC2086
sys_setup $SYSTEMS || { sys_log_tail; exit 1; }
read -ra SYS <<<"$SYSTEMS"
for r in $(seq "$ROUNDS"); do
	for i in $(seq 0 $((${#SYS[@]} - 1))); do
		s=${SYS[$(((i + r - 1) % ${#SYS[@]}))]}
		sys_use "$s" || { sys_log_tail; exit 1; }
		for test in $TESTS; do
			run "$s" "$test" "$r" || { sys_log_tail; exit 1; }
		done
	done
done
echo "== summary, load $(cut -d' ' -f1-3 /proc/loadavg) (min / median / max over rounds)"
"$PY" "$SRC/bench/e2e/summary.py" "$RUN/results" "$HZ" "$SMOKE"
