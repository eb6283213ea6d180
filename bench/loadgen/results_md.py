#!/usr/bin/python3
"""Markdown tables of roomvpn-loadgen JSON results (for docs/benchmarks.md).
Usage: results_md.py RESULT.json...
Files with the same label are repeated runs of one configuration: they make
one table of min / median / max per cell. Marks: * the generator was the
limit (due packets skipped), ! the data plane was (the port refused sends)."""
import json
import statistics
import sys


def mark(p):
    by = p.get("limited_by", "generator" if p.get("generator_limited") else "none")
    return {"generator": "*", "data_plane": "!"}.get(by, "")


def spread(values, fmt):
    if not values:
        return "-"
    v = sorted(values)
    if len(v) == 1:
        return fmt.format(v[0])
    return " / ".join(fmt.format(x) for x in (v[0], statistics.median(v), v[-1]))


def rate(points, key, scale, fmt):
    found = [p for p in points if p["found"]]
    marks = "".join(sorted({mark(p) for p in found}))
    return spread([p[key] / scale for p in found], fmt) + marks if found else "-"


def table(runs):
    r = runs[0]
    m = r["machine"]
    loads = ", ".join(f"{x['machine']['loadavg_1min']:.1f}" for x in runs)
    fam = ""
    if "outer" in r:  # since --outer6: the families outside and inside, checksum errors
        cks = sum(x["totals"].get("checksum_errors", 0) for x in runs)
        fam = (f"; {'IPv6' if r['outer'] == 'ipv6' else 'IPv4'} outside, "
               f"{'IPv6' if r['inner'] == 'ipv6' else 'IPv4'} inside, {cks} checksum errors")
    print(f"**{r['label']}**: {r['cipher']}, {r['clients']} sessions in {r['rooms']} "
          f"room(s), {r['flows']} sending{fam}; {r['trial_s']:.0f} s trials; {len(runs)} run(s)"
          f"{' (min / median / max)' if len(runs) > 1 else ''}; load average at the end "
          f"{loads} on {m['nproc']} CPUs ({m['cpu']})\n")
    print("| size (B) | NDR kpps | NDR Mbit/s | PDR kpps | PDR Mbit/s | p99 at NDR (µs) "
          "| p50 / p99 at 10% NDR (µs) | decrypt / payload errors |")
    print("|---|---|---|---|---|---|---|---|")
    for i, x in enumerate(r["results"]):
        xs = [run["results"][i] for run in runs]
        ndr = [y["ndr"] for y in xs]
        pdr = [y["pdr"] for y in xs]
        lat = [y["ndr"] if y["ndr"]["found"] else y["pdr"] for y in xs]
        low = [y["low_load"]["latency_ns"] for y in xs]
        dec = sum(y["decrypt_errors"] for y in xs)
        pay = sum(y.get("payload_errors", 0) for y in xs)
        print(f"| {x['size']} | {rate(ndr, 'pps', 1e3, '{:.1f}')} "
              f"| {rate(ndr, 'mbps_inner', 1, '{:.0f}')} | {rate(pdr, 'pps', 1e3, '{:.1f}')} "
              f"| {rate(pdr, 'mbps_inner', 1, '{:.0f}')} "
              f"| {spread([l['latency_ns']['p99'] / 1e3 for l in lat], '{:.0f}')} "
              f"| {spread([l['p50'] / 1e3 for l in low], '{:.0f}')} ; "
              f"{spread([l['p99'] / 1e3 for l in low], '{:.0f}')} | {dec} / {pay} |")
    print()


def main(paths):
    groups = {}
    for p in paths:
        r = json.load(open(p))
        groups.setdefault(r["label"], []).append(r)
    for runs in groups.values():
        table(runs)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
