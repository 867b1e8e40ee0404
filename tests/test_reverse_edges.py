"""Edges of the adjoint pass (compiler/reverse.py) that the gradient tests do not
reach; each test here kills a mutant of tests/mutation.py that survived them
(tests/README.md): a fori_loop whose lower bound is negative, derivatives up to
the fourth through a loop with a traced trip count (an adjoint's tapes
differentiated again, their cotangents summed into tapes of their own), the
printed gradient IR of a loop, the error for a primitive with no reverse rule,
a custom_vjp closing over a traced value.

Oracles: autograd on the same functions run as Python loops (adjit's loops run
eagerly outside a trace), central finite differences, and the reference
interpreter for the IR.
"""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
import scipy.special as sc
from samples import normal

import adjit
from adjit.errors import UnsupportedError


def _python_loop(lo, hi, body, state):
    for i in range(lo, hi):
        state = body(i, state)
    return state


def test_fori_loop_with_a_negative_lower_bound():
    # range(-3, 2): five iterations, the counter negative for three; a trip count
    # taken from hi + lo instead of hi - lo would run none of them
    def f(np_, x, loop):
        return loop(-3, 2, lambda i, v: np_.sin(v) * x + v * i, x).sum()

    x = normal(3, seed=11)
    want = autograd.grad(lambda x: f(anp, x, _python_loop))(x)
    grad = adjit.grad(lambda x: f(np, x, adjit.fori_loop))
    np.testing.assert_allclose(grad(x), want, rtol=1e-12)
    (interpreted,) = grad.ir(x)(x)
    np.testing.assert_allclose(interpreted, want, rtol=1e-12)


def test_derivatives_up_to_the_fourth_through_a_traced_trip_count():
    # the third order sums two cotangents of one tape (tape_add), the fourth
    # differentiates that sum; interpreted, so that no order compiles
    def recurrence(np_, x, n, loop):
        return loop(0, n, lambda i, s: np_.sin(s) * x + s * i * 0.1, x)

    n = 3
    adjit_f = lambda x, n: recurrence(np, x, n, adjit.fori_loop)  # noqa: E731
    autograd_f = lambda x: recurrence(anp, x, n, _python_loop)  # noqa: E731
    for order in (1, 2, 3, 4):
        adjit_f, autograd_f = adjit.grad(adjit_f), autograd.grad(autograd_f)
        (got,) = adjit_f.ir(0.7, np.int64(n))(np.float64(0.7), np.int64(n))
        assert np.isclose(got, autograd_f(0.7), rtol=1e-10), order


def test_gradient_ir_names_a_captured_value_in_every_loop_body():
    # the recording loop and the adjoint loop both carry w: the printed IR names
    # it after the user's argument in each, as the traced loop does
    def f(x, w):
        return adjit.fori_loop(1, 3, lambda i, v: np.sin(v) * w, x).sum()

    x, w = normal(2, seed=12), normal(2, seed=13)
    fn = adjit.grad(f, argnums=(0, 1)).ir(x, w)
    bodies = [line for line in str(fn).splitlines() if line.lstrip().startswith("body(")]
    assert len(bodies) == 2 and all("%w_" in line for line in bodies), bodies
    want = autograd.grad(
        lambda x, w: _python_loop(1, 3, lambda i, v: anp.sin(v) * w, x).sum(), (0, 1)
    )(x, w)
    for got, expected in zip(fn(x, w), want):
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_a_primitive_without_a_reverse_rule_is_named_with_the_users_line():
    # digamma's derivative, trigamma, is not differentiated again: the error names
    # the digamma line (the ops a rule emits carry its op's line, not the grad call's)
    def f(x):
        return sc.digamma(x) * 2.0

    line = r"\n  at .*test_reverse_edges\.py:\d+: return sc\.digamma\(x\) \* 2\.0$"
    with pytest.raises(
        UnsupportedError, match="trigamma is not differentiable .*reverse rule" + line
    ):
        adjit.grad(adjit.grad(f)).ir(1.5)
    with pytest.raises(
        UnsupportedError, match="trigamma is not differentiable .*forward rule" + line
    ):
        adjit.jacfwd(adjit.jacfwd(f)).ir(np.array([1.5]))


def test_custom_vjp_closing_over_a_traced_value_not_differentiated():
    # w is traced (an argument of outer) but not differentiated: the bwd rule
    # reads it from the values the op captures
    def outer(x, w):
        f = adjit.custom_vjp(lambda x: np.sin(x) * w)
        f.defvjp(lambda x: (np.sin(x) * w, x), lambda x, g: (g * np.cos(x) * w,))
        return f(x) * x

    x, w, h = 0.7, 1.3, 1e-6
    want = (outer(x + h, w) - outer(x - h, w)) / (2 * h)
    got = adjit.grad(outer)(x, w)
    assert np.isclose(got, want, rtol=1e-8) and np.isclose(got, w * (np.sin(x) + x * np.cos(x)))
