# tools/gdb/ringo_gdb.py - ringo's fibers in gdb, live and in core files.
#
# Commands:
#   info fibers                 every live fiber: id, state, wait reason,
#                               worker (running fibers), function, creation site
#   fiber                       the selected fiber
#   fiber N                     selects fiber N: bt, frame, up, info locals...
#                               then show its stack until `fiber none`, or until
#                               the program resumes
#   fiber N CMD                 runs CMD with fiber N selected (fiber 7 bt)
#   fiber none                  back to the threads' own stacks
#   fiber apply all|N... CMD    runs CMD for every fiber, or the ones listed
#
# How it works. Everything is read from the inferior's memory; nothing is
# called in it, so a core file works as well as a live process. One symbol,
# ringo__debugger_layout (core/debugger.c), gives the address of the runtime
# root and every offset needed to walk the fiber table the way the runtime's
# own dumps do: each carved slot of each stack chunk holds a fiber record at
# its top.
#
# A fiber switched out keeps its callee-saved registers and return address
# at its saved stack pointer (core/arch/<cpu>.S). Registers cannot be written
# in a core file, so to show such a fiber's stack a Python unwinder claims the
# selected thread's innermost frame and says its caller is the fiber's saved
# context: the frames after it are the fiber's stack, unwound by gdb's own
# CFI unwinder; a frame filter hides the thread's frames from `bt`. A
# running fiber's stack is its worker's thread: `fiber N` switches to that
# thread.
#
# Loaded by itself from libringo's .debug_gdb_scripts section (gdb's
# auto-load safe-path must cover the program or library: see the README), or
# by hand with `source .../share/ringo/gdb/ringo_gdb.py`. Loading twice is
# harmless. x86-64 and AArch64 (AArch64 untested).

import itertools
import struct

import gdb
import gdb.unwinder

LAYOUT_SYMBOL = "ringo__debugger_layout"
LAYOUT_MAGIC = 0x474244474E4952
LAYOUT_VERSION = 1
# core/debugger.c's struct ringo__debugger_layout, one 64-bit word each.
LAYOUT_FIELDS = (
    "magic version runtime_ptr "
    "rt_nworkers rt_workers rt_chunks rt_nchunks rt_slot_size "
    "worker_size worker_index worker_current worker_tid "
    "chunk_size chunk_base chunk_carved "
    "fiber_size fiber_align "
    "fiber_sp fiber_state fiber_flags fiber_id fiber_fn fiber_wait_reason "
    "fiber_file fiber_fn_name fiber_line fiber_parent_id "
    "flag_main "
    "state_free state_runnable state_running state_parking state_parked "
    "state_woken state_dead"
).split()

# The frame ringo__ctx_switch leaves at a switched-out fiber's sp
# (core/arch/<cpu>.S): register -> offset of its saved value, the offset of
# the return address, and how far above sp the caller's sp is.
SWITCH_FRAMES = {
    "x86-64": {
        "regs": {"r15": 8, "r14": 16, "r13": 24, "r12": 32, "rbx": 40, "rbp": 48},
        "pc": ("rip", 56),
        "sp": ("rsp", 64),
    },
    "aarch64": {
        "regs": dict([("x%d" % (19 + i), 8 * i) for i in range(11)] + [("x30", 88)]),
        "pc": ("pc", 88),
        "sp": ("sp", 176),
    },
}


class RingoError(gdb.GdbError):
    pass


def _arch_key():
    name = gdb.selected_inferior().architecture().name()
    if "x86-64" in name:
        return "x86-64"
    if "aarch64" in name:
        return "aarch64"
    raise RingoError("ringo: fiber stacks are not supported on %s (x86-64 and AArch64 only)" % name)


def _read(addr, size):
    try:
        return bytes(gdb.selected_inferior().read_memory(addr, size))
    except gdb.MemoryError:
        raise RingoError("ringo: cannot read %d bytes at 0x%x" % (size, addr))


def _u64(addr):
    return struct.unpack("<Q", _read(addr, 8))[0]


_strings = {}


