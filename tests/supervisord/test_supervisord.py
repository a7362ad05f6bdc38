#!/usr/bin/env python3
"""gracefd under supervisord (Debian package `supervisor`), started here as an
ordinary process with its own configuration, socket and logs in a temporary
directory.

- `gracefd run -- httpd`: `supervisorctl signal HUP` reloads under load with
  0 failed requests; the supervised pid (gracefd) is the same after every
  reload while the worker changes; `supervisorctl stop` with a request in
  flight lets it complete, and leaves no process behind (checked by pid);
  `supervisorctl restart` too.
- the C example httpd (no --daemonize) supervised directly: serves, `stop`
  with a request in flight drains it, `restart` leaves no process behind;
  `supervisorctl signal HUP` upgrades it under load with 0 failed requests,
  but the old process then exits and supervisord takes that for the end of
  the program (EXITED): the new generation runs outside its control, so
  `stop` could not reach it. That is checked too (as what to expect, and the
  reason to put `gracefd run` between supervisord and such a server; see
  docs/systemd.md); the test ends that generation by pid.

usage: test_supervisord.py BUILD_BIN_DIR
Bounded by an alarm; every process is stopped by pid at the end.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
GRACEFD, HTTPD, LOADGEN = (os.path.join(BIN, n) for n in ("gracefd", "httpd", "loadgen"))
# Debian's supervisor runs on the system python (its module is not in other pythons).
SUPERVISORD, SUPERVISORCTL = "/usr/bin/supervisord", "/usr/bin/supervisorctl"
LIMIT_S = 180


# The helpers every command test shares (one copy, in cli-tests/test_cli.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "cli-tests"))
from test_cli import Fail, alive, check, free_port, http_pid_or_none, recv_all, wait_until  # noqa: E402


def descendants(pid):
    """Every live process below pid (from /proc parent links)."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    s = f.read()
            except OSError:
                continue
            rest = s[s.rindex(")") + 2:].split()
            if rest[0] != "Z":
                kids.setdefault(int(rest[1]), []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


class Sup:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="gfd-supervisord-")
        self.gport, self.hport = free_port(), free_port()
        self.ctl_sock = os.path.join(self.dir, "ctl.sock")
        self.conf = os.path.join(self.dir, "supervisord.conf")
        self.seen = set()  # every pid that served, to check (and clean up) by pid
        self.loads = []  # load generators, ended by close() if a test failed midway
        d = self.dir
        with open(self.conf, "w") as f:
            f.write("""[unix_http_server]
file={d}/supervisor.sock
[supervisord]
nodaemon=true
logfile={d}/supervisord.log
pidfile={d}/supervisord.pid
childlogdir={d}
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://{d}/supervisor.sock

[program:gracefd-run]
command={g} run --ready notify --listen http=127.0.0.1:{gp} --control-socket {cs} --stop-timeout 12 -- {h} --listen http=127.0.0.1:{gp} --drain-timeout 10000
autostart=false
startsecs=0
stopsignal=TERM
stopwaitsecs=15
stdout_logfile={d}/gracefd-run.log
redirect_stderr=true

[program:httpd]
command={h} --listen http=127.0.0.1:{hp} --drain-timeout 10000
autostart=false
startsecs=0
stopsignal=TERM
stopwaitsecs=15
stdout_logfile={d}/httpd.log
redirect_stderr=true
""".format(d=d, g=GRACEFD, h=HTTPD, gp=self.gport, hp=self.hport, cs=self.ctl_sock))
        # TMPDIR: gracefd run's notify directory is private to this test (the
        # machine's /tmp is shared with other test runs).
        env = dict(os.environ, TMPDIR=self.dir)
        self.proc = subprocess.Popen([SUPERVISORD, "-c", self.conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        wait_until("supervisord", lambda: self.ctl("status", check_rc=False)[0] in (0, 3))

    def ctl(self, *args, check_rc=True):
        r = subprocess.run([SUPERVISORCTL, "-c", self.conf] + list(args), capture_output=True, text=True, timeout=60)
        if check_rc:
            check(r.returncode == 0, "supervisorctl %s: %d %s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r.returncode, r.stdout

    def pid(self, prog):
        _, out = self.ctl("pid", prog)
        return int(out.strip())

    def close(self):
        for load in self.loads:
            if load.p.poll() is None:
                load.p.kill()
                load.p.wait()
        pids = set(descendants(self.proc.pid)) | self.seen
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for p in pids:
            if alive(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def dump(self):
        for f in sorted(os.listdir(self.dir)):
            if f.endswith(".log"):
                print("--- %s\n%s" % (f, open(os.path.join(self.dir, f)).read()[-3000:]))


def worker(sup):
    r = subprocess.run([GRACEFD, "ctl", "--control-socket", sup.ctl_sock, "status"], capture_output=True, text=True, timeout=10)
    m = re.search(r"^worker: pid (\d+)", r.stdout, re.M)
    return int(m.group(1)) if r.returncode == 0 and m else None


class Load:
    def __init__(self, sup, port, path):
        self.path = path
        sup.loads.append(self)
        self.p = subprocess.Popen([LOADGEN, "--addr", "127.0.0.1:%d" % port, "--keepalive", "4", "--new", "2",
                                   "--duration", "0", "--json"], stdout=open(path, "w"), stderr=subprocess.STDOUT)

    def stop(self, what):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(timeout=30)
        r = json.loads(open(self.path).read().strip().splitlines()[-1])
        print("    %s: %d requests, %d failed, %d pids answered" % (what, r["requests"], r["failures"], r.get("distinct_pids", 0)))
        check(r["failures"] == 0, "%s: failed requests: %s" % (what, r.get("failures_by_kind")))
        check(r["requests"] > 0, "%s: no requests" % what)


def stop_with_request_in_flight(sup, prog, port, pids):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    time.sleep(0.2)
    stopper = subprocess.Popen([SUPERVISORCTL, "-c", sup.conf, "stop", prog], stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    s.sendall(b"Connection: close\r\n\r\n")
    data = recv_all(s)
    stopper.wait(timeout=30)
    check(data.startswith(b"HTTP/1.1 200"), "%s: the request in flight during stop got %r" % (prog, data[:60]))
    check(stopper.returncode == 0, "supervisorctl stop %s exited %d" % (prog, stopper.returncode))
    left = [p for p in pids if alive(p)]
    check(not left, "%s: processes left after supervisorctl stop: %s" % (prog, left))
    check(descendants(sup.proc.pid) == [], "%s: supervisord still has children %s" % (prog, descendants(sup.proc.pid)))


def test_gracefd_run(sup):
    sup.ctl("start", "gracefd-run")
    main = sup.pid("gracefd-run")
    sup.seen.add(main)
    workers = [wait_until("the first worker", lambda: worker(sup))]
    load = Load(sup, sup.gport, os.path.join(sup.dir, "load-g.json"))
    wait_until("load", lambda: http_pid_or_none(sup.gport))
    for i in range(10):
        sup.ctl("signal", "HUP", "gracefd-run")
        w = wait_until("reload %d: a new worker" % (i + 1), lambda: (lambda w: w if w and w != workers[-1] else None)(worker(sup)))
        workers.append(w)
        sup.seen.add(w)
        check(sup.pid("gracefd-run") == main, "reload %d: the supervised pid changed from %d" % (i + 1, main))
    load.stop("gracefd run, 10 HUP reloads")
    print("    supervised pid %d (gracefd) throughout; workers %s" % (main, workers))
    wait_until("old workers to drain", lambda: [p for p in workers[:-1] if alive(p)] == [])
    stop_with_request_in_flight(sup, "gracefd-run", sup.gport, [main] + workers)
    sup.ctl("start", "gracefd-run")
    first = sup.pid("gracefd-run")
    w1 = wait_until("a worker", lambda: worker(sup))
    sup.seen.update((first, w1))
    sup.ctl("restart", "gracefd-run")
    second = sup.pid("gracefd-run")
    sup.seen.add(second)
    check(second != first and not alive(first) and not alive(w1), "restart left %s" % [p for p in (first, w1) if alive(p)])
    wait_until("serving after restart", lambda: http_pid_or_none(sup.gport))
    sup.ctl("stop", "gracefd-run")
    check(descendants(sup.proc.pid) == [], "processes left after stop: %s" % descendants(sup.proc.pid))


def test_httpd(sup):
    sup.ctl("start", "httpd")
    pid = sup.pid("httpd")
    sup.seen.add(pid)
    check(wait_until("httpd", lambda: http_pid_or_none(sup.hport)) == pid, "httpd answers from another pid")
    load = Load(sup, sup.hport, os.path.join(sup.dir, "load-h.json"))
    time.sleep(1)
    load.stop("httpd")
    stop_with_request_in_flight(sup, "httpd", sup.hport, [pid])
    sup.ctl("start", "httpd")
    first = sup.pid("httpd")
    sup.ctl("restart", "httpd")
    second = sup.pid("httpd")
    sup.seen.update((first, second))
    check(second != first and not alive(first), "restart left pid %d" % first)
    check(wait_until("httpd after restart", lambda: http_pid_or_none(sup.hport)) == second, "not served by the restarted httpd")
    sup.ctl("stop", "httpd")
    check(not alive(second) and descendants(sup.proc.pid) == [], "processes left after stop")


def test_httpd_hup(sup):
    sup.ctl("start", "httpd")
    pid = sup.pid("httpd")
    sup.seen.add(pid)
    wait_until("httpd", lambda: http_pid_or_none(sup.hport))
    load = Load(sup, sup.hport, os.path.join(sup.dir, "load-hup.json"))
    time.sleep(0.5)
    sup.ctl("signal", "HUP", "httpd")
    new = wait_until("a new generation", lambda: (lambda p: p if p and p != pid else None)(http_pid_or_none(sup.hport)))
    sup.seen.add(new)
    time.sleep(0.5)
    load.stop("httpd supervised directly, 1 HUP upgrade")
    wait_until("the old generation to drain and exit", lambda: not alive(pid))
    _, out = sup.ctl("status", "httpd", check_rc=False)
    check("EXITED" in out, "supervisord status after the upgrade: %r" % out)
    check(new not in descendants(sup.proc.pid) and alive(new), "the new generation %d" % new)
    print("    as expected: supervisord lost the upgraded httpd (%s); pid %d ended by the test" % (out.split()[1], new))
    os.kill(new, signal.SIGTERM)
    wait_until("pid %d to exit" % new, lambda: not alive(new))


def main():
    for tool in (GRACEFD, HTTPD, LOADGEN, SUPERVISORD, SUPERVISORCTL):
        if not os.path.exists(tool):
            print("test_supervisord: %s is missing (supervisord: apt-get install supervisor)" % tool)
            return 1

    def too_long(*_):
        raise Fail("ran past %d s" % LIMIT_S)

    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(LIMIT_S)
    failed = []
    for name, fn in (("gracefd_run", test_gracefd_run), ("httpd", test_httpd), ("httpd_hup", test_httpd_hup)):
        sup = None
        t0 = time.monotonic()
        try:
            sup = Sup()
            fn(sup)
            print("ok   %s (%.1f s)" % (name, time.monotonic() - t0), flush=True)
        except Exception as e:  # noqa: BLE001 - report, go on
            failed.append(name)
            print("FAIL %s: %s" % (name, e), flush=True)
            if not isinstance(e, Fail):
                traceback.print_exc()
            if sup:
                sup.dump()
        finally:
            if sup:
                sup.close()
                shutil.rmtree(sup.dir, ignore_errors=True)
    print("test_supervisord: %s" % ("all passed" if not failed else "FAILED: " + ", ".join(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
