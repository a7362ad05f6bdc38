#!/usr/bin/env python3
"""go-httpd against the same server on cloudflare/tableflip, and nothing else
(`make bench-go`): ROUNDS interleaved rounds of bench/upgrade_round.py for
each (same load, same cadence as `make bench`), then the medians of
signal -> first response from the new generation and signal -> old
generation gone, the ratios, and the failed requests. The full comparison
with every contender is `make bench`; this is the quick loop for the Go side.

  ROUNDS=5 DURATION=8 python3 -B bench/go_vs_tableflip.py
"""
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import contenders as C      # noqa: E402
import procs                # noqa: E402
import upgrade_round        # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "5"))
DURATION = float(os.environ.get("DURATION", "8"))


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    procs.become_subreaper()
    by_key = {c.key: c for c in C.CONTENDERS}
    keys = ["go", "tableflip"]
    for k in keys:
        ok, why = by_key[k].probe()
        if not ok:
            print(f"bench-go: {k}: {why}")
            return 2
    scratch = tempfile.mkdtemp(prefix="gracefd-bench-go-")
    got = {k: {"first": [], "gone": [], "failures": 0, "requests": 0, "signals": 0, "complete": 0} for k in keys}
    try:
        for r in range(ROUNDS):
            for k in (keys if r % 2 == 0 else keys[::-1]):   # interleaved, alternating order
                res = upgrade_round.run_round(by_key[k], DURATION, 0.5, 8, 4, scratch)
                g = got[k]
                if res["error"]:
                    print(f"bench-go: round {r + 1} {k}: {res['error']}")
                    return 1
                g["signals"] += res["signals"]
                for u in res["upgrades"]:
                    g["complete"] += u["complete"]
                    g["first"].append(u["first_ms"])
                    g["gone"].append(u["gone_ms"])
                g["failures"] += res["load"]["failures"]
                g["requests"] += res["load"]["requests"]
                print(f"bench-go: round {r + 1} {k}: {len(res['upgrades'])} upgrades, first {med([u['first_ms'] for u in res['upgrades']]):.2f} ms, "
                      f"gone {med([u['gone_ms'] for u in res['upgrades']]):.2f} ms, {res['load']['failures']} failed", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for k in keys:
        g = got[k]
        print(f"bench-go: {k}: {g['complete']}/{g['signals']} upgrades complete, median first {med(g['first']):.2f} ms, "
              f"median gone {med(g['gone']):.2f} ms, {g['failures']} failed of {g['requests']} requests")
    rf = med(got["tableflip"]["first"]) / med(got["go"]["first"])
    rg = med(got["tableflip"]["gone"]) / med(got["go"]["gone"])
    print(f"bench-go: go-httpd vs tableflip over {ROUNDS} interleaved rounds: first response {rf:.2f}x faster, "
          f"old generation gone {rg:.2f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
