#!/usr/bin/env python3
"""Tests of the gracefd command (make check-cli, through mk/cli.mk).

usage: test_cli.py BIN_DIR [TEST_NAME_SUBSTRING...]

BIN_DIR holds gracefd, the start_server symlink, httpd, loadgen and
cli-sd-worker. Workers nobody here wrote the protocol for: a Perl worker using
Server::Starter's own server_ports() and a C worker using libsystemd's
sd_listen_fds_with_names() + sd_notify(). Every wait is bounded; only
127.0.0.1 and unix sockets; every process a test starts is reaped by pid
(workers by gracefd, which the tests check: no zombies); assertions are
about behaviour (generations, pids, exit statuses, files, log lines), never
about how long something took.
"""
import errno
import fcntl
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(HERE, "..", "build", "bin")
ONLY = sys.argv[2:]
GRACEFD = os.path.join(BIN, "gracefd")
START_SERVER = os.path.join(BIN, "start_server")
HTTPD = os.path.join(BIN, "httpd")
LOADGEN = os.path.join(BIN, "loadgen")
SD_WORKER = os.path.join(BIN, "cli-sd-worker")
PERL_WORKER = os.path.join(HERE, "perl_worker.pl")
MODE_WORKER = os.path.join(HERE, "mode_worker.sh")
PERL_START_SERVER = "/usr/bin/start_server"
TOTAL_LIMIT_S = 900


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def wait_until(what, fn, timeout=20.0, every=0.02):
    """Poll fn() until it returns something truthy; Fail after timeout."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= end:
            raise Fail("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(every)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not is_zombie(pid)


def proc_stat(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return rest[0], int(rest[1])  # state, ppid


def is_zombie(pid):
    st = proc_stat(pid)
    return st is not None and st[0] == "Z"


def children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[1] == ppid:
                out.append((int(d), st[0]))
    return sorted(out)


def no_zombies(ppid):
    z = [p for p, s in children(ppid) if s == "Z"]
    check(not z, "zombie children of %d: %s" % (ppid, z))


def ask_line(addr, timeout=5):
    """Connect (port number or unix path), read one line."""
    fam = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(addr if fam == socket.AF_UNIX else ("127.0.0.1", addr))
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(512)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace").strip()
    finally:
        s.close()


def try_line(addr):
    try:
        return ask_line(addr, timeout=2)
    except OSError:
        return None


def recv_all(s):
    """Read a connection to its end, then close it; the bytes read."""
    try:
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return data
            data += chunk
    finally:
        s.close()


def http_pid(port, timeout=5):
    """GET / from httpd; return the X-Pid of the answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = recv_all(s)
    m = re.search(rb"X-Pid: (\d+)", data)
    check(data.startswith(b"HTTP/1.1 200") and m, "bad HTTP answer: %r" % data[:200])
    return int(m.group(1))


def http_pid_or_none(port, timeout=2):
    """As http_pid, but None when nothing (good) answers: for wait_until."""
    try:
        return http_pid(port, timeout)
    except (OSError, Fail):
        return None


def fields(line):
    return dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)


