"""sin, cos and tan of the generated code (adjit/codegen/vecmath.py) against mpmath.

The hard part is the argument reduction x = k pi/2 + y: near a multiple of pi/2,
y is tiny and needs pi/2 to far more than 53 bits (Cody-Waite below 2^20,
Payne-Hanek above). Errors are in units in the last place of the correctly
rounded result (mpmath, 300 bits, which reduces with as many bits as |x| needs).
"""

from __future__ import annotations

import functools
import math
import re

import mpmath
import numba
import numpy as np

import adjit
from adjit.codegen import helpers, vecmath
from adjit.codegen.helpers import INLINED_TRIG_LIMIT

MAX_ULP = 1.0  # README's vecmath paragraph states this bound
REFERENCE = {"sin": mpmath.sin, "cos": mpmath.cos, "tan": mpmath.tan}

# Doubles closest to a multiple of pi/2 (|x - k pi/2| / ulp(x) smallest), found by
# scanning every k < 2^20 * 2/pi with pi/2 to 160 bits, and the double closest to one
# overall (Muller, "Elementary Functions", table 11.1: |x mod pi/2| ~ 2^-61.4).
HARD = [
    321307.9594422229,  # k = 204551, x - k pi/2 = -4.4e-17
    642615.9188844458,
    871790.3905748408,
    413441.44719405076,
    826882.8943881015,
    597708.4226977065,
    6381956970095103 * 2.0**797,
]


def _close_to_multiples_in_every_binade() -> np.ndarray:
    """For each exponent e >= 20, x = q 2^(e - 52) with q the largest denominator
    below 2^53 of a convergent of the fraction of 2^(e - 52) 2/pi: x 2/pi is within
    about 2^-53 of an integer, so x - k pi/2 cancels to ~53 bits."""
    mpmath.mp.prec = 1300
    xs = []
    for e in range(20, 1024):
        x = mpmath.frac(2 / mpmath.pi * mpmath.mpf(2) ** (e - 52))
        q_prev, q = 1, 0
        while x != 0:
            a = int(x)
            if a * q + q_prev >= 2**53:
                break
            q_prev, q = q, a * q + q_prev
            x = 1 / (x - a)
        xs.append(math.ldexp(q, e - 52))
    return np.array(xs)


def _inputs() -> np.ndarray:
    rng = np.random.default_rng(16)
    k = np.concatenate([np.arange(1, 64), rng.integers(64, 667_000, 40)])
    multiples = np.array([float(mpmath.mpf(int(i)) * mpmath.pi / 2) for i in k])
    big = 10.0 ** rng.uniform(6.3, 308, 150) * rng.choice([-1.0, 1.0], 150)
    # one value in each binade from 2^19 up: every offset into Payne-Hanek's table of 2/pi
    binades = np.ldexp(rng.uniform(0.5, 1.0, 1005), np.arange(19, 1024))
    return np.concatenate(
        [
            rng.uniform(-10, 10, 300),
            rng.uniform(-0.8, 0.8, 100),  # the polynomials alone, k = 0
            rng.uniform(-(2.0**20), 2.0**20, 150),  # Cody-Waite's whole range
            big,  # Payne-Hanek
            binades,
            _close_to_multiples_in_every_binade(),
            multiples,
            np.nextafter(multiples, np.inf),
            -np.nextafter(multiples, -np.inf),
            HARD,
            [-h for h in HARD],
            [1e5, 1e15, 1e300, -1e300, 1.7976931348623157e308, 2.0**20, 2.0**20 - 1e-10],
            [1e22, 2.0**52, 2.0**53 + 2, 2.0**1023, 5e-324, -1e-310, 2.2e-308, 1e-8, 3e-9],
        ]
    )


@functools.cache  # one compilation of each for all tests
def _compiled(outlined: bool = False):
    # outlined: the out-of-line copies that functions with many calls use (helpers.outline_trig)
    if outlined:
        sin, cos, tan = vecmath._sin_call, vecmath._cos_call, vecmath._tan_call
    else:
        sin, cos, tan = vecmath._sin, vecmath._cos, vecmath._tan

    @numba.njit(error_model="numpy")
    def apply(x, out):
        for i in range(x.size):
            out[0, i] = sin(x[i])
            out[1, i] = cos(x[i])
            out[2, i] = tan(x[i])

    return apply


def _evaluate(xs: np.ndarray) -> dict[str, np.ndarray]:
    out, out_of_line = np.empty((3, xs.size)), np.empty((3, xs.size))
    _compiled()(xs, out)
    _compiled(outlined=True)(xs, out_of_line)
    np.testing.assert_array_equal(out_of_line, out, err_msg="outlined and inlined differ")
    return dict(zip(("sin", "cos", "tan"), out))


def _ulp_errors(name: str, xs: np.ndarray, ys: np.ndarray) -> list[tuple[float, float]]:
    mpmath.mp.prec = 300
    errors = []
    for x, y in zip(xs, ys):
        exact = REFERENCE[name](mpmath.mpf(float(x)))
        rounded = float(exact)
        errors.append((float(abs(mpmath.mpf(float(y)) - exact) / math.ulp(rounded)), float(x)))
    return errors


def test_accuracy_in_ulps_near_multiples_of_pi_over_2_and_for_huge_arguments():
    xs = _inputs()
    got = _evaluate(xs)
    for name in REFERENCE:
        worst = max(_ulp_errors(name, xs, got[name]))
        assert worst[0] <= MAX_ULP, (name, worst)


def test_special_values_match_numpy():
    xs = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 5e-324, -5e-324, -1e-310, 1e-9, -3e-9])
    got = _evaluate(xs)
    for name in REFERENCE:
        with np.errstate(invalid="ignore"):
            want = getattr(np, name)(xs)
        np.testing.assert_array_equal(got[name], want, err_msg=name)
        numbers = ~np.isnan(want)
        assert np.array_equal(np.signbit(got[name][numbers]), np.signbit(want[numbers])), name


