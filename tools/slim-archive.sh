#!/usr/bin/env bash
# Make what libgracefd.a adds to a C program smaller, in place, without
# changing any code in it (see the footprint section of docs/performance.md):
#  - cut the library object's string section into one section per string
#    (tools/split-strings.py), so --gc-sections keeps only the strings the
#    program's code refers to;
#  - drop the library object's unwind tables (.eh_frame): it is built with
#    panic=abort and every C entry point is nounwind, so nothing ever unwinds
#    through its frames (an exception or unwind reaching them aborts with or
#    without the table);
#  - split that object into one member per set of entry points
#    (tools/split-object.py), so that a default link takes only the code the
#    program's calls reach.
# The compiler-builtins members are left as rustc made them.
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
others=$(quiet_ar t "$abs" | grep -v -x -F "$member")
if [ -n "$(sort <<<"$others" | uniq -d)" ]; then
  echo "slim-archive: $lib has members with the same name; cannot rebuild it" >&2
  exit 1
fi
mkdir "$work/members" "$work/split"
(cd "$work/members" && quiet_ar x "$abs")
obj=$work/members/$member
python3 "$here/split-strings.py" "$obj"
objcopy --remove-section=.eh_frame --remove-section=.rela.eh_frame "$obj"
status=0
parts=$(python3 "$here/split-object.py" "$obj" "$work/split") || status=$?
if [ "$status" = 2 ]; then
  # An object the splitter does not handle (it said why): one member, as
  # rustc made it: correct, only larger in a default link (check-symbols
  # fails on it, so make check notices).
  echo "slim-archive: WARNING: the library stays one object" >&2
  cp "$obj" "$work/split/$member"
  parts=$member
elif [ "$status" != 0 ]; then
  exit "$status"
else
  echo "slim-archive: the library object is now $(wc -l <<<"$parts") members"
fi
# The new archive: the library's members, then the others in their order.
rm -f "$abs.new"
(cd "$work/split" && quiet_ar rcs "$abs.new" $parts)
(cd "$work/members" && quiet_ar rs "$abs.new" $others)
mv "$abs.new" "$abs"
