"""Seeded random inputs for the derivative tests, and closeness of nested results."""

from __future__ import annotations

import numpy as np


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
