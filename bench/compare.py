#!/usr/bin/env python3
"""Before/after for upgrade latency: two or more builds of a contender, and
the peers, in interleaved rounds of the very same round `make bench` runs
(bench/upgrade_round.py: same load, same cadence, same definitions).

  python3 bench/compare.py [--rounds 6] [--duration 4] [LABEL=HTTPD_PATH ...]
                           [--peer tableflip] [--peer gracefd_run] [--peer-gracefd PATH]

Each LABEL=PATH is a build of the C example (an `httpd` binary, run as
`make bench` runs build/bin/httpd); each --peer is a contender of
bench/contenders.py by key. Round i runs every entry once, the order rotated
from round to round, so whatever else the shared machine does falls on all of
them alike. Prints the pooled medians (signal -> first response from the new
generation, signal -> old generation gone), the range of the per-round
medians, and each entry's ratio to the first one, pooled and round by round.

For iteration only: timing is reported, never asserted, and nothing is
written to BENCHMARKS.md. Only 127.0.0.1; every process is stopped and reaped
by pid (bench/procs.py).
"""
import argparse
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import contenders as C   # noqa: E402
import procs             # noqa: E402
import upgrade_round     # noqa: E402


def httpd_entry(label, path):
    base = next(c for c in C.CONTENDERS if c.key == "c")
    path = os.path.abspath(path)
    return dataclasses.replace(base, key=label, name=f"{label} ({path})",
                               argv=lambda port, tmp: [path, "--listen", f"http=127.0.0.1:{port}"],
                               probe=lambda: (os.access(path, os.X_OK), f"{path} is not executable"))


def gracefd_run_entry(label, gracefd, httpd):
    base = next(c for c in C.CONTENDERS if c.key == "gracefd_run")
    gracefd, httpd = os.path.abspath(gracefd), os.path.abspath(httpd)
    return dataclasses.replace(
        base, key=label, name=f"{label} ({gracefd})",
        argv=lambda port, tmp: [gracefd, "run", "--listen", f"http=127.0.0.1:{port}", "--ready", "notify", "--",
                                httpd, "--listen", f"http=127.0.0.1:{port}"],
        probe=lambda: (os.access(gracefd, os.X_OK), f"{gracefd} is not executable"))


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def f(x):
    return "–" if x is None else f"{x:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("builds", nargs="*", metavar="LABEL=HTTPD_PATH")
    ap.add_argument("--peer", action="append", default=[], help="a key of bench/contenders.py")
    ap.add_argument("--gracefd-run", action="append", default=[], metavar="LABEL=GRACEFD_PATH",
                    help="`gracefd run` + build/bin/httpd with this gracefd binary")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--interval", type=float, default=0.5)
    a = ap.parse_args()
    entries = []
    for b in a.builds:
        label, _, path = b.partition("=")
        entries.append(httpd_entry(label, path))
    for b in a.gracefd_run:
        label, _, path = b.partition("=")
        entries.append(gracefd_run_entry(label, path, C.HTTPD))
    for k in a.peer:
        entries.append(next(c for c in C.CONTENDERS if c.key == k))
    if not entries:
        entries.append(next(c for c in C.CONTENDERS if c.key == "c"))
    for e in entries:
        ok, why = e.probe()
        if not ok:
            sys.exit(f"compare: {e.key}: {why}")
    procs.become_subreaper()
    scratch = tempfile.mkdtemp(prefix="gracefd-compare-")
    per = {e.key: [] for e in entries}
    rss_sup = {e.key: [] for e in entries}
    try:
        for i in range(a.rounds):
            order = entries[i % len(entries):] + entries[:i % len(entries)]
            for e in order:
                r = upgrade_round.run_round(e, a.duration, a.interval, 8, 4, scratch)
                ups = [u for u in r["upgrades"] if u["complete"]]
                per[e.key].append(ups)
                rss_sup[e.key] += r["rss_supervisor"]
                load = r.get("load") or {}
                fails = load.get("failures", "?")
                if load.get("failures"):
                    fails = f"{fails} ({load.get('failures_by_kind')}; {load.get('failure_reasons')})"
                print(f"round {i + 1}/{a.rounds} {e.key}: {len(ups)}/{r['signals']} upgrades, {fails} failed, "
                      f"first p50 {f(med([u['first_ms'] for u in ups]))} ms, "
                      f"gone p50 {f(med([u['gone_ms'] for u in ups]))} ms"
                      + (f" ERROR {r['error'][:200]}" if r.get("error") else ""), flush=True)
    finally:
        procs.reap()
        shutil.rmtree(scratch, ignore_errors=True)
    print()
    print(f"{a.rounds} rounds of {a.duration:g} s each, interleaved; ms; median pooled [range of round medians]")
    ref = entries[0].key
    for what in ("first_ms", "gone_ms"):
        print(f"\nsignal → {'first response from the new generation' if what == 'first_ms' else 'old generation gone'}")
        ref_rounds = [med([u[what] for u in ups]) for ups in per[ref]]
        ref_pool = med([u[what] for ups in per[ref] for u in ups])
        for e in entries:
            rounds = [med([u[what] for u in ups]) for ups in per[e.key]]
            pool = med([u[what] for ups in per[e.key] for u in ups])
            live = [x for x in rounds if x is not None]
            line = f"  {e.key:>14}: {f(pool)} [{f(min(live) if live else None)}–{f(max(live) if live else None)}]"
            if e.key != ref and pool and ref_pool:
                rr = [x / y for x, y in zip(rounds, ref_rounds) if x and y]
                line += f"  ÷ {ref}: {pool / ref_pool:.2f}× [{min(rr):.2f}×–{max(rr):.2f}×]" if rr else ""
            print(line)
    sup = {k: v for k, v in rss_sup.items() if v}
    if sup:
        print("\nsupervisor VmRSS, KiB, median (max): " +
              "; ".join(f"{k} {med(v):.0f} ({max(v)})" for k, v in sup.items()))


if __name__ == "__main__":
    main()
