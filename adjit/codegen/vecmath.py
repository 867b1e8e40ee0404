"""Element-wise math that vectorises: exp, expm1, log, log1p, tanh, logistic in float64.

Numba lowers `np.exp` and friends to calls into the C math library, one element
at a time, so a loop that calls them does not vectorise (`python
benchmarks/vecmath.py` times both). The functions here are plain arithmetic,
bit casts and selects, inlined into the generated loops, so LLVM turns such a
loop into SIMD code. exp, expm1, log and log1p are within 1 ulp of the
correctly rounded result, tanh and logistic within 2.5 (tests/test_vecmath.py
measures against mpmath); IEEE special values are NumPy's.

Method: the argument is reduced to r = x - k ln2 with |r| <= ln2/2 (ln2 split in
two parts so k ln2 is exact), e^r - 1 is a Taylor polynomial of degree 13
(truncation error below 1e-17), and 2^k is built from its bit pattern. The log
reduces x to 2^k m with m in [sqrt(1/2), sqrt(2)) and sums the series of
log(m) = 2 atanh(s), s = (m - 1) / (m + 1), written as f - f^2/2 + s (f^2/2 + R)
so that the large terms add without cancellation.

They are compiled once (Numba's cache, beside this file) and inlined by LLVM
(forceinline) into each generated module that imports them; copied into every
module, Numba would compile them again for each one.
"""

from __future__ import annotations

import math

import numpy as np
from numba.core import types
from numba.extending import intrinsic

from .native_cache import njit_cached


@intrinsic
def _f64_from_bits(typingctx, bits):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(types.int64), codegen


