#!/usr/bin/env python3
"""What a program's gracefd_* calls cost in the C archive, and why.

Reads cargo's own archive (target/ffi/ffi/libgracefd.a: one LTO object, one
section per function and per constant) after the same string split that
tools/slim-archive.sh does, builds the graph of sections and the relocations
between them, and takes as roots the gracefd_* functions a program calls
(its undefined gracefd_* symbols) plus the start-up constructor. Everything
reached from the roots is what --gc-sections keeps of the library.

It prints:
  - the total of the reached sections, code and data;
  - per root: the bytes only that root keeps (what leaving that call out of
    the program would save);
  - the dominator tree's heaviest nodes: a section "retains" everything
    that is reached only through it, so a large retained size that is not
    the section's own size is weight pulled in behind one function;
  - with --why SYMBOL_SUBSTRING: one shortest path from a root to each
    section whose symbol contains the text, and every section that refers
    to it.

Sizes are section sizes (no alignment padding, no page rounding; .bss
counts 0), so they add up exactly but are a little below what the linked
file grows by.

Usage: size-report.py [--lib target/ffi/ffi/libgracefd.a] [--top N]
                      [--why TEXT]... PROGRAM.o|PROGRAM.c|@ENTRY,ENTRY,...
A .c file is compiled with cc -c -Iinclude; @LIST names the roots directly.
"""
import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def load(name, file):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, file))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


split = load("split_object", "split-object.py")


def demangle(names):
    try:
        out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True,
                             check=True).stdout.splitlines()
        if len(out) == len(names):
            return out
    except (OSError, subprocess.CalledProcessError):
        pass
    return names


def library_object(lib, work):
    members = subprocess.run(["ar", "t", lib], capture_output=True, text=True, check=True).stdout.split()
    obj = [m for m in members if m.startswith("gracefd-") and m.endswith(".o")]
    if len(obj) != 1:
        sys.exit(f"size-report: expected one gracefd-*.o in {lib} (cargo's unsplit archive), found {obj}")
    subprocess.run(["ar", "x", os.path.abspath(lib), obj[0]], cwd=work, check=True)
    path = os.path.join(work, obj[0])
    subprocess.run([sys.executable, os.path.join(HERE, "split-strings.py"), path], check=True)
    return path


