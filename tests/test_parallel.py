"""adjit.jit(f, parallel=True): the same numbers as serial code, faster on large loops.

Reductions run in chunks of a size fixed by the loop, never by the thread count,
so a parallel result equals the serial one bit for bit, whatever
numba.set_num_threads says; sums stay within the pairwise error bound of the
exact sum (math.fsum). Loops too small to pay are emitted serially, and no
Numba warning reaches the user.
"""

from __future__ import annotations

import math
import warnings

import numba
import numpy as np
import pytest

import adjit
from adjit.codegen.loops import PARALLEL_MIN

SMALL = 500  # elements: below the threshold
LARGE = 200_003  # above it, not a multiple of the chunk size
ROWS = (300, 701)  # 210 300 elements in rows longer than the pairwise minimum
EPS = np.finfo(np.float64).eps


def full(x):
    return (
        x.sum(),
        np.sum(np.tanh(x) ** 2),
        x.max(),
        x.min(),
        np.prod(1.0 + 1e-3 * x),
        x.mean(),
    )


def rows(x):
    return (
        x.sum(axis=1),
        np.exp(x).sum(axis=1),
        x.max(axis=1),
        x.min(axis=1),
        x.mean(axis=1),
        np.prod(1.0 + 1e-3 * x, axis=1),
        x.sum(axis=0),  # a column sum: stays serial (no prange, no warning)
    )


