"""Process helpers for the benchmark: start, watch, measure and stop by pid.

Every process the benchmark starts is tracked by pid (or by the process group
it was started in, whose members are found by pgid in /proc) and stopped and
reaped by pid, never by name. The runner makes itself a child subreaper, so
generations that outlive their parent (self-upgrading servers, daemons) are
reparented to it and reaped here too.
"""
import ctypes
import os
import select
import signal
import socket
import time

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http_get(port, timeout=1.0):
    """One GET / on 127.0.0.1:port. Returns (status, headers dict, body) or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or len(lines[0].split()) < 2:
        return None
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers, body.decode("latin-1")


def wait_http(port, timeout, alive=None):
    """Until GET / answers 200 (returns the response) or timeout/`alive()` false (None)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = http_get(port, timeout=0.5)
        if r and r[0] == 200:
            return r
        if alive is not None and not alive():
            return None
        time.sleep(0.02)
    return None


def _stat(pid):
    """(state, ppid, pgrp, session) from /proc/PID/stat, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[2]), int(rest[3])


def gone(pid):
    """True once PID no longer runs (absent, or a zombie waiting to be reaped)."""
    st = _stat(pid)
    return st is None or st[0] in ("Z", "X")


def rss_kib(pid):
    """VmRSS of PID in KiB, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_ns(pid):
    """CPU time PID has used so far, all its threads (ns, from schedstat), or None."""
    total = 0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total


def children_of(pid):
    out = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def group_members(pgid):
    """Live pids whose process group is PGID (found by id in /proc, not by name)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st and st[2] == pgid and st[0] not in ("Z", "X"):
                out.append(int(d))
    return out


class ExitWatch:
    """Notice the exit of a pid without polling: a pidfd is readable once the
    process has exited (zombie or reaped). Falls back to /proc polling."""

    def __init__(self, pid):
        self.pid = pid
        try:
            self.fd = os.pidfd_open(pid)
        except (OSError, AttributeError):
            self.fd = None

    def fileno(self):
        return self.fd

    def done(self, timeout=0):
        """Whether the process has exited, waiting up to `timeout` seconds
        for it (a pidfd: seen the moment it exits)."""
        if self.fd is not None:
            return bool(select.select([self.fd], [], [], timeout)[0])
        end = time.monotonic() + timeout
        while not gone(self.pid):
            if time.monotonic() >= end:
                return False
            time.sleep(0.001)
        return True

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def wait_gone(pids, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if all(gone(p) for p in pids):
            return True
        time.sleep(0.01)
    return all(gone(p) for p in pids)


def signal_pid(pid, sig):
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def stop(pids, pgid=None, timeout=5.0):
    """TERM each pid, wait up to `timeout`, KILL what is left; then KILL any
    member left in process group PGID (the group we started it in), by pid.
    Returns the pids still running (none, normally). The caller reaps:
    its Popen first, then reap() for the generations reparented to us."""
    pids = [p for p in pids if p]
    for p in pids:
        signal_pid(p, signal.SIGTERM)
    if not wait_gone(pids, timeout):
        for p in pids:
            if not gone(p):
                signal_pid(p, signal.SIGKILL)
    if pgid:
        left = group_members(pgid)
        if left:
            for p in left:
                signal_pid(p, signal.SIGTERM)
            if not wait_gone(left, 2.0):
                for p in group_members(pgid):
                    signal_pid(p, signal.SIGKILL)
            wait_gone(left, 2.0)
    return group_members(pgid) if pgid else [p for p in pids if not gone(p)]


def reap():
    """Reap every exited child (ours, or reparented to us as subreaper).
    Call only when no subprocess.Popen of ours still waits for its child."""
    n = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return n
        if pid == 0:
            return n
        n += 1


def live_children():
    """Our own live children (started by us, or reparented to us as subreaper)."""
    return [p for p in children_of(os.getpid()) if not gone(p)]


def zombies_of_ours():
    me = os.getpid()
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st and st[0] == "Z" and st[1] == me:
                out.append(int(d))
    return out
