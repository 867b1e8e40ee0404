"""adjit benchmarks: adjit.jit vs NumPy eager vs hand-written Numba vs jax.jit.

    python benchmarks/run.py [--quick] [--only NAME]

Prints markdown tables: time per call (with a warm heap, then with fresh
memory for every large allocation), adjit's compile time (first call), peak
memory of the element-wise chain, and cold/warm-cache loading of the GMM
objective in fresh processes. Every measurement runs in a child process whose
threads and malloc settings are fixed. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPEATS = 5
IMPLS = ("numpy", "numba", "jax", "adjit")
TITLES = {"numpy": "NumPy", "numba": "Numba (hand)", "jax": "jax.jit", "adjit": "adjit.jit"}

# One thread everywhere (BLAS, Numba, XLA): adjit.jit without parallel=True runs on
# one core, and thread pools fighting over a few cores turn timings into noise.
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}
# Benchmarks time native code: the interpreter tier (a first call interpreted while
# a child process compiles) is off in every benchmark process and its children.
os.environ.setdefault("ADJIT_TIERED", "0")
# glibc malloc. By default its mmap threshold moves with the history of the process,
# so whether a call's large temporaries get recycled heap memory or fresh pages
# (a page fault per 4 KiB) depends on what ran before. Both regimes are fixed:
WARM_HEAP = {  # every array up to 32 MiB from the heap, which is never trimmed
    "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20),
    "MALLOC_TRIM_THRESHOLD_": str(2**40),
}
FRESH_MEMORY = {"MALLOC_MMAP_THRESHOLD_": str(64 * 2**10)}  # >= 64 KiB: mmap, munmap on free
# Some machines' environments pin OpenBLAS to older kernels (OPENBLAS_CORETYPE, with
# OPENBLAS_L2_SIZE), as old OpenBLAS builds failed on their CPUs. Current NumPy and
# SciPy builds do not need it, and on an AVX-512 CPU it halves the speed of every
# matrix product that goes through OpenBLAS: NumPy's and Numba's np.dot, so both
# adjit's and the hand-written Numba code's (PyTorch and XLA bring their own). The
# benchmarks' children run without the pin unless --keep-blas-pin; the header says
# which kernels OpenBLAS then chose.
BLAS_PIN = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_BLAS_QUERY = """
import numpy, scipy.linalg.cython_blas
from threadpoolctl import threadpool_info
print(", ".join(sorted({i.get("architecture", "?") + " (" + i["filepath"].split("/")[-1] + ")"
                        for i in threadpool_info() if i.get("internal_api") == "openblas"})))