def _string(addr, limit=256):
    """The NUL-ended string at addr (the runtime's are literals: cached)."""
    if not addr:
        return None
    if addr in _strings:
        return _strings[addr]
    try:
        raw = bytes(gdb.selected_inferior().read_memory(addr, limit))
    except gdb.MemoryError:
        # Near the end of a mapping: read byte by byte up to the NUL.
        raw = b""
        for i in range(limit):
            try:
                c = bytes(gdb.selected_inferior().read_memory(addr + i, 1))
            except gdb.MemoryError:
                break
            if c == b"\0":
                break
            raw += c
    text = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
    _strings[addr] = text
    return text


class Layout:
    """core/debugger.c's table, read from the inferior."""

    def __init__(self):
        try:
            addr = int(gdb.parse_and_eval("(unsigned long)&%s" % LAYOUT_SYMBOL))
        except gdb.error:
            raise RingoError("ringo: no %s in this program: is it linked with ringo?" % LAYOUT_SYMBOL)
        words = struct.unpack("<%dQ" % len(LAYOUT_FIELDS), _read(addr, 8 * len(LAYOUT_FIELDS)))
        for name, value in zip(LAYOUT_FIELDS, words):
            setattr(self, name, value)
        if self.magic != LAYOUT_MAGIC:
            raise RingoError("ringo: %s at 0x%x is not ringo's layout table" % (LAYOUT_SYMBOL, addr))
        if self.version != LAYOUT_VERSION:
            raise RingoError("ringo: this extension reads layout version %d, the program has %d: "
                             "use the ringo_gdb.py of the ringo it was built with"
                             % (LAYOUT_VERSION, self.version))
        self.state_names = {
            self.state_runnable: "runnable",
            self.state_running: "running",
            self.state_parking: "waiting",
            self.state_parked: "waiting",
            self.state_woken: "runnable",
        }


class Fiber:
    """One live fiber's record; worker and tid are set while it runs."""
    __slots__ = ("addr", "id", "state", "raw_state", "is_main", "fn", "sp", "wait_reason",
                 "file", "fn_name", "line", "parent_id", "worker", "tid")


def _fiber_at(layout, addr, record):
    def word(off):
        return struct.unpack_from("<Q", record, off)[0]

    def i32(off):
        return struct.unpack_from("<i", record, off)[0]

    raw_state = i32(layout.fiber_state)
    state = layout.state_names.get(raw_state)
    if state is None:
        return None     # free, dead, or not a record
    f = Fiber()
    f.addr = addr
    f.raw_state = raw_state
    f.state = state
    f.id = word(layout.fiber_id)
    f.is_main = bool(struct.unpack_from("<H", record, layout.fiber_flags)[0] & layout.flag_main)
    f.fn = word(layout.fiber_fn)
    f.sp = word(layout.fiber_sp)
    f.wait_reason = _string(word(layout.fiber_wait_reason)) if state == "waiting" else None
    f.file = _string(word(layout.fiber_file))
    f.fn_name = _string(word(layout.fiber_fn_name))
    f.line = i32(layout.fiber_line)
    f.parent_id = word(layout.fiber_parent_id)
    f.worker = None
    f.tid = None
    return f


