#!/usr/bin/env python3
"""check_man.py - checks the man pages in man/ against the headers and the code.

Usage: check_man.py SOURCE_ROOT [--man-dir DIR]

Standard library only. Four checks; any failure is printed and the exit
status is 1.

1. Coverage. Every function declared with RINGO_API in include/ has a file
   man/<function>.3: either a full page whose NAME line lists it, or a link
   page holding one line `.so man3/<page>.3` that names a full page whose
   NAME line lists it. So `man <function>` works once the pages are
   installed. Every link page points at a page that exists.

2. Errors, both ways. A page's ERRORS section lists errors as `.TP` (or
   `.TQ`) followed by `.B EXXX`. For each page, the errors the code can
   return are found by a static scan:
     - the functions scanned are the page's own functions (those named on
       its NAME line and declared in include/, found by their definitions
       in core/, sync/ and io/), plus the internal functions listed for the
       page in EXTRA_SOURCES below (the callees whose -errno the page's
       functions pass on, e.g. io/op.c's ringo__io_wait for the I/O calls);
     - each scanned function brings in, transitively, the static functions
       of its own file that it calls (its direct static helpers);
     - in each body, with comments and string literals removed, every
       `-EXXX` counts as an error the function can produce, except where it
       is compared (`== -EXXX`, `!= -EXXX`) or is a `case -EXXX:` label.
   The page must list exactly: the scanned errors, plus the errors the
   kernel or libc passes through untouched, which no scan can see and which
   PASSED_THROUGH names per page, each with the call it comes from.
   Pages whose functions cannot return an -errno (void, bool, pointers,
   counts) must list no error; a function returning int or ssize_t is taken
   to return -errno unless NOT_ERRNO says otherwise.

   Limits of the scan: it follows no function pointers (a callee reached
   through one must be named in EXTRA_SOURCES), no calls into other files
   beyond EXTRA_SOURCES, and no macros; it does not know which path leads
   where, so an -EXXX in a helper counts for every function that calls the
   helper; a value computed at run time (`return -errno`, `return r`) is
   invisible to it, which is what PASSED_THROUGH is for. The check is as
   good as the mapping below, which is short enough to read.

3. Lint. With groff installed (Debian's groff-base), every full page is run
   through `groff -man -Tutf8 -ww -z`; any warning fails. Without groff the
   lint is skipped with a note.

4. Form. Every full page has NAME, SYNOPSIS, DESCRIPTION and SEE ALSO, and
   its .TH title is its file name in capitals; every page and link page is
   listed in man/meson.build (which installs them), and nothing else is.
"""

import os
import re
import shutil
import subprocess
import sys

# Internal functions whose results a page's functions pass on, per page
# (file relative to the source root, function name).
IO_WAIT = [("io/op.c", "ringo__io_wait")]
CTX_ERRORS = [("sync/context.c", "cancel_with"),          # ringo_cancel(_cause): -ECANCELED
              ("sync/context.c", "deadline_fire"),        # a deadline fires: -ETIMEDOUT
              ("sync/context.c", "ringo_with_deadline")]  # a deadline already past
EXTRA_SOURCES = {
    "ringo_run": [("core/fiber.c", "ringo__spawn_main"), ("core/stack.c", "ringo__stacks_init"),
                  ("core/event.c", "ringo__ev_probe"), ("core/ring.c", "ringo__uring_probe"),
                  ("core/ring.c", "ringo__uring_init"), ("core/epoll.c", "ringo__epoll_probe"),
                  ("core/panic.c", "ringo__altstack_init")],
    "ringo_read": IO_WAIT,
    "ringo_open": IO_WAIT,
    "ringo_poll": IO_WAIT,
    "ringo_close": [("io/fdtab.c", "ringo__fd_quiesce")],
    "ringo_accept": IO_WAIT + [("io/op.c", "ringo__io_pause")],
    "ringo_dial": IO_WAIT + [("io/net.c", "resolve_fn")],     # run through ringo_blocking
    "ringo_sem_acquire": CTX_ERRORS,                          # ringo_ctx_err(ctx)
    "ringo_ctx_err": CTX_ERRORS,
    "ringo_group_go": [("core/fiber.c", "spawn")],           # ringo_go_at's -ENOMEM
}

