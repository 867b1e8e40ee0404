"""adjit gradient benchmarks: adjit.value_and_grad vs JAX, PyTorch, autograd, hand Numba.

    python benchmarks/grad.py [--quick] [--only NAME]

Prints a markdown table: the primal time (adjit.jit of the loss), the time of one
value-and-gradient call for each implementation, adjit's gradient/primal ratio,
adjit/JAX and adjit/hand-Numba, and the first-call compile time of adjit's
gradient. Every implementation's value and gradient are checked against a
reference (autograd, else JAX) before timing. Measurements run in one child
process with one thread everywhere and a warm heap (see run.py and README.md);
the formatting, timing and child-process helpers are run.py's.
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

NAMES = ("logreg", "mlp", "gmm_d10_K25", "gmm_d20_K10")  # grad_workloads.WORKLOADS
IMPLS = ("adjit", "jax", "torch", "autograd", "numba")
TITLES = {
    "adjit": "adjit",
    "jax": "jax.jit(value_and_grad)",
    "torch": "PyTorch",
    "autograd": "autograd",
    "numba": "Numba (hand)",
}
RTOL = 1e-8


# ---------------------------------------------------------------------------
# the implementations, each as a callable returning (value, tuple of grads)
# ---------------------------------------------------------------------------


def _jax_impl(w: Any, args: tuple) -> tuple[Callable, tuple, Callable]:
    import jax
    import numpy as np

    jf = jax.jit(jax.value_and_grad(w.jax_fn, argnums=w.argnums))
    jargs = tuple(jax.device_put(a) if isinstance(a, np.ndarray) else a for a in args)

    def call(*a: Any) -> Any:
        return jax.block_until_ready(jf(*a))

    return call, jargs, lambda out: out


def _torch_impl(w: Any, args: tuple) -> tuple[Callable, tuple, Callable]:
    import numpy as np
    import torch

    targs = []
    for i, a in enumerate(args):
        t = torch.from_numpy(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a
        if i in w.argnums:
            t = t.detach().clone().requires_grad_(True)
        targs.append(t)
    params = [targs[i] for i in w.argnums]
    fn = w.torch_fn

    def call(*a: Any) -> Any:
        loss = fn(*a)
        return loss, torch.autograd.grad(loss, params)

    def norm(out: Any) -> Any:
        return out[0].item(), tuple(g.numpy() for g in out[1])

    return call, tuple(targs), norm


def _autograd_impl(w: Any, args: tuple) -> tuple[Callable, tuple, Callable]:
    import autograd

    return autograd.value_and_grad(w.autograd_fn, w.argnums), args, lambda out: out


def _adjit_impl(w: Any, args: tuple) -> tuple[Callable, tuple, Callable]:
    import adjit

    return adjit.value_and_grad(w.numpy_fn, argnums=w.argnums), args, lambda out: out


def agrees(got: Any, want: Any) -> bool:
    """Value and every gradient: |got - want| <= RTOL * |want| + RTOL * 1e-3 * max|want|."""
    import numpy as np

    (gv, gg), (wv, wg) = got, want
    pairs = [(gv, wv), *zip(gg, wg)]
    if len(gg) != len(wg):
        return False
    for a, b in pairs:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        scale = float(np.max(np.abs(b))) if b.size else 0.0
        if a.shape != b.shape or not np.allclose(a, b, rtol=RTOL, atol=RTOL * 1e-3 * scale):
            return False
    return True


def bench_workload(w: Any, target: float, clock: StageClock) -> dict[str, Any]:
    import adjit

    args = w.make_inputs()
    res: dict[str, Any] = {"description": w.description, "time": {}, "compile": {}}
    res.update(bad=[], errors={}, stages={}, reference=None)
    makers = {
        "adjit": _adjit_impl,
        "jax": _jax_impl if w.jax_fn else None,
        "torch": _torch_impl if w.torch_fn else None,
        "autograd": _autograd_impl if w.autograd_fn else None,
        "numba": (lambda w, a: (w.numba_vg, a, lambda out: out)) if w.numba_vg else None,
    }
    references = ("autograd", "jax", "numba")
    calls = run_implementations(res, makers, w, args, clock, references, agrees)

    primal = adjit.jit(w.numpy_fn)
    res["compile"]["primal"] = first_call(primal, args)
    calls = {"primal": (primal, args), **calls}
    if "jax" in calls:  # JAX's own gradient/primal ratio, for scale
        import jax

        jp = jax.jit(w.jax_fn)
        calls["jax_primal"] = (lambda *a: jax.block_until_ready(jp(*a)), calls["jax"][1])
    time_calls(res, calls, target)
    return res


def child_bench(opts: argparse.Namespace) -> dict[str, Any]:
    import grad_workloads

    clock, target = derivative_child_setup(opts)
    chosen = grad_workloads.WORKLOADS
    if opts.only:
        chosen = [grad_workloads.BY_NAME[opts.only]]
    return {w.name: bench_workload(w, target, clock) for w in chosen}


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------


def print_results(results: dict[str, Any]) -> None:
    rows = []
    for name, r in results.items():
        t = r["time"]
        a = t.get("adjit")
        rows.append(
            [f"{name}: {r['description']}", fmt_time(t.get("primal"))]
            + [fmt_time(t.get(i)) for i in IMPLS]
            + [
                fmt_ratio(a, t.get("primal")),
                fmt_ratio(t.get("jax"), t.get("jax_primal")),
                fmt_ratio(a, t.get("jax")),
                fmt_ratio(a, t.get("numba")),
            ]
            + ["MISMATCH: " + ", ".join(r["bad"]) if r["bad"] else f"ok (vs {r['reference']})"]
        )
    header = (
        ["workload", "primal (adjit.jit)"]
        + [TITLES[i] for i in IMPLS]
        + ["adjit grad/primal", "JAX grad/primal", "adjit/JAX", "adjit/Numba", "agree"]
    )
    print(table(header, rows))
    print()


def print_targets(results: dict[str, Any]) -> None:
    lines = []

    def check(ok: bool, text: str) -> None:
        lines.append(f"{'ok  ' if ok else 'MISS'} {text}")

    for name, r in results.items():
        t = r["time"]
        if "adjit" not in t:
            continue
        if name == "gmm_d10_K25" and "primal" in t:
            ratio = t["adjit"] / t["primal"]
            check(ratio <= 2.5, f"{name}: adjit gradient/primal {ratio:.2f} (target <= 2.5)")
        if "jax" in t:
            ratio = t["adjit"] / t["jax"]
            check(ratio < 1.0, f"{name}: adjit/JAX {ratio:.2f} (target < 1)")
        if "numba" in t:
            ratio = t["adjit"] / t["numba"]
            check(ratio <= 1.3, f"{name}: adjit/hand Numba {ratio:.2f} (target <= 1.3)")
    print("targets (issue 4):")
    print("\n".join(lines))


def run(opts: argparse.Namespace, cache: str) -> None:
    t_start = time.perf_counter()
    results = run_derivative_child(opts, cache, Path(__file__).resolve(), RTOL)
    print("value and gradient, time per call, warm heap:")
    print_results(results)
    print_derivative_compile(results, "adjit value_and_grad", "jax.jit(value_and_grad)")
    print_targets(results)
    print(f"\n(benchmark wall time {time.perf_counter() - t_start:.0f} s)")


def main() -> None:
    derivative_main(__doc__, NAMES, child_bench, run, "adjit-bench-grad-cache-")


if __name__ == "__main__":
    main()