class Test:
    """One test's temporary directory and processes."""

    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="gracefd-cli-%s-" % name)
        self.procs = []  # (Popen, log path)
        self.daemons = []  # pids of detached processes (not our children)

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def start(self, argv, log, env=None, **kw):
        e = dict(os.environ)
        e.update(env or {})
        f = open(self.path(log), "ab")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, env=e, start_new_session=True, **kw)
        f.close()
        self.procs.append((p, self.path(log)))
        return p

    def run(self, argv, env=None, timeout=60, cwd=None):
        """Run to completion; return (status, stdout, stderr)."""
        e = dict(os.environ)
        e.update(env or {})
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=e, timeout=timeout, cwd=cwd)
        return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")

    def log(self, name):
        try:
            with open(self.path(name), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_exit(self, p, timeout=20):
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Fail("pid %d did not exit within %ss" % (p.pid, timeout))

    def cleanup(self):
        for p, _ in self.procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p, _ in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                p.wait(timeout=10)
        for pid in self.daemons:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def dump(self):
        for name in sorted(os.listdir(self.dir)):
            p = self.path(name)
            if name.endswith(".log") and os.path.isfile(p):
                print("----- %s" % name)
                print(self.log(name)[-6000:])


def ctl(t, sock, req, timeout=60):
    return t.run([GRACEFD, "ctl", "--control-socket", sock, req], timeout=timeout)


def status_of(t, sock):
    rc, out, _ = ctl(t, sock, "status", timeout=10)
    if rc != 0:
        return None
    d = {}
    for line in out.splitlines():
        k, _, v = line.partition(": ")
        d.setdefault(k, []).append(v)
    return d


def serving(t, sock):
    d = status_of(t, sock)
    return d if d and d.get("state") == ["serving"] and "old" not in d and "starting" not in d else None


def worker_pid(d):
    return int(re.match(r"pid (\d+)", d["worker"][0]).group(1))


def catches_sigterm(pid):
    """Whether the process has installed its SIGTERM handler (SigCgt in /proc)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)) != 0
    except OSError:
        pass
    return False


def start_load(t, port, name="load"):
    """loadgen under keep-alive and new-connection load; returns once it can be
    stopped with SIGTERM (a SIGTERM before its handler exists would kill it
    without its JSON summary: seen on a loaded machine)."""
    p = t.start([LOADGEN, "--addr", "127.0.0.1:%d" % port, "--keepalive", "8", "--new", "4", "--duration", "0", "--json"], name + ".log")
    wait_until("loadgen to catch SIGTERM", lambda: catches_sigterm(p.pid) or p.poll() is not None)
    return p


def stop_load(t, p, name="load"):
    os.kill(p.pid, signal.SIGTERM)
    t.wait_exit(p, timeout=30)
    lines = [l for l in t.log(name + ".log").splitlines() if l.startswith("{")]
    check(lines, "loadgen printed no JSON: %s" % t.log(name + ".log")[-2000:])
    return json.loads(lines[-1])


def mode_env(t, mode="ok"):
    with open(t.path("mode"), "w") as f:
        f.write(mode)
    return ["--env", "MODE_FILE=" + t.path("mode"), "--env", "HTTPD=" + HTTPD, "--env", "GATE_FILE=" + t.path("gate")]


def set_mode(t, mode):
    with open(t.path("mode"), "w") as f:
        f.write(mode)


# ---------------------------------------------------------------------------


def test_usage_errors(t):
    cases = [
        (["run", "--ready", "soon", "--", "x"], '--ready "soon"'),
        (["run", "--ready", "interval:x", "--", "x"], '--ready "interval:x"'),
        (["run", "--listen", "web=127.0.0.1:99999", "--", "x"], '--listen "web=127.0.0.1:99999"'),
        (["run", "--signal-on-hup", "SIGNOPE", "--", "x"], '--signal-on-hup "SIGNOPE"'),
        (["run", "--stop-timeout", "ten", "--", "x"], '--stop-timeout "ten"'),
        (["run", "--env", "LISTEN_FDS=3", "--", "x"], '--env "LISTEN_FDS=3"'),
        (["run", "--bogus", "--", "x"], "--bogus"),
        (["run", "--listen", "127.0.0.1:1"], "no command given"),
        (["daemonize", "--ready-timeout", "-1", "--", "x"], '--ready-timeout "-1"'),
        (["ctl", "--control-socket", "/x", "restart"], "unknown request"),
        (["nope"], "unknown subcommand"),
    ]
    for args, want in cases:
        rc, _, err = t.run([GRACEFD] + args)
        check(rc == 2, "%s: status %d, expected 2 (%s)" % (args, rc, err))
        check(want in err, "%s: stderr %r does not name %r" % (args, err, want))
    rc, _, err = t.run([START_SERVER, "--port", "80=5", "--", "x"])
    check(rc == 2 and '--port "80=5"' in err, "start_server --port 80=5: %d %r" % (rc, err))
    rc, _, err = t.run([START_SERVER, "--daemonize", "--", "x"])
    check(rc == 2 and "--log-file" in err, "start_server --daemonize without --log-file: %d %r" % (rc, err))
    rc, _, err = t.run([START_SERVER, "--restart", "--pid-file", t.path("p")])
    check(rc == 2 and "--status-file" in err, "start_server --restart without --status-file: %d %r" % (rc, err))
    # Setup errors name the option and the value too.
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    rc, _, err = t.run([GRACEFD, "run", "--listen", "web=127.0.0.1:%d" % port, "--", "true"])
    busy.close()
    check(rc == 243 and '--listen "web=127.0.0.1:%d"' % port in err and "in use" in err, "bind conflict: %d %r" % (rc, err))
    rc, _, err = t.run([GRACEFD, "ctl", "--control-socket", t.path("none.sock"), "status"])
    check(rc == 3 and "cannot connect" in err, "ctl without a server: %d %r" % (rc, err))
    for argv in ([GRACEFD, "--help"], [GRACEFD, "run", "--help"], [GRACEFD, "daemonize", "--help"], [GRACEFD, "ctl", "--help"], [START_SERVER, "--help"]):
        rc, out, _ = t.run(argv)
        check(rc == 0 and "exit status:" in out and "242" in out, "%s: %d, no exit status table" % (argv, rc))


def test_perl_server_starter_worker(t):
    port = free_port()
    usock = t.path("perl.sock")
    ctl_sock = t.path("ctl.sock")
    os.mkdir(t.path("env"))
    with open(t.path("env", "FOO"), "w") as f:
        f.write("one\n")
    g = t.start([GRACEFD, "run", "--listen", "127.0.0.1:%d" % port, "--listen", "unix:" + usock, "--ready", "interval:0.3",
                 "--envdir", t.path("env"), "--control-socket", ctl_sock, "--", "perl", PERL_WORKER], "gracefd.log")
    d = wait_until("the Perl worker to serve", lambda: serving(t, ctl_sock))
    w1 = worker_pid(d)
    a = fields(ask_line(port))
    check(a == {"pid": str(w1), "gen": "1", "key": "127.0.0.1:%d" % port, "foo": "one"}, "TCP answer %s" % a)
    b = fields(ask_line(usock))
    check(b["key"] == usock and b["pid"] == str(w1), "unix answer %s" % b)
    # envdir is read again on SIGHUP.
    with open(t.path("env", "FOO"), "w") as f:
        f.write("two\n")
    os.kill(g.pid, signal.SIGHUP)
    a = wait_until("generation 2 to answer", lambda: (lambda l: l and fields(l).get("gen") == "2" and fields(l))(try_line(port)))
    check(a["foo"] == "two" and a["pid"] != str(w1), "after SIGHUP: %s" % a)
    wait_until("the old Perl worker to be gone", lambda: serving(t, ctl_sock))
    check(not alive(w1), "old worker %d still alive" % w1)
    no_zombies(g.pid)
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "gracefd exit status")
    check(not os.path.exists(usock), "the unix socket file is removed at exit")
    check(not os.path.exists(ctl_sock), "the control socket file is removed at exit")


def test_sd_listen_worker(t):
    port = free_port()
    usock = t.path("admin.sock")
    ctl_sock = t.path("ctl.sock")
    g = t.start([GRACEFD, "run", "--listen", "web=127.0.0.1:%d" % port, "--listen", "admin=unix:" + usock, "--ready", "notify",
                 "--ready-timeout", "20", "--control-socket", ctl_sock, "--", SD_WORKER], "gracefd.log")
    d = wait_until("the libsystemd worker to be ready", lambda: serving(t, ctl_sock))
    a = fields(ask_line(port))
    check(a["name"] == "web" and a["listen_fds"] == "2" and a["extra_fds"] == "0", "TCP answer %s" % a)
    b = fields(ask_line(usock))
    check(b["name"] == "admin" and b["pid"] == a["pid"] == str(worker_pid(d)), "unix answer %s" % b)
    # Its readiness comes through gracefd's NOTIFY_SOCKET (sd_notify READY=1).
    rc, out, err = ctl(t, ctl_sock, "reload")
    check(rc == 0 and "generation 2" in out, "ctl reload: %d %r %r" % (rc, out, err))
    d = status_of(t, ctl_sock)
    check('status "serving"' in d["worker"][0], "STATUS= reaches ctl status: %s" % d["worker"])
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "gracefd exit status")


def test_reloads_under_load(t):
    port = free_port()
    ctl_sock = t.path("ctl.sock")
    g = t.start([GRACEFD, "run", "--listen", "http=127.0.0.1:%d" % port, "--ready", "notify", "--control-socket", ctl_sock,
                 "--status-file", t.path("status"), "--", HTTPD, "--listen", "http=127.0.0.1:%d" % port, "--drain-timeout", "5000"],
                "gracefd.log")
    d = wait_until("the first worker", lambda: serving(t, ctl_sock))
    pids = [worker_pid(d)]
    load = start_load(t, port)
    wait_until("load to flow", lambda: os.path.getsize(t.path("load.log")) >= 0 and http_pid(port))
    t0 = time.monotonic()
    for i in range(2, 52):
        rc, out, err = ctl(t, ctl_sock, "reload")
        m = re.match(r"reloaded: generation (\d+) pid (\d+)", out)
        check(rc == 0 and m, "reload %d: %d %r %r" % (i - 1, rc, out, err))
        check(int(m.group(1)) == i, "reload %d reports generation %s" % (i - 1, m.group(1)))
        check(int(m.group(2)) not in pids, "reload %d reused pid %s" % (i - 1, m.group(2)))
        pids.append(int(m.group(2)))
    took = time.monotonic() - t0
    res = stop_load(t, load)
    check(res["failures"] == 0, "failed requests under load: %s %s" % (res["failures_by_kind"], res["failure_reasons"]))
    check(res["requests"] > 0, "no requests were made")
    d = wait_until("old workers to drain", lambda: serving(t, ctl_sock))
    check(worker_pid(d) == pids[-1] and d["generation"] == ["51"], "final state %s" % d)
    check([p for p, _ in children(g.pid)] == [pids[-1]], "children of gracefd: %s" % children(g.pid))
    with open(t.path("status")) as f:
        check(f.read() == "51:%d\n" % pids[-1], "status file")
    print("    50 reloads in %.2f s under load: %d requests, 0 failed, %d pids answered" % (took, res["requests"], res["distinct_pids"]))
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "gracefd exit status")


def test_failed_reloads_keep_the_old(t):
    port = free_port()
    ctl_sock = t.path("ctl.sock")
    g = t.start([GRACEFD, "run", "--listen", "http=127.0.0.1:%d" % port, "--ready", "notify", "--ready-timeout", "1",
                 "--control-socket", ctl_sock] + mode_env(t) + ["--", MODE_WORKER, "--listen", "http=127.0.0.1:%d" % port], "gracefd.log")
    d = wait_until("the first worker", lambda: serving(t, ctl_sock))
    old = worker_pid(d)
    load = start_load(t, port)
    wait_until("load to flow", lambda: http_pid(port))
    for mode, why in (("exit", "exited with status 3"), ("crash", "killed by signal 11 (SIGSEGV)"), ("hang", "not ready within 1 s")):
        set_mode(t, mode)
        rc, out, err = ctl(t, ctl_sock, "reload")
        check(rc == 1 and why in err and "still serving generation 1 pid %d" % old in err, "%s: %d %r %r" % (mode, rc, out, err))
        check(http_pid(port) == old, "%s: the old worker does not answer" % mode)
        d = wait_until("the failed worker to be reaped", lambda: (lambda d: d and [p for p, _ in children(g.pid)] == [old] and d)(status_of(t, ctl_sock)))
        check(worker_pid(d) == old, "%s: current worker changed: %s" % (mode, d["worker"]))
        no_zombies(g.pid)
    set_mode(t, "ok")
    rc, out, err = ctl(t, ctl_sock, "reload")
    check(rc == 0, "reload after the failures: %d %r %r" % (rc, out, err))
    res = stop_load(t, load)
    check(res["failures"] == 0, "failed requests: %s %s" % (res["failures_by_kind"], res["failure_reasons"]))
    d = status_of(t, ctl_sock)
    check(d["reloads"] == ["1 ok, 3 failed"], "reload counts %s" % d["reloads"])
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "gracefd exit status")


def test_reloads_are_coalesced(t):
    port = free_port()
    ctl_sock = t.path("ctl.sock")
    g = t.start([GRACEFD, "run", "--listen", "http=127.0.0.1:%d" % port, "--ready", "notify", "--ready-timeout", "60",
                 "--control-socket", ctl_sock] + mode_env(t) + ["--", MODE_WORKER, "--listen", "http=127.0.0.1:%d" % port], "gracefd.log")
    wait_until("the first worker", lambda: serving(t, ctl_sock))
    set_mode(t, "gate")
    os.kill(g.pid, signal.SIGHUP)
    wait_until("generation 2 to start", lambda: "started worker generation 2" in t.log("gracefd.log"))
    # The kernel merges signals that are pending together: send each SIGHUP
    # after the one before was taken.
    queued = lambda: t.log("gracefd.log").count("one more reload is queued") + t.log("gracefd.log").count("coalesced into the reload")
    for n in range(1, 6):
        os.kill(g.pid, signal.SIGHUP)
        wait_until("SIGHUP %d to be queued" % n, lambda: queued() == n)
    waiters = [t.start([GRACEFD, "ctl", "--control-socket", ctl_sock, "reload"], "ctl%d.log" % i) for i in range(2)]
    wait_until("7 requests to be queued", lambda: queued() == 7)
    check(t.log("gracefd.log").count("one more reload is queued") == 1, "queued once, coalesced after")
    check("started worker generation 3" not in t.log("gracefd.log"), "a second reload ran while one was in flight")
    open(t.path("gate"), "w").close()
    for i, w in enumerate(waiters):
        check(t.wait_exit(w, timeout=60) == 0, "waiting ctl reload %d failed: %s" % (i, t.log("ctl%d.log" % i)))
        check("generation 3" in t.log("ctl%d.log" % i), "ctl reload %d answered %r" % (i, t.log("ctl%d.log" % i)))
    d = wait_until("generation 3 to serve alone", lambda: serving(t, ctl_sock))
    check(d["generation"] == ["3"] and d["reload-queued"] == ["no"], "state %s" % d)
    log = t.log("gracefd.log")
    check(log.count("reload: started worker generation") == 2, "exactly one more reload: %s" % re.findall(r"started worker generation \d+", log))
    check(log.index("worker generation 2 (pid") < log.index("started worker generation 3"), "generation 3 started before 2 was done")
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "gracefd exit status")


def test_crash_respawn_backoff(t):
    port = free_port()
    ctl_sock = t.path("ctl.sock")
    env = mode_env(t, "exit")
    g = t.start([GRACEFD, "run", "--listen", "http=127.0.0.1:%d" % port, "--ready", "interval:0.2", "--respawn-delay", "0.1",
                 "--respawn-delay-max", "0.8", "--control-socket", ctl_sock] + env + ["--", MODE_WORKER, "--listen", "http=127.0.0.1:%d" % port],
                "gracefd.log")
    delays = wait_until("6 respawns", lambda: (lambda d: len(d) >= 6 and d)(re.findall(r"respawning in ([\d.]+) s", t.log("gracefd.log"))), timeout=30)
    delays = [float(x) for x in delays]
    check(delays[:6] == [0.1, 0.2, 0.4, 0.8, 0.8, 0.8], "respawn delays %s" % delays)
    no_zombies(g.pid)
    set_mode(t, "ok")
    d = wait_until("a worker to serve once it stops crashing", lambda: serving(t, ctl_sock), timeout=30)
    first = worker_pid(d)
    # A ready worker that dies is respawned too.
    os.kill(first, signal.SIGKILL)
    d = wait_until("a new worker after SIGKILL", lambda: (lambda d: d and worker_pid(d) != first and d)(serving(t, ctl_sock)))
    check("was killed by signal 9 (SIGKILL) after serving" in t.log("gracefd.log"), "the crash is logged")
    check(http_pid(port) == worker_pid(d), "the respawned worker serves")
    no_zombies(g.pid)
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "gracefd exit status")


def test_worker_exit_known_with_sigchld_ignored(t):
    # Started with SIGCHLD ignored (inherited across exec, as some launchers
    # leave it), gracefd would have its workers reaped by the kernel: their
    # exit statuses lost ("status -1"), the --init status wrong.
    port = free_port()
    ctl_sock = t.path("ctl.sock")
    env = mode_env(t, "ok")
    g = t.start([GRACEFD, "run", "--listen", "http=127.0.0.1:%d" % port, "--ready", "interval:0.2", "--respawn-delay", "0.1",
                 "--control-socket", ctl_sock] + env + ["--", MODE_WORKER, "--listen", "http=127.0.0.1:%d" % port],
                "gracefd.log", preexec_fn=lambda: signal.signal(signal.SIGCHLD, signal.SIG_IGN))
    first = worker_pid(wait_until("a worker to serve", lambda: serving(t, ctl_sock), timeout=30))
    os.kill(first, signal.SIGKILL)
    d = wait_until("a new worker after SIGKILL", lambda: (lambda d: d and worker_pid(d) != first and d)(serving(t, ctl_sock)))
    check("was killed by signal 9 (SIGKILL) after serving" in t.log("gracefd.log"), "the worker's end is known (not a lost status)")
    check(http_pid(port) == worker_pid(d), "the respawned worker serves")
    no_zombies(g.pid)
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "gracefd exit status")


def test_stop_escalates_to_sigkill(t):
    ctl_sock = t.path("ctl.sock")
    g = t.start([GRACEFD, "run", "--ready", "interval:0.2", "--stop-timeout", "0.5", "--control-socket", ctl_sock] + mode_env(t, "deaf") +
                ["--", MODE_WORKER], "gracefd.log")
    d = wait_until("the TERM-ignoring worker", lambda: serving(t, ctl_sock))
    w = worker_pid(d)
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g, timeout=20) == 0, "gracefd exit status")
    check("SIGKILL to %d" % w in t.log("gracefd.log"), "no SIGKILL logged: %s" % t.log("gracefd.log"))
    check(not alive(w) and proc_stat(w) is None, "worker %d survived (or is a zombie)" % w)


def start_time(pid):
    """The process's start time (field 22 of /proc/PID/stat), or None: tells
    a process from a later one given the same pid."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    return int(s[s.rindex(")") + 2:].split()[19])


