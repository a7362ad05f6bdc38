"""Statistics and BENCHMARKS.md for `make bench` (python3 stdlib only)."""
import statistics

GRACEFD_KEYS = ("c", "go", "gracefd_run")     # the contenders the targets are about
PEER_KEYS = ("start_server", "tableflip")
FAIL_KINDS = ("connect_refused", "connect_other", "reset", "timeout", "bad_response", "short_response")


# ---------------------------------------------------------------- statistics

def pct(xs, p):
    """Nearest-rank percentile of xs (p in 0..100), None if empty."""
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    k = max(0, min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1)))))
    return xs[k]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def rng(xs):
    xs = [x for x in xs if x is not None]
    return (min(xs), max(xs)) if xs else (None, None)


def ms(x, digits=None):
    if x is None:
        return "–"
    if digits is None:
        digits = 2 if x < 10 else 1 if x < 100 else 0
    return f"{x:.{digits}f}"


def kib(x):
    return "–" if x is None else f"{x / 1024:.1f} MiB"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def fx(r):
    return "–" if r is None else f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"


def summarize_contender(rounds):
    """Pool the rounds of one contender."""
    s = {"rounds": len(rounds), "errors": [r["error"] for r in rounds if r.get("error")],
         "signals": sum(r["signals"] for r in rounds), "requests": 0, "failures": 0,
         "by_kind": {k: 0 for k in FAIL_KINDS}, "reasons": {}, "rounds_clean": 0, "leftover": [],
         "first": [], "gone": [], "completed": 0, "incomplete": [], "round_first_med": [], "round_gone_med": [],
         "rss_server": [], "rss_supervisor": [], "rps": []}
    for r in rounds:
        s["leftover"] += r.get("leftover") or []
        ups = [u for u in r["upgrades"] if u["complete"]]
        s["completed"] += len(ups)
        s["incomplete"] += [u.get("why") for u in r["upgrades"] if not u["complete"]]
        s["first"] += [u["first_ms"] for u in ups]
        s["gone"] += [u["gone_ms"] for u in ups]
        s["round_first_med"].append(med([u["first_ms"] for u in ups]))
        s["round_gone_med"].append(med([u["gone_ms"] for u in ups]))
        s["rss_server"] += r["rss_server"]
        s["rss_supervisor"] += r["rss_supervisor"]
        load = r.get("load")
        if load:
            s["requests"] += load["requests"]
            s["failures"] += load["failures"]
            s["rps"].append(load["rps"])
            for k, v in load["failures_by_kind"].items():
                s["by_kind"][k] = s["by_kind"].get(k, 0) + v
            for k, v in load.get("failure_reasons", {}).items():
                s["reasons"].setdefault(k, v)
            if load["failures"] == 0 and not r.get("error"):
                s["rounds_clean"] += 1
    return s


def paired_ratios(ra, rb, field):
    """Per round i: median(b) / median(a) of `field`, for rounds where both have data."""
    out = []
    for a, b in zip(ra, rb):
        x, y = a[field], b[field]
        if x and y:
            out.append(y / x)
    return out


# ---------------------------------------------------------------- the report

