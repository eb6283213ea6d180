"""Table and plot from run.sh's docs/control-scale-<N>.json files:
replaces the lines between the control-scale markers in docs/benchmarks.md
and draws docs/control-scale.png (gnuplot) of CPU per 1,000 heartbeats/s
and heartbeat->ack p99 against N."""
import argparse
import json
import os
import re
import subprocess

ap = argparse.ArgumentParser()
ap.add_argument("--docs", required=True)
ap.add_argument("sizes", nargs="+", type=int)
a = ap.parse_args()
rows, dat = [], []
for n in a.sizes:
    with open(os.path.join(a.docs, "control-scale-%d.json" % n)) as f:
        j = json.load(f)
    s, h, k, r = j.get("server", {}), j["heartbeats"], j["kick"], j["resync"]
    lr = j.get("list_rooms", {})
    rows.append("| %d | %d | %s | %s | %.1f | %.2f / %.2f | %.0f | %.0f | %.2f / %.2f / %.2f / %.2f | %.0f / %.0f | %s |" % (
        n, j["tunnels_up"], s.get("rss_kib_up", "-"), s.get("rss_bytes_per_tunnel", "-"),
        s.get("cpu_pct_per_1000_hb_s", 0), h["ack_p50_ms"], h["ack_p99_ms"], j["join"]["per_s"],
        j["bootstrap"]["per_s"], lr.get("p99_ms_0", 0), lr.get("p99_ms_joined", 0),
        lr.get("p99_ms_held", 0), lr.get("p99_ms_held_quiet", 0),
        k["p50_ms"], k["p99_ms"], "%.2f s" % r["seconds"] if r["run"] else "-"))
    dat.append("%d %f %f" % (n, s.get("cpu_pct_per_1000_hb_s", 0), h["ack_p99_ms"]))
table = ["| tunnels | up | server RSS KiB | RSS B/tunnel | CPU % per 1k hb/s | hb ack p50/p99 ms "
         "| Join/s | Bootstrap/s | ListRooms p99 ms empty / joined / held / held, heartbeats paused "
         "| kick→gone p50/p99 ms | resync |",
         "|---|---|---|---|---|---|---|---|---|---|---|"] + rows
md = os.path.join(a.docs, "benchmarks.md")
text = open(md).read()
text = re.sub(r"(<!-- control-scale:begin -->\n).*?(<!-- control-scale:end -->)",
              lambda m: m.group(1) + "\n".join(table) + "\n" + m.group(2), text, flags=re.S)
open(md, "w").write(text)
dpath = os.path.join(a.docs, ".control-scale.dat")
open(dpath, "w").write("\n".join(dat) + "\n")
subprocess.run(["gnuplot", "-e",
                "set terminal png size 800,450; set output '%s'; set logscale x; "
                "set xlabel 'tunnels'; set ylabel 'CPU %% per 1,000 heartbeats/s'; "
                "set y2label 'heartbeat ack p99 (ms)'; set y2tics; "
                "plot '%s' using 1:2 with linespoints title 'CPU', '' using 1:3 axes x1y2 "
                "with linespoints title 'ack p99'" % (os.path.join(a.docs, "control-scale.png"), dpath)],
               check=True)
os.remove(dpath)
