"""Throughput of a compiled gradient evaluated by a thread pool: 1 thread against 2 (and 4).

    python benchmarks/threads.py

Generated entry points are compiled with Numba's `nogil=True`, so native code runs
without the GIL and threads evaluating gradients on different data run in
parallel. The workload is the gradient of a small network's loss on a batch,
about a millisecond of native code per call; each thread calls it on its own
batch. Prints calls per second for each thread count and the speed-up over one
thread (ideal: the thread count, up to the number of CPUs).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import THREAD_ENV, machine_line, table  # noqa: E402

for _key, _value in THREAD_ENV.items():
    os.environ.setdefault(_key, _value)

import numpy as np  # noqa: E402

import adjit  # noqa: E402

SECONDS = 1.0  # per thread count


def loss(w1, w2, x, y):
    h = np.tanh(x @ w1)
    return np.mean((np.tanh(h @ w2) - y) ** 2) + 1e-3 * np.sum(w1 * w1)


def throughput(grad, batches: list[tuple], n_threads: int) -> tuple[float, float]:
    """Calls per second of `grad` with n_threads threads, each on its own batch, and
    the CPU time the process used per second (above 1: threads ran at once)."""
    counts = [0] * n_threads
    start = threading.Barrier(n_threads + 1)
    stop = threading.Event()

    def work(i: int) -> None:
        args = batches[i]
        start.wait()
        while not stop.is_set():
            grad(*args)
            counts[i] += 1

    pool = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in pool:
        t.start()
    start.wait()
    t0, c0 = time.perf_counter(), time.process_time()
    time.sleep(SECONDS)
    stop.set()
    for t in pool:
        t.join()
    wall = time.perf_counter() - t0
    return sum(counts) / wall, (time.process_time() - c0) / wall


def main() -> None:
    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(64, 128)) / 8, rng.normal(size=(128, 1)) / 11
    batches = [(w1, w2, rng.normal(size=(1024, 64)), rng.normal(size=(1024, 1))) for _ in range(4)]
    grad = adjit.grad(loss, argnums=(0, 1))
    for args in batches:  # compile, and check one gradient against finite differences
        grad(*args)
    g1 = grad(*batches[0])[0]
    e = np.zeros_like(w1)
    e[3, 5] = 1e-6
    fd = (loss(w1 + e, *batches[0][1:]) - loss(w1 - e, *batches[0][1:])) / 2e-6
    assert np.isclose(g1[3, 5], fd, rtol=1e-5), (g1[3, 5], fd)
    t = time.perf_counter()
    for _ in range(20):
        grad(*batches[0])
    per_call = (time.perf_counter() - t) / 20
    rows, base = [], None
    for n in (1, 2, 4):
        rate, cpus = throughput(grad, batches, n)
        base = base or rate
        rows.append([str(n), f"{rate:.0f}", f"{rate / base:.2f}", f"{cpus:.2f}"])
    print(machine_line())
    print(f"gradient of a 64-128-1 network's loss, batch 1024: {per_call * 1e3:.2f} ms per call")
    print(
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} (other processes share them)"
    )
    print(table(["threads", "calls/s", "speed-up", "CPU s per s"], rows))


if __name__ == "__main__":
    main()