"""


# ---------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------


def fmt_time(t: float | None) -> str:
    if t is None:
        return "—"
    if t < 1e-3:
        return f"{t * 1e6:.3g} µs"
    if t < 1.0:
        return f"{t * 1e3:.3g} ms"
    return f"{t:.3g} s"


def fmt_ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{a / b:.2f}"


def fmt_bytes(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_line() -> str:
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        lines = out.splitlines()
        model = next(
            (ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Model name")), ""
        )
    except (OSError, subprocess.SubprocessError):
        pass
    versions = ", ".join(f"{p} {version(p)}" for p in ("numpy", "numba", "jax"))
    try:
        git = ["git", "-C", str(HERE.parent)]
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "adjit"], capture_output=True, text=True
        ).stdout
        adjit_version = f"adjit {commit}{' + uncommitted changes' if dirty.strip() else ''}"
    except OSError:
        adjit_version = "adjit (no git)"
    return (
        f"machine: {platform.processor() or platform.machine()}, {model or 'unknown CPU model'}, "
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, {versions}, {adjit_version}; "
        "one thread each (BLAS, Numba, XLA)\n" + blas_line()
    )


def add_blas_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-blas-pin",
        action="store_true",
        help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE from the environment (see BLAS_PIN)",
    )


def apply_blas_option(opts: argparse.Namespace) -> None:
    """In the parent: drop the environment's OpenBLAS kernel pin for the children,
    unless told to keep it."""
    if not opts.keep_blas_pin:
        for key in BLAS_PIN:
            os.environ.pop(key, None)


def blas_line() -> str:
    """Which OpenBLAS kernels the children get (threadpoolctl, in a child with their env)."""
    pinned = ", ".join(f"{k}={os.environ[k]}" for k in BLAS_PIN if k in os.environ)
    try:
        kernels = subprocess.run(
            [sys.executable, "-c", _BLAS_QUERY], capture_output=True, text=True, timeout=60
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        kernels = ""
    return f"OpenBLAS kernels: {kernels or 'unknown (pip install threadpoolctl to see)'}; " + (
        f"pinned by the environment: {pinned}" if pinned else "not pinned"
    )


# ---------------------------------------------------------------------------
# measuring (in child processes)
# ---------------------------------------------------------------------------


def per_call(fn: Callable, args: tuple, target: float, block: bool = False) -> float:
    """min over REPEATS of (time of N calls / N), N chosen so one repeat lasts ~target s."""
    names = [f"a{i}" for i in range(len(args))]
    env = dict(zip(names, args), f=fn)
    stmt = f"f({', '.join(names)})" + (".block_until_ready()" if block else "")
    timer = timeit.Timer(stmt, globals=env)
    n = 1
    while True:
        t = timer.timeit(n)
        if t >= target / 10 or n >= 10**8:
            break
        n *= 10
    n = max(1, round(n * target / t))
    return min(timer.timeit(n) for _ in range(REPEATS)) / n


class StageClock:
    """Times adjit's specialization stages by wrapping the names adjit.api calls.

    Stages: trace, passes (simplify), codegen (generate_source), load (load_module:
    writing or finding the module in the cache and executing it); the rest of the
    first call is Numba compiling (or loading its cache) plus running the code.
    Internals that are missing just give no breakdown. A stage that runs inside
    itself (tracing a nested transform: hessian = jacfwd(jacrev(f))) counts once.
    """

    STAGES = {
        "trace": "trace_function",
        "passes": "simplify",
        "codegen": "generate_source",
        "load": "load_module",
    }

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._active: set[str] = set()
        import adjit.api as api

        for stage, attr in self.STAGES.items():
            original = getattr(api, attr, None)
            if original is not None:
                setattr(api, attr, self._wrap(stage, original))

    def _wrap(self, stage: str, original: Callable) -> Callable:
        active: set[str] = self._active

        def timed(*args: Any, **kwargs: Any) -> Any:
            if stage in active:  # nested: the outer call's time includes it
                return original(*args, **kwargs)
            active.add(stage)
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                active.discard(stage)
                self.times[stage] = self.times.get(stage, 0.0) + time.perf_counter() - t0

        return timed

    def take(self) -> dict[str, float]:
        times, self.times = self.times, {}
        return times


def first_call(fn: Callable, args: tuple, block: bool = False) -> float:
    t0 = time.perf_counter()
    out = fn(*args)
    if block:
        out.block_until_ready()
    return time.perf_counter() - t0


def agrees(got: Any, want: Any) -> bool:
    import numpy as np

    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=1e-9, atol=1e-12))


def bench_workload(w: Any, target: float, clock: StageClock) -> dict[str, Any]:
    import numpy as np

    import adjit

    args = w.make_inputs()
    reference = w.numpy_fn(*args)
    res: dict[str, Any] = {"description": w.description, "time": {}, "compile": {}, "stages": {}}
    res.update(bad=[], errors={})
    calls: dict[str, tuple[Callable, tuple, bool]] = {"numpy": (w.numpy_fn, args, False)}

    res["compile"]["numba"] = first_call(w.numba_fn, args)
    calls["numba"] = (w.numba_fn, args, False)
    if w.jax_fn is not None:
        import jax

        jargs = tuple(jax.device_put(a) if isinstance(a, np.ndarray) else a for a in args)
        jf = jax.jit(w.jax_fn)
        res["compile"]["jax"] = first_call(jf, jargs, block=True)
        calls["jax"] = (jf, jargs, True)
    try:
        af = adjit.jit(w.numpy_fn)
        clock.take()
        res["compile"]["adjit"] = first_call(af, args)
        res["stages"] = clock.take()
        calls["adjit"] = (af, args, False)
    except Exception as e:  # report it and go on with the other workloads
        res["errors"]["adjit"] = f"{type(e).__name__}: {e}"

    for impl, (fn, a, _) in calls.items():
        if impl != "numpy" and not agrees(fn(*a), reference):
            res["bad"].append(impl)
    for impl, (fn, a, block) in calls.items():
        gc.collect()
        res["time"][impl] = per_call(fn, a, target, block)
    return res


def child_bench(opts: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    import numba
    import workloads

    numba.njit(lambda v: v + 1.0)(1.0)  # Numba's one-time setup is nobody's compile time
    clock = StageClock()
    target = 0.02 if opts.quick else 0.1
    return {w.name: bench_workload(w, target, clock) for w in chosen(workloads, opts.only)}


def chosen(workloads: Any, only: str | None) -> list[Any]:
    return workloads.WORKLOADS if only is None else [workloads.BY_NAME[only]]


def _proc_status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) * 1024
    return out


def child_memory() -> dict[str, Any]:
    """Peak RSS growth during one call of the chain, per implementation (Linux only)."""
    sys.path.insert(0, str(HERE))
    import workloads
    from numba.core.runtime import _nrt_python, rtsys

    import adjit

    _nrt_python.memsys_enable_stats()
    w = workloads.BY_NAME["chain"]
    (x,) = w.make_inputs()
    impls: dict[str, tuple[Callable, Any]] = {
        "numpy": (w.numpy_fn, x),
        "numba": (w.numba_fn, x),
        "adjit": (adjit.jit(w.numpy_fn), x),
    }
    if w.jax_fn is not None:
        import jax

        jf = jax.jit(w.jax_fn)
        impls["jax"] = (lambda a: jf(a).block_until_ready(), jax.device_put(x))
    report: dict[str, Any] = {"input": x.nbytes, "output": x.nbytes}
    for impl, (fn, arg) in impls.items():
        fn(arg)  # compile
        extras, allocs = [], None
        for _ in range(3):
            gc.collect()
            before = rtsys.get_allocation_stats().alloc
            rss = _proc_status()["VmRSS"]
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the peak (VmHWM) to the current RSS
            out = fn(arg)
            extras.append(_proc_status()["VmHWM"] - rss)
            allocs = rtsys.get_allocation_stats().alloc - before
            del out
        report[impl] = {
            "extra": min(extras),
            "nrt_allocs": allocs if impl in ("numba", "adjit") else None,
        }
    return report


FLOOR_MODULE = """import numba


