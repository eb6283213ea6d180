#!/usr/bin/env bash
# Ping latency through each VPN (bench/e2e/systems.sh) in three conditions,
# all systems in the same run: `ping -i 0.01 -c N` from client A to client
# B's tunnel address
#   idle   nothing else on the path
#   iperf  while an iperf3 TCP flow A -> B runs through the same tunnel
#   hog    while `stress --cpu 2` (two busy threads, in a session of its
#          own like any other program) runs beside it
# and prints p50 / p99 / max RTT and losses per system and condition.
# Prints figures; not a test. Usage (root):
#   bench/e2e/latency.sh [--build-dir DIR] [--pings N] [--systems "rv-afp rv-xdp ovpn-tuned wg-go"]
#       [--idle-sleep-us US]   (the data plane's longest idle nap, default 50; 0 = busy-poll)
#       [--unpinned]           (the data plane's lcores may run on either core, not pinned)
#       [--wake-rt-priority P] (the data plane's wake_rt_priority; 0 = its lcores stay SCHED_OTHER)
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$SRC/build NPING=1000 SYSTEMS="rv-afp rv-xdp ovpn-tuned wg-go"
while [ $# -gt 0 ]; do
	case "$1" in
	--build-dir) BUILD=$2; shift ;;
	--pings) NPING=$2; shift ;;
	--systems) SYSTEMS=$2; shift ;;
	--idle-sleep-us) export RV_IDLE_SLEEP_US=$2; shift ;;
	--unpinned) export RVN_LCORES="--lcores 0@(0,1),1@(0,1)" ;;
	--wake-rt-priority) export RV_WAKE_RT_PRIORITY=$2; shift ;;
	-h | --help) sed -n '2,14p' "$0"; exit 0 ;;
	*) echo "latency: unknown option $1 (try --help)" >&2; exit 2 ;;
	esac
	shift
done
BIN=$(cd "$BUILD" && pwd) || exit 1
[ "$(id -u)" = 0 ] || { echo "latency: run as root" >&2; exit 1; }
for t in iperf3 ping stress openvpn wireguard-go wg openssl; do
	command -v $t >/dev/null || { echo "latency: missing $t (scripts/setup.sh installs it)" >&2; exit 1; }
done
RUN=$(mktemp -d /tmp/rv-latency.XXXXXX)
SFX=lat$$
source "$SRC/bench/e2e/systems.sh"
trap rv_cleanup EXIT
trap 'exit 130' INT TERM
# shellcheck disable=SC2086
sys_setup $SYSTEMS || { sys_log_tail; exit 1; }

# pings SYS COND: NPING pings at 10 ms; one result line into $RUN/lat.
pings() {
	in_ns 1 ping -q -c 200 -i 0.01 -W 1 "${SYS_DEST[$1]}" >/dev/null 2>&1 # warm-up, 2 s
	in_ns 1 ping -c "$NPING" -i 0.01 -W 1 "${SYS_DEST[$1]}" >"$RUN/ping-$1-$2.out" 2>&1
	"$PY" - "$RUN/ping-$1-$2.out" "$1" "$2" "$NPING" >>"$RUN/lat" <<'EOF'
import re, sys
v = sorted(float(x) for x in re.findall(r"time=([\d.]+)", open(sys.argv[1]).read()))
n = int(sys.argv[4])
p = lambda q: v[min(len(v) - 1, max(0, -(-len(v) * q // 100) - 1))] if v else float("nan")
print("%s %s %.3f %.3f %.3f %d" % (sys.argv[2], sys.argv[3], p(50), p(99), v[-1] if v else 0, n - len(v)))
EOF
	tail -1 "$RUN/lat" | awk '{printf "  %-10s %-6s p50 %s ms, p99 %s ms, max %s ms, %d lost\n", $1, $2, $3, $4, $5, $6}'
}

dur=$((NPING / 100 + 4))
echo "== ping latency A -> B, $NPING pings at 10 ms, $(date -u +%FT%TZ), $(nproc) cores," \
	"load $(cut -d' ' -f1-3 /proc/loadavg)"
for s in $SYSTEMS; do
	sys_use "$s" || { sys_log_tail; exit 1; }
	pings "$s" idle
	rvn_iperf_server 2 "${SYS_DEST[$s]}" || exit 1
	in_ns 1 iperf3 -c "${SYS_DEST[$s]}" -t "$dur" >"$RUN/iperf-$s.out" 2>&1 &
	ip=$!
	pings "$s" iperf
	wait "$ip"
	setsid stress --cpu 2 --timeout "$dur" >/dev/null 2>&1 &
	st=$!
	PIDS+=("$st")
	pings "$s" hog
	kill "$st" 2>/dev/null
	wait "$st" 2>/dev/null
done
echo "== p50 / p99 ms (lost), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - "$RUN/lat" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1])]
conds = ["idle", "iperf", "hog"]
print("  %-10s" % "" + "".join("%22s" % c for c in conds))
for s in dict.fromkeys(r[0] for r in rows):
    cells = []
    for c in conds:
        r = [x for x in rows if x[0] == s and x[1] == c]
        cells.append("%s / %s (%s)" % (r[0][2], r[0][3], r[0][5]) if r else "-")
    print("  %-10s" % s + "".join("%22s" % x for x in cells))
EOF