class Leftovers:
    """The children mode_worker.sh's leave modes fork (pids in a file), each
    known by pid and start time; killed by pid at the end if still there."""

    def __init__(self, t):
        self.file = t.path("children")
        self.seen = {}

    def env(self):
        return ["--env", "CHILD_FILE=" + self.file]

    def pids(self):
        try:
            with open(self.file) as f:
                for line in f:
                    if line.strip().isdigit():
                        self.seen.setdefault(int(line), start_time(int(line)))
        except OSError:
            pass
        return sorted(self.seen)

    def gone(self, pid):
        """Exited (a zombie counts: it holds nothing), or the pid is another
        process's now."""
        st = proc_stat(pid)
        return st is None or st[0] == "Z" or start_time(pid) != self.seen.get(pid)

    def holds_socket(self, pid):
        try:
            return os.readlink("/proc/%d/fd/3" % pid).startswith("socket:")
        except OSError:
            return False

    def kill(self):
        self.pids()
        for pid in self.seen:
            if not self.gone(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def run_leaving(t, kids, mode, extra=()):
    """gracefd run over mode_worker.sh in a leave mode; (gracefd, port, ctl socket)."""
    port = free_port()
    ctl_sock = t.path("ctl.sock")
    g = t.start([GRACEFD, "run", "--listen", "http=127.0.0.1:%d" % port, "--control-socket", ctl_sock] + list(extra) + mode_env(t, mode) +
                kids.env() + ["--", MODE_WORKER, "--listen", "http=127.0.0.1:%d" % port], "gracefd.log")
    return g, port, ctl_sock


def stop_after_reaping_adopted(t, g):
    """gracefd reaps a child it adopted at its next loop turn: wait for
    that (no zombie of its left), then stop it; it exits 0."""
    wait_until("gracefd to reap its adopted child", lambda: not [p for p, s in children(g.pid) if s == "Z"], timeout=10)
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "gracefd exit status")


def test_worker_children_go_with_a_worker_that_failed(t):
    # A worker that forks (a prefork master's workers, holding the sockets)
    # and dies before it is ready: its child, which ignores SIGTERM, gets
    # SIGKILL after --stop-timeout instead of accepting on the port forever.
    kids = Leftovers(t)
    try:
        g, port, ctl_sock = run_leaving(t, kids, "leave-deaf-exit", ["--ready", "notify", "--respawn-delay", "60", "--stop-timeout", "0.5"])
        kid = wait_until("the worker's child", kids.pids)[0]
        wait_until("the failed worker's child to be gone", lambda: kids.gone(kid), timeout=20)
        log = t.log("gracefd.log")
        check("before it was ready" in log, "the worker did not fail before ready: %s" % log)
        check(re.search(r"generation 1 \(pid \d+\) is gone and left processes in its process group \d+: sent SIGTERM", log), "no NOTICE: %s" % log)
        wait_until("the SIGKILL", lambda: "still has processes after 0.5 s (--stop-timeout): SIGKILL" in t.log("gracefd.log"), timeout=5)
        stop_after_reaping_adopted(t, g)
    finally:
        kids.kill()