def write(path, ctx):
    lines = []
    w = lines.append
    cfg = ctx["config"]
    w("# gracefd benchmarks")
    w("")
    w(f"Written by `{cfg['command']}` on {ctx['date']} in {ctx['elapsed_s']:.0f} s "
      f"({'quick mode: indicative only' if cfg['quick'] else 'full run'}). Regenerate with `make bench`; "
      "every figure below comes from this one run.")
    w("")
    w("## Machine")
    w("")
    m = ctx["machine"]
    w(f"- {m['cores']} cores, {m['cpu']}; Linux {m['kernel']}; RLIMIT_NOFILE {m['nofile']}")
    if m.get("versions"):
        w(f"- peers and compiler: {'; '.join(m['versions'])}")
    w(f"- shared with other jobs: load average {m['load_start']} at the start, {m['load_end']} at the end. "
      "Figures are medians over several rounds, with ranges; contenders run interleaved, round by round, so "
      "that noise from other jobs falls on all of them alike.")
    if ctx.get("skipped"):
        w(f"- **skipped to stay within the time budget:** {'; '.join(ctx['skipped'])}")
    w("")
    _upgrades(w, ctx)
    _zero_drain(w, ctx)
    _rps(w, ctx)
    _daemonize(w, ctx)
    _size(w, ctx)
    _handoff(w, ctx)
    _targets(w, ctx)
    _method(w, ctx)
    with open(path, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")


def _upgrades(w, ctx):
    cfg = ctx["config"]
    w("## Upgrades under load")
    w("")
    w(f"Each contender: {cfg['rounds']} round(s) of {cfg['duration']:g} s under `loadgen --keepalive "
      f"{cfg['keepalive']} --new {cfg['new']}` ({cfg['keepalive']} keep-alive connections plus {cfg['new']} "
      f"workers opening a new connection per request), an upgrade signal every {cfg['interval']:g} s "
      f"(never while the previous upgrade is still in progress: then 0.1 s after it completed; none in the "
      f"last 2 s of a round). Latencies are over every completed upgrade of every round (p50 / p90 / max, "
      f"ms), with the range of the per-round medians in brackets.")
    w("")
    w("| contender | upgrades completed / signals | requests | failed requests | signal → first response "
      "from the new generation, ms | signal → old generation gone, ms | RSS supervisor | RSS server |")
    w("|---|---:|---:|---|---|---|---:|---:|")
    for c in ctx["contenders"]:
        s = ctx["summary"].get(c.key)
        if s is None:
            w(f"| {c.name} | {ctx['absent'][c.key]} | | | | | | |")
            continue
        fails = "0" if s["failures"] == 0 else f"**{s['failures']}**: " + ", ".join(
            f"{k} {v}" for k, v in s["by_kind"].items() if v)
        if s["errors"]:
            fails += f" (round errors: {len(s['errors'])})"
        sup = "none (self-upgrading)" if c.signal_to == "server" else \
            f"{kib(med(s['rss_supervisor']))} (max {kib(max(s['rss_supervisor'], default=None))})"
        srv = f"{kib(med(s['rss_server']))} (max {kib(max(s['rss_server'], default=None))})"
        w(f"| {c.name} | {s['completed']} / {s['signals']} | {s['requests']:,} | {fails} | "
          f"{_lat(s['first'], s['round_first_med'])} | {_lat(s['gone'], s['round_gone_med'])} | {sup} | {srv} |")
    w("")
    for c in ctx["contenders"]:
        s = ctx["summary"].get(c.key)
        if s and (s["errors"] or s["incomplete"] or s["reasons"] or s["leftover"]):
            notes = []
            if s["errors"]:
                notes.append("round errors: " + "; ".join(e[:200] for e in s["errors"][:3]))
            if s["incomplete"]:
                notes.append(f"{len(s['incomplete'])} upgrade(s) not completed: " +
                             "; ".join(sorted(set(s['incomplete']))))
            if s["reasons"]:
                notes.append("first failure of each kind: " + "; ".join(f"{k}: {v}" for k, v in s["reasons"].items()))
            if s["leftover"]:
                notes.append(f"processes left after stopping: {s['leftover']}")
            w(f"- {c.name}: " + " — ".join(notes))
    w("")
    w("How each contender upgrades:")
    w("")
    for c in ctx["contenders"]:
        w(f"- **{c.name}** — {c.how}." + ("" if c.key in ctx["summary"] else f" *{ctx['absent'][c.key]}.*"))
    w("")
    # Ratios within the run.
    w("### Ratios within this run")
    w("")
    w("Peer median ÷ gracefd median (above 1: gracefd is faster), pooled over all rounds; in brackets the range "
      "of the same ratio computed round by round (rounds are interleaved, so round *i* of each ran at about "
      "the same time).")
    w("")
    w("| gracefd contender | peer | signal → first response | signal → old generation gone |")
    w("|---|---|---:|---:|")
    any_row = False
    for g in GRACEFD_KEYS:
        for p in PEER_KEYS:
            if g in ctx["summary"] and p in ctx["summary"]:
                any_row = True
                w(f"| {ctx['names'][g]} | {ctx['names'][p]} | {_ratio_cell(ctx, g, p, 'first')} | "
                  f"{_ratio_cell(ctx, g, p, 'gone')} |")
    if not any_row:
        w("| – | – | – | – |")
    w("")


def _lat(xs, round_meds):
    if not xs:
        return "–"
    return f"{ms(pct(xs, 50))} / {ms(pct(xs, 90))} / {ms(max(xs))}" + _range(round_meds, ms)


def _range(xs, fmt):
    """" [lo–hi]" over several values; nothing for one."""
    xs = [x for x in xs if x is not None]
    if len(xs) < 2:
        return ""
    return f" [{fmt(min(xs))}–{fmt(max(xs))}]"


def _ratio_cell(ctx, g, p, field):
    sg, sp = ctx["summary"][g], ctx["summary"][p]
    r = ratio(med(sp[field]), med(sg[field]))
    per = paired_ratios(ctx["rounds_by_key"][g], ctx["rounds_by_key"][p], f"{field}_med")
    return fx(r) + _range(per, fx)


def _rps(w, ctx):
    r = ctx["rps"]
    cfg = ctx["config"]
    w("## Per-request cost: the C example with and without gracefd")
    w("")
    w("`build/bin/httpd` is `c-examples/httpd.c` linked with libgracefd.a; `build/bin/plain-httpd` is the same "
      "source, compiled with the same flags, linked with `bench/nolib.c` instead: the library's calls done the "
      "plain way (bind/listen itself; a signal flag instead of the event pipe; no upgrade). The serving loop is "
      "the same code, so the difference is the library. In the loop the example calls `gracefd_event_next()` "
      "only when its event fd polled readable, and the call answers \"none\" from an atomic counter without a "
      "syscall, so the library adds nothing to the per-request path. (An earlier version called it on every "
      "poll wake-up, one `read(2)` each: measurable, 0.7 to 1.7 % more CPU per request.)")
    w("")
    if not r:
        w("Skipped (time budget).")
        w("")
        return
    w(f"{cfg['rps_rounds']} rounds of {cfg['rps_duration']:g} s per load. In each round both servers run at the "
      "same time, each under its own loadgen, so that whatever else the shared machine does hits both alike "
      f"({ctx.get('rps_pinned') or 'not pinned'}: the two servers share one core, its cache and its "
      "interrupts). "
      "Shown: median [range] over the rounds; ratios are gracefd ÷ plain, round by round. *CPU per request* is "
      "the server process's own CPU time (schedstat) over the run divided by the requests it served: the direct "
      "measure of a per-request cost, much less sensitive than requests/s to other jobs.")
    w("")
    w("| load | req/s with gracefd | req/s plain | req/s ratio | CPU µs/request with gracefd | "
      "CPU µs/request plain | CPU ratio | failed |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    for mode, d in r.items():
        g, p = d["gracefd"], d["plain"]
        per = [a / b for a, b in zip(g, p) if b]
        cg, cp = d["cpu"]["gracefd"], d["cpu"]["plain"]
        cper = [a / b for a, b in zip(cg, cp) if b]
        w(f"| {mode} | {_num(med(g))}{_range(g, _num)} | {_num(med(p))}{_range(p, _num)} | "
          f"{r3(med(per))}{_range(per, r3)} | {_f2(med(cg))}{_range(cg, _f2)} | {_f2(med(cp))}{_range(cp, _f2)} | "
          f"{r3(med(cper))}{_range(cper, r3)} | {d['failures']} |")
        if d["errors"]:
            w(f"| {mode}: errors | {'; '.join(d['errors'][:3])} | | | | | | |")
    w("")


def _f2(x):
    return "–" if x is None else f"{x:.2f}"


def _num(x):
    return "–" if x is None else f"{x:,.0f}"


def r3(x):
    return "–" if x is None else f"{x:.3f}"


def _daemonize(w, ctx):
    d = ctx["daemonize"]
    w("## Daemonize: launch → the launcher exits with the daemon ready")
    w("")
    w(f"{ctx['config']['daemonize_runs']} launches each, timed from `posix_spawn` to the launcher's exit "
      "(ms: median [min–max]). For the C example the daemon must answer HTTP at once when the launcher has "
      "exited (no retry); for daemon-hello its pid file must name a live process. The floor is the same "
      "launch and wait for `/bin/true`.")
    w("")
    w("| program | ms | note |")
    w("|---|---:|---|")
    for key, v in d.items():
        if "absent" in v:
            w(f"| {v['label']} | – | {v['absent']} |")
        else:
            note = "; ".join(v.get("problems", [])[:3]) or "ready every time"
            if key == "floor":
                note = "process launch itself"
            w(f"| {v['label']} | {ms(med(v['ms']))}{_range(v['ms'], ms)} | {note} |")
    w("")


def _size(w, ctx):
    s = ctx["size"]
    w("## Bytes libgracefd.a adds to a stripped C program")
    w("")
    w("| program | without | with libgracefd.a | added |")
    w("|---|---:|---:|---:|")
    rows = [("hello.c calling `gracefd_version_number()`, `-O2`, stripped", s["hello"]),
            ("the same, linked with `-Wl,--gc-sections`", s["hello_gc"]),
            ("bench/notify-only.c calling only `gracefd_notify()`, `-Wl,--gc-sections`", s.get("notify_gc", (None, None))),
            ("bench/lifecycle.c (daemonize, listen, events, ready, upgrade, notify; vs bench/nolib.c), `-O2`, "
             "stripped", s.get("lifecycle", (None, None))),
            ("the same, linked with `-Wl,--gc-sections`", s.get("lifecycle_gc", (None, None))),
            ("c-examples/httpd.c (vs bench/nolib.c; also hand-off and the connection pass), `-O2`, stripped",
             s["httpd"]),
            ("the same, linked with `-Wl,--gc-sections`", s.get("httpd_gc", (None, None)))]
    for label, (a, b) in rows:
        if a and b:
            w(f"| {label} | {a:,} | {b:,} | **{b - a:,}** ({(b - a) / 1024:.0f} KiB) |")
        else:
            w(f"| {label} | – | – | not built |")
    w("")
    w("What these bytes are: the archive is cut into one member per set of entry points "
      "(tools/slim-archive.sh), so even a default link takes only what the program's calls reach, plus "
      "what the start-up constructor reaches, which every program linking the library keeps: the environment "
      "snapshot and a formatting-free pass that makes announced fds CLOEXEC (parsing and messages wait for "
      "first use). The C example uses nearly every capability, so its default link is what "
      "`--gc-sections` keeps. docs/performance.md (\"Footprint\") breaks the figures down.")
    w("")


def _zero_drain(w, ctx):
    zd = ctx.get("zero_drain")
    if not zd:
        return
    c = zd["config"]
    w("## Zero-drain upgrades: polite drain vs `--pass-connections`")
    w("")
    w(f"`build/bin/httpd` upgraded every {c['interval']} s under `loadgen --keepalive {c['keepalive']} "
      f"--idle-ms {c['idle_ms']} --new {c['new']}` (keep-alive clients holding one connection for the whole run, "
      f"idle between requests, plus new-connection workers), {c['duration']} s per round, {c['rounds']} round(s) "
      "per mode, the two modes interleaved (bench/zero_drain.py). *Reconnects*: connections the server closed "
      "that a keep-alive client had to open again. *Gone after ready*: signal → old generation gone, minus the "
      "library's own start → ready time (an upper bound). *Pass cost*: the library's time for one "
      "`gracefd_conns_pass()` call divided by the connections it passed. The last row holds 500 idle "
      "keep-alive connections (`--keepalive 500 --idle-ms 200 --new 0`) for the pass cost at a larger count.")
    w("")
    w("| mode | requests | failed | reconnects | upgrades | signal → old gone (median, range) "
      "| gone after ready (median, range) | pass cost per connection (median) | connections per pass (median) |")
    w("|---|---|---|---|---|---|---|---|---|")
    for key, s in zd["modes"].items():
        if not s["rounds"]:
            w(f"| {s['name']} | failed to run: {'; '.join(s['errors'][:1])} | | | | | | | |")
            continue
        pc = med(s["pass_us_per_conn"])
        w(f"| {s['name']} | {s['requests']:,} | {s['failed']} | {s['reconnects']} | {s['completed']}/{s['signals']} "
          f"| {ms(med(s['gone']))} ms{_range(s['gone'], ms)} | {ms(med(s['after_ready']))} ms"
          f"{_range(s['after_ready'], ms)} | {'—' if pc is None else f'{pc:.1f} µs'} "
          f"| {'—' if not s['pass_n'] else med(s['pass_n'])} |")
    w("")


def _handoff(w, ctx):
    med_, notes, header = ctx["handoff"]
    cfg = ctx["config"]
    w("## Hand-off time (`build/bin/handoff-bench`)")
    w("")
    w(f"{cfg['handoff_invocations']} invocation(s) of `handoff-bench {cfg['handoff_runs']}`; each prints the "
      "median of its runs; shown: the median of those medians [their range], µs. floor: bare "
      "`sendmsg`/`recvmsg`; transfer: `gracefd_send_fds` → `gracefd_recv_fds`; take: `gracefd_handoff_take`.")
    w("")
    whats = ["floor", "transfer", "take"]
    sizes = sorted({n for n, wh in med_ if wh != "take"} or {n for n, _ in med_})
    w("| fds | " + " | ".join(whats) + " |")
    w("|---:|" + "---:|" * len(whats))
    for n in sizes:
        cells = []
        for wh in whats:
            key = (n, wh)
            label = ""
            if key not in med_ and wh == "take":
                # Where n + 252 fds do not fit RLIMIT_NOFILE the bench times the largest take that does.
                smaller = [m for m, w2 in med_ if w2 == "take" and m not in sizes and m < n]
                if smaller:
                    key = (max(smaller), wh)
                    label = f" ({key[0]:,} fds)"
            xs = med_.get(key)
            cells.append(f"{_us(med(xs))}{_range(xs, _us)}{label}" if xs else "–")
        w(f"| {n:,} | " + " | ".join(cells) + " |")
    for note in notes:
        w(f"\n{note}.")
    w("")


def _us(x):
    if x is None:
        return "–"
    return f"{x / 1000:.1f} ms" if x >= 1000 else f"{x:.0f} µs"


def _targets(w, ctx):
    t = ctx["targets"]
    w("## Targets")
    w("")
    for name, verdict, why in t:
        w(f"- **{name}: {verdict}.** {why}")
    w("")


def _method(w, ctx):
    cfg = ctx["config"]
    w("## Method and command")
    w("")
    w(f"- Command: `{cfg['command']}`. The full run is `make bench` (writes BENCHMARKS.md); "
      "`make bench BENCH_QUICK=1` is a one-minute version for iteration (build/bench/BENCHMARKS-quick.md). "
      "`make bench` also runs `bench-handoff`, which prints its own hand-off table.")
    w("- Code: bench/run.py (sections, budget), bench/contenders.py (the table of contenders), "
      "bench/upgrade_round.py (one round), bench/micro.py (daemonize, size, requests/s, hand-off), "
      "bench/report.py (this file), bench/procs.py (processes by pid), bench/nolib.c, bench/hello.c, "
      "bench/tableflip-httpd/.")
    w("- *signal → first response from the new generation*: from just before `kill(2)` to the moment loadgen "
      "completed the first response carrying a new `X-Pid` (loadgen's `--watch-pid-change` `mono_ns`; both are "
      "CLOCK_MONOTONIC). *signal → old generation gone*: to the moment the pid that served when the signal "
      "went out has exited (a pidfd becomes readable; the old generation drains its connections first). "
      "The runner notices that exit when it is next scheduled, so on a busy machine this figure is a little "
      "high, most visibly for the smallest values. It can be below *first response*: a draining server closes "
      "each connection right after its last `Connection: close` response and exits; the clients reconnect to "
      "the new generation after that.")
    w("- An upgrade is *completed* when both happened within 10 s. The next signal waits until then: start_server "
      "cuts its `--interval` sleep short when another signal arrives, so overlapping signals would make it look "
      "faster than its own rule.")
    w("- Every process is started in its own process group, stopped by pid (SIGTERM, then SIGKILL after 5 s), "
      "then any member left in that group by pid, and reaped: the runner is a child subreaper, so generations "
      "and daemons reparented to it are reaped too.")
    w("- RSS: VmRSS from /proc, sampled just before each signal (the serving process, and the supervisor "
      "where there is one); median (max).")
    w("")