# Errors a page documents that come from the kernel or libc as they are.
PASSED_THROUGH = {
    "ringo_run": {"ENOSYS": "io_uring_setup(2): no io_uring in the kernel",
                  "EPERM": "io_uring_setup(2): forbidden by seccomp or sysctl",
                  "EMFILE": "io_uring_setup(2): no descriptor for a ring",
                  "ENFILE": "io_uring_setup(2): no descriptor for a ring",
                  "EAGAIN": "pthread_create(3) of a worker"},
    "ringo_read": {"EAGAIN": "recv(2)/send(2) with MSG_DONTWAIT",
                   "EPIPE": "send(2)/write(2): peer or reader gone",
                   "ECONNRESET": "recv(2)/send(2)",
                   "ENOTSOCK": "recv(2)/send(2) on a non-socket",
                   "ESPIPE": "pread(2)/pwrite(2) on a pipe or socket"},
    "ringo_open": {"ENOENT": "open(2)", "EACCES": "open(2)", "EEXIST": "open(2)",
                   "EISDIR": "open(2)", "EMFILE": "open(2)", "ENFILE": "open(2)",
                   "EIO": "fsync(2)", "ENOSPC": "fsync(2)"},
    "ringo_close": {"EIO": "close(2)", "ENOSPC": "close(2)", "EDQUOT": "close(2)"},
    "ringo_listen": {"EADDRINUSE": "bind(2)", "EACCES": "bind(2)", "EADDRNOTAVAIL": "bind(2)",
                     "EAFNOSUPPORT": "socket(2)", "EMFILE": "socket(2)", "ENFILE": "socket(2)",
                     "EBADF": "getsockname(2)", "ENOTSOCK": "getsockname(2)"},
    "ringo_accept": {"EINVAL": "accept4(2): not listening",
                     "ENOTSOCK": "accept4(2)", "EOPNOTSUPP": "accept4(2)"},
    "ringo_dial": {"ENETUNREACH": "connect(2)", "EHOSTUNREACH": "connect(2)",
                   "EMFILE": "socket(2)", "ENFILE": "socket(2)"},
}

# Functions returning int that is not an -errno.
NOT_ERRNO = {"ringo_expect_no_leaks": "returns the number of leaked fibers",
             "ringo_group_wait": "returns a member's own result"}

SOURCE_DIRS = ("core", "sync", "io")


def strip_c(text):
    """Removes comments, string and character literals, and preprocessor
    lines (continuations included), keeping line structure roughly."""
    text = re.sub(r"\\\n", " ", text)
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            out.append(" ")
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    lines = [ln for ln in "".join(out).split("\n") if not ln.lstrip().startswith("#")]
    return "\n".join(lines)


def function_defs(path):
    """{name: (is_static, [bodies])} for the functions defined in a C file."""
    text = strip_c(open(path, encoding="utf-8").read())
    defs = {}
    depth = 0
    head_start = 0
    body_start = None
    name = None
    static = False
    for i, c in enumerate(text):
        if c == "{":
            if depth == 0:
                head = text[head_start:i].strip()
                name, static = parse_head(head)
                body_start = i
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                if name:
                    defs.setdefault(name, [static, []])[1].append(text[body_start:i + 1])
                name = None
                head_start = i + 1
        elif c == ";" and depth == 0:
            head_start = i + 1
    return defs


def parse_head(head):
    """The function name and staticness of a definition's head, or (None, _)."""
    if not head.endswith(")") or "=" in head:
        return None, False
    # The last top-level parenthesised group is the parameter list.
    level = 0
    for k in range(len(head) - 1, -1, -1):
        if head[k] == ")":
            level += 1
        elif head[k] == "(":
            level -= 1
            if level == 0:
                break
    before = head[:k].rstrip()
    if before.endswith(")"):                 # int (ringo_go)(...)
        before = before[:-1].rstrip()
    m = re.search(r"(\w+)$", before)
    if not m:
        return None, False
    return m.group(1), re.search(r"\bstatic\b", head) is not None


