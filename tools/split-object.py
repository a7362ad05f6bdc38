#!/usr/bin/env python3
"""Split the library's one LTO object into several objects, so that a program
linked with the default flags pulls only the code its calls reach.

A linker takes an archive member whole when the program refers to one of its
symbols. With the whole library in one object, calling gracefd_version_number
links everything (about 200 KB). Here every allocated section of the object
is assigned to a member by the set of entry points that reach it:

- the roots are the exported gracefd_* functions and the start-up
  constructor (.init_array);
- everything the constructor reaches, and .init_array itself, goes into one
  base member. Every other member declares an undefined reference to the
  base, so the constructor runs in exactly the programs it ran in before (any
  program that links any gracefd_* function), as with --gc-sections;
- every other section goes into the member of the exact set of entry points
  that reach it. A program then pulls the members of the entry points it
  calls, which is what --gc-sections would keep, at member granularity.
  Sections no entry point reaches are dropped.

A reference from one member to a local symbol of another becomes a
reference to a hidden global named gracefd__<kind><number>: hidden, so it
is never exported from a shared object that links the archive; in the
gracefd_ namespace, so it cannot clash with another Rust library's symbols
(which is why the library was one object with local symbols to begin with;
tools/check-symbols.sh checks both). A cross-member reference through a
section symbol gets a named symbol at the section start; mergeable constant
sections lose SHF_MERGE, so no constant moves relative to such a symbol.
Section contents and relocation types are copied unchanged; debug sections
are dropped (the archive is for stripped programs; cargo's own output keeps
them).

Usage: split-object.py OBJECT OUTDIR  -> writes OUTDIR/gracefd-<n>.o and
prints their names. The members are read back and every relocation checked
to have the same offset, type and addend and to resolve to the same place
as in OBJECT. ELF64 little-endian relocatable objects with RELA relocations
only; anything else, or a failed check: exit 2 with a message (the caller
then keeps the single object).
"""
import os
import struct
import sys

SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_NOBITS, SHT_REL = 0, 1, 2, 3, 4, 8, 9
SHT_INIT_ARRAY, SHT_FINI_ARRAY, SHT_PREINIT_ARRAY, SHT_GROUP = 14, 15, 16, 17
SHF_ALLOC, SHF_MERGE, SHF_STRINGS, SHF_INFO_LINK, SHF_LINK_ORDER, SHF_GROUP = 0x2, 0x10, 0x20, 0x40, 0x80, 0x200
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STT_NOTYPE, STT_SECTION, STT_FILE = 0, 3, 4
STV_DEFAULT, STV_HIDDEN = 0, 2
SHN_UNDEF, SHN_LORESERVE, SHN_ABS, SHN_COMMON = 0, 0xFF00, 0xFFF1, 0xFFF2

SHDR = struct.Struct("<IIQQQQIIQQ")
SYM = struct.Struct("<IBBHQQ")
RELA = struct.Struct("<QQq")
EHDR = struct.Struct("<16sHHIQQQIHHHHHH")


class Fail(Exception):
    pass


def cstr(blob, off):
    end = blob.index(b"\0", off)
    return blob[off:end].decode()


