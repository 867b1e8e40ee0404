"""Python loops in traced code: compile time against the trip count (issue 12).

    python benchmarks/control_flow.py            # n = 10, 100, 10000
    python benchmarks/control_flow.py --quick    # n = 10, 10000, without JAX's unrolled loop

A plain Python `for i in range(n)` over traced state is rolled into one IR `for`
op, so the first call of `adjit.jit(f)` and `adjit.jit(adjit.grad(f))` (trace,
passes, code generation, Numba compilation; on-disk cache off) should not grow
with n. Each row also shows the IR size and the time of a compiled call; the
peer is JAX: `jax.jit` of the same Python loop (which JAX unrolls) and of
`jax.lax.fori_loop`, first call and steady-state call.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import THREAD_ENV, fmt_ratio, fmt_time, machine_line, per_call, table  # noqa: E402

for _key, _value in THREAD_ENV.items():
    os.environ.setdefault(_key, _value)
os.environ["ADJIT_CACHE_DIR"] = "off"  # measure compilation, not the disk cache

import numpy as np  # noqa: E402

import adjit  # noqa: E402

TARGET = 0.05  # seconds per timing repeat
QUICK = "--quick" in sys.argv


def make(n: int, np_module=np):  # noqa: ANN001, ANN201
    def f(x):
        for i in range(n):
            x = x * 0.999 + 0.001 * np_module.sin(x + i)
        return np_module.sum(x)

    return f


def first(fn, *args) -> tuple[float, object]:  # noqa: ANN001
    t0 = time.perf_counter()
    out = fn(*args)
    if hasattr(out, "block_until_ready"):
        out.block_until_ready()
    return time.perf_counter() - t0, out


def jax_rows(n: int, x: np.ndarray) -> list[str]:
    if os.environ.get("ADJIT_BENCH_NO_JAX"):
        return ["—"] * 4
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return ["—"] * 4
    jax.config.update("jax_enable_x64", True)

    def body(i, x):
        return x * 0.999 + 0.001 * jnp.sin(x + i)

    def rolled(x):
        return jnp.sum(jax.lax.fori_loop(0, n, body, x))

    cells = []
    for g in (make(n, jnp), rolled):
        fn = jax.jit(jax.grad(g))
        if g is not rolled and (n > 100 or QUICK):
            cells += ["(skipped: unrolled)", "—"]
            continue
        t_first, _ = first(fn, x)
        cells += [fmt_time(t_first), fmt_time(per_call(fn, (x,), TARGET, block=True))]
    return cells


HEADER = [
    "n",
    "IR ops",
    "jit first call",
    "jit(grad) first call",
    "jit(grad) call",
    "JAX Python loop: first",
    "call",
    "JAX fori_loop: first",
    "call",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    opts = parser.parse_args()
    sizes = [10, 10_000] if opts.quick else [10, 100, 10_000]
    x = np.linspace(0.1, 1.0, 8)
    adjit.jit(adjit.grad(make(3)))(x)  # warm-up: Numba's first compilation of a process
    print(machine_line())
    print(table(HEADER, []), flush=True)  # rows follow as they are measured
    firsts = []
    for n in sizes:
        f = make(n)
        ops = len(list(adjit.trace(f)(x).walk()))
        t_jit, _ = first(adjit.jit(f), x)
        graded = adjit.jit(adjit.grad(f))
        t_grad, out = first(graded, x)
        e0 = np.eye(8)[0] * 1e-6
        fd = (f(x + e0) - f(x - e0)) / 2e-6
        assert abs(out[0] - fd) < 1e-6 * max(1.0, abs(fd)), (out[0], fd)
        t_call = per_call(graded, (x,), TARGET)
        firsts.append(t_grad)
        cells = [str(n), str(ops), fmt_time(t_jit), fmt_time(t_grad), fmt_time(t_call)]
        print("| " + " | ".join(cells + jax_rows(n, x)) + " |", flush=True)
    ratio = fmt_ratio(firsts[-1], firsts[0])
    print(f"\njit(grad) first call, n={sizes[-1]} over n={sizes[0]}: {ratio}")


if __name__ == "__main__":
    main()