def roots_of(program, work):
    if program.startswith("@"):
        return [r for r in program[1:].split(",") if r]
    if program.endswith(".c"):
        obj = os.path.join(work, "program.o")
        subprocess.run(["cc", "-O2", "-c", "-I" + os.path.join(ROOT, "include"), "-o", obj, program], check=True)
        program = obj
    out = subprocess.run(["nm", "-u", program], capture_output=True, text=True, check=True).stdout
    return sorted({line.split()[-1] for line in out.splitlines() if line.split()[-1].startswith("gracefd_")})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("program")
    ap.add_argument("--lib", default=os.path.join(ROOT, "target/ffi/ffi/libgracefd.a"))
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--why", action="append", default=[])
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        path = library_object(a.lib, work)
        _, secs, syms, relas = split.read(path)
        roots = roots_of(a.program, work)
    alloc = {s["i"] for s in secs if s["flags"] & split.SHF_ALLOC and s["type"] != split.SHT_RELA}
    edges = {i: sorted({syms[k]["shndx"] for _, _, k, _ in relas.get(i, ()) if syms[k]["shndx"] in alloc})
             for i in alloc}
    label = {}
    for s in syms:  # the largest named symbol of each section names it
        if s["shndx"] in alloc and s["type"] not in (split.STT_SECTION, split.STT_FILE) and s["name"]:
            if s["shndx"] not in label or s["size"] > label[s["shndx"]][1]:
                label[s["shndx"]] = (s["name"], s["size"])
    keys = sorted(label)
    pretty = dict(zip(keys, demangle([label[k][0] for k in keys])))

    def name(i):
        return pretty.get(i, secs[i]["name"])

    entry = {s["name"]: s["shndx"] for s in syms if s["bind"] != split.STB_LOCAL and s["shndx"] in alloc}
    missing = [r for r in roots if r not in entry]
    if missing:
        sys.exit(f"size-report: not in the library: {missing}")
    ctors = [s["i"] for s in secs if s["type"] in (split.SHT_INIT_ARRAY, split.SHT_PREINIT_ARRAY)]
    start = [("(constructor)", c) for c in ctors] + [(r, entry[r]) for r in roots]

    # Reachability and one shortest path back (breadth-first from all roots).
    parent = {}
    order = []
    for _, i in start:
        if i not in parent:
            parent[i] = None
            order.append(i)
    for i in order:
        for j in edges[i]:
            if j not in parent:
                parent[j] = i
                order.append(j)
    reached = order
    # Zero-filled data (.bss) takes no bytes in the file: it counts as 0.
    size = {i: 0 if secs[i]["type"] == split.SHT_NOBITS else secs[i]["size"] for i in reached}
    code = sum(size[i] for i in reached if secs[i]["flags"] & 0x4)
    data = sum(size[i] for i in reached if not secs[i]["flags"] & 0x4 and secs[i]["type"] != split.SHT_NOBITS)
    print(f"roots: {', '.join(r for r, _ in start)}")
    print(f"reached: {len(reached)} sections, code {code:,} bytes, read-only and other data {data:,} bytes\n")

    def reach(skip):
        return split.reachable(edges, [i for r, i in start if r != skip])

    print("bytes only this root keeps:")
    full = set(reached)
    rows = []
    for r, i in start:
        if r == "(constructor)":
            continue
        rest = reach(r)
        rows.append((sum(size[j] for j in full - rest), r))
    for b, r in sorted(rows, reverse=True):
        print(f"{b:>8,}  {r}")

    # Dominator tree (Cooper, Harvey, Kennedy) over a virtual root.
    vroot = -1
    preds = {i: [] for i in reached}
    for i in reached:
        for j in edges[i]:
            preds[j].append(i)
    for _, i in start:
        preds[i].append(vroot)
    rpo = [vroot]
    seen = {vroot}
    stack = [(vroot, iter([i for _, i in start]))]
    post = []
    while stack:
        n, it = stack[-1]
        for j in it:
            if j not in seen:
                seen.add(j)
                stack.append((j, iter(edges[j])))
                break
        else:
            post.append(n)
            stack.pop()
    rpo = post[::-1]
    num = {n: k for k, n in enumerate(rpo)}
    idom = {vroot: vroot}
    changed = True
    while changed:
        changed = False
        for n in rpo[1:]:
            ps = [p for p in preds[n] if p in idom]
            new = ps[0]
            for p in ps[1:]:
                x, y = p, new
                while x != y:
                    while num[x] > num[y]:
                        x = idom[x]
                    while num[y] > num[x]:
                        y = idom[y]
                new = x
            if idom.get(n) != new:
                idom[n] = new
                changed = True
    retained = {n: size.get(n, 0) for n in rpo}
    for n in reversed(rpo[1:]):
        retained[idom[n]] += retained[n]
    print(f"\nheaviest retained (own size, retained size: what goes if nothing reaches it), top {a.top}:")
    for n in sorted(rpo[1:], key=lambda n: -retained[n])[:a.top]:
        d = idom[n]
        via = "root" if d == vroot else name(d)[:60]
        print(f"{size[n]:>7,} {retained[n]:>8,}  {name(n)[:110]}   [under {via}]")
    for text in a.why:
        print(f"\nwhy: {text}")
        for i in reached:
            if text in name(i):
                chain = []
                j = i
                while j is not None:
                    chain.append(name(j)[:90])
                    j = parent[j]
                print("  " + "\n    <- ".join(chain))
                refs = sorted({name(k)[:90] for k in reached if i in edges[k] and k != i})
                if len(refs) > 1:
                    print("    (referred to by: " + "; ".join(refs) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
