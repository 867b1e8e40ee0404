"""The Numba CPU backend gives the reference interpreter's answer on the whole corpus."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import flat_args
from test_corpus import CASES

import adjit
from adjit import tree


def _compare(got, want, rtol):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=max(rtol, 1e-12), atol=1e-300)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("f, args, kwargs, rtol", CASES)
def test_jit_matches_interpreter(f, args, kwargs, rtol):
    jitted = adjit.jit(f)
    fn = jitted.ir(*args, **kwargs)
    want = adjit.ir.interpret(fn, *flat_args(*args, **kwargs))
    got = tree.flatten(jitted(*args, **kwargs))[0]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        _compare(g, w, rtol if np.asarray(w).dtype != np.float32 else 1e-6)