def test_worker_children_go_with_a_replaced_worker(t):
    # Reload: the old worker drains and exits; the child it forked (with
    # the listening socket) is stopped with it.
    kids = Leftovers(t)
    try:
        g, port, ctl_sock = run_leaving(t, kids, "leave", ["--ready", "notify"])
        first = worker_pid(wait_until("the first worker", lambda: serving(t, ctl_sock), timeout=30))
        kid = wait_until("the worker's child", kids.pids)[0]
        check(kids.holds_socket(kid), "the child %d does not hold the listening socket" % kid)
        set_mode(t, "ok")
        rc, out, err = ctl(t, ctl_sock, "reload")
        check(rc == 0, "reload: %s %s" % (out, err))
        wait_until("the old worker to exit", lambda: proc_stat(first) is None or is_zombie(first), timeout=20)
        wait_until("the old worker's child to be gone", lambda: kids.gone(kid), timeout=20)
        check(re.search(r"generation 1 \(pid %d\) is gone and left processes in its process group %d" % (first, first), t.log("gracefd.log")),
              "no NOTICE: %s" % t.log("gracefd.log"))
        d = serving(t, ctl_sock)
        check(d and http_pid(port) == worker_pid(d), "the new worker serves")
        stop_after_reaping_adopted(t, g)
    finally:
        kids.kill()


def test_worker_children_go_before_gracefd_stops(t):
    # SIGTERM to gracefd: the worker exits, and gracefd does not exit while
    # the child it left (deaf to SIGTERM) lives: SIGKILL at --stop-timeout.
    kids = Leftovers(t)
    try:
        g, port, ctl_sock = run_leaving(t, kids, "leave-deaf", ["--ready", "notify", "--stop-timeout", "1"])
        wait_until("the worker", lambda: serving(t, ctl_sock), timeout=30)
        kid = wait_until("the worker's child", kids.pids)[0]
        check(kids.holds_socket(kid), "the child %d does not hold the listening socket" % kid)
        os.kill(g.pid, signal.SIGTERM)
        check(t.wait_exit(g) == 0, "gracefd exit status")
        check(kids.gone(kid), "gracefd exited, its worker's child %d still runs: %s" % (kid, t.log("gracefd.log")))
    finally:
        kids.kill()


def test_worker_children_of_a_worker_gone_at_the_stop_deadline(t):
    # A worker reaped only after the stop's deadline passed (--stop-timeout
    # 0; here it died while gracefd was stopped): what it left is signalled
    # with "SIGKILL in 0 s", not a wrapped-around delay (on the code before:
    # "SIGKILL in 18446744073.709 s", and an abort in a debug build).
    kids = Leftovers(t)
    try:
        g, port, ctl_sock = run_leaving(t, kids, "leave", ["--ready", "notify", "--stop-timeout", "0"])
        w = worker_pid(wait_until("the worker", lambda: serving(t, ctl_sock), timeout=30))
        kid = wait_until("the worker's child", kids.pids)[0]
        # Asleep in its poll, so that it reads the SIGTERM before it reaps.
        wait_until("gracefd to wait", lambda: (proc_stat(g.pid) or ("?",))[0] == "S")
        os.kill(g.pid, signal.SIGSTOP)
        wait_until("gracefd to be stopped", lambda: (proc_stat(g.pid) or ("?",))[0] == "T")
        os.kill(w, signal.SIGKILL)
        wait_until("the worker to die", lambda: is_zombie(w))
        os.kill(g.pid, signal.SIGTERM)
        os.kill(g.pid, signal.SIGCONT)
        check(t.wait_exit(g) == 0, "gracefd exit status: %s" % t.log("gracefd.log"))
        log = t.log("gracefd.log")
        check("process group %d: sent SIGTERM, SIGKILL in 0 s" % w in log, "no NOTICE with SIGKILL in 0 s: %s" % log)
        check(kids.gone(kid), "gracefd exited, its worker's child %d still runs: %s" % (kid, log))
    finally:
        kids.kill()


def test_a_stopped_worker_still_gets_the_stop_signal(t):
    # A stopped worker (SIGSTOP; or SIGTTIN: it read the terminal from its
    # own process group) acts on no signal but SIGKILL until it is
    # continued: gracefd follows its stop signal with SIGCONT, so the worker
    # ends by the SIGTERM, not by a SIGKILL --stop-timeout later.
    ctl_sock = t.path("ctl.sock")
    g = t.start([GRACEFD, "run", "--ready", "interval:0.2", "--stop-timeout", "60", "--control-socket", ctl_sock] + mode_env(t, "hang") +
                ["--", MODE_WORKER], "gracefd.log")
    w = worker_pid(wait_until("the worker", lambda: serving(t, ctl_sock), timeout=30))
    os.kill(w, signal.SIGSTOP)
    wait_until("the worker to be stopped", lambda: (proc_stat(w) or ("?",))[0] == "T")
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g, timeout=30) == 0, "gracefd exit status")
    log = t.log("gracefd.log")
    check("(pid %d) was killed by signal 15 (SIGTERM)" % w in log and "SIGKILL" not in log, "the stopped worker did not end by SIGTERM: %s" % log)


class Terminal:
    """A command in the foreground of a new terminal (a pty: it leads the
    session and its process group is the terminal's foreground one); what
    it writes is read as it comes, so it never blocks on a full terminal."""

    def __init__(self, argv):
        self.pid, self.master = os.forkpty()
        if self.pid == 0:
            try:
                os.execv(argv[0], argv)
            finally:
                os._exit(127)
        self.out = b""
        self.status = None

    def read(self):
        while select.select([self.master], [], [], 0)[0]:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            if not chunk:
                return
            self.out += chunk

    def text(self):
        return self.out.decode(errors="replace")

    def ended(self):
        """Reaped (by pid) once it exited; its wait status in self.status."""
        self.read()
        if self.status is None:
            r, st = os.waitpid(self.pid, os.WNOHANG)
            if r == self.pid:
                self.status = st
        return self.status is not None

    def close(self):
        if self.status is None:
            # A failed test: everything gracefd started goes too, by pid
            # (the --log-file command, a worker's children: each in a
            # process group of its own).
            doomed, todo = [self.pid], [self.pid]
            while todo:
                kids = [c for c, _ in children(todo.pop())]
                doomed += kids
                todo += kids
            for p in doomed:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            os.waitpid(self.pid, 0)
        os.close(self.master)


def test_ctrl_c_in_a_terminal_reaches_gracefd_alone(t):
    # In a terminal's foreground, Ctrl-C sends SIGINT to the foreground
    # process group: gracefd's, no longer its workers' (each leads its own).
    # The worker hears of the stop once, as --signal-on-term.
    heard = t.path("heard")
    pidf = t.path("worker.pid")
    script = ("trap 'echo INT >> \"$HEARD\"' INT; trap 'echo TERM >> \"$HEARD\"; exit 0' TERM; echo $$ > \"$PIDF\"; "
              "while :; do sleep 0.05; done")
    term = Terminal([GRACEFD, "run", "--ready", "interval:0.2", "--stop-timeout", "10", "--env", "HEARD=" + heard, "--env", "PIDF=" + pidf,
                     "--", "/bin/sh", "-c", script])
    try:
        wait_until("the worker", lambda: term.read() or b"is ready after" in term.out, timeout=30)
        w = int(open(pidf).read())
        groups = (os.getpgid(w), os.getpgid(term.pid))
        os.write(term.master, b"\x03")
        wait_until("gracefd to stop on Ctrl-C", term.ended, timeout=30)
        check(os.waitstatus_to_exitcode(term.status) == 0, "gracefd exit status %r: %s" % (term.status, term.text()))
        with open(heard) as f:
            got = f.read().split()
        check(got == ["TERM"], "the worker heard %s (want only TERM, from gracefd): %s" % (got, term.text()))
        check(groups == (w, term.pid), "process groups: worker %d in %d, gracefd %d in %d" % (w, groups[0], term.pid, groups[1]))
    finally:
        term.close()


