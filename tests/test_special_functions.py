"""Element-wise functions of issue 15 and scipy.special through the tracer.

Values against NumPy/SciPy (reference interpreter and compiled code),
derivatives in both modes against JAX (x64) and central finite differences,
under vmap with a batched input, stability at extreme inputs, digamma and
trigamma against mpmath, and the errors for what is not supported. The cases of
one kind are batched into one function so that each compiles once per mode.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import jax.scipy.special as jsc
import mpmath
import numpy as np
import pytest
import scipy
import scipy.special as sc
from scipy import special
from scipy.special import logsumexp

import adjit
from adjit.errors import UnsupportedError

jax.config.update("jax_enable_x64", True)

X = np.random.default_rng(15).uniform(0.1, 0.9, size=5)


def _elementwise(xp, s, sinc):
    """All element-wise cases on x in (0.1, 0.9), each on its domain; xp/s: numpy
    and scipy.special, or jax.numpy and jax.scipy.special."""

    def f(x):
        r = x[::-1]
        outs = [
            xp.arcsinh(6 * x - 3),
            xp.arccosh(1.5 + 4 * x),
            xp.arctanh(2 * x - 1),
            sinc(4 * x - 2),
            xp.degrees(x),
            xp.radians(x),
            xp.fmax(x, r),
            xp.fmin(x, r),
            xp.logaddexp2(x, 2 * r),
            s.expit(8 * x - 4),
            s.logit(x),
            s.erf(4 * x - 2),
            s.erfc(4 * x - 2),
            s.gammaln(10 * x - 4.05),  # negative arguments too: log|gamma|
            s.digamma(10 * x - 4.05),
            s.xlogy(x - 0.5, r),
            s.xlog1py(x - 0.5, r - 0.5),
        ]
        return xp.concatenate(outs)

    return f


F = _elementwise(np, sc, np.sinc)
F_JAX = _elementwise(jnp, jsc, jnp.sinc)


def _reductions(xp, lse, softmax, log_softmax):
    def f(a):
        b = xp.arange(1.0, 13.0).reshape(3, 4) / 6
        outs = [
            lse(a),
            lse(a, axis=0),
            lse(a, axis=1, keepdims=True),
            lse(a, axis=(0, 1), keepdims=True),
            lse(a, axis=-1, b=b),
            lse(a, b=b[0]),
            softmax(a),
            softmax(a, axis=1),
            log_softmax(a),
            log_softmax(a, axis=0),
        ]
        return xp.concatenate([xp.ravel(o) for o in outs])

    return f


def _jax_lse(a, axis=None, b=None, keepdims=False):
    return jsc.logsumexp(a, axis=axis, b=b, keepdims=keepdims)


def _softmax(fn):
    def apply(a, axis=None):
        return fn(a, axis=tuple(range(a.ndim)) if axis is None else axis)

    return apply


G = _reductions(np, sc.logsumexp, sc.softmax, sc.log_softmax)
G_JAX = _reductions(jnp, _jax_lse, _softmax(jax.nn.softmax), _softmax(jax.nn.log_softmax))
A = np.random.default_rng(16).normal(size=(3, 4)) * 3


def _central(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    cols = []
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = h
        e = e.reshape(x.shape)
        cols.append((f(x + e) - f(x - e)) / (2 * h))
    return np.stack(cols, axis=-1)


# one compilation per test (values, jacfwd, jacrev): pytest-xdist runs them side by side
@pytest.mark.parametrize("mode", ["values", "jacfwd", "jacrev"])
@pytest.mark.parametrize(("f", "f_jax", "x"), [(F, F_JAX, X), (G, G_JAX, A)], ids=["ew", "lse"])
def test_values_and_derivatives_both_modes(f, f_jax, x, mode: str) -> None:
    want = f(x)
    jac = np.asarray(jax.jacfwd(f_jax)(x)).reshape(want.size, x.size)
    if mode == "values":
        np.testing.assert_allclose(f_jax(x), want, rtol=1e-13)  # the oracles agree
        np.testing.assert_allclose(_central(f, x).reshape(jac.shape), jac, rtol=1e-6, atol=1e-6)
        (interpreted,) = adjit.ir.interpret(adjit.trace(f)(x), x)
        np.testing.assert_allclose(interpreted, want, rtol=1e-13)
        np.testing.assert_allclose(adjit.jit(f)(x), want, rtol=1e-13)
    else:
        got = getattr(adjit, mode)(f)(x).reshape(jac.shape)
        np.testing.assert_allclose(got, jac, rtol=1e-12, atol=1e-13)


def test_vmap_batched() -> None:
    xs = np.random.default_rng(17).uniform(0.1, 0.9, size=(3, 5))
    np.testing.assert_allclose(adjit.vmap(F)(xs), np.stack([F(x) for x in xs]), rtol=1e-13)
    grads = adjit.vmap(adjit.grad(lambda x: np.sum(F(x))))(xs)
    want = np.stack([jax.grad(lambda x: jnp.sum(F_JAX(x)))(x) for x in xs])
    np.testing.assert_allclose(grads, want, rtol=1e-12)
    a_s = np.random.default_rng(18).normal(size=(2, 3, 4))
    np.testing.assert_allclose(adjit.vmap(G)(a_s), np.stack([G(a) for a in a_s]), rtol=1e-13)


def test_logsumexp_softmax_stable_at_extremes() -> None:
    def f(a):
        return logsumexp(a), special.softmax(a), scipy.special.log_softmax(a)

    a = np.array([1000.0, 1000.0, -np.inf, 990.0])
    for got, want in zip(adjit.jit(f)(a), f(a)):
        np.testing.assert_allclose(got, want, rtol=1e-15)
    g = adjit.grad(lambda a: logsumexp(a))(a)
    np.testing.assert_allclose(g, sc.softmax(a), rtol=1e-14)  # the slopes: softmax weights
    assert g[2] == 0.0
    _, t = adjit.jvp(lambda a: logsumexp(a), (a,), (np.ones(4),))
    assert t == pytest.approx(1.0, rel=1e-14)
    ninf = np.full(3, -np.inf)
    assert adjit.jit(lambda a: logsumexp(a))(ninf) == -np.inf
    np.testing.assert_array_equal(adjit.jit(lambda a: logsumexp(a, b=a * 0))(np.zeros(2)), -np.inf)


def test_special_points_of_xlogy_fmax_sinc() -> None:
    def f(x, y):
        return sc.xlogy(x, y), sc.xlog1py(x, y), np.fmax(x, y), np.fmin(x, y)

    x = np.array([0.0, 0.0, 0.0, 0.0, 0.0, np.nan, 2.0])
    y = np.array([0.0, -1.0, np.inf, np.nan, 2.0, 1.0, np.nan])
    for got, want in zip(adjit.jit(f)(x, y), f(x, y)):
        np.testing.assert_array_equal(got, want)
    gx, gy = adjit.grad(lambda x, y: np.sum(sc.xlogy(x, y)), argnums=(0, 1))(x[:5], y[:5])
    np.testing.assert_array_equal(gx, [0.0, 0.0, 0.0, np.nan, math.log(2.0)])
    np.testing.assert_array_equal(gy, [0.0, 0.0, 0.0, np.nan, 0.0])
    # fmax/fmin ignore a NaN operand: the slope goes to the other one
    gx, gy = adjit.grad(lambda x, y: np.sum(np.fmax(x, y)), argnums=(0, 1))(x[4:], y[4:])
    np.testing.assert_array_equal(gx, [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(gy, [1.0, 1.0, 0.0])
    # sinc: the Taylor branch gives the derivatives of every order at 0
    assert adjit.grad(np.sinc)(0.0) == 0.0
    assert adjit.grad(adjit.grad(np.sinc))(0.0) == pytest.approx(-(math.pi**2) / 3, rel=1e-14)
    xs = np.array([0.0, 1e-3, 0.03, 0.05, 1.0, 2.5, -7.0, np.inf])
    with np.errstate(invalid="ignore"):  # sin(inf)
        np.testing.assert_allclose(adjit.jit(np.sinc)(xs), np.sinc(xs), rtol=1e-15)


def test_digamma_and_trigamma_against_mpmath() -> None:
    # adjit's own digamma (compiled) and trigamma (its derivative), within 1e-14
    # relative (digamma: 1e-15 absolute near its root 1.46)
    xs = np.array([1e-300, 1e-8, 0.3, 1.0, 1.4616321449683622, 2.5, 9.99, 10.0, 37.5, 1e6])
    xs = np.concatenate([xs, -xs[1:8] - 0.25, [1e300]])
    psi = adjit.jit(sc.digamma)(xs)
    psi1 = adjit.vmap(adjit.grad(sc.digamma))(xs)
    for x, p, p1 in zip(xs, psi, psi1):
        want, want1 = float(mpmath.digamma(x)), float(mpmath.psi(1, x))  # 1e600: inf
        assert abs(p - want) <= 1e-14 * abs(want) + 1e-15, (x, p, want)
        assert p1 == want1 or abs(p1 - want1) <= 1e-14 * abs(want1), (x, p1, want1)
    # special values as SciPy's
    odd = np.array([0.0, -0.0, -1.0, -3.0, np.inf, -np.inf, np.nan])
    np.testing.assert_array_equal(adjit.jit(sc.digamma)(odd), sc.digamma(odd))
    np.testing.assert_array_equal(adjit.jit(sc.gammaln)(odd), sc.gammaln(odd))
    np.testing.assert_array_equal(adjit.jit(sc.erfc)(np.array([1e300, -1e300])), [0.0, 2.0])
    assert adjit.grad(sc.erfc)(1e300) == 0.0


def test_unsupported_arguments_are_named() -> None:
    x = np.array([0.5, 1.5])
    with pytest.raises(UnsupportedError, match="return_sign"):
        adjit.jit(lambda a: logsumexp(a, return_sign=True))(x)
    with pytest.raises(UnsupportedError, match="scipy.special.gamma is not supported"):
        adjit.jit(lambda a: sc.gamma(a))(x)
    with pytest.raises(UnsupportedError, match="out="):
        adjit.jit(lambda a: sc.erf(a, out=np.empty(2)))(x)
    with pytest.raises(UnsupportedError, match="softmax"):
        adjit.jit(lambda a: sc.softmax(a, axis=0, bogus=1))(x)
    # digamma's derivative is not differentiated again
    with pytest.raises(UnsupportedError, match="trigamma is not differentiable"):
        adjit.grad(adjit.grad(sc.digamma))(1.5)
    # called outside a trace, or on constants, SciPy's own function runs
    assert adjit.jit(lambda a: a + logsumexp(np.zeros(3)))(0.0) == pytest.approx(math.log(3))
