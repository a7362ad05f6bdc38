#!/usr/bin/env python3
"""Check that docs/testing.md's test map names every test file in the tree,
and names no file that does not exist.

A test file is any file of the tree (build outputs aside) matching TEST_FILES
below. The map is the "## Test map" section; what counts as named is any
`backticked` path in it. Exit 0, or 1 with every problem listed.
"""
import os
import re
import sys

# Where tests live, as regular expressions over paths from the repository
# root. Both Go layouts (go-examples/gracefd, go/) and both CLI layouts
# (cli-tests/, cli/) match.
TEST_FILES = [re.compile(p) for p in (
    r"ffi-tests/t_[^/]*\.c",
    r"ffi-tests/interop[^/]*",
    r"cli-tests/[^/]*",
    r"cli/tests/[^/]*",
    r"tests/[^/]*\.rs",
    r"tests/[^/]*/Cargo\.toml",   # a test crate: named by its directory
    r"(.*/)?[^/]*_test\.go",
    r"tools/(test|check)-[^/]*\.(sh|py)",
    r"(cli/)?src/(.*/)?tests\.rs",
    r"loadgen/test-[^/]*",
)]


# Build outputs and VCS data: never tests of their own.
SKIP_DIRS = {".git", "target", "build", "node_modules", "__pycache__"}


def tree_files(root):
    """Every file under root but build outputs (no git needed: a tarball or
    a fresh machine without git checks the same)."""
    found = []
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if x not in SKIP_DIRS]
        for f in files:
            found.append(os.path.relpath(os.path.join(d, f), root))
    return found


def test_files(files):
    found = set()
    for f in files:
        if any(p.fullmatch(f) for p in TEST_FILES):
            found.add(os.path.dirname(f) if f.endswith("/Cargo.toml") else f)
    return found


def map_section(text):
    m = re.search(r"^## Test map\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if not m:
        return None
    return m.group(1)


def named_paths(section):
    names = set()
    for tok in re.findall(r"`([^`\s]+)`", section):
        tok = tok.rstrip("/")
        if "/" in tok and not tok.startswith(("make ", "-")):
            names.add(tok)
    return names


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    doc = os.path.join(root, "docs", "testing.md")
    with open(doc, encoding="utf-8") as f:
        section = map_section(f.read())
    if section is None:
        print("check-test-map: docs/testing.md has no '## Test map' section")
        return 1
    named = named_paths(section)
    tests = test_files(tree_files(root))
    problems = []
    for t in sorted(tests - named):
        problems.append(f"  not in the map: {t}")
    for n in sorted(named):
        if not os.path.exists(os.path.join(root, n)):
            problems.append(f"  named in the map but missing: {n}")
    if problems:
        print("check-test-map: docs/testing.md, '## Test map', is out of date:")
        print("\n".join(problems))
        print("Add each test file to the row of its capability (or fix the row).")
        return 1
    print(f"check-test-map: ok ({len(tests)} test files, all in the map)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