def test_a_worker_stopped_for_reading_the_terminal_is_reported(t):
    # In a terminal, a worker leads a background process group: reading the
    # terminal stops it (SIGTTIN), and it serves nothing. gracefd says so,
    # with the way out (on the code before it said nothing).
    pidf = t.path("worker.pid")
    script = 'echo $$ > "$PIDF"; read line; while :; do sleep 0.05; done'
    term = Terminal([GRACEFD, "run", "--ready", "interval:0.2", "--stop-timeout", "5", "--env", "PIDF=" + pidf, "--", "/bin/sh", "-c", script])
    try:
        w = wait_until("the worker", lambda: term.read() or (os.path.exists(pidf) and open(pidf).read().strip()), timeout=30)
        w = int(w)
        wait_until("gracefd to say the worker is stopped",
                   lambda: term.read() or ("(pid %d) is stopped by SIGTTIN: it read the terminal" % w) in term.text(), timeout=20)
        check("< /dev/null" in term.text(), "no way out in the warning: %s" % term.text())
        # The stop still ends it (SIGCONT follows the stop signal).
        os.kill(term.pid, signal.SIGTERM)
        wait_until("gracefd to stop", term.ended, timeout=30)
        check(os.waitstatus_to_exitcode(term.status) == 0, "gracefd exit status %r: %s" % (term.status, term.text()))
    finally:
        term.close()


def test_ctrl_c_in_a_terminal_spares_the_log_pipe(t):
    # --log-file "| CMD": the command is out of gracefd's process group too,
    # so Ctrl-C does not end it while the worker drains and gracefd logs its
    # stop (on the code before it died of the SIGINT: the stop's lines were
    # lost, and the worker writing its last line died of SIGPIPE).
    log = t.path("piped.log")
    script = "trap 'sleep 0.5; echo drained; exit 0' TERM; while :; do sleep 0.05; done"
    term = Terminal([GRACEFD, "run", "--ready", "interval:0.2", "--log-file", "| cat >> " + log, "--", "/bin/sh", "-c", script])
    try:
        wait_until("the worker", lambda: term.read() or "is ready after" in t.log("piped.log"), timeout=30)
        os.write(term.master, b"\x03")
        wait_until("gracefd to stop on Ctrl-C", term.ended, timeout=30)
        check(os.waitstatus_to_exitcode(term.status) == 0, "gracefd exit status %r: %s" % (term.status, term.text()))
        wait_until("the stop in the log", lambda: "]: stopped" in t.log("piped.log"), timeout=10)
        got = t.log("piped.log")
        check("drained" in got and "exited with status 0" in got, "the worker's drain is not in the log: %s" % got)
    finally:
        term.close()


# The control socket speaks the hand-off framing (src/proto/handoff.rs),
# written here from its documentation: head "GFDH", version, kind, flags,
# u32 LE length; CONTROL 6 (command name), REPLY 7 (u32 status, text),
# REFUSE 5 (u32 errno, reason), TAKE 3.
def frame(kind, body=b"", version=1, flags=0, length=None):
    return b"GFDH" + struct.pack("<BBHI", version, kind, flags, len(body) if length is None else length) + body


def raw_exchange(path, pieces, shut=False, timeout=15):
    """Send pieces (a pause between them), maybe shut the write side, read until EOF."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        for i, p in enumerate(pieces):
            if i:
                time.sleep(0.2)
            s.sendall(p)
        if shut:
            s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break  # closed by the server with our extra bytes unread
            if not chunk:
                break
            data += chunk
        return data
    finally:
        s.close()


def one_frame(data):
    check(len(data) >= 12 and data[:4] == b"GFDH", "not a frame: %r" % data[:64])
    version, kind, flags, length = struct.unpack("<BBHI", data[4:12])
    check(version == 1 and flags == 0 and len(data) == 12 + length, "bad frame: %r" % data[:64])
    status = struct.unpack("<I", data[12:16])[0]
    return kind, status, data[16:].decode()


def test_control_socket_refuses_garbage(t):
    ctl_sock = t.path("ctl.sock")
    g = t.start([GRACEFD, "run", "--ready", "interval:0.1", "--control-socket", ctl_sock, "--", "sleep", "1000"], "gracefd.log")
    d = wait_until("the worker", lambda: serving(t, ctl_sock))
    w = worker_pid(d)
    # An idle connection must not hold up the others; it is refused after 10 s.
    idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    idle.settimeout(40)
    idle.connect(ctl_sock)
    cases = [
        ("the old line protocol", [b"status\n"], False, errno.EBADMSG, "not a gracefd frame"),
        ("garbage", [os.urandom(64).replace(b"G", b"g") + b"\0" * 1000], False, errno.EBADMSG, "not a gracefd frame"),
        ("a truncated head", [frame(6, b"status")[:7]], True, errno.EBADMSG, "truncated"),
        ("a truncated body", [frame(6, b"status")[:15]], True, errno.EBADMSG, "15 of 18"),
        ("an oversized length", [frame(6, length=0xFFFFFFFF)], False, errno.EBADMSG, "oversized"),
        ("an empty command", [frame(6)], False, errno.EBADMSG, "too short"),
        ("non-zero flags", [frame(6, b"stop", flags=1)], False, errno.EBADMSG, "flags"),
        ("an unknown kind", [frame(99, b"")], False, errno.EBADMSG, "unknown kind 99"),
        ("another version", [frame(6, b"status", version=2)], False, errno.EPROTONOSUPPORT, "version 2"),
        ("a hand-off TAKE", [frame(3)], False, errno.EPROTO, "take frame"),
        ("a REPLY", [frame(7, b"\0\0\0\0x")], False, errno.EPROTO, "reply frame"),
        ("an unknown command", [frame(6, b"restart")], False, errno.EOPNOTSUPP, '"restart"'),
        ("a bad command name", [frame(6, b"st\xc3\xa9")], False, errno.EBADMSG, "a-z"),
    ]
    for what, pieces, shut, want_errno, want in cases:
        kind, e, reason = one_frame(raw_exchange(ctl_sock, pieces, shut))
        check(kind == 5 and e == want_errno and want in reason, "%s: kind %d errno %d %r" % (what, kind, e, reason))
    # Peers that vanish midway, unanswered: nothing to refuse to, nothing breaks.
    for piece in (frame(6, b"status")[:9], b"GF", b"status\n"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(ctl_sock)
        s.sendall(piece)
        s.close()
    # A request in two pieces, and one written here, are answered with a REPLY.
    kind, e, text = one_frame(raw_exchange(ctl_sock, [frame(6, b"status")[:5], frame(6, b"status")[5:]]))
    check(kind == 7 and e == 0 and "state: serving\n" in text and "pid: %d\n" % g.pid in text, "status by hand: %d %d %r" % (kind, e, text))
    # The supervisor kept serving all along: same worker, ctl works.
    d = status_of(t, ctl_sock)
    check(d and d["state"] == ["serving"] and worker_pid(d) == w, "status after the garbage: %s" % d)
    rc, out, err = ctl(t, ctl_sock, "reload")
    check(rc == 0 and "reloaded: generation 2" in out, "ctl reload after the garbage: %d %r %r" % (rc, out, err))
    data = b""
    while True:
        chunk = idle.recv(4096)
        if not chunk:
            break
        data += chunk
    idle.close()
    kind, e, reason = one_frame(data)
    check(kind == 5 and e == errno.ETIMEDOUT and "no request" in reason, "idle connection: %d %d %r" % (kind, e, reason))
    log = t.log("gracefd.log")
    check(log.count("control socket: refused pid") >= len(cases) + 1, "refusals are logged: %s" % log[-3000:])
    check(alive(g.pid), "gracefd survived")
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "gracefd exit status")


def test_pid_and_status_files(t):
    port = free_port()
    ctl_sock = t.path("ctl.sock")
    pidf, statf = t.path("g.pid"), t.path("g.status")
    g = t.start([GRACEFD, "run", "--listen", "http=127.0.0.1:%d" % port, "--ready", "notify", "--pid-file", pidf, "--status-file", statf,
                 "--kill-old-delay", "0.5", "--control-socket", ctl_sock, "--", HTTPD, "--listen", "http=127.0.0.1:%d" % port], "gracefd.log")
    d = wait_until("the first worker", lambda: serving(t, ctl_sock))
    w1 = worker_pid(d)
    with open(pidf) as f:
        check(f.read() == "%d\n" % g.pid, "pid file content")
    with open(pidf) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            raise Fail("the pid file is not locked")
        except BlockingIOError:
            pass
    rc, _, err = t.run([GRACEFD, "run", "--pid-file", pidf, "--", "true"])
    check(rc == 242 and "already running as pid %d" % g.pid in err, "second instance: %d %r" % (rc, err))
    with open(statf) as f:
        check(f.read() == "1:%d\n" % w1, "status file after start")
    rc, out, _ = ctl(t, ctl_sock, "reload")
    w2 = int(re.search(r"pid (\d+)", out).group(1))
    with open(statf) as f:
        both = f.read()
    check(both == "1:%d\n2:%d\n" % (w1, w2), "status file while the old one waits for --kill-old-delay: %r" % both)
    wait_until("the status file to name generation 2 only", lambda: open(statf).read() == "2:%d\n" % w2)
    os.kill(g.pid, signal.SIGINT)
    check(t.wait_exit(g) == 0, "gracefd exit status")
    check(not os.path.exists(pidf) and not os.path.exists(statf), "pid and status files are removed at exit")


def restart_stop_cycle(t, g, port, pidf, statf, first_gen):
    """start_server --restart through the symlink, then Perl's own, then --stop."""
    gen = first_gen
    for tool in (START_SERVER, PERL_START_SERVER):
        rc, out, err = t.run([tool, "--restart", "--pid-file", pidf, "--status-file", statf], timeout=60)
        check(rc == 0, "%s --restart: %d %r %r" % (tool, rc, out, err))
        with open(statf) as f:
            text = f.read()
        check(re.fullmatch(r"%d:\d+\n" % (gen + 1), text), "%s --restart: status file %r" % (tool, text))
        gen += 1
        a = fields(ask_line(port))
        check(a["gen"] == str(gen), "after %s --restart the worker says %s" % (tool, a))
    rc, out, err = t.run([START_SERVER, "--stop", "--pid-file", pidf], timeout=60)
    check(rc == 0, "start_server --stop: %d %r %r" % (rc, out, err))
    check(g.poll() is not None or t.wait_exit(g, timeout=5) is not None, "the server still runs after --stop returned")
    check(g.returncode == 0, "exit status %s" % g.returncode)
    check(not os.path.exists(pidf), "pid file removed")


