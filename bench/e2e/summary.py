"""Summary of bench_vs_openvpn.sh's runs: min / median / max per system and
test, the whole path's CPU per GB, and the targets of issue 13.

usage: summary.py RESULTS HZ SMOKE
RESULTS lines: sys test round Mbit/s bytes ticksA ticksRelay ticksB retransmits busy%
SMOKE=1: exit 1 unless every system carried traffic (no timing in it).
"""
import statistics
import sys

rows = [line.split() for line in open(sys.argv[1])]
hz = float(sys.argv[2])
smoke = sys.argv[3] == "1"


def per_gb(ticks, nbytes):
    return ticks / hz / (nbytes / 1e9) if nbytes else float("inf")


def mmm(v):
    return "%s / %s / %s" % tuple(fmt(x) for x in (min(v), statistics.median(v), max(v)))


def fmt(x):
    return "%.2f" % x if x < 100 else "%.0f" % x


runs = {}
for s, test, _r, mbps, nbytes, a, rel, b, retr, busy in rows:
    nbytes = int(nbytes)
    runs.setdefault((s, test), []).append({
        "mbps": float(mbps), "bytes": nbytes, "retr": int(retr), "busy": int(busy),
        "A": per_gb(int(a), nbytes), "relay": per_gb(int(rel), nbytes),
        "B": per_gb(int(b), nbytes), "path": per_gb(int(a) + int(rel) + int(b), nbytes)})

systems = list(dict.fromkeys(r[0] for r in rows))
tests = list(dict.fromkeys(r[1] for r in rows))
for test in tests:
    print("  %s: Mbit/s and whole-path CPU s/GB (client A + relay + client B)" % test)
    print("    %-10s %24s %24s   %s" % ("", "Mbit/s", "path s/GB", "median s/GB A / relay / B; retransmits; machine busy"))
    for s in systems:
        v = runs.get((s, test))
        if not v:
            continue
        med = {k: statistics.median(x[k] for x in v) for k in ("A", "relay", "B")}
        print("    %-10s %24s %24s   %s / %s / %s; %d; %d-%d%%" % (
            s, mmm([x["mbps"] for x in v]), mmm([x["path"] for x in v]),
            fmt(med["A"]), fmt(med["relay"]), fmt(med["B"]),
            statistics.median(x["retr"] for x in v),
            min(x["busy"] for x in v), max(x["busy"] for x in v)))


def median(s, test, key):
    v = runs.get((s, test))
    return statistics.median(x[key] for x in v) if v else None


if smoke:
    bad = [s for s in systems if any(x["bytes"] == 0 for t in tests for x in runs.get((s, t), []))]
    for s in systems:
        print("  smoke: %s carried %d bytes" % (s, sum(x["bytes"] for t in tests for x in runs.get((s, t), []))))
    if bad:
        print("  smoke: FAILED: no traffic through %s" % ", ".join(bad))
        sys.exit(1)
    print("  smoke: every system carried traffic")
    sys.exit(0)

print("  targets (medians of fwd):")


def target(what, value, limit, ok):
    if value is None or limit is None:
        print("    %-58s not measured" % what)
        return
    print("    %-58s %s (target %s): %s" % (what, fmt(value), fmt(limit), "met" if ok(value, limit) else "NOT met"))


rv = "rv-xdp" if ("rv-xdp", "fwd") in runs else "rv-afp"
target("data plane CPU per GB relayed on AF_XDP, s/GB", median("rv-xdp", "fwd", "relay"), 1.0,
       lambda v, l: v <= l)
ov, wg, mine = (median(s, "fwd", "path") for s in ("ovpn-tuned", "wg-go", rv))
target("whole-path CPU/GB, %s / tuned OpenVPN" % rv, mine / ov if mine and ov else None, 0.25,
       lambda v, l: v <= l)
target("whole-path CPU/GB, %s / wireguard-go" % rv, mine / wg if mine and wg else None, 1 / 6,
       lambda v, l: v <= l)
ot, mt = median("ovpn-tuned", "fwd", "mbps"), median(rv, "fwd", "mbps")
target("throughput, %s / tuned OpenVPN" % rv, mt / ot if mt and ot else None, 3.0,
       lambda v, l: v >= l)