@numba.njit(cache=True)
def f(x):
    return x + 1.0
"""


def child_load(what: str) -> dict[str, Any]:
    """Time (trace + compile-or-load + first call) of the GMM objective, after imports.

    Imports only what a user's program would (adjit, NumPy, the objective):
    workloads.py is not imported, as its @njit functions would initialise parts
    of Numba before the clock starts. With what == "floor", time instead the first
    call of a trivial cached @njit function: Numba's own cost in a fresh process.
    """
    sys.path.insert(0, str(HERE.parent / "tests"))
    from adbench import data_path, gmm_objective, read_gmm

    import adjit

    clock = StageClock()
    if what == "floor":
        sys.path.insert(0, os.environ["ADJIT_CACHE_DIR"])
        t0 = time.perf_counter()
        import _bench_floor

        _bench_floor.f(1.0)
        return {"total": time.perf_counter() - t0, "stages": {}}
    g = read_gmm(data_path("gmm", "1k", "gmm_d10_K25.txt"))
    gamma, m = g["gamma"], g["m"]

    def gmm(alphas, means, icf, x):
        return gmm_objective(alphas, means, icf, x, gamma, m)

    args = (g["alphas"], g["means"], g["icf"], g["x"])
    t0 = time.perf_counter()
    adjit.jit(gmm)(*args)
    total = time.perf_counter() - t0
    return {"total": total, "stages": clock.take()}


def pin_to_one_cpu() -> None:
    """Run on one CPU for real: XLA's CPU runtime ignores XLA_FLAGS' thread settings
    (jax 0.10 ran a 256x784x256 matmul on 2 threads), so a child process is pinned
    before anything starts threads."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def run_child(
    argv: list[str], env: dict[str, str], script: Path | None = None
) -> dict[str, Any] | str:
    """Run this script (or `script`) as a child; its last stdout line is JSON. A string on failure."""
    proc = subprocess.run(
        [sys.executable, str(script or Path(__file__).resolve()), *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=600,
    )
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1:] or [""]
        return f"failed (exit {proc.returncode}): {last[0]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_derivative_child(
    opts: argparse.Namespace, cache: str, script: Path, rtol: float
) -> dict[str, Any]:
    """The derivative benchmarks' parent: the header, then `script --child` with a
    warm heap and a fresh adjit cache, then the children's warnings; its results."""
    print(machine_line())
    print(", ".join(f"{p} {version(p)}" for p in ("torch", "autograd")) + "; torch 1 thread")
    load = "load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    print(f"{load} (other processes on the machine skew timings)")
    target = 0.02 if opts.quick else 0.1
    print(f"time per call: min over {REPEATS} repeats of (N calls / N), ~{target} s per repeat\n")
    argv = (
        ["--child"]
        + (["--quick"] if opts.quick else [])
        + (["--only", opts.only] if opts.only else [])
    )
    results = run_child(argv, {**WARM_HEAP, "ADJIT_CACHE_DIR": cache}, script)
    if isinstance(results, str):
        sys.exit(f"benchmark {results}")
    for name, r in results.items():
        for impl, message in r["errors"].items():
            print(f"WARNING: {name}: {impl} failed: {message}")
        for impl in r["bad"]:
            print(f"WARNING: {name}: {impl} disagrees with {r['reference']} (rtol {rtol:g})")
    return results


