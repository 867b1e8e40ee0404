"""Compile latency (issue 11): first-call time against program size, adjit beside JAX.

    python benchmarks/compile.py            # steps 10, 50, 200; each row a new process, at most --timeout s
    python benchmarks/compile.py --full     # adds 1000 steps
    python benchmarks/compile.py --only rk4 # rows whose name contains "rk4"
    python benchmarks/compile.py --calls    # per-call time, one function against pieces

Every row runs in a new process with an empty on-disk cache (a fresh temporary
``ADJIT_CACHE_DIR``) and times the first call: trace, passes, code generation and
Numba, Python's start-up and ``import adjit`` excluded. The warm-cache rows run a
second process on the cache the first one filled: ``import adjit`` and the first
GMM gradient after it. A row that runs past ``--timeout`` seconds shows ``>T``.
Beside the wall-clock time each row gives the CPU time of its process: on a shared,
loaded machine the wall-clock time grows with the load, the CPU time much less.

Programs:
  * rk4: an RK4 integrator of a 10-element state unrolled by a Python ``for`` over a
    list (a ``for _ in range(steps)`` now rolls into one IR loop whose compile time
    does not grow with the steps: benchmarks/control_flow.py); each
    step evaluates ``rhs`` (a rotation by ``np.roll`` and a ``np.where``) four times;
  * euler: explicit Euler ``x = x + h * np.tanh(W @ x)``, W 10 x 10;
  * tanh dN: the N-th derivative of tanh (nested ``grad``) under ``vmap`` over 100 points;
  * logreg, mlp, gmm_d10_K25: ``value_and_grad`` of the ADBench-style workloads of
    ``grad_workloads.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's adjit, not an installed one


def rhs(x, np):
    r = np.roll(x, 1)
    return np.where(x > 0.0, np.tanh(r) - 0.5 * x, np.sin(r) * x)


def rk4(steps: int, np):
    h = 0.01

    def f(x):
        for _ in [None] * steps:  # unrolled (a range loop would roll into one op)
            k1 = rhs(x, np)
            k2 = rhs(x + 0.5 * h * k1, np)
            k3 = rhs(x + 0.5 * h * k2, np)
            k4 = rhs(x + h * k3, np)
            x = x + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        return np.sum(x * x)

    return f


def euler(steps: int, np):
    h = 0.01

    def f(x, W):
        for _ in [None] * steps:  # unrolled (a range loop would roll into one op)
            x = x + h * np.tanh(W @ x)
        return np.sum(x * x)

    return f


def _stepper_inputs(kind: str):
    import numpy

    rng = numpy.random.default_rng(0)
    x = rng.standard_normal(10)
    return (x,) if kind == "rk4" else (x, 0.3 * rng.standard_normal((10, 10)))


def _child(row: str, lib: str) -> tuple[float, float]:
    """Seconds of the first call of `row` under `lib` ("adjit" or "jax"), in this
    process: wall-clock and CPU time (the CPU time of all its threads, which a
    loaded machine inflates less)."""
    parts = row.split()
    if lib == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        np_, jit, grad, vmap, vg = jnp, jax.jit, jax.grad, jax.vmap, jax.value_and_grad
    else:
        import numpy

        import adjit

        np_, jit, grad, vmap, vg = numpy, adjit.jit, adjit.grad, adjit.vmap, adjit.value_and_grad

    if parts[0] in ("rk4", "euler"):
        kind, mode, steps = parts[0], parts[1], int(parts[2])
        f = (rk4 if kind == "rk4" else euler)(steps, np_)
        fn = jit(f) if mode == "jit" else jit(grad(f)) if lib == "jax" else grad(f)
        args = _stepper_inputs(kind)
    elif parts[0] == "tanh":
        order = int(parts[1][1:])
        g = np_.tanh
        for _ in range(order):
            g = grad(g)
        fn = jit(vmap(g)) if lib == "jax" else vmap(g)
        import numpy

        args = (numpy.linspace(-2.0, 2.0, 100),)
    else:
        sys.path.insert(0, str(HERE))
        import grad_workloads

        w = next(w for w in grad_workloads.WORKLOADS if w.name == parts[0])
        f = w.jax_fn if lib == "jax" else w.numpy_fn
        if f is None:
            raise SystemExit(3)
        fn = vg(f, argnums=w.argnums)
        fn = jit(fn) if lib == "jax" else fn
        args = w.make_inputs()
        if lib == "jax":
            args = tuple(jax.numpy.asarray(a) for a in args)
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    if lib == "jax":
        jax.block_until_ready(out)
    return time.perf_counter() - t0, time.process_time() - c0


def _child_warm() -> dict[str, float]:
    """import adjit, then the first GMM gradient, on a cache another process filled."""
    t0 = time.perf_counter()
    import adjit

    t1 = time.perf_counter()
    sys.path.insert(0, str(HERE))
    import grad_workloads

    w = next(w for w in grad_workloads.WORKLOADS if w.name == "gmm_d10_K25")
    args = w.make_inputs()
    t2 = time.perf_counter()
    adjit.value_and_grad(w.numpy_fn, argnums=w.argnums)(*args)
    t3 = time.perf_counter()
    return {"import": t1 - t0, "first": t3 - t2, "sympy": "sympy" in sys.modules}


def calls(steps: int = 40) -> None:
    """Per-call time of explicit Euler compiled as one function and split into
    pieces, in this process: splitting must not slow the call down."""
    import numpy

    import adjit
    from adjit.codegen.cache import load_module
    from adjit.codegen.numba_cpu import generate_source
    from adjit.compiler.passes import simplify

    args = _stepper_inputs("euler")
    fn = simplify(adjit.trace(euler(steps, numpy))(*args))
    print(f"explicit Euler, {steps} steps, 10 x 10: per call (best of 5 x 2000)")
    print()
    print("| compiled as | functions | per call |")
    print("|---|---|---|")
    for label, limit in (("one function", 10**9), ("pieces", 60)):
        source = generate_source(fn, split_lines=limit)
        entry = load_module(source, f"calls_{limit}").entry
        entry(*args)
        best = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(2000):
                entry(*args)
            best.append((time.perf_counter() - t0) / 2000)
        print(f"| {label} | {source.count(chr(10) + 'def ')} | {1e6 * min(best):.1f} µs |")


def _run(args: list[str], env: dict[str, str], timeout: float) -> dict | None:
    try:
        proc = subprocess.run(
            [sys.executable, __file__, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        return {"error": tail[0][:60]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _env(cache: str, jax_off: bool = False) -> dict[str, str]:
    env = dict(os.environ, ADJIT_CACHE_DIR=cache)
    if jax_off:
        env["ADJIT_BENCH_NO_JAX"] = "1"
    return env


def _fmt(result: dict | None, timeout: float) -> str:
    if result is None:
        return f">{timeout:.0f} s"
    if "error" in result:
        return f"error: {result['error']}"
    return f"{result['seconds']:.2f} s (CPU {result['cpu']:.2f} s)"


def _has_jax() -> bool:
    if os.environ.get("ADJIT_BENCH_NO_JAX"):
        return False
    try:
        import importlib.util

        return importlib.util.find_spec("jax") is not None
    except ImportError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="add the 1000-step rows")
    parser.add_argument("--only", help="rows whose name contains this")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per row")
    parser.add_argument("--no-jax", action="store_true")
    parser.add_argument("--calls", action="store_true", help="per-call time only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--lib", default="adjit", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child == "warm":
        print(json.dumps(_child_warm()))
        return
    if opts.child:
        wall, cpu = _child(opts.child, opts.lib)
        print(json.dumps({"seconds": wall, "cpu": cpu}))
        return
    if opts.calls:
        calls()
        return

    steps = [10, 50, 200] + ([1000] if opts.full else [])
    rows: list[tuple[str, str]] = []  # (row, target)
    for kind in ("rk4", "euler"):
        for mode in ("jit", "grad"):
            for s in steps:
                target = {50: "2 s" if mode == "jit" else "4 s", 1000: "20 x 50 steps"}
                rows.append((f"{kind} {mode} {s}", target.get(s, "")))
    rows += [(f"tanh d{n}", "") for n in range(1, 7)]
    rows += [("logreg", "0.5 s"), ("mlp", "0.5 s"), ("gmm_d10_K25", "1.0 s")]
    if opts.only:
        rows = [r for r in rows if opts.only in r[0]]
    with_jax = _has_jax() and not opts.no_jax

    load = os.getloadavg()[0]
    print(f"first call, empty cache, {os.cpu_count()} cores, load average {load:.1f} at start")
    print()
    print("| program | target | adjit | jax.jit |")
    print("|---|---|---|---|")
    for row, target in rows:
        with tempfile.TemporaryDirectory(prefix="adjit-compile-") as cache:
            ours = _run(["--child", row], _env(cache, jax_off=True), opts.timeout)
        theirs = "—"
        if with_jax:
            theirs = _fmt(
                _run(["--child", row, "--lib", "jax"], _env(""), opts.timeout), opts.timeout
            )
        print(f"| {row} | {target} | {_fmt(ours, opts.timeout)} | {theirs} |", flush=True)

    if opts.only and opts.only not in "warm gmm_d10_K25":
        return
    with tempfile.TemporaryDirectory(prefix="adjit-compile-") as cache:
        env = _env(cache, jax_off=True)
        _run(["--child", "warm"], env, opts.timeout)  # fills the cache
        warm = _run(["--child", "warm"], env, opts.timeout)
    print()
    print("| new process, warm cache | target | adjit |")
    print("|---|---|---|")
    if warm is None or "error" in warm:
        print(f"| (failed: {warm}) | | |")
        return
    print(f"| import adjit | 0.3 s | {warm['import']:.2f} s |")
    print(f"| first GMM d10 K25 value_and_grad after it | 0.25 s | {warm['first']:.2f} s |")
    print(f"| SymPy imported | no | {'yes' if warm['sympy'] else 'no'} |")


if __name__ == "__main__":
    main()