def fibers():
    """Every live fiber, in slot order, as a list of Fiber."""
    _strings.clear()    # another program, or the library reloaded
    layout = Layout()
    rt = _u64(layout.runtime_ptr)
    if not rt:
        return []
    hdr = _read(rt, max(layout.rt_nworkers, layout.rt_workers, layout.rt_chunks,
                        layout.rt_nchunks, layout.rt_slot_size) + 8)

    def rt_word(off):
        return struct.unpack_from("<Q", hdr, off)[0]

    nworkers = struct.unpack_from("<I", hdr, layout.rt_nworkers)[0]
    workers = rt_word(layout.rt_workers)
    chunks = rt_word(layout.rt_chunks)
    nchunks = rt_word(layout.rt_nchunks)
    slot_size = rt_word(layout.rt_slot_size)

    # Which fiber each worker runs, and on which thread.
    running = {}
    for i in range(nworkers if workers else 0):
        w = workers + i * layout.worker_size
        current = _u64(w + layout.worker_current)
        tid = struct.unpack("<i", _read(w + layout.worker_tid, 4))[0]
        index = struct.unpack("<I", _read(w + layout.worker_index, 4))[0]
        if current:
            running[current] = (index, tid)

    out = []
    for c in range(nchunks if chunks else 0):
        chunk = chunks + c * layout.chunk_size
        base = _u64(chunk + layout.chunk_base)
        carved = _u64(chunk + layout.chunk_carved)
        for j in range(carved):
            top = base + j * slot_size + slot_size - layout.fiber_size
            addr = top & ~(layout.fiber_align - 1)
            try:
                record = bytes(gdb.selected_inferior().read_memory(addr, layout.fiber_size))
            except gdb.MemoryError:
                continue    # not in the core file, or unmapped
            f = _fiber_at(layout, addr, record)
            if f is None:
                continue
            if addr in running:
                f.worker, f.tid = running[addr]
            out.append(f)
    return out


def _runtime_running():
    try:
        return bool(_u64(Layout().runtime_ptr))
    except RingoError:
        return False


def _find(fid):
    for f in fibers():
        if f.id == fid:
            return f
    raise RingoError("ringo: no live fiber %d" % fid)


_symbol_cache = {}


def _function_name(pc):
    if not pc:
        return "?"
    name = _symbol_cache.get(pc)
    if name is None:
        name = "0x%x" % pc
        try:
            block = gdb.block_for_pc(pc)
            if block is not None and block.function is not None:
                name = block.function.name
            else:
                # No debug info: the ELF symbol, "0x401136 <worker>".
                text = gdb.format_address(pc)
                if "<" in text:
                    name = text[text.index("<") + 1:text.rindex(">")].split("+")[0]
        except (gdb.error, RuntimeError, AttributeError, ValueError):
            pass
        _symbol_cache[pc] = name
    return name


def _created_at(f):
    if f.is_main:
        return "ringo_run"
    if f.file:
        return "%s:%d" % (f.file, f.line)
    return "?"


# ---- showing a fiber's stack ------------------------------------------------------


class _FrameId:
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class FiberUnwinder(gdb.unwinder.Unwinder):
    """While a switched-out fiber is selected, the thread's innermost real
    frame's caller is that fiber's saved context.

    gdb asks unwinders about frames innermost first, and not about inline
    frames (an inline function at the thread's pc is frame #0, its caller
    frame #1, at the same pc): the first frame of the selected thread this
    unwinder is asked about after a selection is the one it claims, `claimed`
    its level. Other threads' stacks are left alone."""

    def __init__(self):
        super().__init__("ringo-fibers")
        self.saved = None       # register name -> value, the selected fiber's
        self.thread = None      # the ptid of the thread whose frames lead to it
        self.claimed = None

    def reset(self, saved):
        self.saved = saved
        self.thread = gdb.selected_thread().ptid if saved is not None else None
        self.claimed = None
        gdb.invalidate_cached_frames()

    def active(self):
        """True while the thread gdb works on leads to the selected fiber."""
        if self.saved is None:
            return False
        thread = gdb.selected_thread()
        return thread is not None and thread.ptid == self.thread

    def __call__(self, pending):
        if not self.active():
            return None
        level = pending.level()
        if self.claimed is None:
            self.claimed = level
        elif level != self.claimed:
            return None
        pc = pending.read_register("pc")
        # The claimed frame's id: the stack address 0 is outer to no frame,
        # so gdb's check that each caller is outer to its callee passes
        # whichever way the fiber's stack lies from the thread's.
        sp = gdb.Value(0).cast(pending.read_register("sp").type)
        info = pending.create_unwind_info(_FrameId(sp, pc))
        for name, value in self.saved.items():
            reg_type = pending.read_register(name).type
            info.add_saved_register(name, gdb.Value(value).cast(reg_type))
        return info

    def fiber_frame(self):
        """The selected fiber's innermost frame (None: cannot unwind)."""
        frame = gdb.newest_frame()
        while frame is not None:
            if self.claimed is not None and frame.level() > self.claimed:
                return frame
            frame = frame.older()
        return None


