#!/usr/bin/env python3
"""make bench, cost against size: does an upgrade or a re-exec
daemonize get slower as the process grows?

The C example is started with `--ballast MIB` (MIB MiB of heap, every page
touched, so it is resident and in the page tables). For each size, ROUNDS
upgrades, one at a time: wait until the serving generation's ballast is
resident, send SIGHUP, and measure

  first   signal -> the first response from a new pid (GET / on a new
          connection, repeated back to back);
  gone    signal -> the old pid exited (a pidfd becomes readable);
  spawn   how long the start of the child itself took, as the library logs
          it ("spawn: started pid N with ... in N us"; httpd runs with
          --verbose). Absent where the library does not log it (a build
          from before the vfork-style spawn).
  ready   from the start of the child to the old generation hearing that it
          is ready, as the old generation logs it ("upgrade: pid N is ready
          after N us"): the part of "first" before the hand-over. What
          grows in "first" but not here happens after it: the old
          generation's exit, which frees its heap, runs from then on.

Then the re-exec daemonize of a launcher holding the ballast: from the moment
the launcher finished touching its ballast (it prints that CLOCK_MONOTONIC
time) to the daemon's first HTTP answer.

  python3 bench/ballast.py [--httpd PATH] [--sizes 10,1024,4096] [--rounds 21]
                           [--daemonize-runs 5]
                           [--label TEXT] [--out FILE.md]

The sizes are interleaved: one server per size, all started first and each
holding its ballast throughout, and round i upgrades every size once, in an
order rotated from round to round, so that what else a shared machine does
falls on every size alike. One upgrade at a time: before each, the serving
generation of that server holds its ballast, and after each, the new
generation holds its own (peak memory: the sum of the sizes plus the
largest, while a new generation touches its ballast and its old one frees
its own). The environment is passed on, so GRACEFD_SPAWN=fork measures the
fork path of the same build. Timing is reported, never asserted. Only
127.0.0.1; every process is stopped and reaped by pid.
"""
import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import procs                      # noqa: E402
from contenders import BIN, ROOT  # noqa: E402


def log(msg):
    print(f"ballast: {msg}", file=sys.stderr, flush=True)


def wait_touched(log_path, pid, timeout=60.0):
    """Until httpd's log says that pid has touched every page of its ballast
    ("ballast N MiB touched pid=P ..."; its touching thread ends right after).
    Not "resident set near the size": at 95% of 4 GiB the thread still has
    200 MiB of page faults to take, on the CPUs the next upgrade needs, and
    that remainder grows with the size."""
    mark = f" touched pid={pid} ".encode()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with open(log_path, "rb") as f:
                if mark in f.read():
                    return True
        except OSError:
            pass
        if procs.gone(pid):
            return False
        time.sleep(0.01)
    return False


def serving_pid(port):
    r = procs.http_get(port, timeout=1.0)
    return int(r[1]["x-pid"]) if r and r[0] == 200 and "x-pid" in r[1] else None


def client_upgrade(port, old, watch):
    """The measurement of one upgrade (the signal already sent): GET / on a
    new connection back to back until a pid other than `old` answers, and
    `watch` (procs.ExitWatch of `old`) until it has exited. Returns (the new
    pid, first answer from it, old gone) in CLOCK_MONOTONIC ns (None where
    30 s passed first)."""
    new = saw = gone = None
    end = time.monotonic_ns() + 30e9
    while (saw is None or gone is None) and time.monotonic_ns() < end:
        if saw is None:
            p = serving_pid(port)
            if p is not None and p != old:
                new, saw = p, time.monotonic_ns()
        if gone is None and watch.done(0 if saw is None else 0.05):
            gone = time.monotonic_ns()
    return new, saw, gone