def read(path):
    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise Fail("not an ELF64 little-endian object")
    eh = EHDR.unpack_from(data, 0)
    if eh[1] != 1:
        raise Fail("not a relocatable object")
    shoff, shentsize, shnum, shstrndx = eh[6], eh[11], eh[12], eh[13]
    if shnum == 0 or shnum >= SHN_LORESERVE or shstrndx >= SHN_LORESERVE:
        raise Fail("extended section numbering")
    sh = [SHDR.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]
    shstr = data[sh[shstrndx][4]:sh[shstrndx][4] + sh[shstrndx][5]]
    secs = []
    for i, h in enumerate(sh):
        name = cstr(shstr, h[0])
        body = b"" if h[1] == SHT_NOBITS else data[h[4]:h[4] + h[5]]
        secs.append({"i": i, "name": name, "type": h[1], "flags": h[2], "size": h[5], "link": h[6],
                     "info": h[7], "align": h[8], "entsize": h[9], "body": body})
    if any(s["type"] in (SHT_REL, SHT_GROUP) or s["flags"] & (SHF_GROUP | SHF_LINK_ORDER) for s in secs):
        raise Fail("REL relocations, section groups or link-order sections")
    symtabs = [s for s in secs if s["type"] == SHT_SYMTAB]
    if len(symtabs) != 1:
        raise Fail("not exactly one symbol table")
    st = symtabs[0]
    strtab = secs[st["link"]]["body"]
    syms = []
    for k in range(st["size"] // SYM.size):
        name, info, other, shndx, value, size = SYM.unpack_from(st["body"], k * SYM.size)
        syms.append({"k": k, "name": cstr(strtab, name) if name else "", "bind": info >> 4, "type": info & 0xF,
                     "other": other, "shndx": shndx, "value": value, "size": size})
    relas = {}
    for s in secs:
        if s["type"] == SHT_RELA:
            if s["link"] != st["i"]:
                raise Fail("a relocation section for another symbol table")
            rel = []
            for k in range(s["size"] // RELA.size):
                off, info, addend = RELA.unpack_from(s["body"], k * RELA.size)
                rel.append((off, info & 0xFFFFFFFF, info >> 32, addend))
            relas[s["info"]] = rel
    return eh, secs, syms, relas


def reachable(edges, start):
    """The sections reachable from the sections `start` along `edges`
    (section -> the sections its relocations refer to), `start` included."""
    seen, todo = set(start), list(start)
    while todo:
        for j in edges[todo.pop()]:
            if j not in seen:
                seen.add(j)
                todo.append(j)
    return seen


def main(path, outdir):
    eh, secs, syms, relas = read(path)
    alloc = [s["i"] for s in secs if s["flags"] & SHF_ALLOC and s["type"] != SHT_RELA]
    is_alloc = set(alloc)
    for t in relas:
        if t in is_alloc:
            for _, _, k, _ in relas[t]:
                sh = syms[k]["shndx"]
                if sh not in (SHN_UNDEF, SHN_ABS) and (sh >= SHN_LORESERVE or sh not in is_alloc):
                    raise Fail(f"a relocation in {secs[t]['name']} refers to a non-allocated or special section")
    if any(s["shndx"] == SHN_COMMON for s in syms):
        raise Fail("common symbols")

    def refs(i):
        out = set()
        for _, _, k, _ in relas.get(i, ()):
            sh = syms[k]["shndx"]
            if sh in is_alloc:
                out.add(sh)
        return out

    edges = {i: refs(i) for i in alloc}
    roots = {}
    for s in syms:
        if s["bind"] in (STB_GLOBAL, STB_WEAK) and s["shndx"] in is_alloc:
            if not s["name"].startswith("gracefd_"):
                raise Fail(f"a global symbol outside gracefd_*: {s['name']}")
            roots[s["name"]] = s["shndx"]
    ctors = [s["i"] for s in secs if s["type"] in (SHT_INIT_ARRAY, SHT_PREINIT_ARRAY, SHT_FINI_ARRAY)]

    def reach(start):
        return reachable(edges, start)

    base = reach(ctors)
    sig = {}
    for name, i in sorted(roots.items()):
        for j in reach([i]):
            if j not in base:
                sig.setdefault(j, set()).add(name)
    groups = {}
    for j in alloc:
        if j in base:
            groups.setdefault(("(base)",), []).append(j)
        elif j in sig:
            groups.setdefault(tuple(sorted(sig[j])), []).append(j)
    # Members: the base first, then by their first section's order.
    members = sorted(groups.values(), key=lambda g: (0 if g is groups.get(("(base)",)) else 1, min(g)))
    member_of = {j: m for m, g in enumerate(members) for j in g}
    has_base = ("(base)",) in groups

    # Which symbols must become cross-member globals.
    exported = {}  # symbol index -> global name
    anchors = {}  # section index -> anchor symbol name (for section-symbol references)
    for t, rel in relas.items():
        if t not in member_of:
            continue
        for _, _, k, _ in rel:
            s = syms[k]
            sh = s["shndx"]
            if sh in member_of and member_of[sh] != member_of[t]:
                if s["type"] == STT_SECTION:
                    anchors.setdefault(sh, f"gracefd__s{sh}")
                elif s["bind"] == STB_LOCAL:
                    exported.setdefault(k, f"gracefd__l{k}")
    base_anchor = "gracefd__base"

    os.makedirs(outdir, exist_ok=True)
    names = []
    for m, group in enumerate(members):
        name = f"gracefd-{m}.o"
        write_member(os.path.join(outdir, name), eh, secs, syms, relas, sorted(group), member_of, m, exported,
                     anchors, base_anchor if has_base else None, m == 0 and has_base)
        names.append(name)
    verify(secs, syms, relas, [os.path.join(outdir, n) for n in names], [sorted(g) for g in members])
    print("\n".join(names))
    return 0


def verify(secs, syms, relas, paths, groups):
    """Read the members back: every relocation of every kept section must
    have the same offset, type and addend as before and resolve to the same
    place (original section and offset, or the same undefined name)."""

    def target(s, section_of):
        if s["shndx"] == SHN_UNDEF:
            return ("undefined", s["name"])
        if s["shndx"] == SHN_ABS:
            return ("absolute", s["value"])
        return ("section", section_of(s["shndx"]), 0 if s["type"] == STT_SECTION else s["value"])

    members = []
    defined = {}
    for path, group in zip(paths, groups):
        _, msecs, msyms, mrelas = read(path)
        orig = {k + 1: j for k, j in enumerate(group)}  # the writer puts the group first, in order
        members.append((group, msyms, mrelas, orig))
        for s in msyms:
            if s["bind"] != STB_LOCAL and s["shndx"] not in (SHN_UNDEF, SHN_ABS):
                if s["name"] in defined:
                    raise Fail(f"verify: {s['name']} defined twice")
                defined[s["name"]] = (orig[s["shndx"]], s["value"])
    for group, msyms, mrelas, orig in members:
        for new, j in orig.items():
            before = relas.get(j, [])
            after = mrelas.get(new, [])
            if len(before) != len(after):
                raise Fail(f"verify: {secs[j]['name']}: relocation count changed")
            for (o1, t1, k1, a1), (o2, t2, k2, a2) in zip(before, after):
                want = target(syms[k1], lambda i: i)
                s2 = msyms[k2]
                if s2["shndx"] == SHN_UNDEF and s2["name"] in defined:
                    got = ("section",) + defined[s2["name"]]
                else:
                    got = target(s2, lambda i: orig[i])
                if (o1, t1, a1, want) != (o2, t2, a2, got):
                    raise Fail(f"verify: {secs[j]['name']}+{o1:#x}: {want} became {got}")


def write_member(out, eh, secs, syms, relas, group, member_of, m, exported, anchors, base_anchor, is_base):
    # Sections: NULL, the group's sections, their relocations, .note.GNU-stack,
    # .symtab, .strtab, .shstrtab.
    new_index = {}
    order = [None]
    for j in group:
        new_index[j] = len(order)
        order.append(("sec", j))
    rel_of = {}
    for j in group:
        if relas.get(j):
            rel_of[j] = len(order)
            order.append(("rela", j))
    note = len(order)
    order.append(("note", None))
    symtab_i = len(order)
    order.append(("symtab", None))
    strtab_i = len(order)
    order.append(("strtab", None))
    shstr_i = len(order)
    order.append(("shstrtab", None))

    strtab = bytearray(b"\0")
    str_cache = {}

    def sname(n):
        if not n:
            return 0
        if n not in str_cache:
            str_cache[n] = len(strtab)
            strtab.extend(n.encode() + b"\0")
        return str_cache[n]

    local_syms, global_syms = [(0, 0, 0, 0, 0, 0)], []
    sym_new = {}  # original index -> new index (after layout)
    sec_sym = {}
    # Section symbols of this member's sections.
    for j in group:
        sec_sym[j] = len(local_syms)
        local_syms.append((0, STT_SECTION, STV_DEFAULT, new_index[j], 0, 0))
    pending_globals = []  # (key, entry)
    for s in syms:
        k, sh = s["k"], s["shndx"]
        if k == 0 or s["type"] in (STT_SECTION, STT_FILE):
            continue
        if sh in new_index:
            if k in exported:
                pending_globals.append((("sym", k), (sname(exported[k]), (STB_GLOBAL << 4) | s["type"], STV_HIDDEN,
                                                     new_index[sh], s["value"], s["size"])))
            elif s["bind"] == STB_LOCAL:
                sym_new[k] = len(local_syms)
                local_syms.append((sname(s["name"]), s["type"], s["other"], new_index[sh], s["value"], s["size"]))
            else:
                pending_globals.append((("sym", k), (sname(s["name"]), (s["bind"] << 4) | s["type"], s["other"],
                                                     new_index[sh], s["value"], s["size"])))
    for sh, an in anchors.items():
        if sh in new_index:
            pending_globals.append((("anchor", sh), (sname(an), (STB_GLOBAL << 4) | STT_NOTYPE, STV_HIDDEN,
                                                     new_index[sh], 0, 0)))
    if is_base and base_anchor:
        first = group[0]
        pending_globals.append((("base", None), (sname(base_anchor), (STB_GLOBAL << 4) | STT_NOTYPE, STV_HIDDEN,
                                                 new_index[first], 0, 0)))
    # Undefined references: what this member's relocations need from elsewhere.
    needed = []
    for j in group:
        for _, _, k, _ in relas.get(j, ()):
            s = syms[k]
            sh = s["shndx"]
            if sh in new_index:
                continue
            if sh == SHN_UNDEF or sh == SHN_ABS:
                needed.append((("sym", k), (sname(s["name"]), s["bind"] << 4 | s["type"], s["other"], sh,
                                            s["value"] if sh == SHN_ABS else 0, 0)))
            elif s["type"] == STT_SECTION:
                needed.append((("anchor", sh), (sname(anchors[sh]), (STB_GLOBAL << 4) | STT_NOTYPE, STV_HIDDEN,
                                                SHN_UNDEF, 0, 0)))
            elif k in exported:
                needed.append((("sym", k), (sname(exported[k]), (STB_GLOBAL << 4) | STT_NOTYPE, STV_HIDDEN,
                                            SHN_UNDEF, 0, 0)))
            else:
                needed.append((("sym", k), (sname(s["name"]), (STB_GLOBAL << 4) | STT_NOTYPE, s["other"],
                                            SHN_UNDEF, 0, 0)))
    if base_anchor and not is_base:
        needed.append((("base", None), (sname(base_anchor), (STB_GLOBAL << 4) | STT_NOTYPE, STV_HIDDEN,
                                        SHN_UNDEF, 0, 0)))
    gkey = {}
    for key, entry in pending_globals + needed:
        if key not in gkey:
            gkey[key] = len(global_syms)
            global_syms.append(entry)
    nloc = len(local_syms)

    def new_sym(k):
        s = syms[k]
        sh = s["shndx"]
        if s["type"] == STT_SECTION:
            if sh in new_index:
                return sec_sym[sh]
            return nloc + gkey[("anchor", sh)]
        if k in sym_new:
            return sym_new[k]
        return nloc + gkey[("sym", k)]

    # Symbol table bytes.
    symtab = bytearray()
    for name, info, other, shndx, value, size in local_syms + global_syms:
        symtab += SYM.pack(name, info, other, shndx, value, size)

    shstr = bytearray(b"\0")

    def shname(n):
        o = len(shstr)
        shstr.extend(n.encode() + b"\0")
        return o

    headers, bodies = [], []
    for entry in order:
        if entry is None:
            headers.append([0] * 10)
            bodies.append(b"")
            continue
        kind, j = entry
        if kind == "sec":
            s = secs[j]
            flags = s["flags"]
            entsize = s["entsize"]
            if flags & SHF_MERGE:
                flags &= ~(SHF_MERGE | SHF_STRINGS)
                entsize = 0
            headers.append([shname(s["name"]), s["type"], flags, 0, 0, s["size"], 0, 0, s["align"], entsize])
            bodies.append(None if s["type"] == SHT_NOBITS else s["body"])
        elif kind == "rela":
            body = bytearray()
            for off, typ, k, addend in relas[j]:
                body += RELA.pack(off, (new_sym(k) << 32) | typ, addend)
            headers.append([shname(".rela" + secs[j]["name"]), SHT_RELA, SHF_INFO_LINK, 0, 0, len(body), symtab_i,
                            new_index[j], 8, RELA.size])
            bodies.append(bytes(body))
        elif kind == "note":
            headers.append([shname(".note.GNU-stack"), SHT_PROGBITS, 0, 0, 0, 0, 0, 0, 1, 0])
            bodies.append(b"")
        elif kind == "symtab":
            headers.append([shname(".symtab"), SHT_SYMTAB, 0, 0, 0, len(symtab), strtab_i, nloc, 8, SYM.size])
            bodies.append(bytes(symtab))
        elif kind == "strtab":
            headers.append([shname(".strtab"), SHT_STRTAB, 0, 0, 0, len(strtab), 0, 0, 1, 0])
            bodies.append(bytes(strtab))
        else:
            name_off = shname(".shstrtab")
            headers.append([name_off, SHT_STRTAB, 0, 0, 0, len(shstr), 0, 0, 1, 0])
            bodies.append(None)  # filled below, once complete

    headers[shstr_i][5] = len(shstr)
    bodies[shstr_i] = bytes(shstr)
    blob = bytearray(EHDR.size)
    for h, b in zip(headers, bodies):
        if b is None or h[1] == SHT_NULL:
            continue
        align = max(h[8], 1)
        while len(blob) % align:
            blob.append(0)
        h[4] = len(blob)
        blob += b
    for h in headers:
        if h[1] == SHT_NOBITS:
            h[4] = len(blob)
    while len(blob) % 8:
        blob.append(0)
    shoff = len(blob)
    for h in headers:
        blob += SHDR.pack(*h)
    ident, _type, machine, version, _entry, _phoff, _shoff, flags = eh[:8]
    EHDR.pack_into(blob, 0, ident, 1, machine, version, 0, 0, shoff, flags, EHDR.size, 0, 0, SHDR.size,
                   len(headers), shstr_i)
    open(out, "wb").write(blob)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: split-object.py OBJECT OUTDIR")
    try:
        sys.exit(main(sys.argv[1], sys.argv[2]))
    except Fail as e:
        print(f"split-object: {sys.argv[1]}: {e}", file=sys.stderr)
        sys.exit(2)