ERR_RE = re.compile(r"(==|!=|\bcase)?\s*-\s*(E[A-Z0-9]+)\b")


def errors_in(body):
    return {m.group(2) for m in ERR_RE.finditer(body) if not m.group(1)}


class Sources:
    def __init__(self, root):
        self.root = root
        self.files = {}
        for d in SOURCE_DIRS:
            for f in sorted(os.listdir(os.path.join(root, d))):
                if f.endswith(".c"):
                    rel = d + "/" + f
                    self.files[rel] = function_defs(os.path.join(root, rel))

    def find_public(self, name):
        return [(rel, name) for rel, defs in self.files.items()
                if name in defs and not defs[name][0]]

    def scan(self, roots):
        """Errors of the (file, function) roots and their static helpers."""
        seen, errs, todo = set(), set(), list(roots)
        while todo:
            rel, fn = todo.pop()
            if (rel, fn) in seen:
                continue
            seen.add((rel, fn))
            defs = self.files.get(rel, {})
            if fn not in defs:
                raise SystemExit("check_man.py: no definition of %s in %s (update the mapping)"
                                 % (fn, rel))
            for body in defs[fn][1]:
                errs |= errors_in(body)
                for callee in set(re.findall(r"\b(\w+)\s*\(", body)):
                    if callee != fn and callee in defs and defs[callee][0]:
                        todo.append((rel, callee))
        return errs


def declared_functions(root):
    """{name: return type text} of every RINGO_API function in include/."""
    out = {}
    inc = os.path.join(root, "include")
    paths = [os.path.join(inc, "ringo.h")] + sorted(
        os.path.join(inc, "ringo", f) for f in os.listdir(os.path.join(inc, "ringo"))
        if f.endswith(".h"))
    for p in paths:
        text = strip_c(open(p, encoding="utf-8").read())
        for m in re.finditer(r"\bRINGO_API\b([^;{]*?)\(?\b(ringo_\w+)\)?\s*\(", text):
            ret = " ".join(m.group(1).split())
            out[m.group(2)] = ret
    return out


def returns_errno(name, ret):
    if name in NOT_ERRNO:
        return False
    ret = ret.replace("_Noreturn", "").strip()
    return ret in ("int", "ssize_t")


def read_pages(man_dir):
    """(full pages {page: text}, links {name: target page})."""
    full, links = {}, {}
    for f in sorted(os.listdir(man_dir)):
        if not f.endswith(".3"):
            continue
        text = open(os.path.join(man_dir, f), encoding="utf-8").read()
        m = re.fullmatch(r"\.so man3/([\w]+)\.3\n?", text)
        if m:
            links[f[:-2]] = m.group(1)
        else:
            full[f[:-2]] = text
    return full, links


def name_line(text):
    m = re.search(r"^\.SH NAME\n(.*?) \\- ", text, re.M | re.S)
    if not m:
        return []
    return [x.strip() for x in m.group(1).replace("\n", " ").split(",")]


def listed_errors(text):
    m = re.search(r"^\.SH ERRORS\n(.*?)(?=^\.SH |\Z)", text, re.M | re.S)
    if not m:
        return set()
    lines = m.group(1).split("\n")
    errs = set()
    for a, b in zip(lines, lines[1:]):
        mb = re.fullmatch(r"\.B (E[A-Z0-9]+)\s*", b)
        if a.strip() in (".TP", ".TQ") and mb:
            errs.add(mb.group(1))
    return errs


