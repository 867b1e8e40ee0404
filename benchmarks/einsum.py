"""Contractions written with np.einsum: value_and_grad against jax.jit(jax.value_and_grad).

    python benchmarks/einsum.py            # about 30 s; --quick for shorter repeats

Each row is an objective whose contraction is an einsum (a batched matrix
product 'bij,bjk->bik', a Frobenius product 'ij,ij->', a three-operand chain),
differentiated with respect to all its array inputs, beside the same objective
written without einsum (`@`, `*` and `np.sum`). "first call" is the first
call of a new transform: tracing, code generation and compiling (adjit into an
empty cache directory of this run, so Numba compiles); "per call" is the time of
one call after that (min over repeats). Both results are checked against NumPy
and JAX before timing. As the other benchmarks: one thread everywhere, one
pinned CPU, and a child process whose large temporaries come from a warm heap
(run.py's WARM_HEAP), so that the order of the rows does not change their times.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import (  # noqa: E402
    THREAD_ENV,
    WARM_HEAP,
    agrees,
    first_call,
    fmt_ratio,
    fmt_time,
    machine_line,
    per_call,
    pin_to_one_cpu,
    table,
)

for _key, _value in THREAD_ENV.items():
    os.environ.setdefault(_key, _value)
if "--child" in sys.argv:  # before NumPy loads OpenBLAS or anything starts threads
    pin_to_one_cpu()
os.environ["ADJIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="adjit-einsum-bench-")

import numpy as np  # noqa: E402

import adjit  # noqa: E402


def batched(xp, plain=False):
    def f(A, B):
        return xp.sum(xp.tanh(A @ B if plain else xp.einsum("bij,bjk->bik", A, B)))

    return f


def frobenius(xp, plain=False):
    def f(W, X):
        if plain:
            return xp.sum(W * xp.tanh(X)) + 0.5 * xp.sum(W * W)
        return xp.einsum("ij,ij->", W, xp.tanh(X)) + 0.5 * xp.einsum("ij,ij", W, W)

    return f


def chain(xp, plain=False):
    def f(x, W, V):
        return x @ W @ V @ x if plain else xp.einsum("i,ij,jk,k->", x, W, V, x)

    return f


def workloads(rng: np.random.Generator) -> list[tuple[str, object, tuple]]:
    return [
        ("'bij,bjk->bik', 32 x 64x64", batched, (rng.normal(size=(32, 64, 64)),) * 2),
        ("'ij,ij->', 512x512", frobenius, (rng.normal(size=(512, 512)),) * 2),
        (
            "'i,ij,jk,k->', 256",
            chain,
            (rng.normal(size=256), rng.normal(size=(256, 256)), rng.normal(size=(256, 256))),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing repeats")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if not opts.child:  # malloc's settings are read when a process starts
        env = {**os.environ, **WARM_HEAP}
        child = [sys.executable, __file__, "--child", *sys.argv[1:]]
        sys.exit(subprocess.run(child, env=env).returncode)
    target = 0.02 if opts.quick else 0.1
    print(machine_line() + "\n")
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
    except ImportError:
        jax = None
    rows = []
    for name, make, args in workloads(np.random.default_rng(0)):
        argnums = tuple(range(len(args)))
        ours = adjit.value_and_grad(make(np), argnums=argnums)
        first = first_call(ours, args)
        result, grads = ours(*args)
        ours_time = per_call(ours, args, target)
        plain = adjit.value_and_grad(make(np, plain=True), argnums=argnums)
        plain(*args)  # compiled before timing, as the others
        plain_time = per_call(plain, args, target)
        row = [name, fmt_time(first), fmt_time(ours_time), fmt_time(plain_time)]
        if jax is not None:
            theirs = jax.jit(jax.value_and_grad(make(jnp), argnums=argnums))
            jargs = tuple(jnp.asarray(a) for a in args)

            def value(*a, theirs=theirs):
                return theirs(*a)[0]

            jfirst = first_call(value, jargs, block=True)
            jvalue, jgrads = theirs(*jargs)
            if not (agrees(result, jvalue) and all(map(agrees, grads, jgrads))):
                raise SystemExit(f"{name}: adjit and JAX disagree")
            jtime = per_call(value, jargs, target, block=True)
            row += [fmt_time(jfirst), fmt_time(jtime), fmt_ratio(ours_time, jtime)]
        else:
            row += ["—", "—", "—"]
        if not agrees(result, make(np)(*args)):
            raise SystemExit(f"{name}: adjit's value disagrees with NumPy")
        rows.append(row)
    header = [
        "value_and_grad of (float64)",
        "adjit first call",
        "adjit per call",
        "adjit, written without einsum",
        "jax first call",
        "jax per call",
        "adjit / jax",
    ]
    print(table(header, rows))


if __name__ == "__main__":
    main()
