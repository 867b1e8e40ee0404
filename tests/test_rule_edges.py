"""Edges of the derivative rules that the per-primitive checks do not reach; each
test here kills a mutant of tests/mutation.py that survived them (tests/README.md).

Oracles: derivatives of small programs written out by hand.
"""

from __future__ import annotations

import numpy as np

import adjit


def test_gradient_of_assignment_at_repeated_traced_indices_goes_to_the_last_write():
    # y = x; y[i] = v with i = [1, 3, 1] a run-time array: y[1] is v[2], y[3] is v[1]
    def loss(x, v, i):
        y = x * 1.0
        y[i] = v
        return np.sum(y * np.array([1.0, 2.0, 3.0, 4.0]))

    x, v, i = np.ones(4), np.array([5.0, 6.0, 7.0]), np.array([1, 3, 1])
    gx, gv = adjit.grad(loss, argnums=(0, 1))(x, v, i)
    np.testing.assert_array_equal(gx, [1.0, 0.0, 3.0, 0.0])
    np.testing.assert_array_equal(gv, [0.0, 4.0, 2.0])


def test_gradient_of_a_float32_product_with_a_zero_is_computed_in_float32():
    # d prod / d x_k at the zero is the product of the others, in f32 arithmetic
    # (run by the interpreter, whose f32 product is NumPy's)
    x = np.random.default_rng(1).uniform(0.5, 2.0, size=32).astype(np.float32)
    x[5] = 0.0
    fn = adjit.trace(lambda x: adjit.grad(lambda x: np.prod(x))(x))(x)
    (g,) = adjit.ir.interpret(fn, x)
    assert g.dtype == np.float32
    assert g[5] == np.prod(np.where(x == 0, np.float32(1), x))
    assert not np.any(np.delete(g, 5))


def test_derivatives_of_cumprod_along_an_axis_of_two():
    # h = cumprod(x, axis=1) of two columns is (x0, x0 x1): the scan rules read
    # h and x shifted by one step along the axis, here a slice of one column
    x = np.array([[2.0, 3.0], [-1.5, 0.5], [0.0, 4.0]])
    t = np.array([[0.5, -1.0], [2.0, 0.25], [1.0, 3.0]])
    w = np.array([0.7, -1.3])
    x0, x1, t0, t1 = x[:, 0], x[:, 1], t[:, 0], t[:, 1]

    def loss(x):
        return np.sum(w * np.cumprod(x, axis=1))

    def tangent(x, t):
        return adjit.jvp(lambda x: np.cumprod(x, axis=1), (x,), (t,))[1]

    (g,) = adjit.ir.interpret(adjit.trace(adjit.grad(loss))(x), x)
    (dh,) = adjit.ir.interpret(adjit.trace(tangent)(x, t), x, t)
    np.testing.assert_allclose(g, np.stack([w[0] + w[1] * x1, w[1] * x0], axis=1), rtol=1e-15)
    np.testing.assert_allclose(dh, np.stack([t0, t0 * x1 + x0 * t1], axis=1), rtol=1e-15)


def test_gradient_of_cumsum_is_a_reverse_cumsum_without_shifting_its_ones():
    # cumsum's a is the constant 1: its shift by one step is itself, so the adjoint
    # scan reads it directly (no gather and concatenate to build the shifted copy)
    w = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])
    fn = adjit.trace(adjit.grad(lambda x: np.sum(w * np.cumsum(x, axis=1))))(np.ones((2, 3)))
    names = {op.name for op in fn.body.ops}
    assert "linear_scan" in names and not names & {"gather", "concatenate"}, str(fn)
    (g,) = adjit.ir.interpret(fn, np.ones((2, 3)))
    np.testing.assert_array_equal(g, np.cumsum(w[:, ::-1], axis=1)[:, ::-1])