class Server:
    """One httpd --ballast MIB, upgraded one signal at a time."""

    def __init__(self, httpd, mib, scratch):
        self.mib = mib
        self.port = procs.free_port()
        self.log_path = os.path.join(scratch, f"httpd-{mib}.log")
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen([httpd, "--verbose", "--listen", f"http=127.0.0.1:{self.port}", "--ballast",
                                      str(mib)], stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.known = {self.proc.pid}
        self.out = []
        if not procs.wait_http(self.port, 10.0, alive=lambda: self.proc.poll() is None):
            raise RuntimeError(f"httpd --ballast {mib} did not serve")

    def settle(self):
        """Until the serving generation holds its ballast (it touches it on a
        thread 1 s after ready, and says so once done): nothing of this server
        competes with the next upgrade."""
        pid = serving_pid(self.port)
        if pid is None or not wait_touched(self.log_path, pid):
            raise RuntimeError(f"generation {pid} never held its {self.mib} MiB")
        return pid

    def upgrade(self):
        """One upgrade: (signal -> first answer from a new pid, signal -> old pid gone), ms."""
        old = self.settle()
        watch = procs.ExitWatch(old)
        t0 = time.monotonic_ns()
        os.kill(old, signal.SIGHUP)
        new, first, gone = client_upgrade(self.port, old, watch)
        if new is not None:
            self.known.add(new)
        watch.close()
        if first is None or gone is None:
            raise RuntimeError(f"upgrade of {old} ({self.mib} MiB) did not complete in 30 s")
        self.out.append(((first - t0) / 1e6, (gone - t0) / 1e6))
        procs.reap()

    def stop(self):
        cur = serving_pid(self.port)
        if cur:
            self.known.add(cur)
        procs.stop(sorted(p for p in self.known if not procs.gone(p)), pgid=self.proc.pid)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        procs.reap()
        self.logf.close()

    def _log_matches(self, pattern):
        """Every match of `pattern` in the server's log, in order."""
        with open(self.log_path, errors="replace") as f:
            return [m for m in (re.search(pattern, line) for line in f) if m]

    def spawns(self):
        """[(path, ms)]: the library's own count of each start ("spawn: started
        pid N with <path> in N us")."""
        return [(m.group(1), int(m.group(2)) / 1000) for m in self._log_matches(r"spawn: started pid \d+ with (.*) in (\d+) us")]

    def readies(self):
        """[ms] the old generation's own count from starting the child to
        hearing it is ready ("upgrade: pid N is ready after N us")."""
        return [int(m.group(1)) / 1000 for m in self._log_matches(r"upgrade: pid \d+ is ready after (\d+) us")]

def upgrades(httpd, sizes, rounds, scratch):
    """{mib: ([(first_ms, gone_ms)], spawns, readies)}: `rounds` upgrades of one server
    per size, the sizes interleaved (round i upgrades every size once, in an
    order rotated from round to round), so that what else the machine does
    falls on every size alike. Every server holds its ballast throughout;
    the next upgrade waits until the last one's new generation holds its own
    (and its old generation, which frees its heap as it exits, is gone)."""
    servers = []
    try:
        for mib in sizes:
            log(f"starting httpd --ballast {mib}")
            servers.append(Server(httpd, mib, scratch))
        for s in servers:
            s.settle()
        for i in range(rounds):
            k = i % len(servers)
            for s in servers[k:] + servers[:k]:
                s.upgrade()
                s.settle()
            log(f"round {i + 1}/{rounds} done")
    finally:
        for s in servers:
            s.stop()
    return {s.mib: (s.out, s.spawns(), s.readies()) for s in servers}


def daemonize(httpd, mib, runs, scratch):
    """[ms] launcher done touching its ballast -> the daemon answers HTTP (re-exec mode).

    Not "-> launcher exit": a launcher holding 1 GiB spends most of its exit
    freeing it, which says nothing about how fast the daemon came up."""
    out = []
    for i in range(runs):
        port = procs.free_port()
        pidfile = os.path.join(scratch, f"d-{mib}-{i}.pid")
        argv = [httpd, "--daemonize", "--daemon-mode", "reexec", "--ballast", str(mib),
                "--listen", f"http=127.0.0.1:{port}", "--pid-file", pidfile,
                "--log-file", os.path.join(scratch, f"d-{mib}.log")]
        errf = open(os.path.join(scratch, f"d-{mib}-{i}.err"), "w+b")
        launcher = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=errf, start_new_session=True)
        t_serving = None
        end = time.monotonic() + 60
        while t_serving is None and time.monotonic() < end:
            if serving_pid(port) not in (None, launcher.pid):
                t_serving = time.monotonic_ns()
            else:
                time.sleep(0.0002)
        try:
            launcher.wait(timeout=60)
        except subprocess.TimeoutExpired:
            launcher.kill()
            launcher.wait()
        errf.seek(0)
        err = errf.read()
        errf.close()
        m = re.search(rb"touched (?:pid=\d+ )?mono_ns=(\d+)", err)
        daemon = None
        try:
            with open(pidfile) as f:
                daemon = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
        if daemon:
            procs.stop([daemon])
        procs.reap()
        if launcher.returncode != 0 or not m or t_serving is None:
            raise RuntimeError(f"daemonize with {mib} MiB: launcher exit {launcher.returncode}: {err[-300:]!r}")
        out.append((t_serving - int(m.group(1))) / 1e6)
    return out