@intrinsic
def _bits_of_f64(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return types.int64(types.float64), codegen


@njit_cached(forceinline=True, error_model="numpy")
def _pow2(k):
    # 2.0 ** k for an integer k in [-1022, 1023], from its bit pattern
    return _f64_from_bits((k + 1023) << 52)


@njit_cached(forceinline=True, error_model="numpy")
def _reduce_ln2(x):
    # (k, r_hi, r_lo) with x = k ln2 + (r_hi - r_lo), |r_hi - r_lo| <= ln2/2, r_hi exact
    shift = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer
    kf = (x * 1.4426950408889634 + shift) - shift
    r_hi = x - kf * 6.93147180369123816490e-01  # ln2's leading bits: kf * them is exact
    return np.int64(kf), r_hi, kf * 1.90821492927058770002e-10


@njit_cached(forceinline=True, error_model="numpy")
def _expm1_tail(r):
    # e^r - 1 - r for |r| <= ln2/2: r^2 (1/2! + r/3! + ... + r^11/13!), in Estrin form
    r2 = r * r
    r4 = r2 * r2
    p = (
        (0.5 + r * 0.16666666666666666)
        + r2 * (0.041666666666666664 + r * 0.008333333333333333)
        + r4
        * (
            (0.001388888888888889 + r * 0.0001984126984126984)
            + r2 * (2.48015873015873e-05 + r * 2.7557319223985893e-06)
        )
        + (r4 * r4)
        * (
            (2.755731922398589e-07 + r * 2.505210838544172e-08)
            + r2 * (2.08767569878681e-09 + r * 1.6059043836821613e-10)
        )
    )
    return r2 * p


@njit_cached(forceinline=True, error_model="numpy")
def _expm1_reduced(r):
    return r + _expm1_tail(r)


@njit_cached(forceinline=True, error_model="numpy")
def _exp(x):
    k, r_hi, r_lo = _reduce_ln2(min(max(x, -745.2), 709.8))
    r = r_hi - r_lo
    half = k >> 1  # 2^k in two factors: subnormal results and k = 1024 stay exact
    y = ((_expm1_reduced(r) + 1.0) * _pow2(half)) * _pow2(k - half)
    y = np.inf if x > 709.782712893384 else y
    y = 0.0 if x < -745.1332191019412 else y
    return x + x if x != x else y


@njit_cached(forceinline=True, error_model="numpy")
def _expm1(x):
    # e^x - 1 = (2^k - 1) + 2^k (e^r - 1): no cancellation near 0, where k = 0. The
    # first two terms of the sum, (2^k - 1) + 2^k r_hi, are added with their exact
    # rounding error kept (TwoSum), as they nearly cancel for x just below 0.
    k, r_hi, r_lo = _reduce_ln2(min(max(x, -40.0), 709.8))  # e^-40 < ulp(1) / 2
    r = r_hi - r_lo
    s = _pow2(min(k, 1023))
    a = s - 1.0
    b = s * r_hi
    head = a + b
    b_rounded = head - a
    error = (a - (head - b_rounded)) + (b - b_rounded)
    y = head + (s * (_expm1_tail(r) - r_lo) + error)
    y = (s * (_expm1_reduced(r) + 1.0)) * 2.0 if k == 1024 else y
    y = np.inf if x > 709.782712893384 else y
    return x if (x != x or x == 0.0) else y  # NaN, and the sign of zero


@njit_cached(forceinline=True, error_model="numpy")
def _log_plus(x, c):
    # log(x) + c, for a correction c much smaller than ulp(log(x)) or zero
    subnormal = x < 2.2250738585072014e-308
    bits = _bits_of_f64(x * 18014398509481984.0 if subnormal else x)  # 2**54
    k = ((bits >> 52) & 0x7FF) - (1023 + 54 if subnormal else 1023)
    mantissa = bits & 0xFFFFFFFFFFFFF
    upper = mantissa >= 0x6A09E667F3BCD  # m >= sqrt(2): use m / 2 and k + 1
    k = k + 1 if upper else k
    f = _f64_from_bits(mantissa | ((1022 if upper else 1023) << 52)) - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    # R = 2 (z/3 + z^2/5 + ... + z^11/23), so that log(1 + f) = 2s + sR
    big_r = z * (
        (0.6666666666666666 + z * 0.4)
        + w * (0.2857142857142857 + z * 0.2222222222222222)
        + (w * w)
        * (
            (0.18181818181818182 + z * 0.15384615384615385)
            + w * (0.13333333333333333 + z * 0.11764705882352941)
        )
        + ((w * w) * (w * w))
        * ((0.10526315789473684 + z * 0.09523809523809523) + w * 0.08695652173913043)
    )
    hfsq = 0.5 * f * f
    dk = np.float64(k)
    y = dk * 6.93147180369123816490e-01 - (
        (hfsq - (s * (hfsq + big_r) + (dk * 1.90821492927058770002e-10 + c))) - f
    )
    y = -np.inf if x == 0.0 else y
    y = np.nan if x < 0.0 else y
    return x + x if (x != x or x == np.inf) else y


@njit_cached(forceinline=True, error_model="numpy")
def _log(x):
    return _log_plus(x, 0.0)


@njit_cached(forceinline=True, error_model="numpy")
def _log1p(x):
    # log(u) with u = 1 + x rounded, plus (1 + x - u) / u for the rounding
    u = 1.0 + x
    c = (x - (u - 1.0)) if u < 2.0 else (1.0 - (u - x))
    y = _log_plus(u, c / u)
    y = x if u == 1.0 else y  # |x| below half an ulp of 1: log1p(x) = x
    y = -np.inf if x == -1.0 else y
    return x + x if x == np.inf else y


@njit_cached(forceinline=True, error_model="numpy")
def _tanh(x):
    # |x| < 1: -t / (t + 2) with t = expm1(-2|x|); else 1 - 2 / (expm1(2|x|) + 2)
    ax = abs(x)
    small = ax < 1.0
    t = _expm1(-2.0 * ax if small else 2.0 * min(ax, 22.0))
    y = -t / (t + 2.0) if small else 1.0 - 2.0 / (t + 2.0)
    return x + x if x != x else np.copysign(y, x)


@njit_cached(forceinline=True, error_model="numpy")
def _logistic(x):
    # 1 / (1 + e^-x) from e^-|x| <= 1: no overflow for large |x|
    e = _exp(-abs(x))
    return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)


