"""The data-parallel gradient on a Dask cluster, against one process.

Shows `adjit.dask.value_and_grad`: the value and gradient of a loss that is a
mean over the rows of its data (a 16-32-1 tanh network's mean squared error),
computed chunk by chunk on a `distributed.LocalCluster` of two worker
processes, the chunk results summed in a tree; checked against
`adjit.value_and_grad` on the whole data in this process, and both timed.
The workers compile the loss on their first call (once per chunk shape), or
load the native code from adjit's disk cache, which this process fills
first by computing the gradient of one chunk.

Needs: dask[array] and distributed (`pip install -e ".[dask]"`).
Run: python examples/cluster.py [--fast]
"""

import logging
import os
import time
import warnings

import numpy as np
from _common import FAST, REPO, format_time, one_blas_thread

import adjit
import adjit.dask

one_blas_thread()  # as Dask's workers run (OPENBLAS_NUM_THREADS=1)


def loss(params, X, y):
    h = np.tanh(X @ params["W"] + params["b"])
    return np.mean((h @ params["v"] + params["c"] - y) ** 2)


def main() -> None:
    import dask
    import dask.array as da
    import distributed

    rows, chunk = (4_000, 1_000) if FAST else (400_000, 25_000)
    rng = np.random.default_rng(0)
    X_np = rng.normal(size=(rows, 16))
    y_np = np.sin(X_np[:, 0]) + 0.1 * rng.normal(size=rows)
    params = {
        "W": rng.normal(size=(16, 32)) / 4,
        "b": np.zeros(32),
        "v": rng.normal(size=32) / 6,
        "c": 0.0,
    }

    one = adjit.value_and_grad(loss)
    start = time.perf_counter()
    want_value, want = one(params, X_np, y_np)
    first_one = time.perf_counter() - start
    start = time.perf_counter()
    one(params, X_np, y_np)
    per_call_one = time.perf_counter() - start

    # Compile the gradient of one chunk here: it goes to adjit's disk cache, which
    # the workers share, so they load the native code instead of each compiling it.
    start = time.perf_counter()
    one(params, X_np[:chunk], y_np[:chunk])
    print(
        f"compiled the gradient for chunks of {chunk} rows: {format_time(time.perf_counter() - start)}"
    )

    # The workers import this checkout's adjit (as this process does).
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")])
    )
    with dask.config.set(adjit.dask.worker_config()):
        cluster = distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        )
    logging.getLogger("distributed").setLevel(logging.ERROR)  # no chatter when workers stop
    with cluster, distributed.Client(cluster) as client:
        print(f"cluster: {len(client.scheduler_info()['workers'])} workers")
        # The data goes to the workers once (persist) and stays there; Dask warns
        # about the size of that one transfer, which is the point here.
        warnings.filterwarnings("ignore", message="Sending large graph")
        X = da.from_array(X_np, chunks=(chunk, 16)).persist()
        y = da.from_array(y_np, chunks=chunk).persist()
        vg = adjit.dask.value_and_grad(loss, reduce="mean")
        start = time.perf_counter()
        value, grads = vg(params, X, y)
        first_dask = time.perf_counter() - start
        start = time.perf_counter()
        value, grads = vg(params, X, y)
        per_call_dask = time.perf_counter() - start

    error = max(
        abs(value - want_value) / abs(want_value),
        max(np.max(np.abs(grads[k] - want[k])) / np.max(np.abs(want[k])) for k in want),
    )
    print(f"{rows} rows in chunks of {chunk}: loss {value:.6f}")
    print(
        f"agreement with one process: max relative difference {error:.1e}: "
        f"{'passed' if error < 1e-12 else 'FAILED'}"
    )
    print("times (shared machine, expect noise):")
    print(
        f"  one process         first call {format_time(first_one):>9s}, "
        f"then {format_time(per_call_one)}"
    )
    print(
        f"  Dask, two workers   first call {format_time(first_dask):>9s}, "
        f"then {format_time(per_call_dask)}"
    )


if __name__ == "__main__":  # the workers are new processes: keep the setup out of their import
    main()