class FiberFrameFilter:
    """Hides the thread's own frames while a switched-out fiber is selected."""

    def __init__(self, unwinder):
        self.name = "ringo-fibers"
        self.priority = 100
        self.enabled = True
        self.unwinder = unwinder
        gdb.frame_filters[self.name] = self

    def filter(self, frames):
        if not self.unwinder.active():
            return frames
        return itertools.dropwhile(
            lambda d: self.unwinder.claimed is None
            or d.inferior_frame().level() <= self.unwinder.claimed, frames)


class Selection:
    """The selected fiber, if any."""

    def __init__(self):
        self.unwinder = FiberUnwinder()
        gdb.unwinder.register_unwinder(None, self.unwinder, replace=True)
        FiberFrameFilter(self.unwinder)
        self.fiber = None

    def select(self, f):
        """Shows f's stack; returns what to restore afterwards."""
        previous = (self.fiber, self.unwinder.saved, gdb.selected_thread())
        self.unwinder.reset(None)
        self.fiber = f
        if f.tid:
            thread = _thread_with_lwp(f.tid)
            if thread is None:
                raise RingoError("ringo: fiber %d runs on worker %d, thread %d, which gdb does not see"
                                 % (f.id, f.worker, f.tid))
            thread.switch()
            return previous
        if not f.sp:
            raise RingoError("ringo: fiber %d has no saved context" % f.id)
        frame = SWITCH_FRAMES[_arch_key()]
        ctx = _read(f.sp, frame["sp"][1])
        saved = {name: struct.unpack_from("<Q", ctx, off)[0] for name, off in frame["regs"].items()}
        pc_reg, pc_off = frame["pc"]
        saved[pc_reg] = struct.unpack_from("<Q", ctx, pc_off)[0]
        sp_reg, sp_off = frame["sp"]
        saved[sp_reg] = f.sp + sp_off
        self.unwinder.reset(saved)
        _select_fiber_frame(self.unwinder)
        return previous

    def restore(self, previous):
        fiber, saved, thread = previous
        self.fiber = fiber
        if thread is not None and thread.is_valid():
            thread.switch()
        self.unwinder.reset(saved)
        if saved is not None:
            _select_fiber_frame(self.unwinder)

    def clear(self, *_):
        if self.fiber is not None or self.unwinder.saved is not None:
            self.fiber = None
            self.unwinder.reset(None)


def _select_fiber_frame(unwinder):
    try:
        frame = unwinder.fiber_frame()
    except gdb.error:
        frame = None
    if frame is not None:
        frame.select()


def _thread_with_lwp(tid):
    for thread in gdb.selected_inferior().threads():
        if thread.ptid[1] == tid:
            return thread
    return None


def _describe(f):
    what = f.state
    if f.wait_reason:
        what += ": " + f.wait_reason
    if f.tid:
        what += ", worker %d, LWP %d" % (f.worker, f.tid)
    by = " by fiber %d" % f.parent_id if f.parent_id else ""
    return "Fiber %d (%s) %s, created at %s%s" % (f.id, what, _function_name(f.fn),
                                                  _created_at(f), by)


def _print_frame_header():
    try:
        gdb.execute("frame", to_string=False)
    except gdb.error:
        pass


# ---- commands --------------------------------------------------------------------


