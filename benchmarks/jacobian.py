"""adjit Jacobian benchmarks: jacfwd, jacrev, hessian, hvp vs JAX, PyTorch, autograd, hand Numba.

    python benchmarks/jacobian.py [--quick] [--only NAME]

Prints a markdown table: the primal time (adjit.jit of the function), the time
of one call of the transform (a whole 100x100 Jacobian or Hessian, one
Hessian-vector product, or ADBench BA's per-observation Jacobian blocks by
vmap(jacfwd)) for each implementation, adjit/primal, adjit/JAX and
adjit/hand-Numba, and adjit's first call (compile + run); then the compile
breakdown. Every implementation's result is checked against a reference
(autograd, else JAX) before timing. Measurements run in one child process pinned
to one CPU, with one thread everywhere and a warm heap (see run.py, grad.py and
README.md); the formatting, timing and child-process helpers are run.py's.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import (  # noqa: E402
    StageClock,
    agrees,
    derivative_child_setup,
    derivative_main,
    first_call,
    fmt_ratio,
    fmt_time,
    print_derivative_compile,
    run_derivative_child,
    run_implementations,
    table,
    time_calls,
)

NAMES = (  # jacobian_workloads.WORKLOADS, not imported by the parent process
    "jacfwd_dense",
    "jacrev_dense",
    "hessian_logdense",
    "hessian_rosen",
    "hvp_logdense",
    "hvp_rosen",
    "ba_jacobian",
)
IMPLS = ("adjit", "jax", "torch", "autograd", "numba")
TITLES = {
    "adjit": "adjit",
    "jax": "jax.jit",
    "torch": "PyTorch (torch.func)",
    "autograd": "autograd",
    "numba": "Numba (hand)",
}
REFERENCES = ("autograd", "jax")  # the first one that ran is the reference


# ---------------------------------------------------------------------------
# the implementations: each returns (callable, its arguments, output -> ndarray)
# ---------------------------------------------------------------------------


def _blocks(out: tuple) -> Any:
    """vmap(jacfwd(f, argnums))'s tuple of (batch, out, *arg) Jacobians -> (batch, out, sum)."""
    import numpy as np

    return np.concatenate([np.asarray(o).reshape(*o.shape[:2], -1) for o in out], axis=2)


def _adjit_impl(w: Any, args: tuple) -> tuple[Callable, tuple, Callable]:
    import adjit

    f = w.fn.numpy_fn
    if w.transform == "vmap_jacfwd":  # one compiled call, as JAX's
        jac = adjit.jacfwd(f, argnums=w.fn.argnums)
        return adjit.jit(lambda *a: adjit.vmap(jac)(*a)), args, _blocks
    if w.transform == "hvp":  # under jit, as JAX's: one compiled call with v an argument

        def hvp(x, v, *data):
            return adjit.hvp(lambda y: f(y, *data), (x,), (v,))

        return adjit.jit(hvp), args, lambda out: out
    return getattr(adjit, w.transform)(f), args, lambda out: out


def _adjit_hvp_direct(w: Any, args: tuple) -> tuple[Callable, tuple, Callable]:
    """adjit.hvp(f, (x,), (v,)) called as is, f closing over the data."""
    import adjit

    x, v, *data = args
    f = w.fn.numpy_fn

    def fx(y):
        return f(y, *data)

    return (lambda x, v: adjit.hvp(fx, (x,), (v,))), (x, v), lambda out: out


def _jax_impl(w: Any, args: tuple) -> tuple[Callable, tuple, Callable]:
    import jax
    import numpy as np

    f = w.fn.jax_fn
    if w.transform == "hvp":  # forward over reverse, as adjit.hvp

        def g(x, v, *data):
            return jax.jvp(jax.grad(lambda y: f(y, *data)), (x,), (v,))[1]

    elif w.transform == "vmap_jacfwd":
        g = jax.vmap(jax.jacfwd(f, argnums=w.fn.argnums))
    else:
        g = getattr(jax, w.transform)(f)
    jf = jax.jit(g)
    jargs = tuple(jax.device_put(a) for a in args)

    def call(*a: Any) -> Any:
        return jax.block_until_ready(jf(*a))

    return call, jargs, _blocks if w.transform == "vmap_jacfwd" else np.asarray


def _torch_impl(w: Any, args: tuple) -> tuple[Callable, tuple, Callable]:
    import torch
    from torch import func

    f = w.fn.torch_fn
    if w.transform == "hvp":

        def g(x, v, *data):
            return func.jvp(func.grad(lambda y: f(y, *data)), (x,), (v,))[1]

    elif w.transform == "vmap_jacfwd":
        g = func.vmap(func.jacfwd(f, argnums=w.fn.argnums))
        return g, tuple(torch.from_numpy(a) for a in args), _blocks
    else:
        g = getattr(func, w.transform)(f)
    return g, tuple(torch.from_numpy(a) for a in args), lambda out: out.numpy()


