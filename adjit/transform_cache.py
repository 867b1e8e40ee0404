"""Compiled code shared by re-created transforms of the same function.

`adjit.grad(loss)(w, X, y)` written inside a training loop builds a new
transform object every step. The compiled specializations live here instead,
keyed by the transform with its options and by a key of the function that
covers everything a trace of it can read: its code, the values of its closure
cells, its defaults and the globals its code names (recursively through the
functions it calls). A closure whose cell is rebound, a global rebound between
steps or a lambda re-created over another value gets another key: it is traced
again, never served stale code. Values are keyed by content (Python scalars,
strings, containers of them, arrays of up to MAX_ARRAY_ELEMENTS elements);
modules, classes and builtins by identity. A function reaching anything else
(an object with attributes, a larger array) has no key: its transforms are
compiled afresh, as before (jvp, hvp and vmap, whose wrappers are always made
anew, key such a function by its identity, held weakly: `ObjectKey`).

The cache holds no user function: keys are code objects and values, and the
entries hold the specializations (traced IR and native code). It keeps the
MAX_ENTRIES most recently used entries.
"""

from __future__ import annotations

import functools
import threading
import types
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

MAX_ENTRIES = 256
# captured arrays up to this size are keyed by their bytes (a few µs per step);
# larger ones would cost more to compare than the trace they save is worth keeping
MAX_ARRAY_ELEMENTS = 4096
# more signatures than this differing only in static Python values: RecompileWarning
STATIC_VARIANTS_LIMIT = 4

_SCALARS = (bool, int, str, bytes, type(None))
_BY_IDENTITY = (types.ModuleType, type, types.BuiltinFunctionType, np.ufunc, np.dtype)


class _NoKey(Exception):
    """The function reaches a value that cannot be keyed."""


def function_key(f: Callable) -> Hashable | None:
    """A key equal for functions that trace alike, or None if there is none."""
    try:
        return _key(f, set())
    except _NoKey:
        return None


def _key(x: Any, active: set[int]) -> Hashable:
    t = type(x)
    if t in _SCALARS:
        return (t, x)
    if t is float:
        return (float, x.hex())  # -0.0 and 0.0 trace differently
    if t is complex:
        return (complex, x.real.hex(), x.imag.hex())
    if isinstance(x, np.generic):
        return (t, x.tobytes())
    if t is np.ndarray:
        if x.size > MAX_ARRAY_ELEMENTS or x.dtype.hasobject:
            raise _NoKey
        return (np.ndarray, x.dtype.str, x.shape, x.tobytes())
    if t is tuple or t is list:
        return (t, tuple(_key(e, active) for e in x))
    if t is dict:
        return (dict, tuple((_key(k, active), _key(v, active)) for k, v in x.items()))
    if t is types.FunctionType:
        return _function_key(x, active)
    if t is functools.partial:
        return (t, _key(x.func, active), _key(x.args, active), _key(x.keywords, active))
    if isinstance(x, _BY_IDENTITY):
        return ("identity", x)
    key = getattr(x, "adjit_key", None) if hasattr(t, "adjit_key") else None
    if key is None:  # an adjit transform has one; other objects have attributes we cannot see
        raise _NoKey
    return key


def _function_key(f: types.FunctionType, active: set[int]) -> Hashable:
    code = f.__code__
    if id(f) in active:  # recursion: the outer key covers it
        return ("recursive", code)
    active.add(id(f))
    try:
        cells = []
        for cell in f.__closure__ or ():
            try:
                cells.append(_key(cell.cell_contents, active))
            except ValueError:  # an empty cell (a name assigned later)
                cells.append(("empty",))
        g = f.__globals__
        names = tuple(
            (name, _key(g[name], active) if name in g else ("unbound",))
            for name in _global_names(code)
        )
        defaults = (_key(f.__defaults__, active), _key(f.__kwdefaults__, active))
    finally:
        active.discard(id(f))
    return (types.FunctionType, code, tuple(cells), names, defaults)


@functools.lru_cache(maxsize=4096)
def _global_names(code: types.CodeType) -> tuple[str, ...]:
    """Names the code (and its nested functions and comprehensions) may read as globals.

    co_names also holds attribute names; those that are no global cost nothing.
    """
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.update(_global_names(const))
    return tuple(sorted(names))


class ObjectKey:
    """An object's identity, held weakly: equal only to the key of the same live object."""

    __slots__ = ("_hash", "_ref")

    def __init__(self, obj: object) -> None:
        self._ref = weakref.ref(obj)
        self._hash = id(obj)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ObjectKey):
            return NotImplemented
        obj = self._ref()
        return obj is not None and obj is other._ref()


def object_key(obj: object) -> ObjectKey | None:
    """The identity key of obj (None when it cannot be referenced weakly)."""
    try:
        return ObjectKey(obj)
    except TypeError:
        return None


class Compiled:
    """The specializations of one transform of one function, shared by its re-creations."""

    def __init__(self) -> None:
        self.specializations: dict[tuple, Any] = {}
        self.fast: dict[tuple, Callable[[tuple], Any]] = {}
        # held while one signature is traced and compiled: two threads asking for
        # the same signature compile it once
        self.lock = threading.RLock()
        self._static_variants: dict[Hashable, list[Any]] = {}
        self._warned = False

    def note_static_variant(self, erased: Hashable, treedef: Any) -> list[Any] | None:
        """Record a new signature; the signatures that differ from it only in static
        values when there are more than STATIC_VARIANTS_LIMIT (once), else None."""
        variants = self._static_variants.setdefault(erased, [])
        variants.append(treedef)
        if len(variants) <= STATIC_VARIANTS_LIMIT or self._warned:
            return None
        self._warned = True
        return variants


_entries: OrderedDict[Hashable, Compiled] = OrderedDict()
_entries_lock = threading.Lock()


def compiled_for(key: Hashable | None) -> Compiled:
    """The shared specializations under `key` (a fresh, unshared set for None)."""
    if key is None:
        return Compiled()
    with _entries_lock:
        entry = _entries.get(key)
        if entry is None:
            entry = _entries[key] = Compiled()
            while len(_entries) > MAX_ENTRIES:
                _entries.popitem(last=False)
        else:
            _entries.move_to_end(key)
        return entry


def clear() -> None:
    """Forget every shared specialization (re-created transforms compile again)."""
    with _entries_lock:
        _entries.clear()