def derivative_child_setup(opts: argparse.Namespace) -> tuple[StageClock, float]:
    """In a derivative benchmark's child: one thread for PyTorch, Numba's one-time
    setup done (it is nobody's compile time); the stage clock and time per repeat."""
    import numba

    try:
        import torch

        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
    except ImportError:
        pass
    numba.njit(lambda v: v + 1.0)(1.0)
    return StageClock(), 0.02 if opts.quick else 0.1


def run_implementations(
    res: dict[str, Any],
    makers: dict[str, Callable | None],
    w: Any,
    args: tuple,
    clock: StageClock,
    references: tuple[str, ...],
    agrees: Callable[[Any, Any], bool],
) -> dict[str, tuple[Callable, tuple]]:
    """A derivative benchmark's implementations, each made by `maker(w, args)` as
    (callable, its arguments, a function normalising its output): the first call
    of each (compile time, and adjit's stages), its output checked against the first
    of `references` that ran. Failures go to res["errors"], disagreements to
    res["bad"]. Returns the calls to time."""
    calls: dict[str, tuple[Callable, tuple]] = {}
    outputs: dict[str, Any] = {}
    for impl, make in makers.items():
        if make is None:
            continue
        try:
            call, a, norm = make(w, args)
            clock.take()
            res["compile"][impl] = first_call(call, a)
            if impl == "adjit":
                res["stages"] = clock.take()
            outputs[impl] = norm(call(*a))
            calls[impl] = (call, a)
        except Exception as e:  # report it and go on
            res["errors"][impl] = f"{type(e).__name__}: {e}"
    reference = next((i for i in references if i in outputs), None)
    res["reference"] = reference
    for impl, out in outputs.items():
        if reference is not None and impl != reference and not agrees(out, outputs[reference]):
            res["bad"].append(impl)
    return calls


def time_calls(
    res: dict[str, Any], calls: dict[str, tuple[Callable, tuple]], target: float
) -> None:
    for impl, (call, a) in calls.items():
        gc.collect()
        res["time"][impl] = per_call(call, a, target)


def print_derivative_compile(results: dict[str, Any], adjit_label: str, jax_label: str) -> None:
    """The first-call table: adjit's stages, the primal's compile, JAX's."""
    print(
        "first call (compile + run), empty adjit cache; adjit's stages, rest = Numba compile + run:"
    )
    rows = []
    for name, r in results.items():
        c = r["compile"]
        total = c.get("adjit")
        stages = stage_text(r["stages"], total) if total is not None else ["—"] * 5
        primal = fmt_time(c.get("primal")) + (" (cached)" if r.get("primal_cached") else "")
        rows.append([name, fmt_time(total), *stages, primal, fmt_time(c.get("jax"))])
    header = ["workload", adjit_label, "trace", "passes", "codegen", "load", "rest"]
    print(table([*header, "adjit.jit (primal)", jax_label], rows))
    print()