def test_start_server_symlink(t):
    port = free_port()
    pidf, statf = t.path("ss.pid"), t.path("ss.status")
    g = t.start([START_SERVER, "--port=127.0.0.1:%d" % port, "--pid-file=" + pidf, "--status-file=" + statf, "--interval=0.3", "--",
                 "perl", PERL_WORKER], "start_server.log")
    wait_until("the status file", lambda: os.path.exists(statf) and open(statf).read().startswith("1:"))
    a = fields(ask_line(port))
    check(a["key"] == "127.0.0.1:%d" % port and a["gen"] == "1", "start_server key as start_server writes it: %s" % a)
    check(os.readlink(START_SERVER) == "gracefd", "start_server is a symlink to gracefd")
    restart_stop_cycle(t, g, port, pidf, statf, 1)
    # The same against `gracefd run` (not started through the symlink).
    port = free_port()
    g = t.start([GRACEFD, "run", "--listen", "127.0.0.1:%d" % port, "--pid-file", pidf, "--status-file", statf, "--ready", "interval:0.3",
                 "--", "perl", PERL_WORKER], "gracefd.log")
    wait_until("the status file", lambda: os.path.exists(statf) and open(statf).read().startswith("1:"))
    restart_stop_cycle(t, g, port, pidf, statf, 1)
    # Perl's --stop against gracefd too.
    g = t.start([GRACEFD, "run", "--listen", "127.0.0.1:%d" % port, "--pid-file", pidf, "--ready", "interval:0.1", "--", "perl", PERL_WORKER],
                "gracefd2.log")
    wait_until("the pid file", lambda: os.path.exists(pidf) and open(pidf).read().strip() == str(g.pid))
    rc, out, err = t.run([PERL_START_SERVER, "--stop", "--pid-file", pidf], timeout=60)
    check(rc == 0 and t.wait_exit(g, timeout=5) == 0, "Perl start_server --stop: %d %r" % (rc, err))


def test_start_server_stop_never_signals_a_stale_pid(t):
    """start_server --stop/--restart read the pid by path and signalled it
    even when no server held the pid file: a stale file names a pid that may
    be another process by now. Only a locked pid file (gracefd's and Perl's
    servers hold theirs locked) is believed; a link is not followed."""
    bystander = t.start(["sleep", "1000"], "bystander.log")
    pidf, statf = t.path("stale.pid"), t.path("stale.status")
    with open(pidf, "w") as f:
        f.write("%d\n" % bystander.pid)
    with open(statf, "w") as f:
        f.write("1:%d\n" % bystander.pid)
    for argv in ([START_SERVER, "--stop", "--pid-file", pidf], [START_SERVER, "--restart", "--pid-file", pidf, "--status-file", statf]):
        rc, _, err = t.run(argv, timeout=30)
        check(rc != 0 and "not locked" in err, "%s on a stale pid file: %d %r" % (argv[1], rc, err))
    link = t.path("link.pid")
    os.symlink(pidf, link)
    rc, _, err = t.run([START_SERVER, "--stop", "--pid-file", link], timeout=30)
    check(rc != 0, "--stop through a link: %d %r" % (rc, err))
    time.sleep(0.2)
    check(bystander.poll() is None, "the process named by the stale pid file was signalled (exit %s)" % bystander.returncode)


def test_daemonize(t):
    port = free_port()
    pidf = t.path("d.pid")
    rc, out, err = t.run([GRACEFD, "daemonize", "--pid-file", pidf, "--ready", "notify", "--log-file", t.path("d.log"), "--",
                          HTTPD, "--listen", "http=127.0.0.1:%d" % port])
    check(rc == 0, "daemonize httpd: %d %r %r" % (rc, out, err))
    pid = int(open(pidf).read())
    t.daemons.append(pid)
    check(http_pid(port) == pid, "the pid file names the server")
    check(proc_stat(pid)[1] != os.getpid(), "the daemon is not our child")
    check(os.getsid(pid) != os.getsid(0) and os.getsid(pid) != pid, "the daemon is in a new session and not its leader")
    rc, _, err = t.run([GRACEFD, "daemonize", "--pid-file", pidf, "--", "sleep", "1000"])
    check(rc == 242 and "already running as pid %d" % pid in err, "second daemonize: %d %r" % (rc, err))
    os.kill(pid, signal.SIGTERM)
    wait_until("the daemon to exit", lambda: not alive(pid))

    rc, _, err = t.run([GRACEFD, "daemonize", "--pid-file", pidf, "--ready", "interval:0.5", "--", "sh", "-c", "exit 3"])
    check(rc == 240 and "exited with status 3 before it was ready" in err, "exiting program: %d %r" % (rc, err))
    check(not os.path.exists(pidf), "pid file removed after a failed start")

    rc, _, err = t.run([GRACEFD, "daemonize", "--ready", "notify", "--ready-timeout", "0.5", "--", "sleep", "1000"])
    check(rc == 241 and "was not ready within 0.5 s" in err, "never ready: %d %r" % (rc, err))
    m = re.search(r"\(pid (\d+)\)", err)
    check(m and not alive(int(m.group(1))), "the program that was not ready is still running")

    rc, _, err = t.run([GRACEFD, "daemonize", "--ready", "notify", "--", HTTPD, "--listen", "http=127.0.0.1:99999"])
    check(rc == 1 and "99999" in err, "gracefd_fail(1, msg) from the program: %d %r" % (rc, err))

    rc, _, err = t.run([GRACEFD, "daemonize", "--", "/nonexistent/prog"])
    check(rc == 243 and "/nonexistent/prog" in err, "missing program: %d %r" % (rc, err))

    # A relative command is the one in the caller's directory, though the
    # daemon runs in / (--dir's default).
    with open(t.path("rel.sh"), "w") as f:
        f.write("#!/bin/sh\n[ \"$(pwd)\" = / ] || exit 7\nexec sleep 1000\n")
    os.chmod(t.path("rel.sh"), 0o755)
    def started_and_stopped(what, ready, command, cwd=None):
        rc, _, err = t.run([GRACEFD, "daemonize", "--pid-file", pidf, "--ready", ready, "--"] + command, cwd=cwd)
        check(rc == 0, "%s: %d %r" % (what, rc, err))
        pid = int(open(pidf).read())
        t.daemons.append(pid)
        check(alive(pid), "%s: the daemon runs" % what)
        os.kill(pid, signal.SIGTERM)
        wait_until("the daemon to exit", lambda: not alive(pid))

    started_and_stopped("interval mode", "interval:0.2", ["./rel.sh"], cwd=t.dir)
    # interval:0, as `gracefd run` takes it: started as soon as it runs.
    started_and_stopped("interval:0", "interval:0", ["sleep", "1000"])


