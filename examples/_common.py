"""Helpers the examples share: fast mode, where pictures go, timing.

Fast mode (`--fast` or ADJIT_EXAMPLES_FAST=1) runs each example on less data
and fewer steps, and skips the comparisons with other libraries: the test
suite uses it. Pictures go to the folder given by `--out DIR` or
ADJIT_EXAMPLES_OUT, by default the current directory. Importing this module
puts the checkout's adjit first on sys.path.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Run from a checkout without `pip install -e .`: this checkout's adjit first.
REPO = Path(__file__).resolve().parent.parent
if (REPO / "adjit" / "__init__.py").exists() and str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

FAST = "--fast" in sys.argv or os.environ.get("ADJIT_EXAMPLES_FAST", "") not in ("", "0")


def one_blas_thread() -> None:
    """Run BLAS on one thread: the examples' matrix products are small, and several
    BLAS threads on a busy machine made a 64x128 by 128x128 product 100x slower."""
    import scipy.linalg  # noqa: F401  (loads SciPy's BLAS, which Numba's np.dot calls)
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    threadpool_limits(limits=1, user_api="blas")


def output_path(name: str) -> Path:
    """Where an example writes the file `name` (the folder is created)."""
    folder = os.environ.get("ADJIT_EXAMPLES_OUT", ".")
    if "--out" in sys.argv:
        at = sys.argv.index("--out") + 1
        if at == len(sys.argv):
            raise SystemExit("--out needs a folder: --out DIR")
        folder = sys.argv[at]
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path / name


def seconds_per_call(fn: Callable[[], object], repeat: int = 5, min_time: float = 0.05) -> float:
    """The best over `repeat` rounds of the mean time of one call (each round at
    least `min_time` seconds long); the first call (compiling) is not counted."""
    fn()
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - start >= min_time or calls >= 1 << 20:
            break
        calls *= 2
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def format_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def optional(module: str):
    """The module if it is installed, else None."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None
