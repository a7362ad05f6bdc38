#!/usr/bin/env python3
"""Tests of `gracefd run` where users deploy it: workers that die
with gracefd, PID 1 in a pid namespace (a container stand-in), probation
(--settle) with gunicorn, many workers, the open-file limit and the user
switch, and the small things (exit 243, ctl status --json, did-you-mean,
bash completion).

usage: test_deploy.py BIN_DIR [TEST_NAME_SUBSTRING...]

Same rules as test_cli.py (whose helpers it uses): every wait bounded, only
127.0.0.1 and unix sockets, every process reaped by pid; a pid namespace a
test starts is ended by it (killing its init ends it). Needs root (unshare,
--user), util-linux's unshare, and gunicorn (pip install gunicorn, or
Debian's python3-gunicorn).
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_cli as tc  # noqa: E402  (BIN comes from argv[1], as there)
from test_cli import (GRACEFD, HTTPD, LOADGEN, MODE_WORKER, Fail, Test, alive, check, ctl, free_port, http_pid, mode_env,  # noqa: E402
                      proc_stat, set_mode, start_load, stop_load, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
FORKY_WORKER = os.path.join(HERE, "forky_worker.sh")
TERM_STATUS_WORKER = os.path.join(HERE, "term_status_worker.sh")
REPORT_WORKER = os.path.join(HERE, "report_worker.sh")
PYTHON = os.path.realpath(sys.executable)
TOTAL_LIMIT_S = 600


def status_json(t, sock):
    rc, out, _ = t.run([GRACEFD, "ctl", "--control-socket", sock, "status", "--json"], timeout=10)
    if rc != 0:
        return None
    return json.loads(out)


def serving_n(t, sock, n):
    """The JSON status once exactly n workers serve and nothing else runs."""
    d = status_json(t, sock)
    if not d or d["state"] != "serving" or d["workers_serving"] != n or len(d["workers"]) != n:
        return None
    return d


def serving_pids(d):
    return sorted(w["pid"] for w in d["workers"] if w["state"] == "serving")


def ns_of(pid):
    try:
        return os.readlink("/proc/%d/ns/pid" % pid)
    except OSError:
        return None


def ns_procs(init_pid):
    """(pid, state, ppid) of every process in init_pid's pid namespace."""
    ns = ns_of(init_pid)
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and ns is not None and ns_of(int(d)) == ns:
            st = proc_stat(int(d))
            if st:
                out.append((int(d), st[0], st[1]))
    return out


def child_of(pid, timeout=10):
    """The one child of pid (unshare --fork's child is the namespace's init)."""
    def find():
        kids = [p for p, _ in tc.children(pid)]
        return kids[0] if kids else None
    return wait_until("the child of %d" % pid, find, timeout=timeout)


