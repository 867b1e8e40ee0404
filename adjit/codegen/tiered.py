"""Tiered execution: interpret a new signature while a background process compiles it.

Numba takes seconds to compile a gradient, mostly in Python code that holds the
GIL, so a thread would slow the caller down. When a signature has no native code
yet, neither in memory nor in the on-disk cache, `TieredEntry` answers its calls
with the reference interpreter (NumPy, op by op) on the optimised IR, the very
IR the generated module computes, while a child process (`tiered_child`) loads
the same generated source through the same on-disk cache (`cache.load_module`:
same key, same directory, atomic writes) and compiles it for the signature of
the first call, which Numba saves in the module's ``__pycache__``. Each later
call polls the child (one ``waitpid``); once it has exited successfully the
parent loads the native code from the disk cache and switches for good. A call
running a loop in the interpreter polls every POLL_EVERY iterations and, when
the native code is ready, runs again natively (calls are pure). If the native
code is on disk already, the first call loads it: no interpreter. It can be
there only if the module's file is in the cache; when it is not, the first call
does not even import Numba (the child types stand-ins of the arguments).

A child that fails, or dies, is reported (``TieredWarning``, with its error) and
the caller compiles the module itself, as without the tier. Children still
running at interpreter exit are killed; a child whose parent dies sees its stdin
close and exits.

``ADJIT_TIERED=0`` switches the tier off (it is also off when the on-disk cache
is off, since the child hands the native code over through it).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pathlib
import pickle
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import AdjitError, TieredWarning
from ..ir.core import Function
from ..ir.interpreter import interpret, on_iteration
from .cache import _key, cache_dir, load_module, module_file

if TYPE_CHECKING:
    from numba.core.dispatcher import Dispatcher

__all__ = ["TieredEntry", "enabled", "load_cached", "shutdown"]

# the child: tiered_child of this very package (its parent directory goes first on
# the child's path, so it imports the adjit the caller runs and hashes it alike),
# imported by name rather than run as __main__ (-m), so that tools patching it by
# module name (mutation testing) reach its code too
CHILD_COMMAND = [sys.executable, "-c", "from adjit.codegen.tiered_child import run; run()"]
MAX_CHILDREN = 2  # children compiling at once; later signatures wait, interpreted
POLL_EVERY = 32  # loop iterations between two looks at the child from inside a call

_children: set[subprocess.Popen] = set()
_children_lock = threading.Lock()


def enabled() -> bool:
    """Whether a new CPU signature starts in the interpreter tier."""
    if cache_dir() is None:
        return False
    return os.environ.get("ADJIT_TIERED", "1").strip().lower() not in ("0", "off", "false", "no")


def load_cached(dispatcher: Dispatcher, sig: tuple) -> bool:
    """Give `dispatcher` its native code for `sig` from Numba's disk cache, compiling
    nothing; False if the cache has none. (Dispatcher.compile's cache branch.)"""
    from numba.core import sigutils
    from numba.core.compiler_lock import global_compiler_lock

    args, _ = sigutils.normalize_signature(sig)
    if dispatcher.overloads.get(tuple(args)) is not None:
        return True
    cache = getattr(dispatcher, "_cache", None)
    if cache is None:
        return False
    with global_compiler_lock:
        cres = cache.load_overload(sig, dispatcher.targetctx)
        if cres is None:
            return False
        dispatcher._cache_hits[sig] += 1
        if not cres.objectmode:
            dispatcher.targetctx.insert_user_function(cres.entry_point, cres.fndesc, [cres.library])
        dispatcher.add_overload(cres)
    return True


def _may_be_cached(dispatcher: Dispatcher) -> bool:
    """False when Numba's cache has no index for `dispatcher` at all: then asking it
    would only start Numba's code generator (about a second) to find nothing."""
    cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    index = getattr(cache_file, "_index_path", None)
    return index is None or os.path.exists(index)


UNCACHED = 4  # the child's exit status when the cache could not keep its module


def _examples(args: tuple) -> tuple | None:
    """Small stand-ins for `args` that Numba types alike (numba.typeof: dtype, ndim,
    layout, read-only, aligned), to pickle to the child; None if some argument has
    no such stand-in (then Numba is imported here to type the arguments themselves)."""
    out = []
    for a in args:
        if isinstance(a, np.ndarray):
            if not a.flags.aligned or a.dtype.hasobject or a.dtype.fields is not None:
                return None
            n = a.ndim
            if a.flags.c_contiguous:
                e = np.zeros((1,) * n, a.dtype)
            elif a.flags.f_contiguous:  # and not C: two axes at least
                e = np.zeros((2,) * n, a.dtype, order="F")
            else:
                e = np.zeros((2,) * (n - 1) + (4,), a.dtype)[..., ::2]
            e.flags.writeable = a.flags.writeable
            out.append(e)
        elif isinstance(a, (bool, int, float, complex, np.generic)):
            out.append(a)
        else:
            return None
    return tuple(out)


def _writable(path: pathlib.Path) -> bool:
    """Whether the cache can keep `path` (else load_module compiles in memory, which
    it reports, and there is nothing to hand over)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path.parent, os.W_OK)


class _NativeReady(Exception):
    """Raised inside the interpreter: the native code is ready, abandon this run."""


class _Child:
    """One background compilation: the process, and the file its error goes to."""

    def __init__(self, job: dict) -> None:
        self.errors = tempfile.TemporaryFile()
        package_root = str(pathlib.Path(__file__).resolve().parents[2])
        path = os.environ.get("PYTHONPATH")
        env = dict(
            os.environ,
            PYTHONPATH=package_root if not path else package_root + os.pathsep + path,
            ADJIT_TIERED="0",
        )
        self.proc = subprocess.Popen(
            CHILD_COMMAND,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self.errors,
            env=env,
            start_new_session=True,  # a Ctrl-C meant for the caller is not the child's
        )
        with _children_lock:
            _children.add(self.proc)
        try:
            # stdin stays open: the child exits when it closes (this process died)
            self.proc.stdin.write(pickle.dumps(job))
            self.proc.stdin.flush()
        except OSError:
            pass  # it died already: poll() reports it

    def poll(self) -> int | None:
        code = self.proc.poll()
        if code is not None:
            self._forget()
        return code

    def error(self) -> str:
        code = self.proc.returncode
        self.errors.seek(0)
        text = self.errors.read().decode(errors="replace").strip()
        lines = text.splitlines()
        tail = "\n".join(lines[-12:]) if lines else "no output"
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        return f"{how}: {tail}"

    def _forget(self) -> None:
        with _children_lock:
            _children.discard(self.proc)
        with contextlib.suppress(OSError):
            self.proc.stdin.close()

    def close(self) -> None:
        self.errors.close()


def _running() -> int:
    with _children_lock:
        return sum(1 for p in _children if p.poll() is None)


@atexit.register
def shutdown() -> None:
    """Kill every background compilation still running (at interpreter exit)."""
    with _children_lock:
        procs = list(_children)
        _children.clear()
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(Exception):
            proc.wait(timeout=5)
        with contextlib.suppress(OSError):
            proc.stdin.close()


_PACKAGE_DIR = str(pathlib.Path(__file__).resolve().parents[1])


def _user_stacklevel() -> int:
    """The stacklevel of warnings.warn that points at the first frame outside adjit."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        level, frame = level + 1, frame.f_back
    return level


class TieredEntry:
    """The native entry of a generated module, served by the interpreter until the
    background process has put its native code on disk.

    `ir()` gives the optimised IR the module computes (its parameters are the
    entry's, lifted constants included); it is built only if the interpreter is
    needed. `on_native(native)` is called once, when the calls switch to native
    code (the caller then calls `native` directly).
    """

    def __init__(
        self,
        source: str,
        name_hint: str,
        ir: Callable[[], Function],
        on_native: Callable[[Callable[..., tuple]], None] | None = None,
    ) -> None:
        self.source = source
        self.name_hint = name_hint
        self._ir_thunk = ir
        self._ir: Function | None = None
        self.on_native = on_native
        self.last_tier: str | None = None  # "interpreter" or "native": who served the last call
        self._native: Callable[..., tuple] | None = None
        self._module: Any = None
        self._sig: tuple | None = None
        self._started = False
        self._examples: tuple | None = None  # stand-ins for the first call's arguments
        self._child: _Child | None = None
        self._iterations = 0
        self._lock = threading.Lock()

    def __call__(self, *args: Any) -> tuple:
        native = self._native or self._advance(args)
        if native is not None:
            self.last_tier = "native"
            return native(*args)
        try:
            out = self._interpret(args)
        except _NativeReady:  # mid-loop: the call is pure, so native code runs it again
            native = self._advance(args)
            self.last_tier = "native"
            return native(*args)
        except AdjitError:  # an op the interpreter cannot run: native code is the authority
            with self._lock:
                native = self._native or self._switch()
            self.last_tier = "native"
            return native(*args)
        self.last_tier = "interpreter"
        return out

    @property
    def tier(self) -> str:
        """'native' once the calls go to native code, else 'interpreter'."""
        return "native" if self._native is not None else "interpreter"

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background compilation (tests, benchmarks); True if it ended."""
        child = self._child
        if child is None:
            return True
        try:
            child.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    # -- the state machine, under the lock: first call, child running, done

    def _advance(self, args: tuple) -> Callable[..., tuple] | None:
        with self._lock:
            if self._native is not None:
                return self._native
            if not self._started:  # the first call
                self._started = True
                self._examples = _examples(args)
                path = module_file(self.source, self.name_hint)
                # Numba's native code can be on disk only beside the module's file: if
                # there is none, Numba is not even imported (the child compiles)
                if self._examples is None or path is None or path.exists() or not _writable(path):
                    self._load(args)
                    if getattr(self._module, "__file__", None) is None:
                        return self._switch()  # compiled in memory (unusable cache): no hand-over
                    if _may_be_cached(self._module.entry) and load_cached(
                        self._module.entry, self._sig
                    ):
                        return self._switch()
            if self._child is None:
                if _running() >= MAX_CHILDREN:
                    return None
                try:
                    self._child = _Child(self._job())
                except OSError as exc:
                    self._report(f"cannot start a background compilation ({exc}); compiling here")
                    return self._switch()
                return None
            code = self._child.poll()
            if code is None:
                return None
            self._load()
            if code == UNCACHED:  # the cache directory is unusable (reported by load_module)
                pass
            elif code != 0:
                self._report(
                    f"the background compilation of {self.name_hint} {self._child.error()}; "
                    "compiling it here instead"
                )
            elif not load_cached(self._module.entry, self._sig):
                self._report(
                    f"the background compilation of {self.name_hint} left no native code "
                    "for this signature in the disk cache; compiling it here instead"
                )
            self._child.close()
            return self._switch()

    def _load(self, args: tuple | None = None) -> None:
        """The generated module and the first call's signature in Numba's types (imports
        Numba); `args`: the first call's, when it has no stand-ins."""
        if self._module is None:
            import numba

            self._module = load_module(self.source, self.name_hint)
            examples = self._examples if self._examples is not None else args
            self._sig = tuple(numba.typeof(a) for a in examples)

    def _job(self) -> dict:
        return {
            "source": self.source,
            "name_hint": self.name_hint,
            "key": _key(self.source),
            "cache_dir": str(cache_dir()),
            # pickled apart: the child reads the job before it imports Numba, and
            # turns them into the signature (numba.typeof) as _load does here
            "examples": pickle.dumps(self._examples),
        }

    def _switch(self) -> Callable[..., tuple]:
        self._load()
        self._native = native = self._module.entry
        self._ir = self._ir_thunk = None  # no longer needed
        if self.on_native is not None:
            self.on_native(native)
        return native

    @staticmethod
    def _report(message: str) -> None:
        warnings.warn(message, TieredWarning, stacklevel=_user_stacklevel())

    def _poll_in_loop(self) -> None:
        """A long loop need not finish in the interpreter once the native code is ready."""
        self._iterations += 1
        if self._iterations % POLL_EVERY == 0:
            child = self._child
            if child is not None and child.poll() == 0:
                raise _NativeReady

    def _interpret(self, args: tuple) -> tuple:
        fn = self._ir
        if fn is None:
            fn = self._ir = self._ir_thunk()
        with np.errstate(all="ignore"), on_iteration(self._poll_in_loop):
            outs = interpret(fn, *args)  # native code warns of no overflow or 0/0 either
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        results = []
        for r, out in zip(fn.results, outs):
            out = np.asarray(out, dtype=r.type.np_dtype)
            # native code returns fresh C-contiguous arrays; a view of an argument would alias it
            if not out.flags.c_contiguous or any(np.may_share_memory(out, a) for a in arrays):
                out = out.copy()
            results.append(out)
        return tuple(results)
