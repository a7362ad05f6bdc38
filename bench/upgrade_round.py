"""One round of the upgrade benchmark for one contender.

Start the contender on a free 127.0.0.1 port, put loadgen on it for a fixed
duration (keep-alive connections plus new-connection-per-request workers,
`--watch-pid-change` on stdout), and send the upgrade signal on a fixed
cadence: a signal every INTERVAL seconds, never while the previous upgrade is
still in progress (the next one then goes 0.1 s after it completed). For each
upgrade:

  old pid   the generation serving when the signal went out (X-Pid);
  first     signal -> loadgen's first complete response from a new pid
            (loadgen's CLOCK_MONOTONIC `mono_ns` against ours);
  gone      signal -> the old pid exited (a pidfd becomes readable);

an upgrade is complete when both happened within UPGRADE_TIMEOUT. Then stop
everything by pid (every generation seen, and what is left in the process
group the first one was started in: a later generation leads a group of its
own, so it is stopped by pid, and anything else re-parented to us is found
as our child) and reap it.
"""
import json
import os
import select
import signal
import subprocess
import tempfile
import time

import procs
from contenders import ROOT, BIN

LOADGEN = os.path.join(BIN, "loadgen")
SETTLE_S = 0.1          # after an upgrade that outlasted the interval
TAIL_S = 2.0            # no signal in the last TAIL_S s of the load (room to complete)


def _now_ns():
    return time.monotonic_ns()


def run_round(c, duration, interval, keepalive, new, scratch, upgrade_timeout=10.0, extra_load=(), keep_log=False):
    """extra_load: more loadgen arguments; keep_log: return the whole server log as res["log"]."""
    res = {"contender": c.key, "upgrades": [], "signals": 0, "rss_server": [], "rss_supervisor": [],
           "load": None, "error": None, "leftover": []}
    tmp = tempfile.mkdtemp(prefix=f"{c.key}-", dir=scratch)
    port = procs.free_port()
    log_path = os.path.join(tmp, "server.log")
    log = open(log_path, "w")
    env = dict(os.environ, **c.env)
    server = subprocess.Popen(c.argv(port, tmp), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                              env=env, cwd=ROOT, start_new_session=True)
    pgid = server.pid
    supervisor = server.pid if c.signal_to == "supervisor" else None
    load = None
    known = {server.pid}
    current = None
    try:
        first = procs.wait_http(port, 10.0, alive=lambda: server.poll() is None)
        if not first:
            st = server.poll()
            res["error"] = ("did not answer HTTP within 10 s" if st is None else
                            f"exited with status {st} before answering HTTP") + ": " + _tail(log_path)
            return res
        body_ok = first[2].startswith("ok pid=") and "x-pid" in first[1]
        if not body_ok:
            res["error"] = f"unexpected response: {first}"
            return res
        load_err = open(os.path.join(tmp, "loadgen.err"), "w")
        load = subprocess.Popen([LOADGEN, "--addr", f"127.0.0.1:{port}", "--keepalive", str(keepalive),
                                 "--new", str(new), "--duration", str(duration), "--json", "--watch-pid-change",
                                 *extra_load],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=load_err)
        t_load = time.monotonic()
        last_signal_at = t_load + duration - TAIL_S
        next_at = t_load + interval
        out_fd = load.stdout.fileno()
        os.set_blocking(out_fd, False)
        buf = b""
        seen = set()
        pending = None
        load_open = True
        while load_open or pending:
            now = time.monotonic()
            if pending is None and current is not None and load_open and next_at <= now <= last_signal_at:
                pending = _signal(c, current, supervisor, res)
                continue
            if pending and _now_ns() - pending["sig_ns"] > upgrade_timeout * 1e9:
                _finish(pending, res, timed_out=True)
                current = pending["new"] or current
                next_at = max(pending["sig_s"] + interval, time.monotonic() + SETTLE_S)
                pending = None
                continue
            if not load_open and pending and pending["new"] is None:
                # No load any more: a new generation can no longer be seen answering.
                _finish(pending, res, timed_out=True, why="load ended before the new generation answered")
                pending = None
                break
            fds = ([out_fd] if load_open else []) + ([pending["watch"].fileno()]
                                                     if pending and pending["watch"].fileno() is not None else [])
            wait = 0.05
            if pending is None and current is not None and load_open and now < next_at:
                wait = min(wait, next_at - now)
            ready = select.select(fds, [], [], max(wait, 0))[0] if fds else time.sleep(wait) or []
            if pending and pending["gone_ns"] is None and pending["watch"].done():
                pending["gone_ns"] = _now_ns()
            if out_fd in ready:
                chunk = os.read(out_fd, 65536)
                if not chunk:
                    load_open = False
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    line = line.decode()
                    if line.startswith("{"):
                        res["load"] = json.loads(line)
                    elif line.startswith("new_pid "):
                        kv = dict(x.split("=", 1) for x in line.split()[1:])
                        pid, ns = int(kv["pid"]), int(kv["mono_ns"])
                        seen.add(pid)
                        known.add(pid)
                        if current is None:
                            current = pid
                        elif pending and pending["new"] is None and pid != pending["old"] and ns >= pending["sig_ns"]:
                            pending["new"], pending["new_ns"] = pid, ns
            if pending and pending["new"] is not None and pending["gone_ns"] is not None:
                _finish(pending, res)
                current = pending["new"]
                next_at = max(pending["sig_s"] + interval, time.monotonic() + SETTLE_S)
                pending = None
        load.wait(timeout=30)
        if res["load"] is None:
            res["error"] = "loadgen gave no report: " + _tail(os.path.join(tmp, "loadgen.err"))
    finally:
        if load is not None and load.poll() is None:
            procs.signal_pid(load.pid, signal.SIGTERM)
            try:
                load.wait(timeout=10)
            except subprocess.TimeoutExpired:
                procs.signal_pid(load.pid, signal.SIGKILL)
                load.wait()
        targets = [supervisor] if supervisor else sorted(p for p in known if not procs.gone(p))
        res["leftover"] = procs.stop(targets, pgid=pgid)
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            procs.signal_pid(server.pid, signal.SIGKILL)
            server.wait()
        # Anything of the contender's still alive and reparented to us (a worker
        # its supervisor left behind, in a process group of its own): by pid.
        stray = procs.live_children()
        if stray:
            res["leftover"] += stray
            procs.stop(stray)
        procs.reap()
        log.close()
        res["log_tail"] = _tail(log_path)
        if keep_log:
            res["log"] = _tail(log_path, 10_000_000)
    return res


