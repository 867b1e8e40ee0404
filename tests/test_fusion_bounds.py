"""Fused expressions stay bounded wherever they start in a block.

An element-wise chain is inlined into one expression until it nests
fusion.MAX_DEPTH operators; past that a value is materialized and heads a new
expression. A chain that begins after an op fusion does not inline (a matrix
product) must be bounded like one at the top of the block.
"""

import numpy as np

import adjit
from adjit.codegen import fusion


def deepest_nesting(source: str) -> int:
    """The most parentheses open at once on a line of `source`."""
    deepest = 0
    for line in source.splitlines():
        level = 0
        for ch in line:
            level += {"(": 1, ")": -1}.get(ch, 0)
            deepest = max(deepest, level)
    return deepest


def chain_after_a_product(x, w):
    y = x @ w  # not inlined: the chain below starts after it
    for _ in [None] * 60:
        y = y * 0.99 + 0.01
    return y


def test_a_chain_after_a_matrix_product_is_bounded():
    x = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
    w = np.linspace(0.5, 2.0, 20).reshape(4, 5)
    f = adjit.jit(chain_after_a_product)
    assert deepest_nesting(f.source(x, w)) <= 2 * fusion.MAX_DEPTH + 8
    np.testing.assert_allclose(f(x, w), chain_after_a_product(x, w), rtol=1e-13)
