"""Tracing, compiling and calling from several threads at once.

Eight threads each run twenty steps; a step traces one of a few small functions
(some fill an `np.zeros` buffer by item assignment) and checks the IR with the
reference interpreter against NumPy, then calls a gradient or a jitted function
(some shared by all threads, some re-created each step) and checks it against
NumPy or central finite differences. Every result is compared; any error in a
thread fails the test.
"""

from __future__ import annotations

import sys
import threading
import traceback

import numpy as np

import adjit
from adjit.ir import interpret


def _buffer_sum(x):
    out = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = x[i] * x[i] + np.sin(x[i])
    return np.sum(out)


def _buffer_rows(x):
    buf = np.zeros((2, x.shape[0]))
    buf[0] = np.tanh(x)
    buf[1, :] = x * 3.0
    return np.sum(buf[0] * buf[1])


def _smooth(x):
    return np.sum(np.exp(-x * x) + np.cos(2.0 * x))


def _logistic(x):
    return np.sum(np.log1p(np.exp(-np.abs(x))) + x**3)


def _ones_buffer(x):
    acc = np.ones(x.shape[0] + 1)
    acc[1:] = acc[1:] * x
    acc[0] = np.sum(x * x)
    return np.sum(acc * acc)


FUNCTIONS = [_buffer_sum, _buffer_rows, _smooth, _logistic, _ones_buffer]
SHARED_GRADS = [adjit.grad(f) for f in FUNCTIONS]  # one object shared by every thread
SHARED_JITS = [adjit.jit(f) for f in FUNCTIONS]


def _numeric_grad(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def _step(thread: int, i: int) -> None:
    k = (thread + i) % len(FUNCTIONS)
    f = FUNCTIONS[k]
    rng = np.random.default_rng(1000 * thread + i)
    n = 3 + (thread + i) % 2  # two shapes: two signatures per function
    x = rng.uniform(-1.0, 1.0, n)
    expected = f(x)  # plain NumPy, while other threads trace
    fn = adjit.trace(f)(x)
    (traced_value,) = interpret(fn, x)
    np.testing.assert_allclose(traced_value, expected, rtol=1e-12)
    expected_grad = _numeric_grad(f, x)
    match i % 4:
        case 0:
            g = SHARED_GRADS[k](x)
        case 1:
            g = adjit.grad(f)(x)  # re-created each step
        case 2:
            value, g = adjit.value_and_grad(f)(x)
            np.testing.assert_allclose(value, expected, rtol=1e-12)
        case _:
            np.testing.assert_allclose(SHARED_JITS[k](x), expected, rtol=1e-12)
            g = adjit.jit(adjit.grad(f))(x)
    np.testing.assert_allclose(g, expected_grad, rtol=1e-6, atol=1e-8)


def test_threads_trace_compile_and_call_concurrently() -> None:
    threads, steps = 8, 20
    errors: list[str] = []
    barrier = threading.Barrier(threads)

    def work(t: int) -> None:
        barrier.wait()
        for i in range(steps):
            try:
                _step(t, i)
            except BaseException:  # noqa: BLE001 - reported below, with its traceback
                errors.append(f"thread {t} step {i}:\n{traceback.format_exc()}")

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert not errors, f"{len(errors)} of {threads * steps} steps failed:\n" + "\n".join(errors[:3])


def test_compiled_code_releases_the_gil() -> None:
    """Another Python thread runs while a compiled function computes (nogil=True).

    With a long switch interval the calling thread keeps the GIL while it runs
    Python, so the counting thread can only run while the native code has
    released it.
    """
    f = adjit.jit(lambda x: np.sum(np.sin(x) * np.cos(x)))
    x = np.linspace(0.0, 1.0, 1 << 22)
    np.testing.assert_allclose(f(x), np.sum(np.sin(x) * np.cos(x)), rtol=1e-10)
    counter = [0]
    go, done = threading.Event(), threading.Event()

    def count() -> None:
        go.wait()
        while not done.is_set():
            counter[0] += 1

    interval = sys.getswitchinterval()
    counter_thread = threading.Thread(target=count)
    counter_thread.start()
    try:
        sys.setswitchinterval(0.5)
        go.set()
        counts = []
        for _ in range(3):
            before = counter[0]
            f(x)
            counts.append(counter[0] - before)
    finally:
        done.set()
        sys.setswitchinterval(interval)
        counter_thread.join()
    assert max(counts) > 0, f"no Python ran during the native calls: {counts}"
