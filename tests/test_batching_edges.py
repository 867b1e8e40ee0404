"""Edges of batching (compiler/batching.py, vmap and the Jacobians) that the
Jacobian tests do not reach; each test here kills a mutant of tests/mutation.py
that survived them (tests/README.md).

Oracle: NumPy, the function applied slice by slice (adjit's functions run
eagerly outside a trace); the batched IR runs in the reference interpreter.
"""

from __future__ import annotations

import numpy as np

import adjit


def test_vmap_of_a_per_slice_index_beside_a_constant_index_array():
    # each slice picks its own row (a traced index), then the columns a constant
    # array names: the advanced block takes its shape from both
    def f(x):
        return x[np.argmax(x[:, 0]), np.arange(3)]

    xs = np.random.default_rng(0).normal(size=(2, 4, 3))
    (got,) = adjit.vmap(f).ir(xs)(xs)
    np.testing.assert_array_equal(got, np.stack([f(x) for x in xs]))


def test_vmap_of_a_vector_times_a_stack_of_matrices():
    # (k,) @ (m, k, p) per slice: the batched vector is padded to the stack's rank
    rng = np.random.default_rng(1)
    stack, vs = rng.normal(size=(2, 3, 4)), rng.normal(size=(5, 3))

    def f(v):
        return v @ stack

    (got,) = adjit.vmap(f).ir(vs)(vs)
    np.testing.assert_allclose(got, np.stack([f(v) for v in vs]), rtol=1e-12)


def test_vmap_of_an_assignment_through_advanced_indices_split_by_a_slice():
    # y[0, :, [1, 2]]: NumPy puts the advanced block first, so the batch axis of
    # the values written is moved from the front to where the index puts it
    def f(x):
        y = x * 1.0
        y[0, :, [1, 2]] = np.arange(6.0).reshape(2, 3)
        return y

    xs = np.random.default_rng(2).normal(size=(2, 2, 3, 4))
    (got,) = adjit.vmap(f).ir(xs)(xs)
    np.testing.assert_array_equal(got, np.stack([f(x) for x in xs]))