def end_namespace(t, unshare, init_pid):
    """Kill the namespace's init (which ends every process in it), reap unshare."""
    if init_pid and alive(init_pid):
        try:
            os.kill(init_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        unshare.wait(timeout=20)
    except subprocess.TimeoutExpired:
        raise Fail("unshare %d did not exit after its namespace's init was killed" % unshare.pid)


# ---------------------------------------------------------------------------


def test_workers_die_with_gracefd(t):
    port = free_port()
    sock = t.path("ctl.sock")
    env = {"TMPDIR": t.dir}
    argv = [GRACEFD, "run", "-n", "2", "--listen", "http=127.0.0.1:%d" % port, "--ready", "notify", "--control-socket", sock, "--verbose",
            "--", HTTPD, "--listen", "http=127.0.0.1:%d" % port, "--drain-timeout", "5000"]
    g = t.start(argv, "gracefd.log", env=env)
    d = wait_until("two workers", lambda: serving_n(t, sock, 2))
    old = serving_pids(d)
    m = re.search(r"NOTIFY_SOCKETs are in (\S+)", t.log("gracefd.log"))
    check(m, "the notify directory is logged")
    notify_dir = m.group(1)
    check(os.path.isdir(notify_dir) and notify_dir.startswith(t.dir), "notify directory %s" % notify_dir)
    load = start_load(t, port)
    wait_until("load to flow", lambda: http_pid(port) in old)
    os.kill(g.pid, signal.SIGKILL)
    g.wait(timeout=10)
    # The old tree: the workers, by the pids recorded.
    wait_until("the workers of the killed gracefd to be gone", lambda: not any(alive(p) for p in old), timeout=10)
    stop_load(t, load)
    check(os.path.isdir(notify_dir), "the killed gracefd's notify directory is still there (nothing removed it yet)")
    # A new gracefd on the same port binds and serves at once.
    g2 = t.start(argv, "gracefd2.log", env=env)
    d = wait_until("the new gracefd's workers", lambda: serving_n(t, sock, 2), timeout=20)
    new = serving_pids(d)
    check(http_pid(port) in new, "the new workers answer")
    check(not os.path.exists(notify_dir), "the stale notify directory %s is removed at start" % notify_dir)
    check("removed the stale notify directory" in t.log("gracefd2.log"), "the clean-up is logged")
    # A live gracefd's directory is left alone (it holds its lock): a third
    # gracefd gets as far as the clean-up, then cannot run its command.
    m = re.search(r"NOTIFY_SOCKETs are in (\S+)", t.log("gracefd2.log"))
    rc, _, err = t.run([GRACEFD, "run", "--listen", "127.0.0.1:%d" % free_port(), "--", "/nonexistent/prog"], env=env)
    check(rc == 243 and os.path.isdir(m.group(1)), "a live gracefd's notify directory survives another's start: %d %r" % (rc, err))
    os.kill(g2.pid, signal.SIGTERM)
    check(t.wait_exit(g2) == 0, "gracefd exit status")


def test_pid1_in_a_namespace(t):
    """gracefd as PID 1 of a new pid namespace: reaps adopted grandchildren,
    reloads under load with no failed request, exits with the worker's status."""
    port = free_port()
    sock = t.path("ctl.sock")
    u = t.start(["unshare", "--pid", "--fork", "--mount-proc", GRACEFD, "run", "--listen", "http=127.0.0.1:%d" % port, "--ready", "notify",
                 "--control-socket", sock, "--verbose", "--env", "HTTPD=" + HTTPD, "--", FORKY_WORKER, "--listen", "http=127.0.0.1:%d" % port,
                 "--drain-timeout", "3000"], "unshare.log")
    init = None
    try:
        init = child_of(u.pid)
        d = wait_until("the worker", lambda: serving_n(t, sock, 1))
        check(d["pid"] == 1 and d["init"] is True, "gracefd is PID 1 of its namespace with init duties: %s" % d)
        load = start_load(t, port)
        wait_until("load to flow", lambda: http_pid(port))
        for i in range(5):
            rc, out, err = ctl(t, sock, "reload")
            check(rc == 0, "reload %d in the namespace: %d %r %r" % (i + 1, rc, out, err))
        res = stop_load(t, load)
        check(res["failures"] == 0 and res["requests"] > 0, "requests under reloads: %s %s" % (res["failures_by_kind"], res["failure_reasons"]))
        # Each generation double-forked ~30 short-lived grandchildren (and
        # the loop that made them), all adopted by gracefd: once they have
        # all ended, nothing is left in the namespace but gracefd and its
        # worker, and no zombie.
        def settled():
            d = serving_n(t, sock, 1)
            procs = ns_procs(init)
            if not d or any(s == "Z" for _, s, _ in procs):
                return None
            # (gracefd reports pids as its namespace numbers them: count them.)
            return len(procs) == 2 and procs
        wait_until("every adopted grandchild to end and be reaped (no zombie in the namespace)", settled, timeout=30)
        adopted = t.log("unshare.log").count("reaped adopted process")
        check(adopted >= 30, "gracefd reaped %d adopted processes (expected the grandchildren of 6 generations)" % adopted)
        # No adopted process's exit was taken for a worker's.
        d = status_json(t, sock)
        check(d["respawns"] == 0 and d["reloads_ok"] == 5 and d["last_failure"] is None, "state after the reloads: %s" % d)
    finally:
        end_namespace(t, u, init)


def test_subreaper_outside_a_namespace(t):
    """Not PID 1: gracefd is a child subreaper, so the orphans of its workers
    come to it (not to the host's init) and are reaped."""
    port = free_port()
    sock = t.path("ctl.sock")
    g = t.start([GRACEFD, "run", "--listen", "http=127.0.0.1:%d" % port, "--ready", "notify", "--control-socket", sock, "--verbose",
                 "--env", "HTTPD=" + HTTPD, "--", FORKY_WORKER, "--listen", "http=127.0.0.1:%d" % port], "gracefd.log")
    wait_until("the worker", lambda: serving_n(t, sock, 1))
    rc, out, err = ctl(t, sock, "reload")
    check(rc == 0, "reload: %d %r %r" % (rc, out, err))
    # Both generations' loops and grandchildren are gracefd's once orphaned;
    # once they ended, gracefd's only child is its worker, and no zombie.
    def settled():
        d = serving_n(t, sock, 1)
        kids = tc.children(g.pid)
        return d and [p for p, _ in kids] == serving_pids(d) and kids
    wait_until("the adopted processes to end and be reaped", settled, timeout=30)
    adopted = t.log("gracefd.log").count("reaped adopted process")
    check(adopted >= 30, "gracefd reaped %d adopted processes" % adopted)
    d = status_json(t, sock)
    check(d["respawns"] == 0 and d["last_failure"] is None, "no adopted exit was taken for a worker's: %s" % d)
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "gracefd exit status")