def _compile(f, x, parallel):
    """Compile and call with every warning an error (Numba warns while compiling)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jitted = adjit.jit(f, parallel=parallel)
        got = jitted(x)
        return jitted, got


def _data(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def _sum_bound(terms: np.ndarray) -> float:
    """Pairwise summation (NumPy's, and the chunked one): eight lanes of 16 in
    a block of 128, three levels adding lanes, a tree of log2(n / 128) levels."""
    n = terms.size
    return (18 + math.log2(max(n, 2))) * EPS * float(np.sum(np.abs(terms)))


def test_threshold_between_sizes():
    assert SMALL < PARALLEL_MIN < min(LARGE, ROWS[0] * ROWS[1])


@pytest.mark.parametrize("n", [SMALL, LARGE])
def test_full_reductions(n):
    x = _data(n)
    par, got = _compile(full, x, parallel=True)
    _, serial = _compile(full, x, parallel=False)
    source = par.source(x)
    if n < PARALLEL_MIN:
        assert "prange(" not in source and "parallel=True" not in source
    else:
        assert "prange(" in source
    for g, s in zip(got, serial):  # the chunking does not depend on parallel=True
        assert np.array_equal(g, s), (g, s)
    for g, terms in zip(got[:2], (x, np.tanh(x) ** 2)):
        assert abs(g - math.fsum(terms)) <= _sum_bound(terms)
    assert got[2] == x.max() and got[3] == x.min()
    np.testing.assert_allclose(got[4], np.prod(1.0 + 1e-3 * x), rtol=4 * n * EPS)
    assert abs(got[5] - math.fsum(x) / n) <= _sum_bound(x) / n

    # NaN anywhere (the last chunk too) propagates; ties give the tied value
    for position in (0, n // 2, n - 1):
        y = x.copy()
        y[position] = np.nan
        assert all(np.isnan(v) for v in par(y)), position
    y = np.round(x, 1)
    assert par(y)[2] == y.max() and par(y)[3] == y.min()


def test_row_reductions():
    x = _data(ROWS)
    par, got = _compile(rows, x, parallel=True)
    _, serial = _compile(rows, x, parallel=False)
    assert "prange(" in par.source(x)
    for g, s in zip(got, serial):
        np.testing.assert_array_equal(g, s)
    want = rows(x)  # NumPy's own
    # rows of 701 elements: NumPy's own pairwise order, bit for bit
    for k in (0, 2, 3, 4):
        np.testing.assert_array_equal(got[k], want[k])
    np.testing.assert_allclose(got[1], want[1], rtol=4 * EPS)  # exp within 1 ulp
    np.testing.assert_allclose(got[5], want[5], rtol=4 * ROWS[1] * EPS)
    np.testing.assert_allclose(got[6], want[6], rtol=1e-12)

    y = np.round(x, 1)
    y[5, 7] = np.nan
    y[-1, -1] = np.nan
    out = par(y)
    for k, w in zip((2, 3), (np.max(y, axis=1), np.min(y, axis=1))):
        np.testing.assert_array_equal(out[k], w)
    assert np.isnan(out[0][[5, -1]]).all() and not np.isnan(np.delete(out[0], [5, 299])).any()


def test_result_independent_of_thread_count():
    x = _data(LARGE, seed=3)
    xr = _data(ROWS, seed=4)
    par, _ = _compile(full, x, parallel=True)
    par_rows, _ = _compile(rows, xr, parallel=True)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = par(x), par_rows(xr)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = par(x), par_rows(xr)
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one[0] + one[1], two[0] + two[1]):
        np.testing.assert_array_equal(a, b)


def test_elementwise_parallel_above_threshold_only():
    def f(x):
        return np.tanh(x) * 2.0 + 1.0

    for n in (SMALL, LARGE):
        x = _data(n)
        jitted, got = _compile(f, x, parallel=True)
        np.testing.assert_allclose(got, f(x), rtol=4 * EPS, atol=8 * EPS)
        assert ("prange(" in jitted.source(x)) == (n >= PARALLEL_MIN)


def test_gradients_parallel():
    def loss(x):
        return np.sum(np.tanh(x) ** 2)

    def logsumexp_rows(x):
        return np.sum(np.log(np.sum(np.exp(x), axis=1)))

    x = _data(LARGE, seed=5)
    g, got = _compile(adjit.grad(loss), x, parallel=True)
    assert "prange(" in g.source(x)
    t = np.tanh(x)
    np.testing.assert_allclose(got, 2 * t * (1 - t**2), rtol=1e-13, atol=1e-15)

    xr = _data(ROWS, seed=6)
    g, got = _compile(adjit.grad(logsumexp_rows), xr, parallel=True)
    e = np.exp(xr)
    np.testing.assert_allclose(got, e / e.sum(axis=1, keepdims=True), rtol=1e-13)
    _, serial = _compile(adjit.grad(logsumexp_rows), xr, parallel=False)
    np.testing.assert_array_equal(got, serial)


def test_parallel_inside_control_flow_has_no_warning():
    def f(x):
        return adjit.fori_loop(0, 3, lambda i, y: y + np.tanh(y).sum(), x)

    x = _data(LARGE, seed=7)
    _, got = _compile(f, x, parallel=True)
    _, serial = _compile(f, x, parallel=False)
    np.testing.assert_array_equal(got, serial)
    want = x
    for _ in range(3):
        want = want + np.tanh(want).sum()
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_checked_index_loops_stay_serial_and_raise():
    # a loop that may raise IndexError cannot be a prange (Numba would warn)
    def f(x, idx):
        return np.tanh(x[idx]) * 2.0

    x = _data(LARGE, seed=8)
    idx = np.random.default_rng(9).integers(0, LARGE, size=LARGE)
    jitted, got = _compile(lambda a: f(a, idx[::-1].copy()), x, parallel=True)  # constant index
    np.testing.assert_allclose(got, f(x, idx[::-1]), rtol=4 * EPS)
    jitted = adjit.jit(f, parallel=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(jitted(x, idx), f(x, idx), rtol=4 * EPS)
    assert "_checked(" in jitted.source(x, idx)
    with pytest.raises(IndexError):
        jitted(x, idx + LARGE)


def test_integer_and_float32_reductions():
    def f(xi, xf):
        return xi.sum(), xi.max(), xi.min(), xf.sum(), xf.max()

    rng = np.random.default_rng(10)
    xi = rng.integers(-1000, 1000, size=LARGE)
    xf = rng.normal(size=LARGE).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jitted = adjit.jit(f, parallel=True)
        got = jitted(xi, xf)
    assert "prange(" in jitted.source(xi, xf)
    assert got[:3] == (xi.sum(), xi.max(), xi.min())  # exact, in any order
    assert got[3].dtype == np.float32 and got[4] == xf.max()
    bound = (18 + math.log2(LARGE)) * np.finfo(np.float32).eps * float(np.abs(xf).sum())
    assert abs(float(got[3]) - math.fsum(xf.astype(np.float64))) <= bound
