"""Zero-drain upgrades: the C example upgraded under load, with the
polite drain and with `--pass-connections`, side by side, rounds interleaved.

The load: long-lived keep-alive clients that hold one connection for the whole
run and sit idle between requests (`loadgen --idle-ms`), plus new-connection
workers; an upgrade every INTERVAL s (bench/upgrade_round.py). Per mode:

  failed          requests that failed (loadgen's count)
  reconnects      connections the server closed that a keep-alive client had
                  to open again (loadgen's reconnects.total)
  gone            signal -> old generation exited (as in the upgrade table)
  gone - ready    how long the old generation outlived the moment the new one
                  was ready: `gone` minus the library's own "pid N is ready after
                  X us" (X is counted from just before the new generation is
                  started, a little after the signal, so this is an upper bound)
  pass cost       the library's "connection pass: N connections ... in X us"
                  (pass mode): X / N per pass, and N per pass

A third row, pass mode only, holds 500 idle keep-alive connections (one
request every 200 ms each) to show the pass cost at a larger count.
"""
import re

import contenders as C
import upgrade_round

MODES = [
    C.Contender(key="c-drain", name="httpd, polite drain",
                argv=lambda port, tmp: [C.HTTPD, "--listen", f"http=127.0.0.1:{port}", "--verbose"],
                signal_to="server", probe=lambda: (True, ""), how="SIGHUP; the old generation drains"),
    C.Contender(key="c-pass", name="httpd --pass-connections",
                argv=lambda port, tmp: [C.HTTPD, "--listen", f"http=127.0.0.1:{port}", "--verbose",
                                        "--pass-connections"],
                signal_to="server", probe=lambda: (True, ""),
                how="SIGHUP; the old generation passes its connections between requests"),
]
KEEPALIVE, IDLE_MS, NEW = 32, 20, 4
MANY = C.Contender(key="c-pass-500", name="httpd --pass-connections, 500 idle connections",
                   argv=MODES[1].argv, signal_to="server", probe=lambda: (True, ""), how=MODES[1].how)
# (contender, keep-alive clients, idle ms, new-connection workers)
LOADS = [(MODES[0], KEEPALIVE, IDLE_MS, NEW), (MODES[1], KEEPALIVE, IDLE_MS, NEW), (MANY, 500, 200, 0)]

READY = re.compile(r"gracefd\[(\d+)\]: upgrade: pid (\d+) is ready after (\d+) us")
PASS = re.compile(r"gracefd\[(\d+)\]: connection pass: (\d+) connections to pid \d+ in (\d+) us")


def run(rounds, duration, interval, scratch, log=print):
    out = {m.key: {"name": m.name, "rounds": 0, "requests": 0, "failed": 0, "reconnects": 0, "signals": 0,
                   "completed": 0, "gone": [], "after_ready": [], "pass_us_per_conn": [], "pass_n": [],
                   "errors": []} for m, *_ in LOADS}
    for i in range(rounds):
        order = LOADS if i % 2 == 0 else LOADS[::-1]
        for m, ka, idle, new in order:
            r = upgrade_round.run_round(m, duration, interval, ka, new, scratch,
                                        extra_load=["--idle-ms", str(idle)], keep_log=True)
            s = out[m.key]
            load = r.get("load")
            if r.get("error") or not load:
                s["errors"].append((r.get("error") or "no load report")[:300])
                log(f"zero-drain round {i + 1} {m.key}: ERROR {s['errors'][-1]}")
                continue
            s["rounds"] += 1
            s["requests"] += load["requests"]
            s["failed"] += load["failures"]
            s["reconnects"] += load["reconnects"].get("total", load["reconnects"]["server_close"]
                                                      + load["reconnects"]["idle_close"])
            s["signals"] += r["signals"]
            ready_ms = {int(old): int(us) / 1000.0 for old, _new, us in READY.findall(r.get("log", ""))}
            for u in r["upgrades"]:
                if not u["complete"]:
                    continue
                s["completed"] += 1
                s["gone"].append(u["gone_ms"])
                if u["old"] in ready_ms:
                    s["after_ready"].append(max(0.0, u["gone_ms"] - ready_ms[u["old"]]))
            for _pid, n, us in PASS.findall(r.get("log", "")):
                s["pass_n"].append(int(n))
                s["pass_us_per_conn"].append(int(us) / int(n))
            log(f"zero-drain round {i + 1}/{rounds} {m.key}: {load['requests']} requests, "
                f"{load['failures']} failed, {load['reconnects'].get('total', '?')} reconnects")
    return {"modes": out, "config": {"rounds": rounds, "duration": duration, "interval": interval,
                                     "keepalive": KEEPALIVE, "idle_ms": IDLE_MS, "new": NEW}}