def test_container_stop_status(t):
    """A `docker stop`-like SIGTERM to PID 1: gracefd stops the worker and exits
    with the worker's status (7 from its TERM trap), within the stop timeout."""
    sock = t.path("ctl.sock")
    u = t.start(["unshare", "--pid", "--fork", "--mount-proc", GRACEFD, "run", "--ready", "notify", "--stop-timeout", "5",
                 "--control-socket", sock, "--", TERM_STATUS_WORKER], "unshare.log", env={"TERM_STATUS": "7"})
    init = None
    try:
        init = child_of(u.pid)
        wait_until("the worker", lambda: serving_n(t, sock, 1))
        os.kill(init, signal.SIGTERM)
        rc = t.wait_exit(u, timeout=5 + 5)
        check(rc == 7, "exit status through the namespace's init: %d (expected the worker's 7)\n%s" % (rc, t.log("unshare.log")))
    finally:
        end_namespace(t, u, init)
    # A worker killed by the stop's SIGKILL: 128 + 9, as a shell reports it.
    sock2 = t.path("ctl2.sock")
    u = t.start(["unshare", "--pid", "--fork", "--mount-proc", GRACEFD, "run", "--ready", "interval:0.2", "--stop-timeout", "0.5",
                 "--control-socket", sock2] + mode_env(t, "deaf") + ["--", MODE_WORKER], "unshare2.log")
    init = None
    try:
        init = child_of(u.pid)
        wait_until("the TERM-ignoring worker", lambda: serving_n(t, sock2, 1))
        os.kill(init, signal.SIGTERM)
        rc = t.wait_exit(u, timeout=10)
        check(rc == 137, "exit status of a SIGKILLed worker: %d (expected 137)" % rc)
    finally:
        end_namespace(t, u, init)


def test_init_flag_forwards_signals(t):
    """--init outside a namespace: USR1 reaches the worker; exit status is the worker's."""
    sock = t.path("ctl.sock")
    marker = t.path("usr1")
    script = t.path("usr1_worker.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\ntrap 'echo got > %s' USR1\ntrap 'exit 5' TERM\n"
                "python3 -c 'import os, socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b\"READY=1\", os.environ[\"NOTIFY_SOCKET\"])'\n"
                "while :; do sleep 0.2 & wait $!; done\n" % marker)
    os.chmod(script, 0o755)
    g = t.start([GRACEFD, "run", "--init", "--ready", "notify", "--control-socket", sock, "--", script], "gracefd.log")
    wait_until("the worker", lambda: serving_n(t, sock, 1))
    os.kill(g.pid, signal.SIGUSR1)
    wait_until("the worker to get SIGUSR1", lambda: os.path.exists(marker))
    check(alive(g.pid), "gracefd survives SIGUSR1")
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 5, "--init exits with the worker's status")


