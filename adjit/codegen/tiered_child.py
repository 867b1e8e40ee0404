"""The background compilation of tiered execution (`tiered.py`), run as a process.

It reads one job from stdin (a pickled dict: the generated source, its name hint,
the cache key the parent computed, the cache directory, small stand-ins for the
arguments of the first call, which it types with Numba as the parent will), loads the source through the on-disk cache exactly as the parent will
(`cache.load_module`) and compiles its entry for the signature, which Numba saves
beside the module. Exit status 0 means the native code is on disk; UNCACHED, that
the cache directory could not keep the module. It exits as
soon as its stdin closes: the parent has died.
"""

from __future__ import annotations

import os
import pickle
import sys
import threading


def _exit_when_orphaned() -> None:
    while sys.stdin.buffer.read(65536):
        pass
    os._exit(70)


def main() -> int:
    job = pickle.load(sys.stdin.buffer)
    threading.Thread(target=_exit_when_orphaned, daemon=True).start()

    from adjit.codegen.cache import _key, load_module, set_cache_dir

    set_cache_dir(job["cache_dir"])
    if _key(job["source"]) != job["key"]:
        # another adjit, Numba or NumPy than the parent's: its cache entry is not ours
        print(
            "the child computed another cache key than the parent (it imports another "
            f"adjit, Numba or NumPy): {_key(job['source'])} != {job['key']}",
            file=sys.stderr,
        )
        return 3
    import numba

    from adjit.codegen.tiered import UNCACHED

    module = load_module(job["source"], job["name_hint"])
    if getattr(module, "__file__", None) is None:
        return UNCACHED  # compiled in memory: nothing to hand over
    signature = tuple(numba.typeof(a) for a in pickle.loads(job["examples"]))
    module.entry.compile(signature)  # saved to Numba's cache: the parent loads it from there
    return 0


def run() -> None:
    """The child's entry point: exits with main()'s status, or 1 on an exception."""
    try:
        status = main()
    except BaseException:
        import traceback

        traceback.print_exc()
        status = 1
    sys.stderr.flush()
    os._exit(status)  # not sys.exit: finalization would wait on the thread reading stdin
