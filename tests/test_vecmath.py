"""The generated code's SIMD math (adjit/codegen/vecmath.py) against mpmath.

Errors are measured in units in the last place of the correctly rounded result,
computed by mpmath with 130 bits; special values must match NumPy's.
"""

from __future__ import annotations

import functools
import math

import mpmath
import numba
import numpy as np
import pytest

import adjit
from adjit.codegen import vecmath
from adjit.codegen.helpers import VECMATH

REFERENCE = {
    "exp": mpmath.exp,
    "expm1": mpmath.expm1,
    "log": mpmath.log,
    "log1p": mpmath.log1p,
    "tanh": mpmath.tanh,
    "logistic": lambda x: 1 / (1 + mpmath.exp(-x)),
}
MAX_ULP = {"exp": 1.0, "expm1": 1.0, "log": 1.0, "log1p": 1.0, "tanh": 2.5, "logistic": 2.5}


def _inputs(name: str) -> np.ndarray:
    rng = np.random.default_rng(sorted(REFERENCE).index(name))
    tiny = rng.uniform(-1e-6, 1e-6, 100)
    domains = {
        "exp": [rng.uniform(-745, 710, 600), rng.uniform(-1, 1, 600), tiny],
        "expm1": [rng.uniform(-50, 710, 400), rng.uniform(-1.5, 1.5, 800), tiny],
        "log": [
            np.exp(rng.uniform(-740, 709, 600)),
            rng.uniform(0.5, 2, 600),
            1 + tiny,
            rng.uniform(0, 2.2e-308, 50),  # subnormal
        ],
        "log1p": [rng.uniform(-1, 3, 600), np.exp(rng.uniform(-40, 700, 400)), tiny],
        "tanh": [rng.uniform(-25, 25, 400), rng.uniform(-1.5, 1.5, 800), tiny],
        "logistic": [rng.uniform(-745, 745, 400), rng.uniform(-8, 8, 800)],
    }
    return np.concatenate(domains[name])


@functools.cache  # one compilation per function for all tests
def _compiled(name: str):
    scalar = getattr(vecmath, VECMATH[name])

    @numba.njit(error_model="numpy")
    def apply(x, out):
        for i in range(x.size):
            out[i] = scalar(x[i])

    return apply


def _max_ulp_error(name: str, xs: np.ndarray, ys: np.ndarray) -> float:
    mpmath.mp.prec = 130
    worst = 0.0
    for x, y in zip(xs, ys):
        exact = REFERENCE[name](mpmath.mpf(float(x)))
        rounded = float(exact)
        if rounded == 0.0 or math.isinf(rounded):
            assert y == rounded, (name, x, y, rounded)
            continue
        worst = max(worst, float(abs(mpmath.mpf(float(y)) - exact) / math.ulp(rounded)))
    return worst


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_accuracy_in_ulps(name):
    xs = _inputs(name)
    ys = np.empty_like(xs)
    _compiled(name)(xs, ys)
    assert _max_ulp_error(name, xs, ys) <= MAX_ULP[name]


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_special_values_match_numpy(name):
    xs = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 5e-324, -5e-324, -1.0, -2.0, 1e3, -1e3])
    ys = np.empty_like(xs)
    _compiled(name)(xs, ys)
    with np.errstate(all="ignore"):
        want = getattr(np, name)(xs) if name != "logistic" else 1 / (1 + np.exp(-xs))
    np.testing.assert_array_equal(ys, want)
    numbers = ~np.isnan(want)
    assert np.array_equal(np.signbit(ys[numbers]), np.signbit(want[numbers]))  # -0.0 stays


def test_a_loop_calling_them_is_vectorised():
    apply = _compiled("tanh")
    x = np.zeros(16)
    apply(x, np.empty_like(x))
    llvm = next(iter(apply.inspect_llvm().values()))
    assert "x double>" in llvm  # a vector of doubles: the loop became SIMD code


def test_generated_code_calls_them():
    f = adjit.jit(lambda x: np.tanh(x) + np.log1p(np.exp(x)))
    x = np.linspace(-3, 3, 50)
    source = f.source(x)
    assert "from adjit.codegen.vecmath import _exp, _log1p, _tanh" in source
    assert "np.tanh" not in source
    np.testing.assert_allclose(f(x), np.tanh(x) + np.log1p(np.exp(x)), rtol=1e-15)


def test_float32_results_are_float32_and_correctly_rounded_from_float64():
    f = adjit.jit(lambda x: np.exp(x) * np.tanh(x))
    x = np.linspace(-4, 4, 33, dtype=np.float32)
    got = f(x)
    assert got.dtype == np.float32
    want = (np.exp(x.astype(np.float64)).astype(np.float32)) * np.tanh(x.astype(np.float64)).astype(
        np.float32
    )
    np.testing.assert_array_equal(got, want)
