#!/usr/bin/python3
"""Markdown table of roomvpn-loadgen JSON results (for docs/benchmarks.md).
Usage: results_md.py RESULT.json...  (one column group per file)"""
import json
import sys


def cell(p, key):
    if not p["found"]:
        return "-"
    star = "*" if p["generator_limited"] else ""
    if key == "kpps":
        return f"{p['pps'] / 1e3:.1f}{star}"
    return f"{p['mbps_inner']:.0f}"


def main(paths):
    runs = [json.load(open(p)) for p in paths]
    for r in runs:
        m = r["machine"]
        print(f"**{r['label']}**: {r['cipher']}, {r['clients']} sessions in {r['rooms']} "
              f"room(s), {r['flows']} sending; {r['trial_s']:.0f} s trials; "
              f"load average {m['loadavg_1min']:.1f} on {m['nproc']} CPUs ({m['cpu']})\n")
        print("| size (B) | NDR kpps | NDR Mbit/s | PDR kpps | PDR Mbit/s | p50 / p99 / p99.9 at NDR (µs) "
              "| p50 / p99 at 10% NDR (µs) | decrypt errors |")
        print("|---|---|---|---|---|---|---|---|")
        for x in r["results"]:
            n, p, low = x["ndr"], x["pdr"], x["low_load"]
            lat = n if n["found"] else p
            l = lat["latency_ns"]
            ll = low["latency_ns"]
            print(f"| {x['size']} | {cell(n, 'kpps')} | {cell(n, 'mbps')} | {cell(p, 'kpps')} "
                  f"| {cell(p, 'mbps')} | {l['p50'] / 1e3:.0f} / {l['p99'] / 1e3:.0f} / "
                  f"{l['p99_9'] / 1e3:.0f} | {ll['p50'] / 1e3:.0f} / {ll['p99'] / 1e3:.0f} "
                  f"| {x['decrypt_errors']} |")
        print()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
