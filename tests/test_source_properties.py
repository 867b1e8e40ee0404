"""Properties of the generated source that its values cannot show (speed, compile
time), read off `.source()`: nothing here compiles."""

from __future__ import annotations

import numpy as np

import adjit
from adjit.codegen.loops import PARALLEL_MIN


def test_parallel_true_only_where_a_loop_runs_in_parallel():
    # parallel=True without a prange costs Numba compile time and warns
    def f(x):
        return np.sin(x) * np.exp(x)

    small = np.linspace(0.0, 1.0, 7)
    for jitted in (adjit.jit(f), adjit.jit(f, parallel=True)):
        source = jitted.source(small)
        assert "prange(" not in source and "parallel=True" not in source
    large = np.linspace(0.0, 1.0, 2 * PARALLEL_MIN)
    source = adjit.jit(f, parallel=True).source(large)
    assert "prange(" in source and "parallel=True" in source
