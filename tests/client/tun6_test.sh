#!/usr/bin/env bash
# client IPv6 on the TUN (issue 17): in a fresh network namespace,
# rv_tun_config gives a TUN device an IPv6 address (the room's vip6) and an
# IPv6 managed route (client/tun.c, client/netlink.c, client/netcfg.c);
# `ip -6` must show exactly that address (no fe80:: link-local: addr_gen_mode
# none), the prefix route and the managed route; ping6 to both prefixes must
# come out of the device without neighbour discovery, in vnet and in plain
# mode; closing the device (roomvpn down) removes all of it. A host with
# IPv6 disabled gets a warning and an IPv4-only tunnel.
# Usage: tun6_test.sh PATH/TO/rv_tun_config
set -euo pipefail
tool=$1
ns=rv-client-tun6-$$
dir=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

ip netns add "$ns"
ip -n "$ns" link set lo up
mkfifo "$dir/in"

# start NAME MODE-ENV: the tool on a fresh TUN with 10.77.0.2/24,
# fd12:3456:789a:1::5/64 and the managed route fd00:50::/64
start() {
	ip netns exec "$ns" env ROOMVPN_TUN_OFFLOAD="$2" "$tool" "$1" 10.77.0.2/24 1380 \
		fd12:3456:789a:1::5/64 fd00:50::/64 <"$dir/in" >"$dir/out" 2>"$dir/err" &
	pid=$!
	exec 9>"$dir/in" # keeps the tool's stdin open until we are done
	for _ in $(seq 50); do grep -q '^ready' "$dir/out" 2>/dev/null && break; sleep 0.1; done
	grep -q "^ready $1 " "$dir/out" || { cat "$dir/err"; fail "tool did not get ready"; }
}
stop() {
	exec 9>&-
	wait "$pid"; pid=
}

for mode in 1 0; do
	dev=rvtun6m$mode
	start "$dev" "$mode"
	echo "TUN mode: $(awk '/^ready/ {print $3}' "$dir/out")"
	ip -n "$ns" -j -6 addr show dev "$dev" >"$dir/addr.json"
	ip -n "$ns" -j -6 route show dev "$dev" >"$dir/route.json"
	/usr/bin/python3 - "$dir/addr.json" "$dir/route.json" <<'PY' || fail "ip -6 check"
import json, sys
link = json.load(open(sys.argv[1]))[0]
routes = json.load(open(sys.argv[2]))
def check(cond, what):
    if not cond:
        print("mismatch:", what, json.dumps(link), json.dumps(routes))
        sys.exit(1)
inet6 = [(a["local"], a["prefixlen"]) for a in link["addr_info"] if a["family"] == "inet6"]
check(inet6 == [("fd12:3456:789a:1::5", 64)], "exactly the vip6, no link-local")
dsts = {r["dst"]: r for r in routes}
check("fd12:3456:789a:1::/64" in dsts, "prefix route from the address")
check(dsts.get("fd00:50::/64", {}).get("protocol") == "static", "managed route fd00:50::/64")
check(dsts.get("fd00:50::/64", {}).get("metric") == 100, "managed route metric 100")
check(not any(d.startswith("fe80") for d in dsts), "no link-local route")
print("ip -6: vip6, prefix route and managed route, no link-local")
PY
	# Traffic to both IPv6 prefixes comes out of the TUN (no NDP on the way).
	ip netns exec "$ns" ping -6 -c 1 -W 1 fd00:50::9 >/dev/null 2>&1 || true
	ip netns exec "$ns" ping -6 -c 1 -W 1 fd12:3456:789a:1::9 >/dev/null 2>&1 || true
	for _ in $(seq 30); do [ "$(grep -c '^ipv6' "$dir/out")" -ge 2 ] && break; sleep 0.1; done
	grep -q '^ipv6 fd12:3456:789a:1::5 fd00:50::9 58$' "$dir/out" ||
		{ cat "$dir/out"; fail "mode $mode: no ICMPv6 to fd00:50::9 on the TUN"; }
	grep -q '^ipv6 fd12:3456:789a:1::5 fd12:3456:789a:1::9 58$' "$dir/out" ||
		{ cat "$dir/out"; fail "mode $mode: no ICMPv6 to fd12:3456:789a:1::9 on the TUN"; }
	if grep -q '^ipv6 .* ff02::' "$dir/out"; then
		cat "$dir/out"; fail "mode $mode: neighbour discovery or multicast on a point-to-point TUN"
	fi
	# down: the device goes, and its IPv6 address and routes with it
	stop
	ip -n "$ns" link show "$dev" >/dev/null 2>&1 && fail "device still present after close"
	# (matched on captured output: with pipefail, `ip … | grep -q` fails when
	# grep leaves before ip has written everything)
	[[ "$(ip -n "$ns" -6 route show)" == *'fd00:50::'* ]] && fail "managed route left behind"
	[[ "$(ip -n "$ns" -6 addr show)" == *'fd12:3456:789a:1::5'* ]] && fail "address left behind"
done

# A host with IPv6 disabled: a warning, and the tunnel carries IPv4 alone.
ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
start rvtun6off 1
grep -q '^no-ipv6$' "$dir/out" || { cat "$dir/out" "$dir/err"; fail "no IPv6: not reported"; }
grep -q 'no IPv6 on this host' "$dir/err" || { cat "$dir/err"; fail "no IPv6: no warning"; }
[[ "$(ip -n "$ns" addr show dev rvtun6off)" == *'inet 10.77.0.2/24'* ]] || fail "no IPv6: IPv4 address missing"
ip netns exec "$ns" ping -c 1 -W 1 10.77.0.9 >/dev/null 2>&1 || true
for _ in $(seq 30); do grep -q '^ipv4' "$dir/out" && break; sleep 0.1; done
grep -q '^ipv4 10.77.0.2 10.77.0.9 1$' "$dir/out" || { cat "$dir/out"; fail "no IPv6: IPv4 traffic"; }
stop
echo "PASS: IPv6 address and routes on the TUN (vnet and plain), removed on down; IPv4 only without IPv6"
