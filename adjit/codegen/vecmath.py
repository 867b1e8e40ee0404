"""Element-wise math that vectorises: exp, expm1, log, log1p, tanh, logistic, sin, cos, tan.

Numba lowers `np.exp` and friends to calls into the C math library, one element
at a time, so a loop that calls them does not vectorise (`python
benchmarks/vecmath.py` times both). The functions here are plain arithmetic,
bit casts and selects, inlined into the generated loops, so LLVM turns such a
loop into SIMD code. They compute in float64 (float32 arguments are widened).
exp, expm1, log, log1p, sin, cos and tan are within 1 ulp of the correctly
rounded result, tanh and logistic within 2.5 (tests/test_vecmath.py and
tests/test_vecmath_trig.py measure against mpmath); IEEE special values are NumPy's.

Method: the argument is reduced to r = x - k ln2 with |r| <= ln2/2 (ln2 split in
two parts so k ln2 is exact), e^r - 1 is a Taylor polynomial of degree 13
(truncation error below 1e-17), and 2^k is built from its bit pattern. The log
reduces x to 2^k m with m in [sqrt(1/2), sqrt(2)) and sums the series of
log(m) = 2 atanh(s), s = (m - 1) / (m + 1), written as f - f^2/2 + s (f^2/2 + R)
so that the large terms add without cancellation. sin, cos and tan: below.

They are compiled once (Numba's cache, beside this file) and inlined by LLVM
(forceinline) into each generated module that imports them (or called, out of
line: `_outlined`); copied into every module, Numba would compile them
again for each one.
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


def _outlined(function, signature):
    """A call to `function` (one argument, not forceinline) that LLVM does not
    inline (a call-site attribute): each module holds one copy of its code, however
    many calls it makes."""

    @intrinsic
    def call(typingctx, x):
        def codegen(context, builder, sig, llvm_args):
            compiled = function.get_compile_result(signature)
            context.add_linking_libs([compiled.library])
            callee = context.declare_function(builder.module, compiled.fndesc)
            _, result = context.call_conv.call_function(
                builder, callee, sig.return_type, sig.args, llvm_args, attrs=("noinline",)
            )
            return result  # no status to check: these functions do not raise

        return signature, codegen

    return call


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


# ---------------------------------------------------------------- sin, cos, tan
# x = k pi/2 + y with |y| <= pi/4 (a little more after the large-|x| reduction),
# y carried as y_hi + y_lo; then sin or cos of y by quadrant k mod 4. Both
# reductions are computed for every element and one is selected, so the loop has
# no branch and vectorises. Inlined at every call, they make LLVM's compile time
# grow with the number of calls in a function (a few hundred: minutes), so past
# helpers.INLINED_TRIG_LIMIT calls the generated code calls _sin_call, _cos_call
# and _tan_call: one out-of-line copy each, scalar. (Payne-Hanek alone out of
# line, behind a branch, kept a loop of sin vectorised but not one of sin, cos and
# tan, and saved a quarter of the time only.) The polynomials are fdlibm's (FreeBSD
# msun k_sin.c, k_cos.c, k_tan.c: minimax on [-pi/4, pi/4], |error| < 2^-58). sin and
# cos both evaluate both kernels, so when a loop needs sin(x) and cos(x), LLVM
# merges the two inlined copies into one (a sincos, without a function of its own).

# pi/2 in 33-bit parts (k P1, k P2, k P3 are exact for |k| < 2^20) and the rest
_PIO2_1 = 1.5707963267341256  # 0x1.921fb544p+0
_PIO2_2 = 6.077100506303966e-11  # 0x1.0b4611a6p-34
_PIO2_3 = 2.0222662487111665e-21  # 0x1.3198a2ep-69
_PIO2_3T = 8.4784276603689e-32
# pi/2 as a double and the rest; _PIO2_HI in two 26-bit halves for exact products
_PIO2_HI = 1.5707963267948966
_PIO2_LO = 6.123233995736766e-17
_PIO2_HI_H = 134217729.0 * _PIO2_HI - (134217729.0 * _PIO2_HI - _PIO2_HI)  # leading 26 bits
_PIO2_HI_L = _PIO2_HI - _PIO2_HI_H
_MEDIUM = 1048576.0  # 2^20: below it Cody-Waite is exact enough, above Payne-Hanek

# 2/pi in 24-bit digits: 2/pi = sum_j _TWO_OVER_PI[j] 2^(-24 (j + 1)) (to 1200 bits;
# tests/test_vecmath_trig.py checks them against mpmath). Enough for every double.
_TWO_OVER_PI = np.array(
    [
        10680707, 7228996, 1387004, 2578385, 16069853, 12639074, 9804092, 4427841,
        16666979, 11263675, 12935607, 2387514, 4345298, 14681673, 3074569, 13734428,
        16653803, 1880361, 10960616, 8533493, 3062596, 8710556, 7349940, 6258241,
        3772886, 3769171, 3798172, 8675211, 12450088, 3874808, 9961438, 366607,
        15675153, 9132554, 7151469, 3571407, 2607881, 12013382, 4155038, 6285869,
        7677882, 13102053, 15825725, 473591, 9065106, 15363067, 6271263, 9264392,
        5636912, 4652155,
    ],
    dtype=np.float64,
)  # fmt: skip
# two zero digits first: the digit index j0 = floor((q - 2) / 24) starts at -2
_TWO_OVER_PI_PADDED = np.concatenate((np.zeros(2), _TWO_OVER_PI))
# and two consecutive digits in one double, d_j 2^24 + d_(j+1) (48 bits: exact)
_TWO_OVER_PI_PAIRS = _TWO_OVER_PI_PADDED[:-1] * 16777216.0 + _TWO_OVER_PI_PADDED[1:]


@njit_cached(forceinline=True, error_model="numpy")
def _two_sum(a, b):
    # (s, e) with s = fl(a + b) and a + b = s + e exactly (Knuth)
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@njit_cached(forceinline=True, error_model="numpy")
def _mod4(t):
    # t - 4 round(t / 4): exact, in [-2, 2]
    return t - 4.0 * np.rint(t * 0.25)


@njit_cached(forceinline=True, error_model="numpy")
def _reduce_medium(x):
    # Cody-Waite, |x| < 2^20: (k, y_hi, y_lo), x - k pi/2 = y_hi + y_lo to ~2^-130
    # absolute: pi/2 in 33-bit parts makes each k P exact, the differences are
    # summed with their rounding errors kept (fdlibm's e_rem_pio2.c, without branches).
    shift = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer
    kf = (x * 0.6366197723675814 + shift) - shift
    r = x - kf * _PIO2_1  # exact (Sterbenz)
    hi, lo = _two_sum(r, -(kf * _PIO2_2))
    hi, e = _two_sum(hi, -(kf * _PIO2_3))
    lo = lo + e - kf * _PIO2_3T
    y_hi = hi + lo
    return kf, y_hi, (hi - y_hi) + lo


@njit_cached(forceinline=True, error_model="numpy")
def _reduce_large(ax):
    # Payne-Hanek for ax >= 2^20 (finite): (k, y_hi, y_lo) with ax = k pi/2 + y.
    # ax = M 2^q (M a 53-bit integer), 2/pi = sum_j d_j 2^(-24(j + 1)). With
    # e0 = q - 24(j0 + 1) in [-22, 1], the products M d_j 2^(q - 24(j + 1)) for j < j0
    # are multiples of 4 and drop out (k is needed mod 4 only); the next nine digits
    # times M's halves (26 and 27 bits) are exact doubles, reduced mod 4 exactly and
    # summed, largest first, with their rounding errors kept: the fraction of
    # ax 2/pi to ~2^-130 absolute, enough for the double closest to a multiple of pi/2.
    bits = _bits_of_f64(ax)
    q = min(max(((bits >> 52) & 0x7FF) - 1075, -32), 971)
    row = ((q + 46) * 2731) >> 16  # (q + 46) // 24 without a division: j0 + 2, from 0
    e0 = q - 24 * (row - 1)
    m = _f64_from_bits((bits & 0xFFFFFFFFFFFFF) | (1075 << 52))  # M, in [2^52, 2^53)
    m_hi = _f64_from_bits(_bits_of_f64(m) & ~0x7FFFFFF)
    scale = _pow2(e0)
    h = m_hi * scale  # 26 significant bits, granularity 2^(27 + e0)
    lw = (m - m_hi) * scale  # 27, granularity 2^e0
    # digits j0 + i at weight 2^(-24 i), read in pairs (fewer gathers): a pair's
    # first digit is floor(pair / 2^24), exactly
    t = _TWO_OVER_PI_PAIRS
    p01, p23, p45, p67 = t[row], t[row + 2], t[row + 4], t[row + 6]
    d0 = np.floor(p01 * 5.960464477539063e-08)
    d2 = np.floor(p23 * 5.960464477539063e-08)
    d4 = np.floor(p45 * 5.960464477539063e-08)
    d6 = np.floor(p67 * 5.960464477539063e-08)
    d1 = (p01 - d0 * 16777216.0) * 5.960464477539063e-08
    d3 = (p23 - d2 * 16777216.0) * 2.117582368135751e-22
    d5 = (p45 - d4 * 16777216.0) * 7.52316384526264e-37
    d7 = (p67 - d6 * 16777216.0) * 2.6727647100921956e-51
    d2 *= 3.552713678800501e-15
    d4 *= 1.262177448353619e-29
    d6 *= 4.484155085839415e-44
    d8 = np.floor(t[row + 8] * 5.960464477539063e-08) * 1.5930919111324523e-58
    # h d0 is a multiple of 2^(27 + e0) >= 32: dropped. The next four, reduced to
    # [-2, 2], have granularity >= 2^(e0 - 24) >= 2^-46: their sum is exact.
    s = (_mod4(h * d1) + _mod4(lw * d0)) + (_mod4(h * d2) + _mod4(lw * d1))
    k = np.rint(s)
    s, lo = _two_sum(s - k, _mod4(h * d3))  # s - k exact
    s, e = _two_sum(s, _mod4(lw * d2))
    lo += e
    k_mid = np.rint(s)
    k += k_mid
    s, lo = _two_sum(s - k_mid, lo)
    # below 2^(e0 - 17); their rounding errors kept down to the terms under 2^(e0 - 88)
    s, e = _two_sum(s, h * d4)
    lo += e
    s, e = _two_sum(s, lw * d3)
    lo += e
    s, e = _two_sum(s, h * d5)
    lo += e
    s, e = _two_sum(s, lw * d4)
    lo += e
    s, e = _two_sum(s, h * d6)
    lo += e
    s, e = _two_sum(s, lw * d5)
    lo += e
    lo += h * d7 + (lw * d6 + (h * d8 + lw * d7))
    f, f_lo = _two_sum(s, lo)
    k_last = np.rint(f)
    f -= k_last  # f + f_lo: the fraction of ax 2/pi, |f| <= 1/2
    # (f + f_lo) pi/2 as y_hi + y_lo: f _PIO2_HI exactly (Dekker), the rest rounded
    c = 134217729.0 * f  # 2^27 + 1: splits f into two 26-bit halves
    f_h = c - (c - f)
    f_l = f - f_h
    p = f * _PIO2_HI
    err = ((f_h * _PIO2_HI_H - p) + f_h * _PIO2_HI_L + f_l * _PIO2_HI_H) + f_l * _PIO2_HI_L
    tail = err + (f * _PIO2_LO + f_lo * _PIO2_HI)
    y_hi = p + tail
    return k + k_last, y_hi, (p - y_hi) + tail


@njit_cached(forceinline=True, error_model="numpy")
def _reduce_pio2(x):
    # (k mod 4, y_hi, y_lo) with x = k pi/2 + y_hi + y_lo; garbage for inf and nan
    ax = abs(x)
    k, y_hi, y_lo = _reduce_medium(x)
    k_l, yl_hi, yl_lo = _reduce_large(ax)
    large = ax >= _MEDIUM
    negative = x < 0.0
    k = (-k_l if negative else k_l) if large else k
    y_hi = (-yl_hi if negative else yl_hi) if large else y_hi
    y_lo = (-yl_lo if negative else yl_lo) if large else y_lo
    k = k if ax < np.inf else 0.0  # nan would convert to an undefined integer
    return np.int64(k) & 3, y_hi, y_lo


@njit_cached(forceinline=True, error_model="numpy")
def _sin_kernel(y, y_lo):
    # sin(y + y_lo), |y| <= pi/4 (fdlibm __kernel_sin)
    z = y * y
    v = z * y
    r = 8.33333333332248946124e-03 + z * (
        -1.98412698298579493134e-04
        + z
        * (
            2.75573137070700676789e-06
            + z * (-2.50507602534068634195e-08 + z * 1.58969099521155010221e-10)
        )
    )
    return y - ((z * (0.5 * y_lo - v * r) - y_lo) - v * -1.66666666666666324348e-01)


@njit_cached(forceinline=True, error_model="numpy")
def _cos_kernel(y, y_lo):
    # cos(y + y_lo), |y| <= pi/4 (fdlibm __kernel_cos)
    z = y * y
    w = z * z
    r = z * (
        4.16666666666666019037e-02
        + z * (-1.38888888888741095749e-03 + z * 2.48015872894767294178e-05)
    ) + (w * w) * (
        -2.75573143513906633035e-07
        + z * (2.08757232129817482790e-09 + z * -1.13596475577881948265e-11)
    )
    hz = 0.5 * z
    w = 1.0 - hz
    return w + (((1.0 - w) - hz) + (z * r - y * y_lo))


@njit_cached(forceinline=True, error_model="numpy")
def _tan_kernel(x, y, odd):
    # tan(x + y), or -1/tan(x + y) when odd, |x| <= pi/4 (fdlibm/musl __tan). Near
    # pi/4 it uses tan(pi/4 - x') = 1 - 2 (tan x' - tan x'^2 / (1 + tan x')).
    big = abs(x) >= 0.6744
    negative = x < 0.0
    xa = -x if negative else x
    ya = -y if negative else y
    x = ((7.85398163397448278999e-01 - xa) + (3.06161699786838301793e-17 - ya)) if big else x
    y = 0.0 if big else y
    z = x * x
    w = z * z
    r = 1.33333333333201242699e-01 + w * (
        2.18694882948595424599e-02
        + w
        * (
            3.59207910759131235356e-03
            + w
            * (
                5.88041240820264096874e-04
                + w * (7.81794442939557092300e-05 + w * -1.85586374855275456654e-05)
            )
        )
    )
    v = z * (
        5.39682539762260521377e-02
        + w
        * (
            8.86323982359930005737e-03
            + w
            * (
                1.45620945432529025516e-03
                + w
                * (
                    2.46463134818469906812e-04
                    + w * (7.14072491382608190305e-05 + w * 2.59073051863633712884e-05)
                )
            )
        )
    )
    s = z * x
    r = y + z * (s * (r + v) + y) + s * 3.33333333333334091986e-01
    w = x + r
    sign = -1.0 if odd else 1.0
    v_big = sign - 2.0 * (x + (r - w * w / (w + sign)))
    v_big = -v_big if negative else v_big
    # -1 / (x + r) to within an ulp: w's leading 21 bits w0, then a correction
    w0 = _f64_from_bits(_bits_of_f64(w) & -4294967296)
    v = r - (w0 - x)  # w0 + v = x + r
    a = -1.0 / w
    a0 = _f64_from_bits(_bits_of_f64(a) & -4294967296)
    cot = a0 + a * (1.0 + a0 * w0 + a0 * v)
    return v_big if big else (cot if odd else w)


@njit_cached(forceinline=True, error_model="numpy")
def _sin(x):
    x = np.float64(x)
    n, y, y_lo = _reduce_pio2(x)
    s = _sin_kernel(y, y_lo)
    c = _cos_kernel(y, y_lo)
    v = c if n & 1 else s
    v = -v if n & 2 else v
    v = x if abs(x) < 7.450580596923828e-09 else v  # 2^-27: sin x = x rounded; keeps -0.0
    return x - x if abs(x) == np.inf else v  # +-inf: nan (a nan stays one throughout)


@njit_cached(forceinline=True, error_model="numpy")
def _cos(x):
    x = np.float64(x)
    n, y, y_lo = _reduce_pio2(x)
    s = _sin_kernel(y, y_lo)
    c = _cos_kernel(y, y_lo)
    v = s if n & 1 else c
    v = -v if (n + 1) & 2 else v
    return x - x if abs(x) == np.inf else v


@njit_cached(forceinline=True, error_model="numpy")
def _tan(x):
    x = np.float64(x)
    n, y, y_lo = _reduce_pio2(x)
    v = _tan_kernel(y, y_lo, n & 1)
    v = x if abs(x) < 7.450580596923828e-09 else v  # tan x = x rounded; keeps -0.0
    return x - x if abs(x) == np.inf else v


@njit_cached(error_model="numpy")
def _sin_outlined(x):
    return _sin(x)


@njit_cached(error_model="numpy")
def _cos_outlined(x):
    return _cos(x)


@njit_cached(error_model="numpy")
def _tan_outlined(x):
    return _tan(x)


_F64 = types.float64(types.float64)
_sin_noinline = _outlined(_sin_outlined, _F64)
_cos_noinline = _outlined(_cos_outlined, _F64)
_tan_noinline = _outlined(_tan_outlined, _F64)


# dispatchers around the intrinsics: callable from Python too, like the functions
# above (split code and its tests run generated sources as Python)
@njit_cached(forceinline=True, error_model="numpy")
def _sin_call(x):
    return _sin_noinline(x)


@njit_cached(forceinline=True, error_model="numpy")
def _cos_call(x):
    return _cos_noinline(x)


@njit_cached(forceinline=True, error_model="numpy")
def _tan_call(x):
    return _tan_noinline(x)


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
