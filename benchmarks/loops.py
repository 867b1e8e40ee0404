"""Reverse mode through a 10^5-step loop: adjit against hand-written Numba and JAX.

    python benchmarks/loops.py [--steps 100000] [--memory]

The loop is a small-vector recurrence s <- s + h * sin(w * s[::-1]) * x (4
elements), run `n` times, n an argument (a traced bound for adjit, so its tape
is sized at run time); the gradient of sum(s) with respect to x. Rows: adjit's
`grad` through `fori_loop` (full tape, and `checkpoint=316`), adjit's `grad`
through `while_loop` (a tape that grows by doubling), the same loop written by
hand in Numba (forward sweep storing the states, manual reverse sweep), and
JAX's `grad` through `lax.fori_loop` (jit). First call (trace and compile, with
an empty adjit cache) and the median of later calls; all in this process. The machine may be shared:
compare ratios, not absolute times. `--memory` adds the checkpointing trade-off:
the peak memory of the gradient with a 64-element state, full tape against
`checkpoint=k`, each measured in a new process (its peak resident set).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("ADJIT_TIERED", "0")  # time native code, not the interpreter tier
# a fresh cache, so that the first call is adjit's trace and compile, not a load
os.environ.setdefault("ADJIT_CACHE_DIR", tempfile.mkdtemp(prefix="adjit-loops-"))

import numba
import numpy as np

import adjit

H = 1e-4
W = np.array([0.5, 0.8, 1.1, 1.4])


def step(s, x):
    return s + H * np.sin(W * s[::-1]) * x


def adjit_fori(checkpoint=None):
    def f(x, n):
        return adjit.fori_loop(0, n, lambda i, s: step(s, x), x, checkpoint=checkpoint).sum()

    return adjit.grad(f)


def adjit_while():
    def f(x, n):
        def body(c):
            s, i = c
            return (step(s, x), i + 1)

        s, _ = adjit.while_loop(lambda c: c[1] < n, body, (x, np.int64(0)))
        return s.sum()

    return adjit.grad(f)


@numba.njit(cache=False)
def numba_grad(x, n):
    """The loop as one would write it by hand: element loops, no temporaries."""
    d = x.shape[0]
    tape = np.empty((n, d))
    s = x.copy()
    nxt = np.empty(d)
    for k in range(n):
        tape[k] = s
        for e in range(d):
            nxt[e] = s[e] + H * np.sin(W[e] * s[d - 1 - e]) * x[e]
        s, nxt = nxt, s
    gs = np.ones(d)  # d sum(s) / d s
    gx = np.zeros(d)
    back = np.empty(d)
    for k in range(n - 1, -1, -1):
        for e in range(d):
            arg = W[e] * tape[k, d - 1 - e]
            gx[e] += gs[e] * H * np.sin(arg)
            back[d - 1 - e] = gs[e] * H * x[e] * np.cos(arg) * W[e]
        for e in range(d):
            gs[e] += back[e]
    return gs + gx  # s starts as x


def jax_grad():
    import jax

    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    w = jnp.asarray(W)

    def f(x, n):
        body = lambda i, s: s + H * jnp.sin(w * s[::-1]) * x  # noqa: E731
        return jax.lax.fori_loop(0, n, body, x).sum()

    g = jax.jit(jax.grad(f), static_argnums=1)
    return lambda x, n: np.asarray(g(x, int(n)))


def measure(fn, x, n, repeats=5):
    t0 = time.perf_counter()
    out = fn(x, n)
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x, n)
        times.append(time.perf_counter() - t0)
    return out, first, statistics.median(times)


MEMORY_CHILD = """
import resource, sys, numpy as np, adjit
n, k, d = int(sys.argv[1]), int(sys.argv[2]) or None, int(sys.argv[3])
w = np.linspace(0.5, 1.5, d)
def f(x, n):
    body = lambda i, s: s + 1e-4 * np.sin(w * s[::-1]) * x
    return adjit.fori_loop(0, n, body, x, checkpoint=k).sum()
g = adjit.grad(f)
x = np.linspace(0.2, 1.0, d)
g(x, np.int64(2))  # compiled, run on a short loop: the baseline
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
g(x, np.int64(n))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) / 1024)
"""


def memory(n: int, d: int) -> None:
    """Peak memory of the gradient's run: growth of the process's maximum resident
    set over that of a short run, full tape against checkpoints, each in a new
    process that loads the code compiled by an earlier one (compiling takes more
    memory than the run)."""
    import subprocess
    import sys

    print(f"\npeak memory of grad through {n} steps of a {d}-element state")
    print("| tape | states kept | MiB kept (n/k + k states) | measured peak growth MiB |")
    print("|---|---|---|---|")
    for k in (0, 100, int(np.sqrt(n)), 1000):
        for _ in range(2):  # compile, then measure
            out = subprocess.run(
                [sys.executable, "-c", MEMORY_CHILD, str(n), str(k), str(d)],
                capture_output=True,
                text=True,
                check=True,
                env=os.environ,
            )
        kept = n if k == 0 else -(-n // k) + k
        name = "full" if k == 0 else f"checkpoint={k}"
        mib = kept * d * 8 / 2**20
        print(f"| {name} | {kept} | {mib:.2f} | {float(out.stdout.split()[-1]):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--memory", action="store_true", help="also peak memory, 64-element state")
    args = parser.parse_args()
    n = np.int64(args.steps)
    x = np.linspace(0.2, 1.0, 4)
    rows = [
        ("adjit grad, fori_loop (tape of n states)", adjit_fori()),
        ("adjit grad, fori_loop checkpoint=316", adjit_fori(316)),
        ("adjit grad, while_loop (growing tape)", adjit_while()),
        ("Numba by hand (forward + manual reverse)", numba_grad),
    ]
    try:
        rows.append(("JAX grad of lax.fori_loop (jit)", jax_grad()))
    except ImportError:
        print("(jax not installed: no JAX row)")
    reference = None
    print(f"gradient of sum(s) after {n} steps of a 4-element recurrence")
    print("| implementation | first call ms | later calls ms | max abs diff |")
    print("|---|---|---|---|")
    for name, fn in rows:
        out, first, later = measure(fn, x, n)
        reference = out if reference is None else reference
        diff = float(np.max(np.abs(np.asarray(out) - reference)))
        print(f"| {name} | {first * 1e3:.0f} | {later * 1e3:.2f} | {diff:.1e} |")
    if args.memory:
        memory(int(n), 64)


if __name__ == "__main__":
    main()
