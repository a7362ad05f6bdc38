"""The smaller figures of `make bench`, each measured in several rounds:

  rps        requests/s and server CPU per request of the C example against
             the same source linked without gracefd (plain-httpd), both at once;
  daemonize  launch -> the launcher exits with the daemon ready;
  size       bytes libgracefd.a adds to a stripped C program;
  handoff    build/bin/handoff-bench (it prints medians), several invocations.
"""
import json
import os
import re
import subprocess
import tempfile
import time

import procs
from contenders import ROOT, BIN

LOADGEN = os.path.join(BIN, "loadgen")


# ---------------------------------------------------------------- requests/s

def _serve(argv, log_path, cpus=None):
    port = procs.free_port()
    log = open(log_path, "a")
    p = subprocess.Popen([a.format(port=port) for a in argv], stdin=subprocess.DEVNULL, stdout=log,
                         stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True, preexec_fn=_pinner(cpus))
    log.close()
    return p, port


def _pinner(cpus):
    """A preexec_fn setting the CPU affinity before exec, so every thread the
    program starts inherits it (sched_setaffinity on a pid afterwards would
    pin only its main thread)."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def _stop_server(p):
    left = procs.stop([p.pid], pgid=p.pid)
    p.wait()
    procs.reap()
    return left


def rps(rounds, duration, modes, scratch):
    """modes: {label: loadgen args}. Returns {mode: {"gracefd": [req/s...], "plain": [...],
    "cpu": {"gracefd": [server CPU us per request...], "plain": [...]}, "failures": n, "errors": [...]}},
    and how the processes were pinned.

    Each round runs both servers AT THE SAME TIME, each under its own loadgen:
    the machine is shared with other jobs, whose load comes and goes within
    seconds, and running the pair together puts the same interference on both.
    With two CPUs or more, both servers are pinned to one CPU and both loadgens
    to another, so the two servers share the same core, cache and interrupts
    (unpinned, which core each lands on moves CPU per request by +-15%). Who
    starts first alternates. Besides requests/s, the server's own CPU time per
    request (/proc/PID/task/*/schedstat over the loadgen run) is the direct
    measure of a per-request cost."""
    servers = {"gracefd": [os.path.join(BIN, "httpd"), "--listen", "http=127.0.0.1:{port}"],
               "plain": [os.path.join(BIN, "plain-httpd"), "--listen", "http=127.0.0.1:{port}"]}
    out = {m: {"gracefd": [], "plain": [], "cpu": {"gracefd": [], "plain": []}, "failures": 0, "errors": []}
           for m in modes}
    log_path = os.path.join(scratch, "rps-servers.log")
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, load_cpu = ({cpus[-1]}, {cpus[-2]}) if len(cpus) >= 2 else (None, None)
    pinned = (f"servers on CPU {cpus[-1]}, loadgens on CPU {cpus[-2]}" if server_cpu
                     else "not pinned (one CPU)")
    for i in range(rounds):
        for mode, args in modes.items():
            order = ["gracefd", "plain"] if i % 2 == 0 else ["plain", "gracefd"]
            started = {}
            try:
                for who in order:
                    started[who] = _serve(servers[who], log_path, server_cpu)
                if not all(procs.wait_http(port, 10.0, alive=lambda: p.poll() is None)
                           for p, port in started.values()):
                    out[mode]["errors"].append("a server did not answer")
                    continue
                cpu0 = {who: procs.cpu_ns(p.pid) for who, (p, _) in started.items()}
                loads = {who: subprocess.Popen([LOADGEN, "--addr", f"127.0.0.1:{port}", "--duration",
                                                str(duration), "--json"] + args, stdin=subprocess.DEVNULL,
                                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                               preexec_fn=_pinner(load_cpu))
                         for who, (_, port) in started.items()}
                results = {who: l.communicate(timeout=duration + 30) for who, l in loads.items()}
                cpu1 = {who: procs.cpu_ns(p.pid) for who, (p, _) in started.items()}
                row = {}
                for who, (stdout, stderr) in results.items():
                    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
                    if not lines:
                        out[mode]["errors"].append(f"{who}: loadgen: {stderr.strip()[-200:]}")
                        break
                    row[who] = json.loads(lines[-1])
                if len(row) < 2:
                    continue
                for who, d in row.items():
                    out[mode][who].append(d["rps"])
                    out[mode]["failures"] += d["failures"]
                    if None not in (cpu0[who], cpu1[who]) and d["ok"]:
                        out[mode]["cpu"][who].append((cpu1[who] - cpu0[who]) / 1000 / d["ok"])
            finally:
                for p, _ in started.values():
                    _stop_server(p)
    return out, pinned


# ---------------------------------------------------------------- daemonize

def _spawn_wait(argv, timeout):
    """posix_spawn ARGV, wait for it; returns (elapsed s, status or None on timeout, pid).

    The exit is seen through a pidfd (procs.ExitWatch: readable the moment
    the process has exited), not by polling waitpid between short sleeps:
    each sleep overshot by its timer slack and a wake-up, which added a few
    hundred microseconds to every launch measured, the floor's too."""
    t0 = time.monotonic()
    pid = os.posix_spawn(argv[0], argv, os.environ, setsid=True)
    watch = procs.ExitWatch(pid)
    try:
        exited = watch.done(timeout)
        el = time.monotonic() - t0
    finally:
        watch.close()
    if not exited:
        return el, None, pid
    _, status = os.waitpid(pid, 0)
    return el, os.waitstatus_to_exitcode(status), pid


def _read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _stop_daemon(pid):
    if pid and not procs.gone(pid):
        procs.stop([pid])
    procs.reap()


DAEMONIZE = [
    # (key, label, argv(port, dir), how the daemon is found and judged ready)
    ("httpd", "C example: `httpd --daemonize`",
     lambda port, d: [os.path.join(BIN, "httpd"), "--daemonize", "--listen", f"http=127.0.0.1:{port}",
                      "--pid-file", f"{d}/httpd.pid", "--log-file", f"{d}/httpd.log"], "http"),
    ("hello-fork", "daemon-hello --mode fork",
     lambda port, d: [os.path.join(BIN, "daemon-hello"), "--mode", "fork", "--pid-file", f"{d}/hello.pid"], "pidfile"),
    ("hello-reexec", "daemon-hello --mode reexec",
     lambda port, d: [os.path.join(BIN, "daemon-hello"), "--mode", "reexec", "--pid-file", f"{d}/hello.pid"],
     "pidfile"),
]


def daemonize(runs, scratch):
    """Per candidate: {"label", "ms": [...], "note"} or {"label", "absent": reason}."""
    results = {}
    floor = []
    for _ in range(runs):
        el, st, _ = _spawn_wait(["/bin/true"], 5)
        floor.append(el * 1000)
    results["floor"] = {"label": "floor: launch and wait for `/bin/true`", "ms": floor}
    for key, label, argv_of, judge in DAEMONIZE:
        exe = argv_of(0, "")[0]
        if not os.access(exe, os.X_OK):
            results[key] = {"label": label, "absent": f"not built ({os.path.relpath(exe, ROOT)} is absent)"}
            continue
        d = tempfile.mkdtemp(prefix=f"daemonize-{key}-", dir=scratch)
        times, problems = [], []
        for i in range(runs):
            port = procs.free_port()
            argv = argv_of(port, d)
            el, status, launcher = _spawn_wait(argv, 3.0 if i == 0 else 10.0)
            if status is None:
                # Still running in the foreground: it did not daemonize.
                procs.stop([launcher], pgid=launcher)
                try:
                    os.waitpid(launcher, 0)
                except ChildProcessError:
                    pass
                procs.reap()
                results[key] = {"label": label, "absent": "not built: the launcher did not exit within 3 s "
                                "(no daemonize on this branch: it served in the foreground)"}
                break
            if status != 0:
                results[key] = {"label": label, "absent": f"not built or failing: the launcher exited {status}"}
                _stop_daemon(_read_pid(argv[argv.index("--pid-file") + 1]))
                break
            daemon = None
            if judge == "http":
                r = procs.http_get(port, timeout=1.0)     # no retry: it must serve already
                if r and r[0] == 200 and "x-pid" in r[1]:
                    daemon = int(r[1]["x-pid"])
                else:
                    problems.append(f"run {i + 1}: not serving when the launcher exited")
                    daemon = _read_pid(argv[argv.index("--pid-file") + 1])
            else:
                daemon = _read_pid(argv[argv.index("--pid-file") + 1])
                if not daemon or procs.gone(daemon):
                    problems.append(f"run {i + 1}: no live pid in the pid file when the launcher exited")
            times.append(el * 1000)
            _stop_daemon(daemon)
        else:
            results[key] = {"label": label, "ms": times, "problems": problems}
    return results


# ---------------------------------------------------------------- size

def size():
    def b(p):
        p = os.path.join(ROOT, p)
        return os.path.getsize(p) if os.path.exists(p) else None
    out = {"hello": (b("build/bench/hello-plain"), b("build/bench/hello-gracefd")),
           "hello_gc": (b("build/bench/hello-plain"), b("build/bench/hello-gracefd-gc")),
           "httpd": (b("build/bench/plain-httpd.stripped"), b("build/bench/httpd.stripped")),
           "httpd_gc": (b("build/bench/plain-httpd.stripped"), b("build/bench/httpd-gc.stripped")),
           "notify_gc": (b("build/bench/hello-plain"), b("build/bench/notify-gracefd-gc")),
           "lifecycle": (b("build/bench/lifecycle-plain"), b("build/bench/lifecycle-gracefd")),
           "lifecycle_gc": (b("build/bench/lifecycle-plain"), b("build/bench/lifecycle-gracefd-gc"))}
    return out


# ---------------------------------------------------------------- hand-off

ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*(\w+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*(\d+)\s*\|")
NA = re.compile(r"^\|\s*(\d+)\s*\|\s*(\w+)\s*\|\s*(n/a[^|]*|failed[^|]*)\|")
RATIOS = re.compile(r"^transfer / floor, median of the per-pair ratios:(.*)$")
RATIO = re.compile(r"(\d+) fds? ([\d.]+)")


def handoff(invocations, runs):
    """{(fds, what): [median us per invocation]}, notes, header line.

    Each invocation also prints, per size, the median of its per-pair ratios
    transfer / floor (floor and transfer run interleaved, so the ratio of a
    pair is measured under the same load); they are kept as (fds, "ratio")
    and summed up in a note."""
    medians, notes, header = {}, [], ""
    for _ in range(invocations):
        r = subprocess.run([os.path.join(BIN, "handoff-bench"), str(runs)], capture_output=True, text=True,
                           timeout=300)
        for line in r.stdout.splitlines():
            if line.startswith("hand-off time"):
                header = line
            m = ROW.match(line)
            if m:
                medians.setdefault((int(m.group(1)), m.group(2)), []).append(float(m.group(3)))
                continue
            m = NA.match(line)
            if m and m.group(3).strip() not in notes:
                notes.append(m.group(3).strip())
                continue
            m = RATIOS.match(line)
            if m:
                for n, ratio in RATIO.findall(m.group(1)):
                    medians.setdefault((int(n), "ratio"), []).append(float(ratio))
    ratios = sorted((n, xs) for (n, what), xs in medians.items() if what == "ratio")
    if ratios:
        notes.append("transfer / floor, the median of each invocation's per-pair ratios (interleaved runs): " +
                     "; ".join(f"{n:,} fd{'' if n == 1 else 's'} {', '.join(f'{x:.2f}' for x in xs)}" for n, xs in ratios))
    return medians, notes, header
