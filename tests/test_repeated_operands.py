"""A cheap element-wise value read twice by one consumer (`d * d`) is inlined.

fusion.plan_block inlines a value with one consumer; `(x[:, None] - x[None]) ** 2`
is `d * d` after simplification, one consumer reading d twice. For add, sub,
mul and neg the repeated expression is free (LLVM computes it once); any other
op, or a second consumer, still gets a buffer.
"""

from __future__ import annotations

import numpy as np
from oracle import flat_args

import adjit
from adjit.ir import interpret


def _check(f, *args):
    jitted = adjit.jit(f)
    got = jitted(*args)
    want = interpret(adjit.trace(f)(*args), *flat_args(*args))
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, r, rtol=1e-13, atol=1e-300)
    return jitted.source(*args).split("def entry")[1]


def test_a_difference_squared_by_one_consumer_is_not_materialized():
    def f(x, y):
        return (
            np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=2),  # broadcast on both sides
            np.sum((x[:, None, :] - y) ** 2, axis=2),  # broadcast on the left only
            np.sum((y - x[:, None, :]) * (y - x[:, None, :]), axis=2),  # written twice
        )

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 70)), rng.normal(size=(3, 70))
    body = _check(f, x, y)
    # no buffer for a difference (each line computing a value names its type)
    assert "f64[5,5,70]" not in body and "f64[5,3,70]" not in body, body


def test_other_ops_and_second_consumers_keep_their_buffer():
    def f(x, y):
        e = np.exp(x[:, None, :] - y)  # exp: not repeated for free
        d = x[:, None, :] - y  # two consumers
        return np.sum(e * e, axis=2), np.sum(d * d, axis=2) + np.max(d, axis=2)

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(4, 66)), rng.normal(size=(3, 66))
    body = _check(f, x, y)
    assert body.count("f64[4,3,66]") == 2, body  # e and d, each in a buffer (of one slice)
