"""Element-wise math in generated loops: adjit's vectorising functions vs the C library.

    python benchmarks/vecmath.py

Numba compiles `np.exp(x[i])` in a loop to one C library call per element, which
keeps the loop scalar; adjit's generated code calls `adjit.codegen.vecmath`
instead (inlined arithmetic that LLVM vectorises). Prints the time of one pass
over 65536 float64 values in [-5, 5] (positive ones for log): a Numba loop
calling np.<fn>, the same loop calling adjit's function, NumPy's ufunc and
jax.jit, on one pinned CPU. A second table times np.sin, np.cos and np.tan of
10^6 values through adjit.jit beside NumPy and jax.jit (each allocating its
result), and the Numba loop through the C library that adjit's generated code
was before vecmath had them. Accuracy is tested in tests/test_vecmath.py and
tests/test_vecmath_trig.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import THREAD_ENV, fmt_ratio, fmt_time, machine_line, per_call, pin_to_one_cpu, table  # noqa: E402

for _key, _value in THREAD_ENV.items():
    os.environ.setdefault(_key, _value)
pin_to_one_cpu()

import numba  # noqa: E402
import numpy as np  # noqa: E402

import adjit  # noqa: E402
from adjit.codegen import vecmath  # noqa: E402
from adjit.codegen.helpers import VECMATH  # noqa: E402

N = 65536
N_TRIG = 10**6


def _loop(scalar):
    @numba.njit(error_model="numpy")
    def apply(x, out):
        for i in range(x.size):
            out[i] = scalar(x[i])

    return apply


def _numpy_scalar(name):
    if name == "logistic":
        return numba.njit(lambda v: 1.0 / (1.0 + np.exp(-v)))
    ufunc = getattr(np, name)
    return numba.njit(lambda v: ufunc(v))


def _numpy_array(name):
    if name == "logistic":
        return lambda x, out: np.divide(1.0, 1.0 + np.exp(-x), out=out)
    ufunc = getattr(np, name)
    return lambda x, out: ufunc(x, out=out)


def main() -> None:
    print(machine_line() + "\n")
    rng = np.random.default_rng(0)
    jax = None
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
    except ImportError:
        pass
    rows = []
    for name, function in VECMATH.items():
        if not hasattr(np, name) and name != "logistic":
            continue  # erf, digamma, ...: special functions kept in vecmath, not vectorising
        x = (
            rng.uniform(0.01, 10.0, N)
            if name.startswith("log") and name != "logistic"
            else rng.uniform(-5, 5, N)
        )
        out = np.empty(N)
        libm, ours = _loop(_numpy_scalar(name)), _loop(getattr(vecmath, function))
        libm(x, out)
        ours(x, out)
        t_libm = per_call(libm, (x, out), 0.1)
        t_ours = per_call(ours, (x, out), 0.1)
        row = [name, fmt_time(t_libm), fmt_time(t_ours), fmt_ratio(t_libm, t_ours)]
        row.append(fmt_time(per_call(_numpy_array(name), (x, out), 0.1)))
        if jax is not None:
            jfn = jax.nn.sigmoid if name == "logistic" else getattr(jnp, name)
            jitted, jx = jax.jit(jfn), jnp.asarray(x)
            row.append(fmt_time(per_call(jitted, (jx,), 0.1, block=True)))
        else:
            row.append("—")
        rows.append(row)
    header = ["function", "Numba loop, np.<fn> (libm)", "Numba loop, adjit vecmath", "speed-up",
              "NumPy ufunc", "jax.jit"]  # fmt: skip
    print(f"one pass over {N} float64 values:")
    print(table(header, rows))
    print()
    print(_trig_table(jax))


def _trig_table(jax) -> str:
    """sin, cos, tan of N_TRIG values in [-10, 10]: adjit.jit, the libm loop, NumPy, jax.jit."""
    x = np.random.default_rng(1).uniform(-10, 10, N_TRIG)
    out = np.empty(N_TRIG)
    rows = []
    for name in ("sin", "cos", "tan"):
        ufunc = getattr(np, name)
        ours = adjit.jit(lambda v, ufunc=ufunc: ufunc(v))
        libm = _loop(_numpy_scalar(name))
        ours(x)
        libm(x, out)
        t_ours = per_call(ours, (x,), 0.2)
        t_libm = per_call(libm, (x, out), 0.2)
        t_numpy = per_call(ufunc, (x,), 0.2)
        t_jax = None
        if jax is not None:
            jitted, jx = jax.jit(getattr(jax.numpy, name)), jax.numpy.asarray(x)
            t_jax = per_call(jitted, (jx,), 0.2, block=True)
        rows.append(
            [name, fmt_time(t_ours), fmt_time(t_libm), fmt_time(t_numpy), fmt_time(t_jax),
             fmt_ratio(t_ours, t_jax)]
        )  # fmt: skip
    header = ["function", "adjit.jit", "before: Numba loop, libm", "NumPy ufunc", "jax.jit",
              "adjit / jax"]  # fmt: skip
    return f"np.<fn>(x) for {N_TRIG} float64 values in [-10, 10], result allocated:\n" + table(
        header, rows
    )


if __name__ == "__main__":
    main()
