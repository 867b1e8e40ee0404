"""adjit.jit(f) against adjit.jit(f, parallel=True), element-wise and reduction.

    python benchmarks/parallel.py [--sizes 1000 10000 ...] [--force]

Prints median call times (the lowest of seven interleaved rounds), their ratio
and the first-call time (trace, code generation, Numba compile) per size. --force lowers the parallel threshold to
0, so every loop runs in prange: the ratio then shows where threads start to pay,
which is how adjit.codegen.loops.PARALLEL_MIN was chosen.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time

os.environ.setdefault("ADJIT_TIERED", "0")  # time native code, not the interpreter tier

import numba
import numpy as np

import adjit
from adjit.codegen import cache, loops


def elementwise(x):
    return np.tanh(x) * 2.0 + 1.0


def reduction(x):
    return np.sum(np.tanh(x) ** 2)


def _median_times(fs, x, rounds: int = 7, budget: float = 0.05) -> list[float]:
    """The lowest of several rounds' median call times, rounds interleaved across
    `fs`: on a shared machine a thread that loses its core stalls a parallel loop
    for a scheduler tick, and one busy round should not decide the table."""
    for f in fs:
        f(x)
    best = [math.inf] * len(fs)
    for _ in range(rounds):
        for i, f in enumerate(fs):
            times = []
            deadline = time.perf_counter() + budget
            while len(times) < 5 or (time.perf_counter() < deadline and len(times) < 1000):
                start = time.perf_counter()
                f(x)
                times.append(time.perf_counter() - start)
            best[i] = min(best[i], statistics.median(times))
    return best


def _first_call(f, x, parallel: bool) -> tuple[object, float]:
    start = time.perf_counter()
    jitted = adjit.jit(f, parallel=parallel)
    jitted(x)
    return jitted, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**3, 10**4, 10**5, 10**6])
    parser.add_argument("--force", action="store_true", help="prange on every loop")
    args = parser.parse_args()
    if args.force:
        loops.PARALLEL_MIN = 0
    # a fresh cache: first calls compile
    cache.set_cache_dir(tempfile.mkdtemp(prefix="adjit-bench-parallel-"))
    print(
        f"cores: {os.cpu_count()}, Numba threads: {numba.get_num_threads()} "
        f"({numba.threading_layer() if _has_layer() else 'layer chosen on first use'}), "
        f"PARALLEL_MIN = {loops.PARALLEL_MIN}"
    )
    header = f"{'function':<12}{'n':>9}{'serial µs':>12}{'parallel µs':>13}{'ratio':>7}"
    print(header + f"{'first call s (ser/par)':>25}")
    for name, f in (("elementwise", elementwise), ("reduction", reduction)):
        for n in args.sizes:
            x = np.random.default_rng(0).normal(size=n)
            serial, t_serial = _first_call(f, x, False)
            par, t_par = _first_call(f, x, True)
            a, b = _median_times([serial, par], x)
            print(
                f"{name:<12}{n:>9}{a * 1e6:>12.1f}{b * 1e6:>13.1f}{a / b:>7.2f}"
                f"{t_serial:>13.2f} / {t_par:.2f}"
            )


def _has_layer() -> bool:
    try:
        numba.threading_layer()
    except ValueError:
        return False
    return True


if __name__ == "__main__":
    main()