def derivative_main(
    doc: str,
    names: list[str],
    child_bench: Callable[[argparse.Namespace], dict[str, Any]],
    run: Callable[[argparse.Namespace, str], None],
    cache_prefix: str,
) -> None:
    """Command line of a derivative benchmark: --quick, --only NAME, and the child mode."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="~0.02 s per timing repeat")
    parser.add_argument("--only", metavar="NAME", help="one workload: " + ", ".join(names))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    add_blas_option(parser)
    opts = parser.parse_args()
    if opts.only is not None and opts.only not in names:
        parser.error(f"unknown workload {opts.only!r}; choose from {', '.join(names)}")
    for key, value in THREAD_ENV.items():  # children inherit these
        os.environ.setdefault(key, value)
    if opts.child:
        pin_to_one_cpu()
        print(json.dumps(child_bench(opts)))
        return
    apply_blas_option(opts)
    cache = tempfile.mkdtemp(prefix=cache_prefix)  # cold compile times
    try:
        run(opts, cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


# ---------------------------------------------------------------------------
# report (parent process)
# ---------------------------------------------------------------------------


def stage_text(stages: dict[str, float], total: float) -> list[str]:
    names = ("trace", "passes", "codegen", "load")
    cols = [fmt_time(stages.get(s)) for s in names]
    rest = total - sum(stages.values()) if stages else None
    return cols + [fmt_time(rest)]


def print_times(results: dict[str, Any]) -> None:
    rows = []
    for name, r in results.items():
        t = r["time"]
        rows.append(
            [f"{name}: {r['description']}"]
            + [fmt_time(t.get(i)) for i in IMPLS]
            + [fmt_ratio(t.get("adjit"), t.get("numba")), fmt_ratio(t.get("adjit"), t.get("jax"))]
            + ["MISMATCH: " + ", ".join(r["bad"]) if r["bad"] else "ok"]
        )
    header = ["workload"] + [TITLES[i] for i in IMPLS] + ["adjit/Numba", "adjit/JAX", "agree"]
    print(table(header, rows))
    print()


def print_compile(results: dict[str, Any]) -> None:
    print("compile time (first call, empty cache); adjit's stages, rest = Numba compile + run:")
    rows = []
    for name, r in results.items():
        c = r["compile"]
        stages = stage_text(r["stages"], c["adjit"]) if "adjit" in c else ["—"] * 5
        rows.append(
            [name, fmt_time(c.get("adjit"))]
            + stages
            + [fmt_time(c.get("numba")), fmt_time(c.get("jax"))]
        )
    header = [
        "workload",
        "adjit",
        "trace",
        "passes",
        "codegen",
        "load",
        "rest",
        "Numba (hand)",
        "jax.jit",
    ]
    print(table(header, rows))
    print()


def measure_memory(cache: str) -> dict[str, Any] | None:
    print("peak memory of the element-wise chain (RSS growth during one call, fresh process):")
    mem = run_child(["--child", "memory"], {**FRESH_MEMORY, "ADJIT_CACHE_DIR": cache})
    if isinstance(mem, str):
        print(f"WARNING: memory measurement {mem}\n")
        return None
    io = mem["input"] + mem["output"]
    rows = []
    for impl in IMPLS:
        if impl in mem:
            m = mem[impl]
            m["ratio"] = (mem["input"] + m["extra"]) / io
            allocs = "—" if m["nrt_allocs"] is None else str(m["nrt_allocs"])
            rows.append([TITLES[impl], fmt_bytes(m["extra"]), f"{m['ratio']:.2f}", allocs])
    print(f"input {fmt_bytes(mem['input'])}, output {fmt_bytes(mem['output'])}")
    header = ["impl", "peak RSS growth", "(input + growth) / (input + output)", "NRT allocs/call"]
    print(table(header, rows))
    print()
    return mem


def measure_load() -> list[dict[str, Any] | str]:
    print("GMM objective in a fresh process (trace + compile/load + first call, after imports):")
    load_cache = tempfile.mkdtemp(prefix="adjit-bench-load-")
    Path(load_cache, "_bench_floor.py").write_text(FLOOR_MODULE)
    env = {"ADJIT_CACHE_DIR": load_cache}
    try:
        runs = [run_child(["--child", "load"], env) for _ in range(2)]
        run_child(["--child", "floor"], env)  # fills Numba's cache for the trivial function
        runs.append(run_child(["--child", "floor"], env))
    finally:
        shutil.rmtree(load_cache, ignore_errors=True)
    rows = []
    labels = (
        "cold (empty cache)",
        "warm (second process)",
        "Numba alone: trivial cached @njit, warm",
    )
    for label, res in zip(labels, runs):
        if isinstance(res, str):
            rows.append([label, res] + [""] * 5)
        else:
            rows.append([label, fmt_time(res["total"])] + stage_text(res["stages"], res["total"]))
    print(table(["process", "total", "trace", "passes", "codegen", "load", "rest"], rows))
    print()
    return runs


def print_targets(
    results: dict[str, Any],
    fresh: dict[str, Any] | None,
    memory: dict[str, Any] | None,
    load: list | None,
) -> None:
    """The issue's targets, checked against this run."""
    lines = []

    def check(ok: bool, text: str) -> None:
        lines.append(f"{'ok  ' if ok else 'MISS'} {text}")

    for name, r in results.items():
        t = r["time"]
        if "adjit" in t and "numba" in t:
            text = f"{name}: adjit/Numba {t['adjit'] / t['numba']:.2f}"
            if fresh and "adjit" in fresh.get(name, {}).get("time", {}):
                f = fresh[name]["time"]
                text += f", fresh memory {f['adjit'] / f['numba']:.2f}"
            check(t["adjit"] <= 1.2 * t["numba"], text + " (target <= 1.2)")
    if "adjit" in results.get("scalar", {}).get("time", {}):
        us = results["scalar"]["time"]["adjit"] * 1e6
        check(us < 1.5, f"scalar: call overhead {us:.2f} µs (target < 1.5 µs)")
    t = results.get("gmm", {}).get("time", {})
    if "jax" in t and "adjit" in t:
        check(t["adjit"] < t["jax"], f"gmm: adjit/JAX {t['adjit'] / t['jax']:.2f} (target < 1)")
    if load and isinstance(load[1], dict):
        warm = load[1]["total"]
        check(warm < 0.2, f"gmm: warm-cache process {fmt_time(warm)} (target < 0.2 s)")
    if memory and "adjit" in memory:
        ratio = memory["adjit"]["ratio"]
        check(ratio <= 1.2, f"chain: peak memory {ratio:.2f} x (input + output) (target <= 1.2)")
    if lines:
        print("targets:")
        print("\n".join(lines))