# ------------------------------------------------------------ special functions
# Not vectorising (they call the C library or loop), but kept here so that the
# generated modules and ahead-of-time packages import them like the others.
# erf, erfc and gammaln are the C library's (math.erf, math.erfc, math.lgamma).
# digamma and trigamma: the recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10,
# then the asymptotic (Bernoulli) series, whose first omitted term is below 1e-16
# there; x < 0 by reflection, with pi x reduced exactly (x - round(x)).
# Measured against mpmath on 3000 points of +-[1e-10, 1e10]: digamma within
# 1.6e-15 * max(|psi|, 1) (absolute near its roots), trigamma within 7e-16
# relative; tests/test_special_functions.py checks 1e-14. Special values are
# SciPy's (psi, polygamma(1, .), gammaln).


@njit_cached(forceinline=True, error_model="numpy")
def _erf(x):
    return math.erf(x)


@njit_cached(forceinline=True, error_model="numpy")
def _erfc(x):
    return math.erfc(x)


@njit_cached(forceinline=True, error_model="numpy")
def _gammaln(x):
    if x == -math.inf:
        return -math.inf  # SciPy's value (math.lgamma gives +inf)
    return math.lgamma(x)


@njit_cached(error_model="numpy")
def _digamma(x):
    if x != x or x == -math.inf:
        return math.nan
    if x == math.inf:
        return math.inf
    if x == 0.0:
        return -math.copysign(math.inf, x)
    shift = 0.0
    if x < 0.0:
        r = x - np.floor(x + 0.5)
        if r == 0.0:
            return math.nan  # a pole: a negative integer
        # psi(x) = psi(1 - x) - pi / tan(pi x)
        shift = -math.pi / math.tan(math.pi * r)
        x = 1.0 - x
    while x < 10.0:
        shift -= 1.0 / x
        x += 1.0
    u = 1.0 / (x * x)
    tail = u * (
        1.0 / 12
        - u
        * (
            1.0 / 120
            - u * (1.0 / 252 - u * (1.0 / 240 - u * (1.0 / 132 - u * (691.0 / 32760 - u / 12))))
        )
    )
    return shift + (math.log(x) - 0.5 / x - tail)


@njit_cached(error_model="numpy")
def _trigamma(x):
    if x != x:
        return math.nan
    if x == math.inf:
        return 0.0
    if x <= 0.0 and x == np.floor(x):
        return math.inf  # a pole (and -inf), as SciPy
    sign, shift = 1.0, 0.0
    if x < 0.0:
        # psi1(x) = pi^2 / sin(pi x)^2 - psi1(1 - x)
        s = math.sin(math.pi * (x - np.floor(x + 0.5)))
        sign, shift = -1.0, (math.pi / s) ** 2
        x = 1.0 - x
    acc = 0.0
    while x < 10.0:
        acc += 1.0 / (x * x)
        x += 1.0
    u = 1.0 / (x * x)
    series = u * (
        1.0 / 6
        - u
        * (
            1.0 / 30
            - u * (1.0 / 42 - u * (1.0 / 30 - u * (5.0 / 66 - u * (691.0 / 2730 - u * 7.0 / 6))))
        )
    )
    return shift + sign * (acc + 1.0 / x + 0.5 * u + series / x)


# primitive -> function here
FUNCTIONS = {
    "exp": "_exp",
    "expm1": "_expm1",
    "log": "_log",
    "log1p": "_log1p",
    "tanh": "_tanh",
    "logistic": "_logistic",
    "erf": "_erf",
    "erfc": "_erfc",
    "gammaln": "_gammaln",
    "digamma": "_digamma",
    "trigamma": "_trigamma",
}