class InfoFibers(gdb.Command):
    """List ringo's live fibers: id, state, wait reason, worker, function, creation site.
Usage: info fibers
A fiber's worker is shown while it runs; "*" marks the fiber `fiber N` selected."""

    def __init__(self, selection):
        super().__init__("info fibers", gdb.COMMAND_STATUS)
        self.selection = selection

    def invoke(self, arg, from_tty):
        fs = fibers()
        selected = self.selection.fiber.id if self.selection.fiber else None
        rows = [("", "Id", "State", "Wait reason", "Worker", "Function", "Created at")]
        for f in fs:
            worker = "%d (LWP %d)" % (f.worker, f.tid) if f.tid else "-"
            rows.append(("*" if f.id == selected else "", str(f.id), f.state,
                         f.wait_reason or "-", worker, _function_name(f.fn), _created_at(f)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        lines = []
        for r in rows:
            cells = [r[i].ljust(widths[i]) for i in range(len(widths))] + [r[-1]]
            lines.append(" ".join(cells).rstrip())
        lines.append("%d fibers" % len(fs))
        gdb.write("\n".join(lines) + "\n")
        if not fs and _runtime_running():
            # A running runtime always has its main fiber.
            gdb.write("ringo: a runtime is running but no fiber record could be read: the fiber "
                      "stacks are missing from this core file. gcore stops copying a mapping "
                      "at the first page it cannot read, such as the stack guards of "
                      "MADV_GUARD_INSTALL (Linux 6.13+): make cores with gcore of a program run "
                      "with RINGO_STACK_GUARD=mprotect, or let the kernel dump the core.\n")


class FiberCommand(gdb.Command):
    """Select a ringo fiber, or run a command on one.
Usage: fiber            show the selected fiber
       fiber N          select fiber N: bt, frame, up, info locals then show its stack
       fiber N CMD      run CMD with fiber N selected (e.g. fiber 7 bt)
       fiber none       show the threads' own stacks again
A switched-out fiber's frames are numbered after the thread's own innermost
frame (and the functions inlined in it), which `bt` hides. Resuming the
program drops the selection."""

    def __init__(self, selection):
        super().__init__("fiber", gdb.COMMAND_STACK, gdb.COMPLETE_NONE, True)
        self.selection = selection

    def invoke(self, arg, from_tty):
        arg = arg.strip()
        if not arg:
            f = self.selection.fiber
            gdb.write(_describe(f) + "\n" if f else "No fiber selected.\n")
            return
        if arg == "none":
            self.selection.clear()
            gdb.write("Showing the threads' own stacks.\n")
            return
        head, _, cmd = arg.partition(" ")
        try:
            fid = int(head, 0)
        except ValueError:
            raise RingoError("ringo: usage: fiber [N [CMD] | none | apply all|N... CMD]")
        f = _find(fid)
        previous = self.selection.select(f)
        if not cmd.strip():
            gdb.write("[Switching to %s]\n" % _describe(f))
            _print_frame_header()
            return
        try:
            gdb.execute(cmd, from_tty)
        finally:
            self.selection.restore(previous)


class FiberApply(gdb.Command):
    """Run a command for every ringo fiber, or for the fibers listed.
Usage: fiber apply all CMD
       fiber apply N [M...] CMD
Each fiber's output follows a line that names it."""

    def __init__(self, selection):
        super().__init__("fiber apply", gdb.COMMAND_STACK)
        self.selection = selection

    def invoke(self, arg, from_tty):
        words = arg.split()
        ids, rest = [], words
        if words and words[0] == "all":
            rest = words[1:]
            targets = fibers()
        else:
            while rest and rest[0].isdigit():
                ids.append(int(rest[0]))
                rest = rest[1:]
            by_id = {f.id: f for f in fibers()}
            missing = [i for i in ids if i not in by_id]
            if missing:
                raise RingoError("ringo: no live fiber %s" % ", ".join(map(str, missing)))
            targets = [by_id[i] for i in ids]
        cmd = " ".join(rest)
        if not cmd or (not targets and not ids and words[:1] != ["all"]):
            raise RingoError("ringo: usage: fiber apply all|N... CMD")
        for f in targets:
            gdb.write("\n%s:\n" % _describe(f))
            previous = self.selection.select(f)
            try:
                gdb.execute(cmd, from_tty)
            except gdb.error as e:
                gdb.write("%s\n" % e)
            finally:
                self.selection.restore(previous)


def _register():
    if getattr(gdb, "_ringo_fibers_loaded", False):
        return
    gdb._ringo_fibers_loaded = True
    selection = Selection()
    InfoFibers(selection)
    FiberCommand(selection)
    FiberApply(selection)
    # A selection shows a stopped program's fiber; it means nothing once
    # the program runs again.
    gdb.events.cont.connect(selection.clear)
    gdb.events.exited.connect(selection.clear)


_register()