NOTIFY_THEN_SLEEP = r"""
import os, socket, sys
os.close(int(os.environ["GRACEFD_READY_FD"]))   # a program that knows only sd_notify
with open(sys.argv[2], "w") as f:
    f.write(os.environ["NOTIFY_SOCKET"])
if sys.argv[1] == "ready":
    socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"STATUS=up\nREADY=1", os.environ["NOTIFY_SOCKET"])
os.execvp("sleep", ["sleep", "1000"])
"""


def test_daemonize_hears_ready_on_its_notify_socket(t):
    # A program that links nothing and closes GRACEFD_READY_FD: READY=1 on
    # the private NOTIFY_SOCKET is its report.
    pidf = t.path("n.pid")
    rc, _, err = t.run([GRACEFD, "daemonize", "--pid-file", pidf, "--ready", "notify", "--ready-timeout", "20", "--",
                        sys.executable, "-c", NOTIFY_THEN_SLEEP, "ready", t.path("sock-name")], timeout=30)
    check(rc == 0, "READY=1 on NOTIFY_SOCKET: %d %r" % (rc, err))
    pid = int(open(pidf).read())
    t.daemons.append(pid)
    sock = open(t.path("sock-name")).read()
    check(sock and not os.path.exists(sock) and not os.path.exists(os.path.dirname(sock)),
          "the private notify socket and its directory are removed once the launcher is done: %r" % sock)
    os.kill(pid, signal.SIGTERM)
    wait_until("the daemon to exit", lambda: not alive(pid))
    # Silent on both: the timeout, not an early "lost track" because the channel closed.
    rc, _, err = t.run([GRACEFD, "daemonize", "--pid-file", pidf, "--ready", "notify", "--ready-timeout", "0.5", "--",
                        sys.executable, "-c", NOTIFY_THEN_SLEEP, "silent", t.path("sock-name")], timeout=30)
    check(rc == 241 and "not ready within 0.5 s" in err, "silent program: %d %r" % (rc, err))
    check(not os.path.exists(pidf), "pid file removed after the failed start")


def test_daemonize_with_sigchld_ignored(t):
    # An ignored SIGCHLD inherited across exec: the launcher must still learn
    # the middle process's status (waitpid would fail with ECHILD).
    port = free_port()
    pidf = t.path("d.pid")
    r = subprocess.run([GRACEFD, "daemonize", "--pid-file", pidf, "--ready", "notify", "--log-file", t.path("d.log"), "--",
                        HTTPD, "--listen", "http=127.0.0.1:%d" % port], stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                       preexec_fn=lambda: signal.signal(signal.SIGCHLD, signal.SIG_IGN))
    if os.path.exists(pidf):
        try:
            t.daemons.append(int(open(pidf).read()))
        except ValueError:
            pass
    check(r.returncode == 0, "daemonize with SIGCHLD ignored: %d %r" % (r.returncode, r.stderr))
    pid = int(open(pidf).read())
    check(http_pid(port) == pid, "the pid file names the server")
    os.kill(pid, signal.SIGTERM)
    wait_until("the daemon to exit", lambda: not alive(pid))
    r = subprocess.run([GRACEFD, "daemonize", "--ready", "interval:0.5", "--", "sh", "-c", "exit 3"], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60, preexec_fn=lambda: signal.signal(signal.SIGCHLD, signal.SIG_IGN))
    err = r.stderr.decode(errors="replace")
    check(r.returncode == 240 and "exited with status 3 before it was ready" in err, "exiting program: %d %r" % (r.returncode, err))


def test_run_daemonize(t):
    port = free_port()
    ctl_sock = t.path("ctl.sock")
    pidf = t.path("g.pid")
    rc, out, err = t.run([GRACEFD, "run", "--daemonize", "--log-file", t.path("gracefd.log"), "--pid-file", pidf, "--control-socket", ctl_sock,
                          "--listen", "http=127.0.0.1:%d" % port, "--ready", "notify", "--", HTTPD, "--listen", "http=127.0.0.1:%d" % port])
    check(rc == 0, "run --daemonize: %d %r %r" % (rc, out, err))
    gpid = int(open(pidf).read())
    t.daemons.append(gpid)
    d = status_of(t, ctl_sock)
    check(d and d["state"] == ["serving"] and int(d["pid"][0]) == gpid, "the daemon serves at once: %s" % d)
    check(http_pid(port) == worker_pid(d), "the worker answers")
    # The daemon still takes its signals from the signalfd (the library's
    # daemonize empties the signal mask; gracefd blocks its signals again).
    os.kill(gpid, signal.SIGHUP)
    wait_until("a reload by SIGHUP in the daemon", lambda: (lambda d: d and d["generation"] == ["2"] and d)(serving(t, ctl_sock)))
    rc, out, err = ctl(t, ctl_sock, "stop")
    check(rc == 0 and "stopped" in out, "ctl stop: %d %r %r" % (rc, out, err))
    check(not os.path.exists(pidf), "the pid file is removed once ctl stop returns")
    wait_until("gracefd to be gone", lambda: not alive(gpid), timeout=5)
    log = t.log("gracefd.log")
    check(re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z gracefd\[%d\]: stopped$" % gpid, log, re.M), "timestamped log lines: %s" % log[-500:])

    rc, _, err = t.run([GRACEFD, "run", "--daemonize", "--ready", "interval:0.5"] + mode_env(t, "exit") + ["--", MODE_WORKER])
    check(rc == 240 and "exited with status 3 before it was ready" in err, "run --daemonize, failing worker: %d %r" % (rc, err))

    # start_server --daemonize with a log pipe; --stop through the pid file.
    rc, out, err = t.run([START_SERVER, "--daemonize", "--log-file=| cat >> %s" % t.path("piped.log"), "--pid-file=" + pidf, "--interval=0.2",
                          "--", "sh", "-c", "echo daemon-worker-out; exec sleep 1000"])
    check(rc == 0, "start_server --daemonize: %d %r" % (rc, err))
    gpid = int(open(pidf).read())
    t.daemons.append(gpid)
    wait_until("the worker's output through the pipe", lambda: "daemon-worker-out" in t.log("piped.log"))
    rc, _, err = t.run([START_SERVER, "--stop", "--pid-file=" + pidf])
    check(rc == 0 and not os.path.exists(pidf), "start_server --stop: %d %r" % (rc, err))
    wait_until("the daemon to be gone", lambda: not alive(gpid), timeout=5)


def test_log_file_and_pipe(t):
    ctl_sock = t.path("ctl.sock")
    g = t.start([GRACEFD, "run", "--ready", "interval:0.1", "--log-file", t.path("out.log"), "--control-socket", ctl_sock] + mode_env(t, "hang") +
                ["--", MODE_WORKER], "gracefd.log")
    wait_until("the worker", lambda: serving(t, ctl_sock))
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "exit status")
    log = t.log("out.log")
    check("mode_worker[" in log and "generation 1 mode hang" in log, "the worker's stderr goes to --log-file: %r" % log)
    check(re.search(r"Z gracefd\[%d\]: stopped" % g.pid, log), "gracefd's lines go there too: %r" % log)
    g = t.start([START_SERVER, "--interval=0.1", "--log-file=| cat >> %s" % t.path("pipe.log"), "--", "sh", "-c", "echo piped-out; exec sleep 1000"],
                "ss.log")
    wait_until("output through the pipe", lambda: "piped-out" in t.log("pipe.log"))
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "exit status")
    no_zombies(g.pid)


def test_log_file_link_is_refused(t):
    """Audit defect 2: --log-file followed a link planted at its name and
    appended gracefd's and the workers' output to the link's target."""
    victim = t.path("victim")
    with open(victim, "w") as f:
        f.write("secret")
    link = t.path("planted.log")
    os.symlink(victim, link)
    for argv in ([GRACEFD, "run", "--log-file", link, "--", "sh", "-c", "echo through-the-link"],
                 [GRACEFD, "daemonize", "--log-file", link, "--", "sh", "-c", "echo through-the-link"]):
        rc, _, err = t.run(argv, timeout=30)
        check(rc != 0 and "symbolic link" in err, "%s --log-file <link>: %d %r" % (argv[1], rc, err))
    with open(victim) as f:
        check(f.read() == "secret", "the link's target is untouched")


