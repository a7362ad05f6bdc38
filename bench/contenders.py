"""The contenders of the upgrade benchmark: one entry each.

All serve the same tiny HTTP behaviour (200, `X-Pid: <pid>`, body
`ok pid=<pid> generation=<n>`) on 127.0.0.1:PORT. An entry says how to start
it, which process receives the upgrade signal (the serving process itself, or
a supervisor that keeps its pid), and how to tell whether it is built here.
To add a contender, add an entry; the runner and the report take it from here.
"""
import os
import subprocess
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "bin")
HTTPD = os.path.join(BIN, "httpd")


def _executable(path) -> Callable[[], Tuple[bool, str]]:
    def probe():
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return True, ""
        return False, f"not built ({os.path.relpath(path, ROOT)} is absent)"
    return probe


def linkage(path) -> str:
    """'statically linked' or 'dynamically linked' (an ELF program header
    PT_INTERP names the dynamic loader), or 'not built'."""
    try:
        with open(path, "rb") as f:
            elf = f.read(1 << 16)
    except OSError:
        return "not built"
    if elf[:5] != b"\x7fELF\x02":                       # 64-bit ELF only (the machines this runs on)
        return "of unknown linkage"
    phoff = int.from_bytes(elf[32:40], "little")
    phentsize = int.from_bytes(elf[54:56], "little")
    phnum = int.from_bytes(elf[56:58], "little")
    for i in range(phnum):
        off = phoff + i * phentsize
        if int.from_bytes(elf[off:off + 4], "little") == 3:   # PT_INTERP
            return "dynamically linked"
    return "statically linked"


def _gracefd_run_probe():
    exe = os.path.join(BIN, "gracefd")
    if not os.access(exe, os.X_OK):
        return False, "not built (build/bin/gracefd is absent)"
    try:
        r = subprocess.run([exe, "run", "--help"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"not built (`gracefd run --help`: {e})"
    text = r.stdout + r.stderr
    # An older `gracefd` answers any arguments with its version and status 0:
    # the subcommand exists only if its help names the options used here.
    if r.returncode != 0 or "--listen" not in text or "--ready" not in text:
        return False, "not built (`gracefd run --help` does not describe `run --listen ... --ready`)"
    return True, ""


@dataclass
class Contender:
    key: str                       # short id, used in file names and ratios
    name: str                      # table label
    argv: Callable[[int, str], List[str]]   # (port, scratch dir) -> command
    signal_to: str                 # "server": the serving process upgrades itself; "supervisor"
    probe: Callable[[], Tuple[bool, str]]
    how: str                       # one line for the report: what the signal does
    env: dict = field(default_factory=dict)
    supervisor_label: Optional[str] = None


CONTENDERS = [
    Contender(
        key="c", name="gracefd C example (httpd)",
        argv=lambda port, tmp: [HTTPD, "--listen", f"http=127.0.0.1:{port}"],
        signal_to="server", probe=_executable(HTTPD),
        how="SIGHUP to the serving process: gracefd_upgrade_start() execs the same binary, "
            "which inherits the listener; the old one drains once the new one called gracefd_ready(). "
            f"build/bin/httpd is {linkage(HTTPD)} (the C examples are linked statically by default, as Go "
            "links its programs; `make EXAMPLES_LINK=dynamic` links them the usual way; docs/performance.md)"),
    Contender(
        key="go", name="gracefd Go example (go-httpd)",
        argv=lambda port, tmp: [os.path.join(BIN, "go-httpd"), "--listen", f"http=127.0.0.1:{port}"],
        signal_to="server", probe=_executable(os.path.join(BIN, "go-httpd")),
        how="SIGHUP to the serving process (gracefd's Go package, same flags as the C example)"),
    Contender(
        key="tableflip", name="Go on cloudflare/tableflip",
        argv=lambda port, tmp: [os.path.join(BIN, "tableflip-httpd"), "--listen", f"http=127.0.0.1:{port}"],
        signal_to="server", probe=_executable(os.path.join(BIN, "tableflip-httpd")),
        how="SIGHUP to the serving process: upg.Upgrade(); the child calls upg.Ready(); "
            "the parent drains on upg.Exit() (bench/tableflip-httpd)"),
    Contender(
        key="start_server", name="Perl start_server + httpd worker",
        argv=lambda port, tmp: ["/usr/bin/start_server", f"--port=127.0.0.1:{port}",
                                f"--status-file={tmp}/status", f"--pid-file={tmp}/pid",
                                "--", HTTPD, "--listen", f"http=127.0.0.1:{port}"],
        signal_to="supervisor", probe=_executable("/usr/bin/start_server"),
        supervisor_label="start_server (perl)",
        how="SIGHUP to start_server: it starts a new worker, sleeps --interval (default 1 s, its "
            "documented readiness rule), checks the worker is alive, then sends SIGTERM to the old one"),
    Contender(
        key="gracefd_run", name="gracefd run + httpd worker",
        argv=lambda port, tmp: [os.path.join(BIN, "gracefd"), "run", "--listen", f"http=127.0.0.1:{port}",
                                "--ready", "notify", "--", HTTPD, "--listen", f"http=127.0.0.1:{port}"],
        signal_to="supervisor", probe=_gracefd_run_probe,
        supervisor_label="gracefd run",
        how="SIGHUP to gracefd: it starts a new worker, waits for its READY=1 (gracefd_ready()), "
            "then sends SIGTERM to the old one"),
]