def test_settle_rolls_back_an_early_ready(t):
    """--settle: a worker that says READY=1 and exits a second later is rolled back."""
    port = free_port()
    sock = t.path("ctl.sock")
    g = t.start([GRACEFD, "run", "--listen", "http=127.0.0.1:%d" % port, "--ready", "notify", "--settle", "3", "--control-socket", sock]
                + mode_env(t) + ["--", MODE_WORKER, "--listen", "http=127.0.0.1:%d" % port], "gracefd.log")
    d = wait_until("the first worker", lambda: serving_n(t, sock, 1), timeout=20)
    old = serving_pids(d)[0]
    load = start_load(t, port)
    wait_until("load to flow", lambda: http_pid(port))
    set_mode(t, "early")
    rc, out, err = ctl(t, sock, "reload")
    check(rc == 1 and "after it was ready (within --settle 3 s)" in err and "still serving generation 1 pid %d" % old in err,
          "ctl reload of an early-ready worker: %d %r %r" % (rc, out, err))
    check(http_pid(port) == old and alive(old), "the old worker still serves")
    check("to the old worker" not in t.log("gracefd.log"), "the old worker never got its signal")
    set_mode(t, "ok")
    rc, out, err = ctl(t, sock, "reload")
    check(rc == 0 and "generation 3" in out, "reload after the rollback: %d %r %r" % (rc, out, err))
    res = stop_load(t, load)
    check(res["failures"] == 0, "failed requests: %s %s" % (res["failures_by_kind"], res["failure_reasons"]))
    d = status_json(t, sock)
    check(d["reloads_ok"] == 1 and d["reloads_failed"] == 1, "reload counts %s" % d)
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "gracefd exit status")


GOOD_APP = """import os
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Pid", str(os.getpid()))])
    return [b"%s\\n"]
"""


def test_gunicorn_settle(t):
    """The gunicorn case: without --preload, gunicorn's arbiter sends READY=1
    before its worker imports the app; a broken deploy then halts it ("Worker
    failed to boot"). With --settle the reload fails and the old one serves."""
    r = subprocess.run([PYTHON, "-c", "import gunicorn"], capture_output=True)
    check(r.returncode == 0, "gunicorn is missing (pip install gunicorn, or apt-get install python3-gunicorn)")
    port = free_port()
    sock = t.path("ctl.sock")
    app = t.path("app")
    os.mkdir(app)
    with open(os.path.join(app, "app.py"), "w") as f:
        f.write(GOOD_APP % "v1")
    g = t.start([GRACEFD, "run", "--listen", "127.0.0.1:%d" % port, "--ready", "notify", "--settle", "4", "--dir", app,
                 "--control-socket", sock, "--", PYTHON, "-m", "gunicorn", "--workers", "2", "app:app"], "gracefd.log",
                env={"HOME": t.dir, "PYTHONDONTWRITEBYTECODE": "1"})
    wait_until("gunicorn to serve", lambda: serving_n(t, sock, 1), timeout=30)
    before = http_pid(port)
    load = start_load(t, port)
    wait_until("load to flow", lambda: http_pid(port))
    with open(os.path.join(app, "app.py"), "w") as f:
        f.write('raise RuntimeError("broken deploy")\n')
    rc, out, err = ctl(t, sock, "reload")
    check(rc == 1 and "within --settle" in err, "ctl reload of a gunicorn that cannot import its app: %d %r %r" % (rc, out, err))
    check("Worker failed to boot" in t.log("gracefd.log"), "gunicorn halted as in the issue")
    res = stop_load(t, load)
    check(res["failures"] == 0 and res["requests"] > 0, "requests during the failed deploy: %s %s" % (res["failures_by_kind"], res["failure_reasons"]))
    d = serving_n(t, sock, 1)
    check(d and d["generation"] == 1, "generation 1 still serves: %s" % d)
    with open(os.path.join(app, "app.py"), "w") as f:
        f.write(GOOD_APP % "v2")
    rc, out, err = ctl(t, sock, "reload")
    m = re.search(r"generation 3 pid (\d+)", out)
    check(rc == 0 and m, "reload of a fixed app: %d %r %r" % (rc, out, err))
    arbiter = int(m.group(1))
    # The answer comes from a worker of the new arbiter (X-Pid is a worker's pid).
    wait_until("the new gunicorn to answer", lambda: (proc_stat(http_pid(port)) or ("", 0))[1] == arbiter)
    check(before != arbiter, "a new arbiter")
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "gracefd exit status")