FORGER = r"""
import os, socket, sys, time
mark = sys.argv[1]
if not os.path.exists(mark):
    open(mark, "w").close()
    socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])
else:
    # A forged "exec failed" frame (GFD1, kind 3, ENOENT), and stay alive.
    os.write(int(os.environ["GRACEFD_READY_FD"]), b"GFD1\x03\x02\x00\x00\x00")
    open(mark + ".forged", "w").close()
time.sleep(1000)
"""


def test_forged_exec_failed_frame_does_not_freeze(t):
    """Audit defect 3: a worker (or anything holding GRACEFD_READY_FD) that
    sends an "exec failed" frame and stays alive froze gracefd in a blocking
    waitpid: no ctl answer, SIGTERM ignored."""
    ctl_sock, mark = t.path("ctl.sock"), t.path("mark")
    g = t.start([GRACEFD, "run", "--ready", "notify", "--control-socket", ctl_sock, "--", "python3", "-c", FORGER, mark], "gracefd.log")
    d = wait_until("the first worker", lambda: serving(t, ctl_sock))
    w1 = worker_pid(d)
    try:
        rc, out, err = ctl(t, ctl_sock, "reload", timeout=20)
    except subprocess.TimeoutExpired:
        raise Fail("ctl reload got no answer: gracefd is frozen")
    check(rc != 0 and "broke the readiness protocol" in out + err, "the reload fails as a protocol violation: %d %r %r" % (rc, out, err))
    check(os.path.exists(mark + ".forged"), "the second generation sent its frame")
    d = status_of(t, ctl_sock)
    check(d and worker_pid(d) == w1, "still answering and still served by the first worker: %r" % d)
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g, timeout=20) == 0, "gracefd exit status after SIGTERM")


def test_systemd_notify(t):
    """gracefd under a stand-in for systemd: READY=1 once the first worker is
    ready, RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a reload,
    STOPPING=1 on stop, all from gracefd's own pid: the worker's sd_notify
    goes to gracefd, never to the service manager."""
    port = free_port()
    ctl_sock = t.path("ctl.sock")
    sd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sd.bind(t.path("notify.sock"))
    sd.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sd.settimeout(20)
    g = t.start([GRACEFD, "run", "--listen", "web=127.0.0.1:%d" % port, "--ready", "notify", "--control-socket", ctl_sock, "--", SD_WORKER],
                "gracefd.log", env={"NOTIFY_SOCKET": t.path("notify.sock")})

    def messages_until(word):
        got = []
        while True:
            data, anc, _, _ = sd.recvmsg(4096, socket.CMSG_SPACE(12))
            pid = None
            for level, typ, cdata in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                    pid = int.from_bytes(cdata[:4], sys.byteorder)
            text = data.decode()
            check(pid == g.pid, "a notification from pid %s, not gracefd (%d): %r" % (pid, g.pid, text))
            got.append(text)
            if word in text.split("\n"):
                return got

    got = messages_until("READY=1")
    check(serving(t, ctl_sock), "READY=1 before the first worker was ready")
    rc, out, err = ctl(t, ctl_sock, "reload")
    check(rc == 0, "reload: %d %r" % (rc, err))
    got = messages_until("READY=1")
    check(any("RELOADING=1" in m and "MONOTONIC_USEC=" in m for m in got), "no RELOADING=1 with MONOTONIC_USEC: %s" % got)
    os.kill(g.pid, signal.SIGTERM)
    messages_until("STOPPING=1")
    check(t.wait_exit(g) == 0, "gracefd exit status")
    sd.close()


def test_under_socket_activation(t):
    """gracefd started by systemd-socket-activate passes the socket it
    inherited, under its name, to a libsystemd worker."""
    port = free_port()
    ctl_sock = t.path("ctl.sock")
    g = t.start(["systemd-socket-activate", "-l", "127.0.0.1:%d" % port, "--fdname=web", GRACEFD, "run", "--ready", "notify",
                 "--control-socket", ctl_sock, "--", SD_WORKER], "ssa.log")
    a = wait_until("the worker behind socket activation", lambda: try_line(port))
    f = fields(a)
    check(f["name"] == "web" and f["listen_fds"] == "1" and f["extra_fds"] == "0", "answer %s" % a)
    rc, out, _ = ctl(t, ctl_sock, "status")
    check('"web" 127.0.0.1:%d (LISTEN_FDS' % port in out, "the inherited socket in ctl status: %s" % out)
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "exit status")


def test_dir_symlink_and_auto_restart(t):
    """--dir is followed anew at each start (a deploy switches a symlink, the
    next reload runs the new release), and --enable-auto-restart reloads by
    time."""
    for rel in ("a", "b"):
        os.mkdir(t.path(rel))
        with open(t.path(rel, "server.sh"), "w") as f:
            f.write("#!/bin/sh\necho \"release %s gen $SERVER_STARTER_GENERATION\" >> %s\nexec sleep 1000\n" % (rel, t.path("runs.log")))
        os.chmod(t.path(rel, "server.sh"), 0o755)
    os.symlink("a", t.path("current"))
    ctl_sock = t.path("ctl.sock")
    g = t.start([GRACEFD, "run", "--dir", t.path("current"), "--ready", "interval:0.1", "--control-socket", ctl_sock, "--", "./server.sh"],
                "gracefd.log")
    wait_until("release a", lambda: "release a gen 1" in t.log("runs.log"))
    os.unlink(t.path("current"))
    os.symlink("b", t.path("current"))
    rc, out, err = ctl(t, ctl_sock, "reload")
    check(rc == 0 and "release b gen 2" in t.log("runs.log"), "after the switch: %r %r" % (t.log("runs.log"), err))
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "exit status")

    # The supervisor's own working directory is never --dir: the worker
    # changes directory itself. (It used to chdir there and back around each
    # start, and stayed there when it could not come back: its directory
    # removed meanwhile.)
    os.mkdir(t.path("home"))
    g = t.start([GRACEFD, "run", "--dir", t.path("current"), "--ready", "interval:0.1", "--control-socket", ctl_sock, "--", "./server.sh"],
                "home.log", cwd=t.path("home"))
    wait_until("the first worker", lambda: serving(t, ctl_sock))
    os.rmdir(t.path("home"))
    rc, out, err = ctl(t, ctl_sock, "reload")
    check(rc == 0, "reload: %d %r" % (rc, err))
    cwd = os.readlink("/proc/%d/cwd" % g.pid)
    check(cwd == t.path("home") + " (deleted)", "the supervisor's working directory is %r" % cwd)
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "exit status")

    g = t.start([GRACEFD, "run", "--ready", "interval:0.1", "--enable-auto-restart", "--auto-restart-interval", "0.3", "--kill-old-delay", "0",
                 "--signal-on-hup", "USR1", "--control-socket", ctl_sock, "--", "sleep", "1000"], "auto.log")
    wait_until("two auto-restarts", lambda: t.log("auto.log").count("auto-restart: reloading") >= 2)
    wait_until("an old worker to get --signal-on-hup USR1", lambda: "old worker generation 1 (pid" in t.log("auto.log"))
    check(re.search(r"old worker generation 1 \(pid \d+\) was killed by signal 10 \(SIGUSR1\)", t.log("auto.log")), "--signal-on-hup USR1: %s" % t.log("auto.log"))
    d = wait_until("generation 3 or later", lambda: (lambda d: d and int(d["generation"][0]) >= 3 and d)(status_of(t, ctl_sock)))
    no_zombies(g.pid)
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "exit status")


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_")]


def main():
    for tool in (GRACEFD, START_SERVER, HTTPD, LOADGEN, SD_WORKER, PERL_START_SERVER):
        if not os.path.exists(tool):
            print("test_cli: %s is missing" % tool)
            return 1
    def too_long(*_):
        raise Fail("the tests ran past %d s" % TOTAL_LIMIT_S)

    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(TOTAL_LIMIT_S)
    failed = []
    for fn in TESTS:
        name = fn.__name__[5:]
        if ONLY and not any(o in name for o in ONLY):
            continue
        t = Test(name)
        t0 = time.monotonic()
        try:
            fn(t)
            print("ok   %s (%.1f s)" % (name, time.monotonic() - t0), flush=True)
        except Exception as e:  # noqa: BLE001 - report any failure, go on
            failed.append(name)
            print("FAIL %s: %s" % (name, e), flush=True)
            if not isinstance(e, Fail):
                traceback.print_exc()
            t.dump()
        finally:
            t.cleanup()
    print("test_cli: %s" % ("all passed" if not failed else "FAILED: " + ", ".join(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
