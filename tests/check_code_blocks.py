#!/usr/bin/env python3
"""tests/check_code_blocks.py - every C code block in the documentation compiles.

Usage: check_code_blocks.py --cc CC [--cc ARG]... [--cflag F]... [--ldflag F]... FILE.md...

Each fenced block whose info string starts with "c" is compiled with the
compiler given by the --cc words (its command line may be several words),
the --cflag flags and -Wall -Wextra -Werror. The rest of the info string
says what the block is:

    ```c            a complete program: compiled and linked (with --ldflag),
                    so every function it calls must exist
    ```c file       declarations and functions at file scope, no main:
                    compiled to an object, after the includes that file
                    and fragment blocks share (PRELUDE: <ringo.h> and the
                    C library headers a reader would expect)
    ```c fragment   statements: wrapped in a function body after PRELUDE,
                    compiled to an object
File and fragment blocks may leave variables and functions unused.

Blocks in any other language (sh, go, text) are ignored.

Exits 0 when every block compiles, 1 otherwise, naming each failing block
by file and line with the compiler's message. A file with no C block at all
is an error too, so a wrong path cannot make the check pass vacuously.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

PRELUDE = """\
#define _GNU_SOURCE
#include <ringo.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
"""

FENCE = re.compile(r"^```(\S*)\s*(.*)$")


def blocks(path):
    """Yields (line, kind, code) for each C block of the markdown file."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or not m.group(1):
            i += 1
            continue
        lang, rest = m.group(1), m.group(2).strip()
        start = i + 1
        j = start
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if j == len(lines):
            raise SystemExit(f"{path}:{i + 1}: unterminated code block")
        if lang == "c":
            kind = rest.split()[0] if rest else "program"
            if kind not in ("program", "file", "fragment"):
                raise SystemExit(f"{path}:{i + 1}: unknown C block kind {kind!r}")
            yield start, kind, "\n".join(lines[start:j]) + "\n"
        i = j + 1


def source_for(kind, code, line, path):
    where = f'#line {line + 1} "{path}"\n'
    if kind == "fragment":
        return PRELUDE + "void fragment_(void);\nvoid fragment_(void)\n{\n" + where + code + "}\n"
    if kind == "file":
        return PRELUDE + where + code
    return where + code


def compile_block(args, path, line, kind, code, workdir, index):
    src = os.path.join(workdir, f"block{index}.c")
    with open(src, "w", encoding="utf-8") as f:
        f.write(source_for(kind, code, line, os.path.abspath(path)))
    warn = ["-Wall", "-Wextra", "-Werror"]
    if kind != "program":
        warn += ["-Wno-unused-variable", "-Wno-unused-function", "-Wno-unused-parameter",
                 "-Wno-unused-but-set-variable"]
    cmd = list(args.cc) + warn + list(args.cflag)
    if kind == "program":
        cmd += [src, "-o", os.path.join(workdir, f"block{index}")] + list(args.ldflag)
    else:
        cmd += ["-c", src, "-o", os.path.join(workdir, f"block{index}.o")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode == 0, r.stdout + r.stderr


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cc", action="append", required=True)
    p.add_argument("--cflag", action="append", default=[])
    p.add_argument("--ldflag", action="append", default=[])
    p.add_argument("files", nargs="+")
    args = p.parse_args()

    failed = total = 0
    with tempfile.TemporaryDirectory() as workdir:
        for path in args.files:
            found = list(blocks(path))
            if not found:
                print(f"{path}: no C code block found")
                failed += 1
            for line, kind, code in found:
                total += 1
                ok, out = compile_block(args, path, line, kind, code, workdir, total)
                if not ok:
                    failed += 1
                    print(f"{path}:{line}: this {kind} block does not compile:\n{out}")
    print(f"{total} C blocks checked, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