def _autograd_impl(w: Any, args: tuple) -> tuple[Callable, tuple, Callable]:
    import autograd

    f = w.fn.autograd_fn
    if w.transform == "hvp":  # reverse over reverse; the direction comes last
        htp = autograd.hessian_tensor_product(f)
        return (lambda x, v, *data: htp(x, *data, v)), args, lambda out: out
    if w.transform == "hessian":
        return autograd.hessian(f), args, lambda out: out
    return autograd.jacobian(f), args, lambda out: out  # reverse mode, one row at a time


def _numba_impl(w: Any, args: tuple) -> tuple[Callable, tuple, Callable]:
    kind = "jacobian" if w.transform in ("jacfwd", "jacrev") else w.transform
    return w.fn.numba[kind], args, lambda out: out


def bench_workload(w: Any, target: float, clock: StageClock, primal_cached: bool) -> dict[str, Any]:
    import adjit

    args = w.make_inputs()
    res: dict[str, Any] = {"description": w.description, "time": {}, "compile": {}}
    res.update(bad=[], errors={}, stages={}, reference=None, primal_cached=primal_cached)
    fn = w.fn
    makers = {
        "adjit": _adjit_impl,
        "jax": _jax_impl if fn.jax_fn else None,
        "torch": _torch_impl if fn.torch_fn else None,
        "autograd": _autograd_impl if fn.autograd_fn else None,
        "numba": _numba_impl,
        "adjit_direct": _adjit_hvp_direct if w.transform == "hvp" else None,
    }
    calls = run_implementations(res, makers, w, args, clock, (*REFERENCES, "numba"), agrees)

    primal_args = args if w.transform != "hvp" else (args[0], *args[2:])
    primal = adjit.jit(fn.numpy_fn)
    if w.transform == "vmap_jacfwd":  # the function over the whole batch
        primal = adjit.jit(lambda *a: adjit.vmap(fn.numpy_fn)(*a))
    res["compile"]["primal"] = first_call(primal, primal_args)
    calls = {"primal": (primal, primal_args), **calls}
    time_calls(res, calls, target)
    return res


def child_bench(opts: argparse.Namespace) -> dict[str, Any]:
    import jacobian_workloads

    clock, target = derivative_child_setup(opts)
    chosen = jacobian_workloads.WORKLOADS
    if opts.only:
        chosen = [jacobian_workloads.BY_NAME[opts.only]]
    results, seen = {}, set()
    for w in chosen:  # a function's primal is compiled once; later workloads hit the cache
        results[w.name] = bench_workload(w, target, clock, id(w.fn) in seen)
        seen.add(id(w.fn))
    return results


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------


def print_results(results: dict[str, Any]) -> None:
    rows = []
    for name, r in results.items():
        t, c = r["time"], r["compile"]
        a = t.get("adjit")
        rows.append(
            [f"{name}: {r['description']}", fmt_time(t.get("primal"))]
            + [fmt_time(t.get(i)) for i in IMPLS]
            + [
                fmt_ratio(a, t.get("primal")),
                fmt_ratio(a, t.get("jax")),
                fmt_ratio(a, t.get("numba")),
                fmt_time(c.get("adjit")),
            ]
            + ["MISMATCH: " + ", ".join(r["bad"]) if r["bad"] else f"ok (vs {r['reference']})"]
        )
    header = (
        ["workload", "primal (adjit.jit)"]
        + [TITLES[i] for i in IMPLS]
        + ["adjit/primal", "adjit/JAX", "adjit/Numba", "adjit first call", "agree"]
    )
    print(table(header, rows))
    print()


def print_direct_hvp(results: dict[str, Any]) -> None:
    rows = [
        [name, fmt_time(r["time"].get("adjit_direct")), fmt_time(r["time"].get("adjit"))]
        for name, r in results.items()
        if "adjit_direct" in r["time"]
    ]
    if rows:
        print("adjit.hvp(f, (x,), (v,)) called directly, f closing over the data (not under jit):")
        print(table(["workload", "adjit.hvp direct", "adjit.jit(hvp)"], rows))
        print()


def run(opts: argparse.Namespace, cache: str) -> None:
    t_start = time.perf_counter()
    results = run_derivative_child(opts, cache, Path(__file__).resolve(), 1e-9)
    print(
        "one call (whole Jacobian / Hessian, one Hessian-vector product, or all BA blocks),"
        " warm heap:"
    )
    print_results(results)
    print_direct_hvp(results)
    print_derivative_compile(results, "adjit", "jax.jit")
    print(f"(benchmark wall time {time.perf_counter() - t_start:.0f} s)")


def main() -> None:
    derivative_main(__doc__, NAMES, child_bench, run, "adjit-bench-jac-cache-")


if __name__ == "__main__":
    main()