def many_workers_reloads(t, rolling):
    port = free_port()
    sock = t.path("ctl.sock")
    g = t.start([GRACEFD, "run", "-n", "4"] + (["--rolling"] if rolling else []) +
                ["--listen", "http=127.0.0.1:%d" % port, "--ready", "notify", "--control-socket", sock, "--status-file", t.path("status"),
                 "--", HTTPD, "--listen", "http=127.0.0.1:%d" % port, "--drain-timeout", "5000"], "gracefd.log")
    d = wait_until("four workers", lambda: serving_n(t, sock, 4))
    seen = set(serving_pids(d))
    load = start_load(t, port)
    wait_until("load to flow", lambda: http_pid(port))
    for i in range(10):
        rc, out, err = ctl(t, sock, "reload")
        m = re.match(r"reloaded: generation (\d+) pid ([\d,]+)", out)
        check(rc == 0 and m, "reload %d: %d %r %r" % (i + 1, rc, out, err))
        pids = [int(p) for p in m.group(2).split(",")]
        check(len(pids) == 4 and not (set(pids) & seen), "reload %d: four new workers: %s (seen %s)" % (i + 1, pids, sorted(seen)))
        seen |= set(pids)
    d = wait_until("four workers after the reloads", lambda: serving_n(t, sock, 4), timeout=30)
    res = stop_load(t, load)
    check(res["failures"] == 0 and res["requests"] > 0, "failed requests with -n 4%s: %s %s" % (" --rolling" if rolling else "", res["failures_by_kind"], res["failure_reasons"]))
    # A crash of one respawns one; the other three are untouched. (After the
    # load: a SIGKILLed worker takes the connections it had accepted along.)
    pids = serving_pids(d)
    os.kill(pids[0], signal.SIGKILL)
    d = wait_until("a replacement for the killed worker", lambda: (lambda d: d and pids[0] not in serving_pids(d) and d)(serving_n(t, sock, 4)), timeout=30)
    now = serving_pids(d)
    check(set(pids[1:]) <= set(now), "the three other workers still serve: %s → %s" % (pids, now))
    check(t.log("gracefd.log").count("respawn: started worker") == 1, "exactly one respawn")
    with open(t.path("status")) as f:
        lines = f.read().splitlines()
    check(len(lines) == 4, "status file lists four workers: %s" % lines)
    print("    -n 4%s: 10 reloads under load: %d requests, 0 failed, %d pids answered" % (" --rolling" if rolling else "", res["requests"], res["distinct_pids"]))
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "gracefd exit status")
    check(not any(alive(p) for p in now), "no worker left after the stop")


def test_many_workers_all_at_once(t):
    many_workers_reloads(t, rolling=False)


def test_many_workers_rolling(t):
    many_workers_reloads(t, rolling=True)


def privileged_port():
    for p in range(700, 1000):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise Fail("no free port below 1024 on 127.0.0.1")


