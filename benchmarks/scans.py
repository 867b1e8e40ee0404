"""Scans and sorts (issue 15): adjit.value_and_grad vs jax.jit(value_and_grad).

    python benchmarks/scans.py [--quick] [--n N]

Each workload is a scalar loss of an n-by-n matrix through one scan or sort
along its rows and its columns. Both implementations' values and gradients are
checked against each other (rtol 1e-9) before timing; the table gives the best
of the timed calls and adjit/JAX (below 1: adjit is faster). One thread each
(set before NumPy, Numba and JAX load).
"""

from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
os.environ.setdefault("ADJIT_TIERED", "0")  # time native code, not the interpreter tier

import numpy as np  # noqa: E402


def workloads(np):  # the same source for NumPy (adjit) and jax.numpy
    def cumsum(x):
        return np.sum(np.sin(np.cumsum(x, axis=1)) + np.cumsum(x, axis=0) ** 2)

    def cumprod(x):
        return np.sum(np.cumprod(1.0 + 0.01 * x, axis=1) * np.cumprod(x, axis=0))

    def sort(x):
        return np.sum(np.sort(x, axis=1) * np.sort(x, axis=0) ** 2)

    def argmax_index(x):
        rows = np.argmax(x, axis=1)
        return np.sum(np.take_along_axis(x, rows[:, None], axis=1) ** 2) + np.sum(x * x)

    return {f.__name__: f for f in (cumsum, cumprod, sort, argmax_index)}


def best(call, x, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call(x)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    import jax
    import jax.numpy as jnp

    import adjit

    jax.config.update("jax_enable_x64", True)
    x = np.random.default_rng(0).normal(size=(args.n, args.n))
    repeats = 5 if args.quick else 20
    ours, theirs = workloads(np), workloads(jnp)
    print(f"value_and_grad of a {args.n}x{args.n} loss, best of {repeats} calls\n")
    print("| workload | adjit | jax.jit | adjit/JAX |")
    print("|---|---|---|---|")
    for name, f in ours.items():
        a = adjit.value_and_grad(f)
        j = jax.jit(jax.value_and_grad(theirs[name]))

        def run_jax(v, j=j):
            return jax.block_until_ready(j(v))

        (va, ga), (vj, gj) = a(x), run_jax(x)
        np.testing.assert_allclose(va, vj, rtol=1e-9)
        np.testing.assert_allclose(ga, gj, rtol=1e-9, atol=1e-9)
        ta, tj = best(a, x, repeats), best(run_jax, x, repeats)
        print(f"| {name} | {ta * 1e3:.2f} ms | {tj * 1e3:.2f} ms | {ta / tj:.2f} |")


if __name__ == "__main__":
    main()
