#!/usr/bin/env bash
# Make what libgracefd.a adds to a C program smaller, in place, without
# changing any code in it (see the footprint section of docs/performance.md):
#  - cut the library object's string section into one section per string
#    (tools/split-strings.py), so --gc-sections keeps only the strings the
#    program's code refers to;
#  - drop the library object's unwind tables (.eh_frame): it is built with
#    panic=abort and every C entry point is nounwind, so nothing ever unwinds
#    through its frames (an exception or unwind reaching them aborts with or
#    without the table).
# Only the library's own object is rewritten; the compiler-builtins members
# are left as rustc made them.
set -euo pipefail
lib=${1:?usage: slim-archive.sh libgracefd.a}
here=$(cd "$(dirname "$0")" && pwd)
abs=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# binutils' ar may try an old LLVM plugin on rustc's members and say so (on
# stdout); that chatter is not an error, and ar's own status still counts.
quiet_ar() { ar "$@" | { grep -v '^bfd plugin: ' || true; }; }
member=$(quiet_ar t "$abs" | grep '^gracefd-.*\.o$' || true)
if [ "$(wc -l <<<"$member")" != 1 ] || [ -z "$member" ]; then
  echo "slim-archive: expected exactly one gracefd-*.o member in $lib, found: ${member:-none}" >&2
  exit 1
fi
(cd "$work" && quiet_ar x "$abs" "$member")
python3 "$here/split-strings.py" "$work/$member"
objcopy --remove-section=.eh_frame --remove-section=.rela.eh_frame "$work/$member"
(cd "$work" && quiet_ar r "$abs" "$member")