def test_nofile_and_user(t):
    check(os.geteuid() == 0, "this test needs root (it switches the workers to nobody)")
    os.chmod(t.dir, 0o755)
    out = t.path("out")
    os.mkdir(out)
    os.chmod(out, 0o777)
    report = os.path.join(out, "report")
    port = privileged_port()
    import resource
    _, hard0 = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Whether this root may raise a hard limit (a container may drop CAP_SYS_RESOURCE).
    can_raise = subprocess.run([PYTHON, "-c", "import resource as r; r.setrlimit(r.RLIMIT_NOFILE, (1024, %d))" % (hard0 + 1000)]).returncode == 0
    # gracefd starts with a low soft limit (the supervisord trap); the workers get more.
    low = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard0))
    want_soft = min(hard0, 4096)
    want_hard = hard0 + 1000 if can_raise else hard0
    sock = t.path("ctl.sock")
    g = t.start([GRACEFD, "run", "--listen", "127.0.0.1:%d" % port, "--ready", "notify", "--ready-timeout", "20", "--control-socket", sock,
                 "--nofile", "%d:%d" % (want_soft, hard0 + 1000), "--user", "nobody", "--group", "nogroup", "--env", "REPORT_FILE=" + report,
                 "--", REPORT_WORKER], "gracefd.log", preexec_fn=low)
    wait_until("the worker's report", lambda: os.path.exists(report))
    # READY=1 from a worker running as nobody reaches gracefd's NOTIFY_SOCKET.
    wait_until("the worker (as nobody) to be ready through NOTIFY_SOCKET", lambda: serving_n(t, sock, 1))
    uid, gid, groups, soft, hard, fds = open(report).read().split()
    import pwd
    import grp
    check(int(uid) == pwd.getpwnam("nobody").pw_uid and int(gid) == grp.getgrnam("nogroup").gr_gid, "worker runs as %s:%s" % (uid, gid))
    check("0" not in groups.split(","), "root's groups are dropped: %s" % groups)
    check(int(soft) == want_soft and int(hard) == want_hard, "worker's RLIMIT_NOFILE %s:%s, wanted %d:%d" % (soft, hard, want_soft, want_hard))
    if not can_raise:
        check("the hard limit stays %d" % hard0 in t.log("gracefd.log"), "a refused hard limit is said: %s" % t.log("gracefd.log"))
    check(fds == "1", "the worker got the socket bound on port %d: LISTEN_FDS=%s" % (port, fds))
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.close()
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "gracefd exit status")
    # The hard limit where not allowed (as nobody): said, and gracefd goes on.
    rc, _, err = t.run(["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", GRACEFD, "run", "--nofile",
                        "%d:%d" % (hard0 + 10, hard0 + 10), "--ready", "interval:0.1", "--", "/nonexistent/prog"])
    check(rc == 243 and "the hard limit stays %d" % hard0 in err and "CAP_SYS_RESOURCE" in err, "refused hard limit is said: %d %r" % (rc, err))
    # --user without root is refused before anything starts.
    rc, _, err = t.run(["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups", GRACEFD, "run", "--user", "root", "--", "true"])
    check(rc == 243 and "needs root" in err, "--user as nobody: %d %r" % (rc, err))


