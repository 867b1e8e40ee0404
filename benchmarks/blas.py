"""The matrix products behind the MLP and GMM gaps: Numba's np.dot (OpenBLAS) vs XLA.

    python benchmarks/blas.py

Prints a table of one call each, on one pinned CPU with one thread: the MLP's
256x784 @ 784x256 product, and gmm_d10_K25's small products: 25 of 1000x10 by
10x10 (forward) and 25 of 10x1000 by 1000x10 (gradient), as Numba's np.dot and
a batched jax.jit matmul, and the forward ones as one 1000x10 @ 10x250 product.
As the other benchmarks, it measures in a child process without the
environment's OpenBLAS kernel pin (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE; see
run.py) unless given --keep-blas-pin; the header says which kernels ran.
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

import numba  # noqa: E402
import numpy as np  # noqa: E402


@numba.njit(cache=False)
def dot(a, b):
    return np.dot(a, b)


@numba.njit(cache=False)
def batched_dot(a, b, out):
    for k in range(a.shape[0]):
        np.dot(a[k], b[k], out[k])
    return out


@numba.njit(cache=False)
def batched_dot_t(a, b, out):  # a[k].T @ b[k]: the GMM gradient's product
    for k in range(a.shape[0]):
        np.dot(a[k].T, b[k], out[k])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    add_blas_option(parser)
    opts = parser.parse_args()
    if not opts.child:
        apply_blas_option(opts)
        sys.exit(subprocess.run([sys.executable, __file__, "--child"]).returncode)
    measure()


def measure() -> None:
    print(machine_line() + "\n")
    rng = np.random.default_rng(0)
    x, w = rng.random((256, 784)), rng.random((784, 256))
    xc, q = rng.random((25, 1000, 10)), rng.random((25, 10, 10))
    out, out_t = np.empty((25, 1000, 10)), np.empty((25, 10, 10))
    xc_t = np.ascontiguousarray(np.swapaxes(xc, 1, 2))
    x_all, q_all = rng.random((1000, 10)), rng.random((10, 250))
    rows = [
        ["MLP: 256x784 @ 784x256", fmt_time(per_call(dot, (x, w), 0.2))],
        ["GMM: 25 x (1000x10 @ 10x10)", fmt_time(per_call(batched_dot, (xc, q, out), 0.2))],
        ["GMM: 25 x (10x1000 @ 1000x10)", fmt_time(per_call(batched_dot_t, (xc, xc, out_t), 0.2))],
        ["GMM as one 1000x10 @ 10x250", fmt_time(per_call(dot, (x_all, q_all), 0.2))],
    ]
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        matmul = jax.jit(jnp.matmul)
        pairs = [(x, w), (xc, q), (xc_t, xc), (x_all, q_all)]
        for row, (a, b) in zip(rows, pairs):
            ja, jb = jnp.asarray(a), jnp.asarray(b)
            row.append(fmt_time(per_call(matmul, (ja, jb), 0.2, block=True)))
    except ImportError:
        for row in rows:
            row.append("—")
    print(table(["product (float64)", "Numba np.dot (OpenBLAS)", "jax.jit matmul"], rows))


if __name__ == "__main__":
    main()