def main(argv):
    if len(argv) < 2:
        print(__doc__.splitlines()[2])
        return 2
    root = argv[1]
    man_dir = os.path.join(root, "man")
    if len(argv) == 4 and argv[2] == "--man-dir":
        man_dir = argv[3]
    problems = []

    full, links = read_pages(man_dir)
    names = {page: name_line(text) for page, text in full.items()}
    declared = declared_functions(root)
    if len(declared) < 50:
        problems.append("found only %d declared functions in include/: parser broken?"
                        % len(declared))

    # 1. coverage
    for link, target in links.items():
        if target not in full:
            problems.append("%s.3: .so names man3/%s.3, which is not a full page" % (link, target))
        elif link not in names[target]:
            problems.append("%s.3: links to %s.3, whose NAME line does not list %s"
                            % (link, target, link))
    page_of = {}
    for fn in sorted(declared):
        page = links.get(fn, fn)
        if page not in full:
            problems.append("%s: declared in include/ but has no man page (man/%s.3)" % (fn, fn))
        elif fn not in names[page]:
            problems.append("%s: man/%s.3 does not list it on its NAME line" % (fn, page))
        else:
            page_of[fn] = page

    # 2. errors
    src = Sources(root)
    for page, text in sorted(full.items()):
        fns = [fn for fn in names[page] if fn in declared]
        listed = listed_errors(text)
        errno_fns = [fn for fn in fns if returns_errno(fn, declared[fn])]
        if not errno_fns:
            if listed:
                problems.append("%s.3: lists errors %s, but none of its functions returns -errno"
                                % (page, " ".join(sorted(listed))))
            continue
        roots = []
        for fn in fns:
            found = src.find_public(fn)
            if not found:
                problems.append("%s: no definition found in %s" % (fn, ", ".join(SOURCE_DIRS)))
            roots += found
        roots += EXTRA_SOURCES.get(page, [])
        code = src.scan(roots)
        passed = set(PASSED_THROUGH.get(page, {}))
        for e in sorted(code - listed):
            problems.append("%s.3: the code can return -%s (static scan), but ERRORS omits it"
                            % (page, e))
        for e in sorted(listed - code - passed):
            problems.append("%s.3: ERRORS lists %s, which the code does not return (not found by "
                            "the scan nor in PASSED_THROUGH)" % (page, e))
        for e in sorted(passed - listed):
            problems.append("%s.3: PASSED_THROUGH names %s, but ERRORS omits it" % (page, e))
    for page in sorted(set(EXTRA_SOURCES) | set(PASSED_THROUGH)):
        if page not in full:
            problems.append("check_man.py maps page %s, which does not exist" % page)

    # 4. form
    for page, text in sorted(full.items()):
        for sec in ("NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"):
            if not re.search(r"^\.SH %s\s*$" % sec, text, re.M):
                problems.append("%s.3: no %s section" % (page, sec))
        m = re.match(r"\.TH (\S+) 3 ", text)
        if not m or m.group(1) != page.upper():
            problems.append("%s.3: .TH should begin '.TH %s 3 '" % (page, page.upper()))
        if not names[page]:
            problems.append("%s.3: no NAME line 'name, name \\- summary'" % page)

    build = os.path.join(man_dir, "meson.build")
    if os.path.exists(build):
        installed = set(re.findall(r"'([\w]+)\.3'", open(build, encoding="utf-8").read()))
        on_disk = set(full) | set(links)
        for page in sorted(on_disk - installed):
            problems.append("%s.3: not listed in man/meson.build (not installed)" % page)
        for page in sorted(installed - on_disk):
            problems.append("man/meson.build lists %s.3, which does not exist" % page)
    else:
        problems.append("no man/meson.build next to the pages")

    # 3. lint
    groff = shutil.which("groff")
    if groff:
        for page in sorted(full):
            p = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z",
                                os.path.join(man_dir, page + ".3")],
                               capture_output=True, text=True)
            if p.returncode != 0 or p.stderr.strip():
                problems.append("%s.3: groff -ww: %s" % (page, p.stderr.strip() or p.returncode))
    else:
        print("note: groff not installed, lint skipped (scripts/deps.sh installs groff-base)")

    for p in problems:
        print("FAIL:", p)
    print("%d functions, %d pages, %d links checked; %d problems"
          % (len(declared), len(full), len(links), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
