#!/usr/bin/env python3
"""Build (and run, for the command) the code blocks of README.md and docs/*.md
that claim to work.

A block claims to build when its fence says so after the language:

    ```c build       compiled with cc against include/ and build/lib/libgracefd.a
    ```rust build    compiled as the main.rs of a crate depending on this one
    ```go build      compiled as package main of a module requiring the Go package
    ```sh run        run with bash -e from the repository root, build/bin first
                     on PATH, port 8080 replaced by a free port and /tmp/app by
                     a private directory; the pid in its pid file is stopped after

Other blocks are illustrations and are left alone. README.md must have at
least one block of each kind (so that dropping a marker cannot make this pass).

Usage: tools/check-readme.py   (from anywhere; needs make's build/ outputs:
build/lib/libgracefd.a, build/bin/gracefd, build/bin/httpd)
Environment: CC, CARGO, GO as make passes them.
"""
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "build", "readme")
FENCE = re.compile(r"^```(\w+)[ \t]+(build|run)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
GO_MODULE = "github.com/gracefd/gracefd/go"


def blocks(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        yield m.group(1), m.group(2), m.group(3), f"{os.path.relpath(path, ROOT)}:{line}"


def run(cmd, where, env=None, timeout=600):
    r = subprocess.run(cmd, cwd=where, env=env, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}\n{r.stdout}{r.stderr}")
    return r


def build_c(code, work):
    src = os.path.join(work, "main.c")
    with open(src, "w") as f:
        f.write(code)
    cc = os.environ.get("CC", "cc")
    run([cc, "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-I", os.path.join(ROOT, "include"),
         "-o", os.path.join(work, "main"), src, os.path.join(ROOT, "build", "lib", "libgracefd.a")], work)


def build_rust(code, work):
    os.makedirs(os.path.join(work, "src"), exist_ok=True)
    with open(os.path.join(work, "Cargo.toml"), "w") as f:
        f.write('[package]\nname = "readme-check"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n'
                f'[dependencies]\ngracefd = {{ path = "{ROOT}" }}\n\n[workspace]\n')
    with open(os.path.join(work, "src", "main.rs"), "w") as f:
        f.write(code)
    env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(ROOT, "target", "readme"))
    # The lock file of the repository pins the same versions offline.
    shutil.copy(os.path.join(ROOT, "Cargo.lock"), os.path.join(work, "Cargo.lock"))
    run([os.environ.get("CARGO", "cargo"), "build", "--quiet"], work, env)


def build_go(code, work):
    """The Go package is at go/ (module github.com/gracefd/gracefd/go); before
    that move it was the package gracefd of go-examples/ (module
    gracefd.example/go-examples): then the import path is rewritten."""
    if os.path.isfile(os.path.join(ROOT, "go", "go.mod")):
        require, target = GO_MODULE, os.path.join(ROOT, "go")
    elif os.path.isfile(os.path.join(ROOT, "go-examples", "go.mod")):
        require, target = "gracefd.example/go-examples", os.path.join(ROOT, "go-examples")
        code = code.replace(f'"{GO_MODULE}"', '"gracefd.example/go-examples/gracefd"')
    else:
        raise RuntimeError("no Go package found (go/go.mod or go-examples/go.mod)")
    with open(os.path.join(work, "go.mod"), "w") as f:
        f.write(f"module readmecheck\n\ngo 1.22\n\nrequire {require} v0.0.0\n\nreplace {require} => {target}\n")
    with open(os.path.join(work, "main.go"), "w") as f:
        f.write(code)
    # In case the package finds the library through pkg-config: this tree's.
    pc = os.path.join(work, "pkgconfig")
    os.makedirs(pc, exist_ok=True)
    with open(os.path.join(pc, "gracefd.pc"), "w") as f:
        f.write(f"Name: gracefd\nDescription: gracefd (build tree)\nVersion: 0\n"
                f"Cflags: -I{ROOT}/include\nLibs: {ROOT}/build/lib/libgracefd.a\n")
    # Go's cache does not see a changed header or archive (docs/go.md): key
    # the cgo compile on both, as mk/go.mk does. The final link reads the
    # archive anew anyway.
    h = hashlib.sha256()
    for p in ("include/gracefd.h", "build/lib/libgracefd.a"):
        with open(os.path.join(ROOT, p), "rb") as f:
            h.update(f.read())
    env = dict(os.environ, GOTOOLCHAIN="local", CGO_ENABLED="1", GOFLAGS="-mod=mod",
               CGO_CPPFLAGS=f"-DGRACEFD_BUILD_KEY={h.hexdigest()[:16]}",
               PKG_CONFIG_PATH=pc + ":" + os.environ.get("PKG_CONFIG_PATH", ""))
    run([os.environ.get("GO", "go"), "build", "-o", os.path.join(work, "main"), "."], work, env)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_sh(code, work):
    port = free_port()
    script = code.replace("8080", str(port)).replace("/tmp/app", os.path.join(work, "app"))
    env = dict(os.environ, PATH=os.path.join(ROOT, "build", "bin") + ":" + os.environ["PATH"])
    pidfiles = [p for p in re.findall(r"--pid-file\s+(\S+)", script)]
    try:
        run(["bash", "-euo", "pipefail", "-c", script], ROOT, env, timeout=60)
    finally:
        for p in pidfiles:  # anything the block started and left behind
            try:
                with open(p) as f:
                    pid = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            try:
                os.kill(pid, signal.SIGTERM)
                for _ in range(100):
                    os.kill(pid, 0)
                    time.sleep(0.05)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


KINDS = {("c", "build"): build_c, ("rust", "build"): build_rust, ("go", "build"): build_go, ("sh", "run"): run_sh}


def main():
    files = [os.path.join(ROOT, "README.md")] + sorted(
        os.path.join(ROOT, "docs", f) for f in os.listdir(os.path.join(ROOT, "docs")) if f.endswith(".md"))
    os.makedirs(OUT, exist_ok=True)
    failed, done, seen_in_readme = [], 0, set()
    for path in files:
        for lang, verb, code, where in blocks(path):
            kind = (lang, verb)
            if kind not in KINDS:
                failed.append(f"{where}: unknown block kind '{lang} {verb}' (known: "
                              + ", ".join(f"{a} {b}" for a, b in KINDS) + ")")
                continue
            if path.endswith("README.md"):
                seen_in_readme.add(kind)
            work = tempfile.mkdtemp(prefix=f"{lang}-", dir=OUT)
            try:
                KINDS[kind](code, work)
                print(f"check-readme: {where}: {lang} {verb}: ok")
                done += 1
                shutil.rmtree(work, ignore_errors=True)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                failed.append(f"{where}: {lang} {verb} failed (kept in {work}):\n{e}")
    for kind in KINDS:
        if kind not in seen_in_readme:
            failed.append(f"README.md: no '{kind[0]} {kind[1]}' block (each face has a checked example)")
    if failed:
        print("\n".join(failed))
        return 1
    print(f"check-readme: {done} blocks ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
