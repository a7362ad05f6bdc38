#!/usr/bin/env python3
"""Split the mergeable string sections of an ELF relocatable object into one
section per string, so that `ld --gc-sections` can drop the strings nothing
kept refers to.

Why: rustc (1.95, the toolchain in use) encodes every format_args! template as a NUL-terminated
byte string, and LLVM puts all NUL-terminated constants of the archive's one
LTO object into a single `.rodata.str1.1` section (mergeable sections are
never given a section per constant). GNU ld garbage-collects whole input
sections only, so a program that keeps one message keeps the templates of
every message of the library (about 18 KB). LLVM describes each string with
a sized local symbol (`.Lanon.*`); this tool cuts the section at those
symbols' starts into plain read-only sections and moves each symbol, and the
rare relocation against the section symbol, to its piece. The bytes do not
change and nothing is merged or reordered: a program linked without
--gc-sections gets the same strings, in the same order.

Usage: split-strings.py OBJECT  (rewritten in place). Only ELF64
little-endian relocatable objects (x86-64, aarch64) are handled; anything
else is left alone with a message. After rewriting, every relocation into
the old section is checked to resolve to the same bytes as before.
"""
import struct
import sys

SHT_SYMTAB, SHT_RELA, SHT_REL = 2, 4, 9
SHF_MERGE, SHF_STRINGS = 0x10, 0x20
STT_SECTION = 3
SHN_LORESERVE = 0xFF00
# PC-relative x86-64 relocations whose addend carries the -4 bias of the
# displacement: the referenced byte is at addend + 4 from the symbol.
X86_64_PC_BIASED = {2, 4, 9, 41, 42}  # PC32, PLT32, GOTPCREL, GOTPCRELX, REX_GOTPCRELX
EM_X86_64 = 62

SHDR = struct.Struct("<IIQQQQIIQQ")
SYM = struct.Struct("<IBBHQQ")
RELA = struct.Struct("<QQq")


def cstr(blob, off):
    return blob[off:blob.index(b"\0", off)].decode()