def fmt(xs):
    if not xs:
        return "–"
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--httpd", default=os.path.join(BIN, "httpd"))
    ap.add_argument("--sizes", default="10,1024,4096")
    ap.add_argument("--daemonize-sizes", default="10,1024")
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--daemonize-runs", type=int, default=5)
    ap.add_argument("--label", default="")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    procs.become_subreaper()
    sizes = [int(x) for x in a.sizes.split(",") if x]
    dsizes = [int(x) for x in a.daemonize_sizes.split(",") if x]
    spawn = os.environ.get("GRACEFD_SPAWN") or "default (vfork-style clone, fork fallback)"
    label = a.label or f"{os.path.relpath(a.httpd, ROOT)}, GRACEFD_SPAWN={spawn}"
    lines = [f"### Cost against size: {label}", "",
             f"Median (min–max) of {a.rounds} upgrades per size, ms, the sizes interleaved round by round; "
             f"`python3 bench/ballast.py` (`make bench-ballast`).", "",
             "| ballast | signal → new generation serving | signal → old generation gone | the start itself (library log) "
             "| start → ready heard (library log) |",
             "|---|---|---|---|---|"]
    firsts = {}
    with tempfile.TemporaryDirectory(prefix="gracefd-ballast-") as scratch:
        log(f"upgrades with {', '.join(f'{m} MiB' for m in sizes)}, interleaved")
        results = upgrades(a.httpd, sizes, a.rounds, scratch)
        for mib in sizes:
            r, spawns, readies = results[mib]
            firsts[mib] = r
            how = sorted({h for h, _ in spawns})
            sp = f"{fmt([ms for _, ms in spawns])} ({'; '.join(how)})" if spawns else "not logged"
            lines.append(f"| {mib} MiB | {fmt([x[0] for x in r])} | {fmt([x[1] for x in r])} | {sp} | {fmt(readies)} |")
        if len(sizes) > 1:
            lo, hi = sizes[0], sizes[-1]
            for i, what in ((0, "serving"), (1, "gone")):
                a_ = statistics.median(x[i] for x in firsts[lo])
                b_ = statistics.median(x[i] for x in firsts[hi])
                # Round by round: upgrade k of each size ran in the same round.
                per = [y[i] / x[i] for x, y in zip(firsts[lo], firsts[hi]) if x[i] > 0]
                lines.append("")
                # The median of the per-round ratios as well: a burst of
                # other work on the shared machine lands in one round, and
                # there it moves one ratio, not the median of either size.
                lines.append(f"{hi} MiB / {lo} MiB, signal → {what}: {b_ / a_:.2f}×"
                             + (f" (round by round: median {statistics.median(per):.2f}×, "
                                f"{min(per):.2f}×–{max(per):.2f}×)" if per else ""))
        lines += ["", "| launcher ballast | re-exec daemonize: ballast touched → daemon serving |", "|---|---|"]
        for mib in dsizes:
            log(f"re-exec daemonize with {mib} MiB")
            d = daemonize(a.httpd, mib, a.daemonize_runs, scratch)
            lines.append(f"| {mib} MiB | {fmt(d)} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        with open(a.out, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
