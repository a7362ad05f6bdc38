#!/usr/bin/env python3
"""Where the time of one upgrade of the C example goes, phase by phase.

Starts build/bin/httpd (or --httpd PATH) under `perf record` (kernel
tracepoints on the serving process, inherited by every generation it
starts; CLOCK_MONOTONIC timestamps), optionally puts loadgen on it as
`make bench` does, sends SIGHUP --upgrades times, and prints for each phase
the median and range over the upgrades, in µs from the signal:

  signal         kill(2) by this script (our CLOCK_MONOTONIC stamp)
  delivered      the old generation's handler runs (signal:signal_deliver)
  clone          the old generation enters clone(2): event read, spawn built
  child runs     the child's first instruction after clone (sys_exit_clone in it)
  execve         the child calls execve: signals reset, fds laid out
  exec done      the kernel has loaded the new image (sched_process_exec)
  ctor           the library's constructor makes its first system call
                 (readlink /proc/self/exe): the dynamic loader and libc
                 start-up are before it
  main           httpd's main() makes its first call (rt_sigaction SIGPIPE)
  ready sent     the new generation sends its readiness frame
  first accept   the new generation accepts its first connection
  old heard      the old generation received the frame (recvfrom)
  old closed     the old generation's first close(2) after that (its listener: it
                 stops accepting)
  old gone       the old generation exited (sched_process_exit)
  parent back    the old generation returns from clone (vfork released it)
  old exits      the old generation calls exit_group(2) (its drain is over)
  old gone       the old generation exited (sched_process_exit)
  loadgen saw    loadgen completed the first response from the new pid (with load)
  client saw     with --no-load: the first response from the new pid to
                 bench/ballast.py's client (GET / on a new connection, back
                 to back from the signal on)
  client gone    with --no-load: this script's pidfd on the old generation
                 became readable (ballast.py's "old gone")

With --ballast MIB httpd holds MIB MiB of touched heap (as in
bench/ballast.py) and each upgrade waits until the serving generation holds
it: compare the timeline at 10 MiB and at 4096 MiB to see which phase grows
with the size. sched:sched_switch is recorded too (--switches) to see who had
the CPUs between "ready sent" and "client saw".

perf perturbs what it measures (each traced system call costs a little, and
every clone copies the events to the child), so read the phases as where the
time goes, not as absolute figures; those come from `make bench`.

  python3 bench/phases.py [--httpd PATH] [--upgrades 10] [--no-load] [--ballast MIB] [--keep DIR]

Needs `perf` (linux-perf) and root or perf_event_paranoid <= 1. Only
127.0.0.1; every process is stopped and reaped by pid.
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import procs                     # noqa: E402
from ballast import client_upgrade, wait_touched  # noqa: E402
from contenders import BIN       # noqa: E402

# (tracepoint, filter): the filters keep the per-request system calls out of
# the trace (they would cost the traced server time on every request).
EVENTS = [("signal:signal_deliver", "sig == 1"), ("sched:sched_process_fork", ""), ("sched:sched_process_exec", ""),
          ("sched:sched_process_exit", ""), ("syscalls:sys_enter_clone", ""), ("syscalls:sys_exit_clone", ""),
          ("syscalls:sys_enter_execve", ""), ("syscalls:sys_enter_readlink", ""),
          ("syscalls:sys_enter_rt_sigaction", "sig == 13"), ("syscalls:sys_enter_sendto", "len == 9"),
          ("syscalls:sys_exit_recvfrom", "ret == 9"), ("syscalls:sys_enter_close", "fd < 6"),
          ("syscalls:sys_exit_accept4", "ret >= 0"), ("syscalls:sys_enter_exit_group", "")]
PHASES = ["delivered", "clone", "child runs", "execve", "exec done", "ctor", "main", "ready sent",
          "first accept", "old heard", "old closed", "parent back", "old exits", "old gone", "loadgen saw",
          "client saw", "client gone"]
LINE = re.compile(r"^\s*(\S+)\s+(\d+)/(\d+)\s+(\d+\.\d+):\s+(\S+):\s*(.*)$")


def parse(script):
    """[(pid, t_ns, event, args)] from `perf script -F comm,pid,tid,time,event,trace`."""
    out = []
    for line in script.splitlines():
        m = LINE.match(line)
        if m:
            sec, frac = m.group(4).split(".")
            t = int(sec) * 1_000_000_000 + int(frac.ljust(9, "0")[:9])
            out.append((int(m.group(2)), t, m.group(5), m.group(6)))
    return out


def phases_of(events, old, sig_ns):
    """The phase stamps of the upgrade of `old` signalled at sig_ns."""
    p = {}
    new = None

    def first(pred, key):
        if key not in p:
            for e in events:
                if e[1] >= sig_ns and pred(e):
                    p[key] = e[1]
                    return e
        return None
    first(lambda e: e[0] == old and e[2] == "signal:signal_deliver" and e[3].startswith("sig=1 "), "delivered")
    first(lambda e: e[0] == old and e[2] == "syscalls:sys_enter_clone", "clone")
    fork = first(lambda e: e[0] == old and e[2] == "sched:sched_process_fork", "_fork")
    if fork:
        m = re.search(r"child_pid=(\d+)", fork[3])
        new = int(m.group(1)) if m else None
    if new is None:
        return None, p
    first(lambda e: e[0] == new and e[2] == "syscalls:sys_exit_clone", "child runs")
    first(lambda e: e[0] == new and e[2] == "syscalls:sys_enter_execve", "execve")
    first(lambda e: e[0] == new and e[2] == "sched:sched_process_exec", "exec done")
    first(lambda e: e[0] == new and e[2] == "syscalls:sys_enter_readlink" and "exec done" in p
          and e[1] >= p["exec done"], "ctor")
    first(lambda e: e[0] == new and e[2] == "syscalls:sys_enter_rt_sigaction" and e[3].startswith("sig: 0x0000000d")
          and "exec done" in p and e[1] >= p["exec done"], "main")
    first(lambda e: e[0] == new and e[2] == "syscalls:sys_enter_sendto" and "len: 0x00000009" in e[3], "ready sent")
    first(lambda e: e[0] == new and e[2] == "syscalls:sys_exit_accept4" and not e[3].startswith("0xfff"),
          "first accept")
    first(lambda e: e[0] == old and e[2] == "syscalls:sys_exit_recvfrom" and e[3].startswith("0x9")
          and "ready sent" in p and e[1] >= p["ready sent"], "old heard")
    first(lambda e: e[0] == old and e[2] == "syscalls:sys_enter_close"
          and "old heard" in p and e[1] >= p["old heard"], "old closed")
    first(lambda e: e[0] == old and e[2] == "syscalls:sys_enter_exit_group", "old exits")
    first(lambda e: e[0] == old and e[2] == "sched:sched_process_exit", "old gone")
    first(lambda e: e[0] == old and e[2] == "syscalls:sys_exit_clone" and not e[3].startswith("0x0"), "parent back")
    return new, p


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--httpd", default=os.path.join(BIN, "httpd"))
    ap.add_argument("--upgrades", type=int, default=10)
    ap.add_argument("--no-load", action="store_true",
                    help="no loadgen: bench/ballast.py's client measures instead (client saw, client gone)")
    ap.add_argument("--ballast", type=int, default=0, help="httpd --ballast MIB; each upgrade waits until it is touched")
    ap.add_argument("--keep", default="", help="keep perf.data and the script output in this directory")
    a = ap.parse_args()
    if not shutil.which("perf"):
        sys.exit("phases: perf is not installed (Debian: linux-perf)")
    procs.become_subreaper()
    tmp = a.keep or tempfile.mkdtemp(prefix="gracefd-phases-")
    os.makedirs(tmp, exist_ok=True)
    port = procs.free_port()
    log = open(os.path.join(tmp, "httpd.log"), "w")
    extra = ["--ballast", str(a.ballast)] if a.ballast > 0 else []
    server = subprocess.Popen([a.httpd, "--listen", f"http=127.0.0.1:{port}", *extra], stdin=subprocess.DEVNULL,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    known = {server.pid}
    perf = load = None
    sigs = []
    try:
        if not procs.wait_http(port, 10.0, alive=lambda: server.poll() is None):
            sys.exit("phases: httpd did not serve")
        data = os.path.join(tmp, "perf.data")
        ev = []
        for name, filt in EVENTS:
            ev += ["-e", name] + (["--filter", filt] if filt else [])
        perf = subprocess.Popen(["perf", "record", "-q", "-k", "CLOCK_MONOTONIC", "-o", data, *ev,
                                 "-p", str(server.pid)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(tmp, "perf.err"), "w"))
        time.sleep(0.5)
        duration = (0.6 + (1.5 + a.ballast / 1024 if a.ballast > 0 else 0)) * a.upgrades + 1.0
        if not a.no_load:
            load = subprocess.Popen([os.path.join(BIN, "loadgen"), "--addr", f"127.0.0.1:{port}", "--keepalive", "8",
                                     "--new", "4", "--duration", f"{duration:.1f}", "--watch-pid-change"],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
            time.sleep(0.3)
        cur = server.pid
        client = []
        for _ in range(a.upgrades):
            if a.ballast > 0 and not wait_touched(os.path.join(tmp, "httpd.log"), cur):
                print(f"phases: generation {cur} never held its {a.ballast} MiB", file=sys.stderr)
                break
            watch = procs.ExitWatch(cur)
            t = time.monotonic_ns()
            os.kill(cur, signal.SIGHUP)
            if a.no_load:
                _, saw, gone_ns = client_upgrade(port, cur, watch)
                client.append((cur, saw, gone_ns))
            end = time.monotonic() + 30
            while not watch.done() and time.monotonic() < end:
                time.sleep(0.001)
            watch.close()
            sigs.append((cur, t))
            time.sleep(0.1)
            r = procs.http_get(port)
            nxt = int(r[1]["x-pid"]) if r and "x-pid" in r[1] else None
            if nxt is None or nxt == cur:
                print(f"phases: upgrade of {cur} did not complete", file=sys.stderr)
                break
            known.add(nxt)
            cur = nxt
            time.sleep(0.4)
        seen = []
        if load is not None:
            out, _ = load.communicate(timeout=duration + 30)
            for line in out.splitlines():
                m = re.match(r"new_pid .*mono_ns=(\d+) pid=(\d+)", line)
                if m:
                    seen.append((int(m.group(2)), int(m.group(1))))
    finally:
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=60)
        if load is not None and load.poll() is None:
            load.kill()
            load.wait()
        procs.stop(sorted(p for p in known if not procs.gone(p)), pgid=server.pid)
        server.wait(timeout=10)
        procs.reap()
        log.close()
    script = subprocess.run(["perf", "script", "-i", os.path.join(tmp, "perf.data"), "-F",
                             "comm,pid,tid,time,event,trace"], capture_output=True, text=True).stdout
    if a.keep:
        with open(os.path.join(tmp, "script.txt"), "w") as fh:
            fh.write(script)
    events = parse(script)
    rows = {k: [] for k in PHASES}
    for old, t in sigs:
        new, p = phases_of(events, old, t)
        for pid, ns in seen:
            if pid == new:
                p["loadgen saw"] = ns
        for pid, saw, gone_ns in client:
            if pid == old:
                if saw is not None:
                    p["client saw"] = saw
                if gone_ns is not None:
                    p["client gone"] = gone_ns
        for k in PHASES:
            if k in p:
                rows[k].append((p[k] - t) / 1000)
    what = " without load, bench/ballast.py's client" if a.no_load else " under loadgen --keepalive 8 --new 4"
    held = f", --ballast {a.ballast} MiB" if a.ballast > 0 else ""
    print(f"{len(sigs)} upgrades of {a.httpd}{held}{what};"
          " µs from the signal: median [min–max], and the median step from the phase before")
    prev = 0.0
    for k in PHASES:
        xs = rows[k]
        if not xs:
            continue
        m = statistics.median(xs)
        print(f"  {k:>13}: {m:8.0f} [{min(xs):.0f}–{max(xs):.0f}]   (+{m - prev:.0f})")
        prev = m
    if not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
