"""When generated code may overwrite a dead buffer in place (codegen/numba_cpu.py,
codegen/buffers.py), and when it must not: values against NumPy."""

from __future__ import annotations

import numpy as np

import adjit


def test_a_loop_result_aliasing_its_initial_value_keeps_it_alive():
    # zero iterations: the loop's result is its initial value's buffer, so that
    # buffer stays live after the loop although the initial value is dead
    def f(x):
        v = x * 2.0
        r = adjit.while_loop(lambda s: np.sum(s) < 0.0, lambda s: s + 1.0, v)
        w = np.sin(v)
        return w * r, w + r

    x = np.linspace(0.0, 1.0, 5)
    v = 2.0 * x
    got = adjit.jit(f)(x)
    np.testing.assert_allclose(got[0], np.sin(v) * v, rtol=1e-14)
    np.testing.assert_allclose(got[1], np.sin(v) + v, rtol=1e-14)