def run(opts: argparse.Namespace, cache: str) -> None:
    t_start = time.perf_counter()
    print(machine_line())
    load = "load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    print(f"{load} (other processes on the machine skew timings)")
    target = 0.02 if opts.quick else 0.1
    print(f"time per call: min over {REPEATS} repeats of (N calls / N), ~{target} s per repeat\n")

    argv = (
        ["--child", "bench"]
        + (["--quick"] if opts.quick else [])
        + (["--only", opts.only] if opts.only else [])
    )
    env = {"ADJIT_CACHE_DIR": cache}
    results = run_child(argv, {**WARM_HEAP, **env})
    if isinstance(results, str):
        sys.exit(f"benchmark {results}")
    fresh = run_child(argv, {**FRESH_MEMORY, **env})
    for name, r in results.items():
        for impl, message in r["errors"].items():
            print(f"WARNING: {name}: {impl} failed: {message}")
        for impl in r["bad"]:
            print(f"WARNING: {name}: {impl} disagrees with NumPy (rtol 1e-9)")

    print("time per call, warm heap (large temporaries reuse freed memory):")
    print_times(results)
    print(
        "time per call, fresh memory (every allocation >= 64 KiB is new pages, as in a cold process):"
    )
    if isinstance(fresh, str):
        print(f"WARNING: fresh-memory run {fresh}\n")
        fresh = None
    else:
        print_times(fresh)
    print_compile(results)
    memory = measure_memory(cache) if "chain" in results else None
    load_runs = measure_load() if "gmm" in results else None
    print_targets(results, fresh, memory, load_runs)
    print(f"\n(benchmark wall time {time.perf_counter() - t_start:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="~0.02 s per timing repeat instead of ~0.1 s"
    )
    parser.add_argument(
        "--only", metavar="NAME", help="one workload: scalar, chain, softmax, mlp or gmm"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    add_blas_option(parser)
    opts = parser.parse_args()
    names = ("scalar", "chain", "softmax", "mlp", "gmm")  # workloads.WORKLOADS, not imported here
    if opts.only is not None and opts.only not in names:
        parser.error(f"unknown workload {opts.only!r}; choose from {', '.join(names)}")
    for key, value in THREAD_ENV.items():  # children inherit these
        os.environ.setdefault(key, value)

    if opts.child is not None:
        pin_to_one_cpu()
        handlers = {
            "bench": lambda: child_bench(opts),
            "memory": child_memory,
            "load": lambda: child_load("load"),
            "floor": lambda: child_load("floor"),
        }
        print(json.dumps(handlers[opts.child]()))
        return
    apply_blas_option(opts)
    # Every run starts from an empty adjit cache, so compile times are cold.
    cache = tempfile.mkdtemp(prefix="adjit-bench-cache-")
    try:
        run(opts, cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