def _signal(c, current, supervisor, res):
    """Sample RSS, then send the upgrade signal; returns the pending upgrade."""
    r = procs.rss_kib(current)
    if r:
        res["rss_server"].append(r)
    if supervisor:
        r = procs.rss_kib(supervisor)
        if r:
            res["rss_supervisor"].append(r)
    watch = procs.ExitWatch(current)
    target = supervisor or current
    sig_s = time.monotonic()
    sig_ns = _now_ns()
    procs.signal_pid(target, signal.SIGHUP)
    res["signals"] += 1
    return {"old": current, "watch": watch, "sig_ns": sig_ns, "sig_s": sig_s,
            "new": None, "new_ns": None, "gone_ns": None}


def _finish(p, res, timed_out=False, why=None):
    if p["gone_ns"] is None and p["watch"].done():
        p["gone_ns"] = _now_ns()
    p["watch"].close()
    u = {"old": p["old"], "new": p["new"],
         "first_ms": (p["new_ns"] - p["sig_ns"]) / 1e6 if p["new_ns"] else None,
         "gone_ms": (p["gone_ns"] - p["sig_ns"]) / 1e6 if p["gone_ns"] else None}
    u["complete"] = u["first_ms"] is not None and u["gone_ms"] is not None
    if not u["complete"]:
        u["why"] = why or ("no new generation answered" if u["first_ms"] is None else "old generation still running")
    res["upgrades"].append(u)


def _tail(path, n=600):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:].strip()
    except OSError:
        return ""
