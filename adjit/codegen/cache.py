"""On-disk cache of generated modules.

The code generators produce the Python source of a module of ``@numba.njit(cache=CACHE)``
functions. ``load_module`` writes that source to a real ``.py`` file named by a content hash
(source + a hash of adjit's own code + Numba, NumPy and Python versions) in ``cache_dir()`` and executes it with
``CACHE = True``, so Numba keeps its compiled code in ``__pycache__`` next to the file and a
second process that loads the same source skips LLVM compilation.

The file's first line records the key; on load the whole file must equal what would be
written, otherwise it is reported (once per process, ``AdjitCacheWarning``) and rewritten.
Writes go to a temporary file in the same directory, then ``os.replace``, so concurrent
writers of one entry both succeed. When the cache is disabled or its directory unusable,
the module is compiled in memory with ``CACHE = False`` and its source is registered with
``linecache`` so tracebacks and ``inspect.getsource`` still work.

Numba (and native_cache.py, which registers adjit's cache locators with it) is
imported when a module is first loaded, not with this module nor to compute a key
(Numba's version is read from its metadata): ``import adjit`` does not import
Numba, nor does a first call the interpreter tier serves.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import linecache
import os
import pathlib
import re
import sys
import tempfile
import threading
import types

import numpy as np

__all__ = [
    "AdjitCacheWarning",
    "cache_dir",
    "load_module",
    "load_source",
    "module_file",
    "set_cache_dir",
    "store_source",
]


class AdjitCacheWarning(UserWarning):
    """The on-disk cache was corrupt or unusable; adjit rebuilt the entry or bypassed it."""


_UNSET = object()
_override: object = _UNSET  # set_cache_dir's value: _UNSET, None (disabled) or a Path
_memo: dict[str, types.ModuleType] = {}
_lock = threading.RLock()


def cache_dir() -> pathlib.Path | None:
    """The cache directory, or None when the on-disk cache is disabled.

    ``set_cache_dir`` wins over ``ADJIT_CACHE_DIR`` ("off", "0" or "" disable it), which wins
    over the per-user default ``$XDG_CACHE_HOME/adjit`` (or ``~/.cache/adjit``).
    """
    if _override is not _UNSET:
        return _override  # type: ignore[return-value]
    value = os.environ.get("ADJIT_CACHE_DIR")
    if value is not None:
        if value.strip().lower() in ("", "0", "off"):
            return None
        return pathlib.Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "adjit"


def set_cache_dir(path: str | os.PathLike | None) -> None:
    """Use ``path`` as the cache directory (overriding ``ADJIT_CACHE_DIR``); None disables it."""
    global _override
    _override = None if path is None else pathlib.Path(path).expanduser()


def load_module(source: str, name_hint: str = "fn") -> types.ModuleType:
    """Execute generated ``source`` as a module, through the on-disk cache when enabled.

    The same source returns the same module object for the life of the process.
    """
    key = _key(source)
    with _lock:
        module = _memo.get(key)
        if module is None:
            module = _memo[key] = _load(source, name_hint, key)
        return module


def load_source(text_key: str) -> str | None:
    """Generated source stored under `text_key` by `store_source` (None if absent or damaged).

    This lets a second process go from a traced function straight to its module,
    skipping the optimization passes (SymPy among them) and code generation.
    """
    directory = cache_dir()
    if directory is None:
        return None
    path = directory / f"adjit_source_{_key(text_key)[:32]}.txt"
    try:
        data = path.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    header, _, source = data.partition("\n")
    if header != _source_header(text_key, source):
        _warn_once("corrupt", f"adjit cache entry {path} is corrupt; rebuilding it")
        return None
    return source


def store_source(text_key: str, source: str) -> None:
    """Remember `source` as the code generated for `text_key` (best effort)."""
    directory = cache_dir()
    if directory is None:
        return
    path = directory / f"adjit_source_{_key(text_key)[:32]}.txt"
    data = f"{_source_header(text_key, source)}\n{source}".encode()
    try:
        _write_entry(path, data)
    except OSError:
        pass  # load_module reports an unusable directory; the source is only a shortcut


def _source_header(text_key: str, source: str) -> str:
    digest = hashlib.sha256(source.encode()).hexdigest()
    return f"# adjit generated source for {_key(text_key)}; sha256 {digest}"


@functools.lru_cache(maxsize=1)
def _adjit_fingerprint() -> str:
    """A hash of adjit's own source files: generated code depends on all of them,
    so a changed compiler never reuses an entry of another one, whatever its version."""
    root = pathlib.Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def _numba_version() -> str:
    """Numba's version, read from its metadata: importing Numba to key a module that
    the interpreter tier may run without it would cost the first call a second."""
    from importlib import metadata

    try:
        return metadata.version("numba")
    except metadata.PackageNotFoundError:  # not installed as a distribution
        import numba

        return numba.__version__


def _key(source: str) -> str:
    parts = (source, _adjit_fingerprint(), _numba_version(), np.__version__, sys.version)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _module_name(name_hint: str, key: str) -> str:
    return f"adjit_{re.sub(r'[^0-9A-Za-z_]', '_', name_hint)}_{key[:24]}"


def module_file(source: str, name_hint: str = "fn") -> pathlib.Path | None:
    """The file `load_module` keeps `source` in (None when the cache is off). Numba's
    native code for it can be on disk only if this file is: checked without Numba."""
    directory = cache_dir()
    return None if directory is None else directory / f"{_module_name(name_hint, _key(source))}.py"


def _text(source: str, key: str, cache: bool) -> str:
    if not source.endswith("\n"):
        source += "\n"
    return f"# adjit generated module {key}; do not edit\nCACHE = {cache}\n{source}"


def _load(source: str, name_hint: str, key: str) -> types.ModuleType:
    from numba.core.dispatcher import Dispatcher

    from .native_cache import guard  # and its locators, before the module's decorators run

    name = _module_name(name_hint, key)
    directory = cache_dir()
    if directory is not None:
        path = directory / f"{name}.py"
        text = _text(source, key, cache=True)
        try:
            _write_entry(path, text.encode())
            module = _exec(name, text, str(path))
        except (OSError, _NoNumbaCache) as exc:
            _warn_once(
                "unusable",
                f"adjit cache directory {directory} is unusable ({exc}); compiling in memory "
                "without the on-disk cache (set ADJIT_CACHE_DIR to a writable directory or 'off')",
            )
        else:
            for obj in vars(module).values():
                if isinstance(obj, Dispatcher):
                    guard(obj)
            return module
    filename = f"<adjit {name}>"
    text = _text(source, key, cache=False)
    # mtime None: linecache.checkcache keeps entries that have no file behind them.
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    return _exec(name, text, filename)


def _write_entry(path: pathlib.Path, data: bytes) -> None:
    """Make ``path`` hold exactly ``data``, leaving a correct file untouched."""
    try:
        existing = path.read_bytes()
    except FileNotFoundError:
        existing = None
    if existing == data:
        return  # rewriting would change its mtime and invalidate Numba's index
    if existing is not None:
        _warn_once(
            "corrupt",
            f"adjit cache entry {path} is corrupt (does not match its key); rebuilding it",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class _NoNumbaCache(Exception):
    """Numba has nowhere to keep the module's compiled code (a read-only directory)."""


def _exec(name: str, text: str, filename: str) -> types.ModuleType:
    # Compiled from the verified text rather than imported, so no stale .pyc can be used.
    module = types.ModuleType(name)
    if not filename.startswith("<"):
        module.__file__ = filename
    sys.modules[name] = module  # Numba and inspect look functions' modules up by name
    try:
        exec(compile(text, filename, "exec"), module.__dict__)
    except RuntimeError as exc:
        sys.modules.pop(name, None)
        if "no locator available" in str(exc):
            raise _NoNumbaCache(exc) from None
        raise
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _warn_once(kind: str, message: str) -> None:
    from .native_cache import warn_once

    warn_once(kind, message, stacklevel=4)
