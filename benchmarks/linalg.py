"""Gradients through np.linalg: adjit.value_and_grad vs jax.jit(value_and_grad), 200x200.

    python benchmarks/linalg.py [--quick] [--keep-blas-pin]

Prints a markdown table, one row per objective of a 200x200 matrix a (a
well-conditioned random matrix, SPD where the objective needs it): the first
call (trace, compile and run; adjit's disk cache is off, so this is a cold
compile) and the time per call afterwards, for adjit and for JAX, and adjit/JAX.
Values and gradients are checked against JAX before timing. As the other
benchmarks, it measures in one child process pinned to one CPU with one thread
everywhere and without the environment's OpenBLAS kernel pin (see run.py).

  solve     sum(solve(a, b) * c)           b: 200x10
  cholesky  sum(cholesky(a) * c)
  slogdet   slogdet(a)[1]
  cho_solve sum(cho_solve((cholesky(a), True), b) * c)
  eigh      sum(w) + sum(v**3), (w, v) = eigh(a[:100, :100]): 100x100
            (one eigendecomposition serves w, v and the gradient's reuse of both)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import (  # noqa: E402
    THREAD_ENV,
    add_blas_option,
    apply_blas_option,
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
    os.environ["ADJIT_CACHE_DIR"] = "off"  # first calls are cold compiles

import numpy as np  # noqa: E402

N, K = 200, 10
N_EIGH = 100


def objectives(np, sl, lower=lambda a: a):
    """The objectives, written once for NumPy/SciPy (`np`, `sl`) and for JAX.

    `lower`: the symmetric matrix cholesky reads. NumPy's reads the lower
    triangle, JAX's symmetrizes (a + a^T) / 2: the same value, not the same
    gradient, so JAX is given the matrix built from the lower triangle.
    """
    return {
        "solve": lambda a, b, c: np.sum(np.linalg.solve(a, b) * c),
        "cholesky": lambda a, b, c: np.sum(np.linalg.cholesky(lower(a)) * c),
        "slogdet": lambda a, b, c: np.linalg.slogdet(a)[1],
        "cho_solve": lambda a, b, c: np.sum(
            sl.cho_solve((np.linalg.cholesky(lower(a)), True), b) * c
        ),
        "eigh": lambda a, b, c: _eigh_objective(np.linalg.eigh(lower(a))),
    }


def _eigh_objective(wv):
    w, v = wv
    return w.sum() + (v**3).sum()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="shorter timing repeats")
    add_blas_option(parser)
    opts = parser.parse_args()
    if not opts.child:
        apply_blas_option(opts)
        args = [sys.executable, __file__, "--child"] + (["--quick"] if opts.quick else [])
        sys.exit(subprocess.run(args).returncode)
    measure(0.02 if opts.quick else 0.1)


def measure(target: float) -> None:
    import jax
    import jax.numpy as jnp
    import jax.scipy.linalg as jsl
    import scipy.linalg

    import adjit

    jax.config.update("jax_enable_x64", True)
    print(machine_line() + "\n")
    rng = np.random.default_rng(0)
    m = rng.normal(size=(N, N)) / np.sqrt(N)
    a = m @ m.T + np.eye(N)  # SPD, condition number about 5
    b, c = rng.normal(size=(N, K)), rng.normal(size=(N, N))
    ours = objectives(np, scipy.linalg)
    theirs = objectives(jnp, jsl, lambda x: jnp.tril(x) + jnp.tril(x, -1).T)
    rows = []
    for name in ours:
        cc = c[:, :K] if name in ("solve", "cho_solve") else c
        args = (np.ascontiguousarray(a[:N_EIGH, :N_EIGH]), b, cc) if name == "eigh" else (a, b, cc)
        f = adjit.value_and_grad(ours[name])
        g = jax.jit(jax.value_and_grad(theirs[name]))
        jgrad = lambda *xs, g=g: g(*xs)[1]  # noqa: E731  (blocks on the gradient)
        jargs = tuple(jnp.asarray(x) for x in args)
        t_adjit_first = first_call(f, args)
        t_jax_first = first_call(jgrad, jargs, block=True)
        (v1, g1), (v2, g2) = f(*args), g(*jargs)
        if not (np.allclose(v1, v2, rtol=1e-9) and np.allclose(g1, g2, rtol=1e-7, atol=1e-10)):
            raise SystemExit(f"{name}: adjit and JAX disagree")
        t_adjit = per_call(f, args, target)
        t_jax = per_call(jgrad, jargs, target, block=True)
        rows.append(
            [
                name,
                fmt_time(t_adjit_first),
                fmt_time(t_jax_first),
                fmt_time(t_adjit),
                fmt_time(t_jax),
                fmt_ratio(t_adjit, t_jax),
            ]
        )
    header = [
        f"value_and_grad, {N}x{N} (eigh: {N_EIGH}x{N_EIGH})",
        "adjit first call",
        "JAX first call",
        "adjit per call",
        "jax.jit per call",
        "adjit/JAX",
    ]
    print(table(header, rows))


if __name__ == "__main__":
    main()
