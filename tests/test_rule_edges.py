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
