"""The sum-before-product pass: same values, smaller products, verified IR."""

from __future__ import annotations

import numpy as np
import pytest

import adjit
from adjit.compiler.passes import simplify, sum_before_product


@pytest.mark.parametrize(
    "shapes",
    [((5, 3), (3, 4)), ((2, 5, 3), (2, 3, 4)), ((2, 5, 3), (3, 4)), ((1, 5, 3), (2, 3, 4))],
)
@pytest.mark.parametrize("negate", [False, True])
def test_row_sum_of_a_product_becomes_a_product_of_row_sums(shapes, negate):
    def f(a, b):
        p = a @ b
        return np.sum(-p if negate else p, axis=-2)

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    fn = adjit.trace(f)(a, b)
    rewritten = adjit.ir.verify(sum_before_product(fn))
    products = [op for op in simplify(fn).walk() if op.name == "matmul"]
    assert [op.operands[0].type.shape[-2] for op in products] == [1]  # one row, not five
    np.testing.assert_allclose(
        adjit.ir.interpret(rewritten, a, b)[0], f(a, b), rtol=1e-13, atol=1e-13
    )
    np.testing.assert_allclose(adjit.jit(f)(a, b), f(a, b), rtol=1e-13, atol=1e-13)


def test_products_used_elsewhere_or_summed_over_other_axes_are_kept():
    def f(a, b):
        p = a @ b
        return np.sum(p, axis=-1), p

    a, b = np.ones((4, 3)), np.ones((3, 2))
    fn = adjit.trace(f)(a, b)
    assert str(sum_before_product(fn)) == str(fn)