def test_first_start_exec_failure(t):
    for prog, want in (("/nonexistent/prog", "/nonexistent/prog"), ("no-such-program-gracefd", "no-such-program-gracefd")):
        rc, _, err = t.run([GRACEFD, "run", "--respawn-delay", "0.1", "--", prog], timeout=20)
        check(rc == 243 and want in err, "%s: exit %d (expected 243 at once) %r" % (prog, rc, err))
    # Found but not executable: the exec in the child fails; reported, not respawned.
    script = t.path("noexec.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(script, 0o644)
    rc, _, err = t.run([GRACEFD, "run", "--respawn-delay", "0.1", "--", script], timeout=20)
    check(rc == 243 and ("Permission denied" in err or "EACCES" in err or "not executable" in err), "non-executable: %d %r" % (rc, err))
    check("respawning" not in err, "no respawn after an exec failure: %r" % err)


def test_status_json(t):
    port = free_port()
    sock = t.path("ctl.sock")
    g = t.start([GRACEFD, "run", "-n", "2", "--listen", "web=127.0.0.1:%d" % port, "--ready", "notify", "--settle", "0.2", "--control-socket", sock,
                 "--", HTTPD, "--listen", "web=127.0.0.1:%d" % port], "gracefd.log")
    d = wait_until("two workers", lambda: serving_n(t, sock, 2))
    keys = {"pid", "state", "uptime_ms", "generation", "workers_wanted", "workers_serving", "workers", "reload_queued", "reloads_ok",
            "reloads_failed", "respawns", "failures_in_row", "last_failure", "ready_rule", "settle_ms", "rolling", "init", "sockets"}
    check(set(d) == keys, "JSON keys: %s" % sorted(d))
    check(d["pid"] == g.pid and d["workers_wanted"] == 2 and d["settle_ms"] == 200 and d["ready_rule"] == "notify" and d["init"] is False,
          "values %s" % d)
    wkeys = {"pid", "generation", "state", "age_ms", "ready_ms", "status"}
    check(all(set(w) == wkeys and w["state"] == "serving" and w["generation"] == 1 for w in d["workers"]), "workers %s" % d["workers"])
    check(len(d["sockets"]) == 1 and "127.0.0.1:%d" % port in d["sockets"][0], "sockets %s" % d["sockets"])
    rc, _, err = t.run([GRACEFD, "ctl", "--control-socket", sock, "reload", "--json"])
    check(rc == 2 and "--json" in err, "--json with reload: %d %r" % (rc, err))
    os.kill(g.pid, signal.SIGTERM)
    check(t.wait_exit(g) == 0, "gracefd exit status")


def test_did_you_mean_and_completion(t):
    rc, _, err = t.run([GRACEFD, "run", "--listn", "127.0.0.1:1", "--", "true"])
    check(rc == 2 and "did you mean --listen?" in err, "--listn: %d %r" % (rc, err))
    rc, _, err = t.run([GRACEFD, "ctl", "--control-sock", "x", "status"])
    check(rc == 2 and "did you mean --control-socket?" in err, "--control-sock: %d %r" % (rc, err))
    rc, script, _ = t.run([GRACEFD, "completion", "bash"])
    check(rc == 0 and "complete -F _gracefd gracefd" in script, "completion script")
    with open(t.path("gracefd.bash"), "w") as f:
        f.write(script)

    def complete(*words):
        words = ["gracefd"] + list(words)
        prog = 'source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _gracefd; printf "%%s\\n" "${COMPREPLY[@]}"' % (
            t.path("gracefd.bash"), " ".join("'%s'" % w for w in words), len(words) - 1)
        rc, out, err = t.run(["bash", "--norc", "--noprofile", "-c", prog])
        check(rc == 0, "bash: %d %r" % (rc, err))
        return out.split()

    check(complete("r") == ["run"], "subcommand: %s" % complete("r"))
    check("--listen" in complete("run", "--lis"), "run --lis: %s" % complete("run", "--lis"))
    check(complete("run", "--sett") == ["--settle"], "run --sett: %s" % complete("run", "--sett"))
    check(complete("run", "--signal-on-hup", "US") == ["USR1", "USR2"], "signal names: %s" % complete("run", "--signal-on-hup", "US"))
    check(complete("ctl", "rel") == ["reload"], "ctl requests: %s" % complete("ctl", "rel"))
    check(complete("run", "--listen", "") == [], "no option offered as an option's value")


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_")]


def main():
    only = sys.argv[2:]
    for tool in (GRACEFD, HTTPD, LOADGEN, "/usr/bin/unshare"):
        if not os.path.exists(tool):
            print("test_deploy: %s is missing" % tool)
            return 1

    def too_long(*_):
        raise Fail("the tests ran past %d s" % TOTAL_LIMIT_S)

    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(TOTAL_LIMIT_S)
    failed = []
    for fn in TESTS:
        name = fn.__name__[5:]
        if only and not any(o in name for o in only):
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
    print("test_deploy: %s" % ("all passed" if not failed else "FAILED: " + ", ".join(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
