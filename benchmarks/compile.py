"""Compile latency (issue 11): first-call time against program size, adjit beside JAX.

    python benchmarks/compile.py            # steps 10, 50, 200; each row a new process, at most --timeout s
    python benchmarks/compile.py --full     # adds 1000 steps
    python benchmarks/compile.py --only rk4 # rows whose name contains "rk4"
    python benchmarks/compile.py --calls    # per-call time, one function against pieces
    python benchmarks/compile.py --tiered   # first gradient with the interpreter tier on and off

Every row runs in a new process with an empty on-disk cache (a fresh temporary
``ADJIT_CACHE_DIR``) and times the first call: trace, passes, code generation and
Numba, Python's start-up and ``import adjit`` excluded. The warm-cache rows run
new processes on the cache a first one filled: ``import adjit`` and the first GMM
gradient after it (``--only warm``), beside ``import numpy`` and Numba alone (its
import and the first call of a small cached ``@njit`` function), five times
interleaved; they give the CPU seconds too, which a loaded machine inflates less
than the wall time. A row that runs past ``--timeout`` seconds shows ``>T``.
These rows run with the interpreter tier off (``ADJIT_TIERED=0``): they time the
compilation. ``--tiered`` times the first ``value_and_grad`` of the ADBench-style
workloads with the tier on (served by the interpreter while a child process
compiles) beside the tier off, each in a new process with an empty cache, and
when the native code took over (time from the first call until the child had
finished, and a call after it).
Beside the wall-clock time each row gives the CPU time of its process: on a shared,
loaded machine the wall-clock time grows with the load, the CPU time much less.

Programs:
  * rk4: an RK4 integrator of a 10-element state unrolled by a Python ``for`` over a
    list (a ``for _ in range(steps)`` now rolls into one IR loop whose compile time
    does not grow with the steps: benchmarks/control_flow.py); each
    step evaluates ``rhs`` (a rotation by ``np.roll`` and a ``np.where``) four times;
  * euler: explicit Euler ``x = x + h * np.tanh(W @ x)``, W 10 x 10;
  * sin grad 300: the gradient of 300 nested ``np.sin`` (as tests/test_deep_programs.py):
    600 sin and cos in one function, which call vecmath out of line (inlined, as
    before: 96 s, CPU 47 s; out of line 8.1 s, CPU 3.2 s; jax.jit 3.6-4.1 s; side
    by side on 2 cores at a load of 6.5);
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


def sin_chain(steps: int, np):
    def f(x):
        for _ in [None] * steps:  # unrolled: hundreds of sin (and cos) in one function
            x = np.sin(x)
        return np.sum(x)

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
    elif parts[0] == "sin":
        f = sin_chain(int(parts[2]), np_)
        fn = jit(grad(f)) if lib == "jax" else grad(f)
        args = _stepper_inputs("rk4")
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


def _child_tiered(row: str) -> dict[str, float]:
    """The first value_and_grad of workload `row` (the tier as ADJIT_TIERED says);
    then the time until its native code is ready, and the best of 5 later calls."""
    import adjit

    sys.path.insert(0, str(HERE))
    import grad_workloads

    w = next(w for w in grad_workloads.WORKLOADS if w.name == row)
    fn = adjit.value_and_grad(w.numpy_fn, argnums=w.argnums)
    args = w.make_inputs()
    t0 = time.perf_counter()
    fn(*args)
    t1 = time.perf_counter()
    tier = fn.tier(*args)
    pending = fn._lookup(args, {})[0].tiered
    if pending is not None:
        pending.wait()
        fn(*args)  # the switch: the native code loaded from the cache
    t2 = time.perf_counter()
    calls = []
    for _ in range(5):
        t3 = time.perf_counter()
        fn(*args)
        calls.append(time.perf_counter() - t3)
    return {"seconds": t1 - t0, "tier": tier, "native_after": t2 - t0, "native_call": min(calls)}


def _child_cold(row: str) -> dict[str, object]:
    """The first value_and_grad of a workload in a process that has imported only
    NumPy and adjit (grad_workloads.py imports Numba and the peers): the function's
    source and its inputs come from files the parent wrote."""
    import numpy as np

    import adjit

    folder = Path(os.environ["ADJIT_BENCH_COLD"])
    space: dict[str, object] = {"np": np}
    exec((folder / "source.py").read_text(), space)  # noqa: S102 (the benchmark's own code)
    with np.load(folder / "inputs.npz") as data:
        args = [data[f"a{i}"] for i in range(len(data.files))]
    argnums = tuple(json.loads((folder / "argnums.json").read_text()))
    fn = adjit.value_and_grad(space[(folder / "name.txt").read_text()], argnums=argnums)
    before = {m for m in ("numba", "sympy", "scipy") if m in sys.modules}
    t0 = time.perf_counter()
    fn(*args)
    seconds = time.perf_counter() - t0
    imported = sorted(
        m for m in ("numba", "sympy", "scipy") if m in sys.modules and m not in before
    )
    return {"seconds": seconds, "tier": fn.tier(*args), "imported": imported}


def _cold_files(row: str, folder: str) -> bool:
    """Write workload `row`'s source and inputs for _child_cold; False if it has no
    module-level function (GMM's is a closure over precomputed constants)."""
    import inspect

    import numpy as np

    sys.path.insert(0, str(HERE))
    import grad_workloads

    w = grad_workloads.BY_NAME[row]
    if not inspect.isfunction(w.numpy_fn) or w.numpy_fn.__qualname__ != w.numpy_fn.__name__:
        return False
    base = Path(folder)
    (base / "source.py").write_text(inspect.getsource(w.numpy_fn))
    (base / "name.txt").write_text(w.numpy_fn.__name__)
    (base / "argnums.json").write_text(json.dumps(list(w.argnums)))
    np.savez(base / "inputs.npz", **{f"a{i}": a for i, a in enumerate(w.make_inputs())})
    return True


def tiered_rows(only: str | None, timeout: float) -> None:
    """First value_and_grad with the interpreter tier on and off, new processes, empty caches."""
    rows = [("logreg", "0.5 s"), ("mlp", "0.5 s"), ("gmm_d10_K25", "1.0 s")]
    rows = [r for r in rows if not only or only in r[0]]
    load = os.getloadavg()[0]
    print(f"first value_and_grad, empty cache, {os.cpu_count()} cores, load average {load:.1f}")
    print()
    print(
        "| program | target | tier off: first call | later call | tier on: first call "
        "| native ready after | later call | tier on, Numba not imported before: first call "
        "| the same, the algebraic pass's decisions on disk |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row, target in rows:
        cells = []
        for tier in ("0", "1"):
            with tempfile.TemporaryDirectory(prefix="adjit-compile-") as cache:
                env = dict(_env(cache, jax_off=True), ADJIT_TIERED=tier)
                got = _run(["--child", row, "--lib", "tiered"], env, timeout)
            if got is None or "error" in got:
                cells += [_fmt(got, timeout), ""] + ([""] if tier == "1" else [])
                continue
            first = f"{got['seconds']:.2f} s"
            if got["tier"] != ("interpreter" if tier == "1" else "native"):
                first += f" ({got['tier']}!)"
            cells.append(first)
            if tier == "1":
                cells.append(f"{got['native_after']:.2f} s")
            cells.append(f"{1e3 * got['native_call']:.2f} ms")
        with tempfile.TemporaryDirectory(prefix="adjit-compile-") as cache:
            runs = 2 if _cold_files(row, cache) else 0
            cells += [""] * (2 - runs)
            env = dict(_env(cache, jax_off=True), ADJIT_TIERED="1", ADJIT_BENCH_COLD=cache)
            for _ in range(runs):
                got = _run(["--child", row, "--lib", "cold"], env, timeout)
                cold = _fmt(got, timeout)
                if got is not None and "error" not in got:
                    cold += f" ({got['tier']}; imported: {', '.join(got['imported']) or 'neither'})"
                cells.append(cold)
                # then all but the pass's decisions (algebraic/) and the inputs are removed
                for entry in Path(cache).glob("adjit_*"):
                    if entry.is_file():
                        entry.unlink()
        print(f"| {row} | {target} | {' | '.join(cells)} |", flush=True)


def _since(start: tuple[float, float]) -> tuple[float, float]:
    """(wall, CPU) seconds since `start`: on a loaded machine the process's CPU
    time stays near what an idle one takes, where the wall time grows with the load."""
    return time.perf_counter() - start[0], time.process_time() - start[1]


def _now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _child_warm(numba_started: bool = False) -> dict[str, object]:
    """import adjit, then the first GMM gradient, on a cache another process filled.

    The program imports what a user's GMM needs (NumPy, and SciPy for the prior's
    constant), not grad_workloads.py, whose hand-written Numba port and peers would
    import Numba before the clock starts: Numba's import is part of this first call.
    With `numba_started`, Numba alone (_child_floor) runs first, so the first call
    is adjit's own work and loading its module's native code."""
    start = _now()
    import adjit

    imported = _since(start)
    numba_at_import = "numba" in sys.modules
    sys.path.insert(0, str(HERE.parent / "tests"))
    from adbench import data_path, gmm_objective, read_gmm

    g = read_gmm(data_path("gmm", "1k", "gmm_d10_K25.txt"))
    gamma, m = g["gamma"], g["m"]

    def gmm(alphas, means, icf, x):
        return gmm_objective(alphas, means, icf, x, gamma, m)

    args = (g["alphas"], g["means"], g["icf"], g["x"])
    if numba_started:
        _child_floor()
    start = _now()
    adjit.value_and_grad(gmm, argnums=(0, 1, 2))(*args)
    return {
        "import": imported,
        "first": _since(start),
        "sympy": "sympy" in sys.modules,
        "numba_at_import": numba_at_import,
    }


FLOOR = """import numba
import numpy as np


@numba.njit(cache=True)
def f(x):
    return np.sum(np.sin(x) * x)
"""


def _child_floor() -> dict[str, object]:
    """The peers of the warm rows: `import numpy`, and Numba alone (import numba,
    then the first call of a small @njit function on a cache another process filled)."""
    start = _now()
    import numpy

    result = {"numpy": _since(start)}
    start = _now()
    import numba  # noqa: F401

    result["numba"] = _since(start)
    start = _now()
    directory = os.environ["ADJIT_CACHE_DIR"]
    path = Path(directory, "numba_floor.py")
    if not path.exists():
        path.write_text(FLOOR)
    sys.path.insert(0, directory)
    import numba_floor

    numba_floor.f(numpy.ones(3))
    result["numba_first"] = _since(start)
    return result


def warm(timeout: float, repeat: int = 5) -> None:
    """The warm-cache rows: each a new process, `repeat` times interleaved, median
    wall and CPU seconds."""
    import compileall
    import statistics

    # As pip does on install: without .pyc files (PYTHONDONTWRITEBYTECODE=1) every
    # process would compile adjit's modules from source, 0.2 to 0.5 s of its import.
    compileall.compile_dir(str(HERE.parent / "adjit"), quiet=1)
    runs: dict[str, list[list[float]]] = {}
    flags: dict[str, bool] = {}
    with tempfile.TemporaryDirectory(prefix="adjit-compile-") as cache:
        env = _env(cache, jax_off=True)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        _run(["--child", "warm"], env, timeout)  # fills the caches
        _run(["--child", "floor"], env, timeout)
        for _ in range(repeat):
            for child in ("warm", "floor", "warm-started"):
                result = _run(["--child", child], env, timeout)
                if result is None or "error" in result:
                    print(f"| (failed: {child} {result}) | | |")
                    return
                if child == "warm-started":
                    result = {"started": result["first"]}
                for k, v in result.items():
                    if isinstance(v, bool):
                        flags[k] = flags.get(k, False) or v
                    else:
                        runs.setdefault(k, []).append(v)
    wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items()}

    def t(*keys: str) -> str:
        return f"{sum(wall[k] for k in keys):.2f} s ({sum(cpu[k] for k in keys):.2f} s)"

    load = os.getloadavg()[0]
    print()
    print(
        f"new process, warm cache: median of {repeat}, wall (CPU) seconds, "
        f"load average {load:.1f} at the end"
    )
    print()
    print("| new process, warm cache | target | adjit | peer |")
    print("|---|---|---|---|")
    print(f"| import adjit | 0.3 s | {t('import')} | import numpy {t('numpy')} |")
    print(
        f"| first GMM d10 K25 value_and_grad after it | 0.25 s | {t('first')} | "
        f"Numba alone: import numba {t('numba')} + first cached call {t('numba_first')} |"
    )
    print(
        f"| both | 0.55 s | {t('import', 'first')} | "
        f"import numpy, Numba alone {t('numpy', 'numba', 'numba_first')} |"
    )
    print(
        f"| first GMM gradient once Numba has started (adjit's own work and loading "
        f"its module's native code) | | {t('started')} | |"
    )
    print(
        f"| Numba imported by import adjit | no | {'yes' if flags['numba_at_import'] else 'no'} | |"
    )
    print(f"| SymPy imported | no | {'yes' if flags['sympy'] else 'no'} | |")


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
    env = dict(os.environ, ADJIT_CACHE_DIR=cache, ADJIT_TIERED="0")  # time the compiler
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
    parser.add_argument(
        "--tiered", action="store_true", help="first gradients with the interpreter tier on and off"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--lib", default="adjit", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.child in ("warm", "floor", "warm-started"):
        children = {
            "warm": _child_warm,
            "floor": _child_floor,
            "warm-started": lambda: _child_warm(numba_started=True),
        }
        print(json.dumps(children[opts.child]()))
        return
    if opts.child and opts.lib == "cold":
        print(json.dumps(_child_cold(opts.child)))
        return
    if opts.child and opts.lib == "tiered":
        print(json.dumps(_child_tiered(opts.child)))
        return
    if opts.child:
        wall, cpu = _child(opts.child, opts.lib)
        print(json.dumps({"seconds": wall, "cpu": cpu}))
        return
    if opts.calls:
        calls()
        return
    if opts.tiered:
        tiered_rows(opts.only, opts.timeout)
        return

    steps = [10, 50, 200] + ([1000] if opts.full else [])
    rows: list[tuple[str, str]] = []  # (row, target)
    for kind in ("rk4", "euler"):
        for mode in ("jit", "grad"):
            for s in steps:
                target = {50: "2 s" if mode == "jit" else "4 s", 1000: "20 x 50 steps"}
                rows.append((f"{kind} {mode} {s}", target.get(s, "")))
    rows += [("sin grad 300", "")]
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
    warm(opts.timeout)


if __name__ == "__main__":
    main()
