#!/usr/bin/env bash
# client TUN + netlink: in a fresh network namespace, create and configure a
# TUN device with rv_tun_config (client/tun.c, client/netlink.c), check the
# result with `ip -j`, and check that traffic to a routed prefix enters it.
# Usage: tun_test.sh PATH/TO/rv_tun_config
set -euo pipefail
tool=$1
ns=rv-client-tun-$$
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
mkfifo "$dir/in"
ip netns exec "$ns" "$tool" rvtun0 10.77.0.2/24 1380 10.78.0.0/16 192.0.2.77/32 \
	<"$dir/in" >"$dir/out" 2>"$dir/err" &
pid=$!
exec 9>"$dir/in" # keeps the tool's stdin open until we are done
for _ in $(seq 50); do grep -q '^ready' "$dir/out" 2>/dev/null && break; sleep 0.1; done
grep -q -E '^ready rvtun0 (vnet|plain)$' "$dir/out" || { cat "$dir/err"; fail "tool did not get ready"; }
echo "TUN mode: $(awk '/^ready/ {print $3}' "$dir/out") (vnet: IFF_VNET_HDR + TSO4/checksum offloads)"

py=/usr/bin/python3
ip -n "$ns" -j addr show dev rvtun0 >"$dir/addr.json"
ip -n "$ns" -j route show dev rvtun0 >"$dir/route.json"
"$py" - "$dir/addr.json" "$dir/route.json" <<'PY' || fail "ip -j check"
import json, sys
link = json.load(open(sys.argv[1]))[0]
routes = json.load(open(sys.argv[2]))
def check(cond, what):
    if not cond:
        print("mismatch:", what, json.dumps(link), json.dumps(routes))
        sys.exit(1)
check(link["mtu"] == 1380, "mtu")
check("UP" in link["flags"], "UP flag")
inet = [a for a in link["addr_info"] if a["family"] == "inet"]
check([(a["local"], a["prefixlen"]) for a in inet] == [("10.77.0.2", 24)], "address")
dsts = {r["dst"]: r for r in routes}
check("10.77.0.0/24" in dsts, "prefix route from the address")
check(dsts.get("10.78.0.0/16", {}).get("protocol") == "static", "route 10.78.0.0/16")
check(dsts.get("10.78.0.0/16", {}).get("scope") == "link", "route scope link")
check("192.0.2.77" in dsts, "host route 192.0.2.77/32")
print("ip -j: mtu, UP, address and routes as configured")
PY

# Traffic to the routed prefixes must come out of the TUN device.
ip netns exec "$ns" ping -c 1 -W 1 10.78.3.4 >/dev/null 2>&1 || true
ip netns exec "$ns" ping -c 1 -W 1 10.77.0.9 >/dev/null 2>&1 || true
for _ in $(seq 30); do [ "$(grep -c '^ipv4' "$dir/out")" -ge 2 ] && break; sleep 0.1; done
grep -q '^ipv4 10.77.0.2 10.78.3.4 1$' "$dir/out" || { cat "$dir/out"; fail "no ICMP to 10.78.3.4 on the TUN"; }
grep -q '^ipv4 10.77.0.2 10.77.0.9 1$' "$dir/out" || { cat "$dir/out"; fail "no ICMP to 10.77.0.9 on the TUN"; }

# A second device with a bad name is refused with a clear message.
if ip netns exec "$ns" "$tool" this-name-is-far-too-long 10.79.0.1/24 1400 </dev/null \
	>/dev/null 2>"$dir/err2"; then fail "too-long name accepted"; fi
grep -q 'longer than' "$dir/err2" || fail "no clear message for a bad name: $(cat "$dir/err2")"

# Closing the fd removes the device (and with it the routes).
exec 9>&-
wait "$pid"; pid=
ip -n "$ns" link show rvtun0 >/dev/null 2>&1 && fail "device still present after close"
# ROOMVPN_TUN_OFFLOAD=0: plain mode, packets still come out (no vnet header).
ip netns exec "$ns" env ROOMVPN_TUN_OFFLOAD=0 "$tool" rvtun1 10.80.0.2/24 1400 <"$dir/in" \
	>"$dir/out1" 2>"$dir/err1" &
pid=$!
exec 9>"$dir/in"
for _ in $(seq 50); do grep -q '^ready' "$dir/out1" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready rvtun1 plain$' "$dir/out1" || { cat "$dir/out1" "$dir/err1"; fail "plain mode"; }
ip netns exec "$ns" ping -c 1 -W 1 10.80.0.9 >/dev/null 2>&1 || true
for _ in $(seq 30); do grep -q '^ipv4' "$dir/out1" && break; sleep 0.1; done
grep -q '^ipv4 10.80.0.2 10.80.0.9 1$' "$dir/out1" || { cat "$dir/out1"; fail "plain mode: no ICMP"; }
exec 9>&-
wait "$pid"; pid=
echo "PASS: tun + netlink (and plain mode with ROOMVPN_TUN_OFFLOAD=0)"
