"""Float sums that read their rows in place, and sums over several axes row by row.

A sum over the last axis whose element is a plain read of an array sums its
blocks where they lie (no copy into a block buffer). A sum over several trailing
axes adds, in order, each innermost row's sum in NumPy's pairwise order (one
running sum over all elements is a chain of dependent adds that does not
vectorise); rows shorter than PAIRWISE_MIN, or longer than a chunk, are summed
as before.
"""

from __future__ import annotations

import numpy as np
from oracle import flat_args

import adjit
from adjit.codegen import helpers
from adjit.codegen.numba_cpu import PAIRWISE_MIN
from adjit.ir import interpret


def _rows_in_order(values: np.ndarray, axes: int) -> np.ndarray:
    """The sum over the last `axes` axes: each innermost row by NumPy, rows added in order."""
    lead = values.shape[: values.ndim - axes]
    rows = values.reshape(lead + (-1, values.shape[-1]))
    out = np.zeros(lead)
    for r in range(rows.shape[-2]):
        out = out + np.sum(np.ascontiguousarray(rows[..., r, :]), axis=-1)
    return out


def test_sums_over_several_axes_add_pairwise_row_sums_in_order():
    # rows on both sides of PAIRWISE_MIN and of a chunk; broadcasting on either operand
    def f(x, y, z, w, u, v):
        return (
            np.sum(x * y),  # all axes, rows of 64
            np.sum(np.exp(x) * y[:1], axis=(0, 1)),  # y broadcast over rows
            np.sum(z[:, None, :] * w, axis=(1, 2)),  # 3-D, a kept axis, z broadcast
            np.sum(u * u),  # rows of 63: one running sum
            np.sum(v * v),  # rows longer than a chunk: chunked
        )

    rng = np.random.default_rng(0)
    n = PAIRWISE_MIN
    x, y = rng.normal(size=(5, n)), rng.normal(size=(5, n))
    z, w = rng.normal(size=(3, 2 * n + 8)), rng.normal(size=(3, 4, 2 * n + 8))
    u = rng.normal(size=(6, n - 1))
    v = rng.normal(size=(2, helpers.CHUNK + 1))
    jitted = adjit.jit(f)
    args = (x, y, z, w, u, v)
    got = jitted(*args)
    want = interpret(adjit.trace(f)(*args), *flat_args(*args))
    for g, r, numpy in zip(got, want, f(*args)):
        np.testing.assert_allclose(g, r, rtol=1e-13)
        np.testing.assert_allclose(g, numpy, rtol=1e-13)
    # the pairwise rows give NumPy's row sums, bit for bit, added in order
    np.testing.assert_array_equal(got[0], _rows_in_order(x * y, 2))
    np.testing.assert_array_equal(got[1], _rows_in_order(np.exp(x) * y[:1], 2))
    np.testing.assert_array_equal(got[2], _rows_in_order(z[:, None, :] * w, 2))


def test_a_row_sum_loses_no_small_terms_after_a_large_one():
    # one running sum: 1e16 + 1 == 1e16, all 3 * 127 ones lost; eight lanes per
    # row lose only the 15 ones added to 1e16's lane
    def f(x):
        return np.sum(x * 1.0)

    x = np.ones((3, 128))
    x[:, 0] = 1e16
    got = adjit.jit(f)(x)
    assert got == _rows_in_order(x, 2)
    assert abs(got - (3e16 + 3 * 127)) <= 3 * 16


def test_row_sums_read_rows_in_place():
    def f(x, y):
        e = np.exp(x - np.max(x, axis=1, keepdims=True))
        return e / np.sum(e, axis=1, keepdims=True), np.sum(y, axis=1), np.sum(x[:, ::-1], axis=1)

    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 3 * PAIRWISE_MIN))
    y = rng.normal(size=(5, 2 * PAIRWISE_MIN + 8))[:, ::2]  # a strided argument
    jitted = adjit.jit(f)
    got = jitted(x, y)
    want = interpret(adjit.trace(f)(x, y), *flat_args(x, y))
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, r, rtol=1e-13)
    np.testing.assert_array_equal(got[1], np.sum(y, axis=1))
    np.testing.assert_array_equal(got[2], np.sum(x[:, ::-1], axis=1))
    source = jitted.source(x, y)
    # exp's row and the argument's rows are summed where they lie; the reversed
    # row (not a plain read) goes through a block buffer
    assert source.count("np.empty(128") == 1, source
    assert "_block_sum(a_y[i0, 0:]" in source, source


def test_reductions_of_reversed_and_strided_slices():
    # a block's index `first + k` inside a slice's `start + step * j`: bracketed
    # (it was `start + step * first + k`, reading the wrong elements, out of bounds)
    def f(x, v):
        return (
            np.sum(x[:, ::-1], axis=1),
            np.max(x[:, ::-2], axis=1),
            np.sum(v[::-2]),  # longer than a chunk: chunked
            np.min(v[::-3]),
        )

    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 2 * PAIRWISE_MIN + 5))
    v = rng.normal(size=2 * helpers.CHUNK + 300)
    got = adjit.jit(f)(x, v)
    want = interpret(adjit.trace(f)(x, v), *flat_args(x, v))
    for g, r, numpy in zip(got, want, f(x, v)):
        np.testing.assert_allclose(g, r, rtol=1e-13)
        np.testing.assert_allclose(g, numpy, rtol=1e-13)


def _chunked(x: np.ndarray) -> float:
    """A long sum as the generated code adds it: NumPy's sum of each block of 128,
    sixteen blocks to a chunk, blocks and chunks (and the last partial block) added
    neighbour by neighbour (pairwise.tree_sum)."""

    def tree(values: list[float]) -> float:
        while len(values) > 1:
            pairs = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
            values = pairs + values[len(pairs) * 2 :]
        return values[0]

    n, block, chunk = x.size, helpers.BLOCK, helpers.CHUNK
    whole = n - n % block
    parts = [
        tree([np.sum(x[b : b + block]) for b in range(c, min(c + chunk, whole), block)])
        for c in range(0, whole, chunk)
    ]
    return tree(parts + ([np.sum(x[whole:])] if whole < n else []))


def test_long_sums_of_plain_reads_sum_each_block_in_place():
    def f(v, y):
        return np.sum(v), np.sum(y, axis=1)

    rng = np.random.default_rng(3)
    v = rng.normal(size=2 * helpers.CHUNK + 300)
    y = rng.normal(size=(2, 2 * helpers.CHUNK + 64))[:, ::2]  # strided rows past a chunk
    jitted = adjit.jit(f)
    got = jitted(v, y)
    assert got[0] == _chunked(v)
    assert [float(g) for g in got[1]] == [_chunked(np.ascontiguousarray(r)) for r in y]
    source = jitted.source(v, y)
    assert "np.empty(128" not in source, source  # no block buffer
