"""Speed-up of a data-parallel gradient on a local Dask cluster: 1 process against 2 workers.

    python benchmarks/dask_grad.py [--rows 2000000] [--chunk 15625] [--workers 1,2]

The workload: the mean squared error of a 16-64-1 tanh network (parameters a
dict) over `--rows` rows, whose value and gradient take about a second on one
core. Rows of the table:

- one process, whole data: `adjit.value_and_grad(loss)` on all rows, no Dask;
- one process, a loop over the chunks: the same on each chunk in turn, weighted
  by rows (no Dask). Chunks whose temporaries fit in the cache and in reused
  heap memory run faster than the whole data, whose temporaries are fresh
  pages (a page fault per 4 KiB): this row separates that gain from the
  workers';
- adjit.dask, N workers: `adjit.dask.value_and_grad(loss, reduce="mean")` on a
  `distributed.LocalCluster` of N worker processes with one thread each, the
  data a dask array in chunks of `--chunk` rows persisted on the workers
  beforehand (only the parameters travel per call), started with
  `adjit.dask.worker_config()` (glibc malloc keeps temporaries in reused
  memory); the last row again with Dask's default malloc settings, which make
  every temporary fresh pages.

Each row runs with an empty adjit cache of its own, so its first call compiles
(on every worker, at once); "first call" is that call (trace, compile, run,
and for Dask the row check and the first round trip). "per call" is the
minimum over 3 calls after it. Every result is checked against the one-process
gradient (1e-12 relative). BLAS and Numba run one thread in every process.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import THREAD_ENV, fmt_time, machine_line, table  # noqa: E402

for _key, _value in THREAD_ENV.items():
    os.environ.setdefault(_key, _value)
# the workers import this checkout's adjit, whatever an editable install points to
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")])
)
os.environ["ADJIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="adjit-dask-bench-")
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402

REPEATS = 3


def loss(params, X, y):
    h = np.tanh(X @ params["W1"] + params["b1"])
    out = h @ params["w2"] + params["b2"]
    return np.mean((out - y) ** 2)


def rel_error(got, want) -> float:
    (gv, gg), (wv, wg) = got, want
    errs = [abs(gv - wv) / abs(wv)]
    errs += [np.max(np.abs(gg[k] - wg[k])) / np.max(np.abs(wg[k])) for k in wg]
    return float(max(errs))


def timed(call) -> tuple[float, float, object]:
    """First call's time, the minimum of REPEATS later calls, and the result."""
    t = time.perf_counter()
    result = call()
    first = time.perf_counter() - t
    best = float("inf")
    for _ in range(REPEATS):
        t = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t)
    return first, best, result


def chunk_loop(vg, params, X, y, chunk: int) -> tuple[float, dict]:
    """The mean's value and gradient from one call per chunk, weighted by rows."""
    value, grads = 0.0, {k: 0.0 for k in params}
    for i in range(0, len(X), chunk):
        v, g = vg(params, X[i : i + chunk], y[i : i + chunk])
        n = len(X[i : i + chunk])
        value += n * v
        grads = {k: grads[k] + n * g[k] for k in g}
    return value / len(X), {k: g / len(X) for k, g in grads.items()}


def on_cluster(
    n_workers: int, params, X, y, chunk: int, tuned: bool
) -> tuple[float, float, object, float]:
    import dask
    import dask.array as da
    import distributed

    import adjit.dask

    os.environ["ADJIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="adjit-dask-bench-")  # workers: cold
    t = time.perf_counter()
    with (
        dask.config.set(adjit.dask.worker_config() if tuned else {}),
        distributed.LocalCluster(
            n_workers=n_workers,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        # the data goes to the workers once, in the graph; the warning about its size is moot
        warnings.filterwarnings("ignore", message="Sending large graph")
        Xd = client.persist(da.from_array(X, chunks=(chunk, X.shape[1])))
        yd = client.persist(da.from_array(y, chunks=chunk))
        distributed.wait([Xd, yd])
        start = time.perf_counter() - t
        vg = adjit.dask.value_and_grad(loss, reduce="mean")
        first, best, result = timed(lambda: vg(params, Xd, yd))
    return first, best, result, start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--chunk", type=int, default=15_625)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    opts = parser.parse_args()

    import adjit

    rng = np.random.default_rng(0)
    X = rng.standard_normal((opts.rows, 16))
    y = np.sin(X[:, :4].sum(axis=1))
    params = {
        "W1": rng.standard_normal((16, 64)) / 4,
        "b1": rng.standard_normal(64) / 10,
        "w2": rng.standard_normal(64) / 8,
        "b2": 0.1,
    }
    vg = adjit.value_and_grad(loss)
    first, whole, want = timed(lambda: vg(params, X, y))
    f, chunked, got = timed(lambda: chunk_loop(vg, params, X, y, opts.chunk))
    rows = [
        ["one process, whole data", fmt_time(first), fmt_time(whole), "1.00", "—", "—"],
        [
            "one process, a loop over the chunks",
            fmt_time(f),
            fmt_time(chunked),
            f"{whole / chunked:.2f}",
            "1.00",
            f"{rel_error(got, want):.1e}",
        ],
    ]
    counts = [int(s) for s in opts.workers.split(",")]
    runs = [(n, True) for n in counts] + [(max(counts), False)]
    for n, tuned in runs:
        f, b, got, start = on_cluster(n, params, X, y, opts.chunk, tuned)
        err = rel_error(got, want)
        assert err <= 1e-12, err
        malloc = "adjit.dask.worker_config()" if tuned else "Dask's default malloc settings"
        rows.append(
            [
                f"adjit.dask, {n} worker{'s' * (n > 1)}, {malloc} (cluster start {fmt_time(start)})",
                fmt_time(f),
                fmt_time(b),
                f"{whole / b:.2f}",
                f"{chunked / b:.2f}",
                f"{err:.1e}",
            ]
        )
    print(machine_line())
    print(
        f"value and gradient of the mean squared error of a 16-64-1 tanh network, "
        f"{opts.rows} rows ({X.nbytes / 2**20:.0f} MiB), chunks of {opts.chunk} rows; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    header = ["how", "first call", "per call", "speed-up vs whole data", "vs chunk loop"]
    print(table([*header, "rel. error vs whole data"], rows))


if __name__ == "__main__":
    main()