def test_constants_are_pi_to_the_bits_claimed():
    mpmath.mp.prec = 1400
    digits = vecmath._TWO_OVER_PI
    assert all(d == int(d) and 0 <= d < 2**24 for d in digits)
    n = len(digits)
    two_over_pi = sum(
        mpmath.mpf(int(d)) * mpmath.mpf(2) ** (-24 * (j + 1)) for j, d in enumerate(digits)
    )
    assert 0 <= 2 / mpmath.pi - two_over_pi < mpmath.mpf(2) ** (-24 * n)
    parts = [vecmath._PIO2_1, vecmath._PIO2_2, vecmath._PIO2_3]
    for p in parts:  # 33 significant bits: k p is exact for |k| < 2^20
        m, _ = math.frexp(p)
        assert (m * 2.0**33).is_integer()
    total = sum(mpmath.mpf(p) for p in parts) + mpmath.mpf(vecmath._PIO2_3T)
    assert abs(total - mpmath.pi / 2) < mpmath.mpf(2) ** -150
    assert mpmath.mpf(vecmath._PIO2_HI) + mpmath.mpf(vecmath._PIO2_LO) - mpmath.pi / 2 < 1e-32


def test_a_loop_calling_them_is_vectorised():
    apply = _compiled()
    x = np.zeros(16)
    apply(x, np.empty((3, 16)))
    llvm = next(iter(apply.inspect_llvm().values()))
    assert "x double>" in llvm  # vectors of doubles: the loop became SIMD code
    assert "@sin" not in llvm and "@llvm.sin" not in llvm  # no C library call left


def test_generated_code_calls_them_for_values_and_derivatives():
    def f(x):
        return np.sin(x) * np.cos(2 * x) + np.tan(x / 2)

    x = np.concatenate([np.linspace(-20, 20, 41), [1e6, -3e9, 1e300]])
    jitted = adjit.jit(f)
    source = jitted.source(x)
    assert "from adjit.codegen.vecmath import _cos, _sin, _tan" in source
    assert "np.sin" not in source and "np.cos" not in source and "np.tan" not in source
    np.testing.assert_allclose(jitted(x), f(x), rtol=1e-15, atol=1e-15)

    grad = adjit.grad(lambda x: f(x).sum())
    assert "_sin(" in grad.source(x) and "np.cos" not in grad.source(x)
    want = np.cos(x) * np.cos(2 * x) - 2 * np.sin(x) * np.sin(2 * x) + 0.5 / np.cos(x / 2) ** 2
    np.testing.assert_allclose(grad(x), want, rtol=1e-13, atol=1e-13)


def test_float32_results_are_float32_and_rounded_from_float64():
    f = adjit.jit(lambda x: np.sin(x) + np.cos(x) * np.tan(x))
    x = np.concatenate([np.linspace(-7, 7, 29), [1e5, 3e7, -1e20, 3e38]]).astype(np.float32)
    got = f(x)
    assert got.dtype == np.float32
    x64 = x.astype(np.float64)
    want = np.sin(x64).astype(np.float32) + np.cos(x64).astype(np.float32) * np.tan(x64).astype(
        np.float32
    )
    np.testing.assert_array_equal(got, want)


def test_a_function_with_many_of_them_calls_one_outlined_copy_of_each():
    """Inlined at each of its calls, the range reduction made LLVM's time grow with
    their number (minutes for a chain of a few hundred sin): past
    helpers.INLINED_TRIG_LIMIT calls, the generated code calls them out of line."""
    scales = (1.0, 2.0, 0.5, 3.0)
    assert 3 * len(scales) > INLINED_TRIG_LIMIT

    def f(x):
        return np.stack([g(c * x) for c in scales for g in (np.sin, np.cos, np.tan)])

    x = np.array([-2.5, -0.0, 0.0, 1e-9, 0.7, 3.0, 2.0**20, 3e9, -1e22, 1e300, np.inf, np.nan])
    jitted = adjit.jit(f)
    source = jitted.source(x)
    assert "import _cos_call, _sin_call, _tan_call" in source, source
    assert not re.search(r"\b_(sin|cos|tan)\(", source), source
    with np.errstate(invalid="ignore", over="ignore"):
        want = f(x)
    np.testing.assert_allclose(jitted(x), want, rtol=2e-16, atol=0)

    grad = adjit.grad(lambda x: np.sum(f(x)))
    x = x[:6]  # finite, away from tan's poles
    assert "_sin_call(" in grad.source(x)
    want = sum(c * (np.cos(c * x) - np.sin(c * x) + 1 / np.cos(c * x) ** 2) for c in scales)
    np.testing.assert_allclose(grad(x), want, rtol=1e-14)


def test_the_limit_counts_every_call_of_the_function():
    """Up to INLINED_TRIG_LIMIT calls stay inlined, one more outlines them all."""
    calls = ["_sin(a)", "_cos(b)", "_tan(c)"]
    lines = [f"    v{i} = {calls[i % 3]} + _sinh(d)" for i in range(INLINED_TRIG_LIMIT)]
    assert helpers.outline_trig(lines) == lines
    more = helpers.outline_trig([*lines, "    w = _tan(e)"])
    assert more[:3] == [
        "    v0 = _sin_call(a) + _sinh(d)",
        "    v1 = _cos_call(b) + _sinh(d)",
        "    v2 = _tan_call(c) + _sinh(d)",
    ]
    assert more[-1] == "    w = _tan_call(e)"
    assert sum(line.count("_call(") for line in more) == INLINED_TRIG_LIMIT + 1
