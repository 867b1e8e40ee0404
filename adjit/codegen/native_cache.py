"""Numba's cache of native code for adjit's functions, made to degrade instead of fail.

Numba keeps the compiled code of a ``cache=True`` function in a ``__pycache__``
directory beside its source file, or in a per-user directory, and refuses to
decorate the function ("no locator available") when it can write to neither:
a read-only install with an unwritable HOME. adjit's cache is an optimisation,
so here:

* ``njit_cached`` decorates adjit's own helpers (vecmath, pairwise sums) with
  ``cache=True`` where Numba can cache them and without the cache otherwise,
  reporting the fallback once (``AdjitCacheWarning``), or silently when the
  user turned adjit's cache off;
* two locators, tried after Numba's own in-tree one and for adjit's files only:
  one keeps the helpers' native code in adjit's cache directory when the package
  is read-only; the other lets Numba load from a ``__pycache__`` that is
  read-only (a cache filled by one user and shared read-only with others, or a
  pre-warmed install);
* ``guard`` makes a damaged cache entry a recompilation and an unwritable one a
  skipped save, never an exception out of the user's call.
"""

from __future__ import annotations

import functools
import os
import pathlib
import threading
import warnings
from collections.abc import Callable

import numba
from numba.core import caching
from numba.core.caching import Cache
from numba.core.dispatcher import Dispatcher

from .cache import AdjitCacheWarning, cache_dir

__all__ = ["AdjitCacheWarning", "guard", "njit_cached", "warn_once"]

_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_once(kind: str, message: str, stacklevel: int = 3) -> None:
    """Warn with `message` the first time a problem of this `kind` occurs in the process."""
    with _warned_lock:
        if kind in _warned:
            return
        _warned.add(kind)
    warnings.warn(message, AdjitCacheWarning, stacklevel=stacklevel)


# Numba 0.68 dropped the leading underscore of these names
CacheImpl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
InTreeCacheLocator = getattr(caching, "InTreeCacheLocator", None) or caching._InTreeCacheLocator

_PACKAGE_DIR = pathlib.Path(__file__).resolve().parents[1]


def _is_package_file(py_file: str) -> bool:
    return _PACKAGE_DIR in pathlib.Path(py_file).resolve().parents


class _AdjitCacheDirLocator(InTreeCacheLocator):
    """adjit's own helpers, when their package is read-only: cached in adjit's cache directory."""

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        directory = cache_dir()
        self._cache_path = (
            None
            if directory is None
            else str(directory / "native" / self.get_suitable_cache_subpath(py_file))
        )

    @classmethod
    def from_function(cls, py_func, py_file):
        if not _is_package_file(py_file):
            return None
        locator = cls(py_func, py_file)
        if locator._cache_path is None:
            return None
        try:
            locator.ensure_cache_path()
        except OSError:
            return None
        return locator


class _ReadOnlyInTreeLocator(InTreeCacheLocator):
    """A read-only ``__pycache__`` that holds Numba's index for an adjit file: load only.

    adjit's files are its package's and the generated modules (``adjit_*.py``).
    """

    def ensure_cache_path(self) -> None:
        # Numba calls this before saving; a read-only directory refuses, and `guard` skips it.
        path = self.get_cache_path()
        if not os.access(path, os.W_OK):
            raise PermissionError(f"{path} is read-only")

    @classmethod
    def from_function(cls, py_func, py_file):
        path = pathlib.Path(py_file)
        if not (_is_package_file(py_file) or path.name.startswith("adjit_")):
            return None
        locator = cls(py_func, py_file)
        if not any(pathlib.Path(locator.get_cache_path()).glob(f"{path.stem}.*.nbi")):
            return None
        return locator


def _register_locators() -> None:
    # Tried after Numba's own in-tree locator and before its per-user one; they claim
    # only adjit's files, so other Numba users see no change.
    classes = CacheImpl._locator_classes
    if _AdjitCacheDirLocator not in classes:
        at = classes.index(InTreeCacheLocator) + 1
        classes[at:at] = [_AdjitCacheDirLocator, _ReadOnlyInTreeLocator]


_register_locators()


def guard(dispatcher: Dispatcher) -> Dispatcher:
    """Turn a damaged cache entry into a recompilation and an unwritable one into no save."""
    cache = getattr(dispatcher, "_cache", None)
    if isinstance(cache, Cache) and not getattr(cache, "_adjit_guarded", False):
        cache.load_overload = functools.partial(_load_overload, cache, cache.load_overload)
        cache.save_overload = functools.partial(_save_overload, cache, cache.save_overload)
        cache._adjit_guarded = True
    return dispatcher


def _load_overload(cache: Cache, load, sig, target_context):
    try:
        return load(sig, target_context)
    except Exception as exc:
        # Numba (0.68) lets the unpickling error of a damaged .nbi/.nbc escape the first call.
        warn_once(
            "numba",
            f"Numba's cache in {cache.cache_path} is corrupt ({type(exc).__name__}: {exc}); "
            "recompiling",
        )
        try:
            cache.flush()  # an empty index, so that the recompiled code can be saved
        except OSError:
            cache.disable()
        return None


def _save_overload(cache: Cache, save, sig, data) -> None:
    try:
        save(sig, data)
    except OSError as exc:
        cache.disable()
        warn_once(
            "numba-save",
            f"cannot save compiled code in {cache.cache_path} ({exc}); code that is not "
            "cached there yet is compiled again in each process",
        )


def njit_cached(**options: object) -> Callable[[Callable], Dispatcher]:
    """``numba.njit(cache=True, **options)``, or without the cache where Numba has none."""

    def decorate(py_func: Callable) -> Dispatcher:
        if cache_dir() is None:  # ADJIT_CACHE_DIR=off: adjit writes nothing to disk
            return numba.njit(cache=False, **options)(py_func)
        try:
            return guard(numba.njit(cache=True, **options)(py_func))
        except RuntimeError as exc:  # "cannot cache function ...: no locator available"
            return _warning_on_first_compile(numba.njit(cache=False, **options)(py_func), exc)

    return decorate


def _warning_on_first_compile(dispatcher: Dispatcher, exc: Exception) -> Dispatcher:
    """Report the unusable cache when the helper is first compiled, not when it is
    decorated: a helper the user's programs never call costs nothing to leave out."""
    compile_ = dispatcher.compile

    def compile(sig):  # Numba compiles through this for Python and njit callers alike
        warn_once(
            "unusable",
            f"adjit cannot cache compiled code on disk ({exc}); compiling in memory "
            "(set ADJIT_CACHE_DIR to a writable directory or 'off')",
        )
        return compile_(sig)

    dispatcher.compile = compile
    return dispatcher