def main(path):
    data = bytearray(open(path, "rb").read())
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1 or struct.unpack_from("<H", data, 16)[0] != 1:
        print(f"split-strings: {path}: not an ELF64 little-endian relocatable object; left as is")
        return 0
    machine = struct.unpack_from("<H", data, 18)[0]
    shoff, = struct.unpack_from("<Q", data, 40)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 58)
    if shnum == 0 or shnum >= SHN_LORESERVE or shstrndx >= SHN_LORESERVE:
        print(f"split-strings: {path}: extended section numbering is not handled; left as is")
        return 0
    shdrs = [list(SHDR.unpack_from(data, shoff + i * shentsize)) for i in range(shnum)]
    shstr = bytes(data[shdrs[shstrndx][4]:shdrs[shstrndx][4] + shdrs[shstrndx][5]])
    names = [cstr(shstr, h[0]) for h in shdrs]
    symtab = next(i for i, h in enumerate(shdrs) if h[1] == SHT_SYMTAB)
    sym_off, sym_size = shdrs[symtab][4], shdrs[symtab][5]
    nsyms = sym_size // SYM.size

    def sym(i):
        return list(SYM.unpack_from(data, sym_off + i * SYM.size))

    targets = [i for i, (n, h) in enumerate(zip(names, shdrs))
               if n.startswith(".rodata.str") and h[2] & SHF_MERGE and h[2] & SHF_STRINGS and h[5] > 0]
    if not targets:
        print(f"split-strings: {path}: no mergeable string section")
        return 0
    relas = [(i, h) for i, h in enumerate(shdrs) if h[1] == SHT_RELA and h[6] == symtab]
    if any(h[1] == SHT_REL for h in shdrs):
        print(f"split-strings: {path}: REL relocations are not handled; left as is")
        return 0

    def referenced_byte(sec_sym_value, addend, rtype):
        return sec_sym_value + addend + (4 if machine == EM_X86_64 and rtype in X86_64_PC_BIASED else 0)

    # Before: what every relocation into a target section points at.
    def snapshot(sections):
        out = {}
        for ri, rh in relas:
            for k in range(rh[5] // RELA.size):
                off = rh[4] + k * RELA.size
                r_off, info, addend = RELA.unpack_from(data, off)
                s = sym(info >> 32)
                sec = s[3]
                if sec in sections:
                    out[off] = sections[sec] + referenced_byte(s[4], addend, info & 0xFFFFFFFF)
        return out

    new_headers, new_names = [], []
    moved = 0
    base_of = {t: 0 for t in targets}  # piece section -> offset of its start in the original section
    origin = {}  # piece section -> original section
    before = snapshot({t: 0 for t in targets})
    for t in targets:
        h = shdrs[t]
        size = h[5]
        starts = {0}
        ends = {}
        for i in range(nsyms):
            s = sym(i)
            if s[3] == t and (s[1] & 0xF) != STT_SECTION:
                if s[4] >= size:
                    continue
                starts.add(s[4])
                ends[s[4]] = max(ends.get(s[4], 0), s[4] + s[5])
        # A symbol running past the next start (shared tails) joins the pieces.
        cuts, reach = [], 0
        for st in sorted(starts):
            if st >= reach:
                cuts.append(st)
            reach = max(reach, ends.get(st, st))
        bounds = cuts + [size]
        pieces = list(zip(bounds, bounds[1:]))
        index = {}
        for k, (a, b) in enumerate(pieces):
            if k == 0:
                sec = t
                h[5] = b - a
            else:
                sec = shnum + len(new_headers)
                nh = list(h)
                nh[4] = h[4] + a
                nh[5] = b - a
                new_headers.append(nh)
                new_names.append(f"{names[t]}.{k}")
            index[a] = sec
            base_of[sec] = a
            origin[sec] = t
        # Plain read-only data now: each piece is kept or dropped whole.
        for sec in index.values():
            ph = h if sec == t else new_headers[sec - shnum]
            ph[2] &= ~(SHF_MERGE | SHF_STRINGS)
            ph[9] = 0
        starts_sorted = [a for a, _ in pieces]

        def piece_of(off):
            lo = 0
            for k, a in enumerate(starts_sorted):
                if a <= off:
                    lo = k
            return index[starts_sorted[lo]], starts_sorted[lo]

        for i in range(nsyms):
            s = sym(i)
            if s[3] == t and (s[1] & 0xF) != STT_SECTION and s[4] < size:
                sec, a = piece_of(s[4])
                if sec != t:
                    s[3], s[4] = sec, s[4] - a
                    SYM.pack_into(data, sym_off + i * SYM.size, *s)
                    moved += 1
        # Relocations against the section symbol: point them at the symbol
        # that starts the piece holding the referenced byte.
        start_sym = {}
        for i in range(nsyms):
            s = sym(i)
            if (s[1] & 0xF) != STT_SECTION and s[3] != t and origin.get(s[3]) == t and s[4] == 0:
                start_sym.setdefault(s[3], i)
        for ri, rh in relas:
            for k in range(rh[5] // RELA.size):
                off = rh[4] + k * RELA.size
                r_off, info, addend = RELA.unpack_from(data, off)
                s = sym(info >> 32)
                if s[3] == t and (s[1] & 0xF) == STT_SECTION:
                    byte = referenced_byte(s[4], addend, info & 0xFFFFFFFF)
                    sec, a = piece_of(byte)
                    if sec == t:
                        continue
                    if sec not in start_sym:
                        print(f"split-strings: {path}: no symbol starts the piece at {a:#x}; left as is")
                        return 1
                    RELA.pack_into(data, off, r_off, (start_sym[sec] << 32) | (info & 0xFFFFFFFF), addend - a)

    # After: the same bytes, wherever they now live.
    after = snapshot(base_of)
    if set(before) - set(after) or any(before[o] != after[o] for o in before):
        print(f"split-strings: {path}: a relocation would move; left as is")
        return 1

    # New section-name table and header table at the end of the file.
    shstr_new = bytearray(shstr)
    for n, nh in zip(new_names, new_headers):
        nh[0] = len(shstr_new)
        shstr_new += n.encode() + b"\0"
    while len(data) % 8:
        data.append(0)
    shdrs[shstrndx][4], shdrs[shstrndx][5] = len(data), len(shstr_new)
    data += shstr_new
    while len(data) % 8:
        data.append(0)
    new_shoff = len(data)
    for h in shdrs + new_headers:
        data += SHDR.pack(*h)
    struct.pack_into("<Q", data, 40, new_shoff)
    struct.pack_into("<H", data, 60, shnum + len(new_headers))
    open(path, "wb").write(data)
    print(f"split-strings: {path}: {len(targets)} string section(s) cut into {len(new_headers) + len(targets)} pieces, "
          f"{moved} symbols moved")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: split-strings.py OBJECT")
    sys.exit(main(sys.argv[1]))
