"""Seeded random inputs for the derivative tests (per primitive, in each op's smooth
domain), and closeness of nested results."""

from __future__ import annotations

import numpy as np

from adjit.ir import PRIMITIVES


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def normal(*shape: int, seed: int = 0) -> np.ndarray:
    return rng(seed).normal(size=shape)


def uniform(*shape: int, lo: float = 0.1, hi: float = 0.9, seed: int = 0) -> np.ndarray:
    return rng(seed).uniform(lo, hi, size=shape)


def assert_tree_close(got, want, rtol=1e-10, atol=1e-12):
    """Same structure (dicts, tuples, lists) and close leaves of the same shape."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want)
        for k in want:
            assert_tree_close(got[k], want[k], rtol, atol)
    elif isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want), (got, want)
        for g, w in zip(got, want):
            assert_tree_close(g, w, rtol, atol)
    else:
        assert np.shape(got) == np.shape(want), (np.shape(got), np.shape(want))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


# Inputs in each op's smooth domain: away from 0 for abs/sign, from jumps for
# floor/ceil/mod, from ties for maximum/minimum, inside (-1, 1) for asin/acos.
POS = uniform(2, 3, seed=1)
OTHER = uniform(2, 3, lo=1.1, hi=1.9, seed=2)
X = normal(2, 3, seed=3)
UNARY_INPUTS = {
    "log": POS,
    "sqrt": POS,
    "asin": POS,
    "acos": POS,
    "acosh": OTHER,  # x > 1
    "atanh": POS,
    "log1p": POS,
    "floor": X + 0.5,
    "ceil": X + 0.5,
}
BINARY_INPUTS = {
    "pow": (POS, OTHER),
    "div": (X, OTHER),
    "maximum": (X, normal(2, 3, seed=12)),
    "minimum": (X, normal(2, 3, seed=12)),
    "mod": (3 * X, OTHER),
    "floordiv": (3 * X, OTHER),
    "atan2": (X, normal(2, 3, seed=13)),
}
ELEMENTWISE = [
    n
    for n, p in PRIMITIVES.items()
    if p.kind == "elementwise" and p.differentiable and n != "select"
]


MATMUL_SHAPES = [
    ((3, 4), (4, 2)),
    ((4,), (4, 2)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (4, 5)),
    ((3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (3, 4, 2)),
    ((4,), (2, 4, 3)),
]
