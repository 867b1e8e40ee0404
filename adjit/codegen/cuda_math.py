"""Element-wise math for CUDA kernels: device functions the generated kernels call.

Most are CUDA's libdevice functions (Numba lowers `math.*` to them), wrapped so
that the kernels' source names them the same way on the GPU and on Numba's CUDA
simulator, which runs the kernels as Python: there `math.log(0.0)` raises and
`math.exp(1000.0)` overflows with an error, where the GPU gives -inf and inf as
NumPy does. The guards cost a comparison on the GPU. The special functions
follow vecmath.py's methods (the CPU versions), written with a floor that
numba-cuda compiles (it has no `np.floor` on scalars).
"""

from __future__ import annotations

import math

from numba import cuda

# inlined in Numba IR: a device-function dispatcher would ask for a GPU when compiling to PTX
_device = cuda.jit(device=True, inline="always")


@_device
def floor(x):
    r = math.fmod(x, 1.0)  # exact; nan for +-inf and nan, which floor returns unchanged
    if r == 0.0 or r != r:
        return x
    t = x - r  # x truncated toward zero, exact
    return t - 1.0 if r < 0.0 else t


@_device
def ceil(x):
    return -floor(-x)


@_device
def exp(x):
    if x > 709.782712893384:
        return math.inf
    return math.exp(x)


@_device
def expm1(x):
    if x > 709.782712893384:
        return math.inf
    return math.expm1(x)


@_device
def log(x):
    if x > 0.0:
        return math.log(x)
    return -math.inf if x == 0.0 else math.nan


@_device
def log1p(x):
    if x > -1.0:
        return math.log1p(x)
    return -math.inf if x == -1.0 else math.nan


@_device
def sqrt(x):
    return math.sqrt(x) if x >= 0.0 else math.nan


@_device
def sinh(x):
    return math.sinh(x) if abs(x) < 710.0 else math.copysign(math.inf, x)


@_device
def cosh(x):
    return math.cosh(x) if abs(x) < 710.0 else math.inf


@_device
def asin(x):
    return math.asin(x) if abs(x) <= 1.0 else math.nan


@_device
def acos(x):
    return math.acos(x) if abs(x) <= 1.0 else math.nan


@_device
def acosh(x):
    return math.acosh(x) if x >= 1.0 else math.nan


@_device
def atanh(x):
    if abs(x) < 1.0:
        return math.atanh(x)
    return math.copysign(math.inf, x) if abs(x) == 1.0 else math.nan


@_device
def sign(x):
    if x > 0:
        return 1.0
    return -1.0 if x < 0 else x * 0.0  # 0 and nan


@_device
def maximum(a, b):
    return a if (a > b or a != a) else b  # NaN propagates, as np.maximum


@_device
def minimum(a, b):
    return a if (a < b or a != a) else b


@_device
def logistic(x):
    # 1 / (1 + e^-x) from e^-|x| <= 1: no overflow for large |x|
    e = exp(-abs(x))
    return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)


@_device
def logaddexp(a, b):
    if a == b:  # also both infinite
        return a + 0.6931471805599453
    d = -abs(a - b)
    if d != d:
        return d
    return (a if a > b else b) + log1p(exp(d))


@_device
def gammaln(x):
    if x == -math.inf:
        return -math.inf  # SciPy's value
    if x <= 0.0 and floor(x) == x:
        return math.inf  # a pole
    return math.lgamma(x)


@_device
def digamma(x):
    # vecmath._digamma's recurrence, reflection and asymptotic series
    if x != x or x == -math.inf:
        return math.nan
    if x == math.inf:
        return math.inf
    if x == 0.0:
        return -math.copysign(math.inf, x)
    shift = 0.0
    if x < 0.0:
        r = x - floor(x + 0.5)
        if r == 0.0:
            return math.nan
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


@_device
def trigamma(x):
    # vecmath._trigamma's recurrence, reflection and asymptotic series
    if x != x:
        return math.nan
    if x == math.inf:
        return 0.0
    if x <= 0.0 and x == floor(x):
        return math.inf
    sign_, shift = 1.0, 0.0
    if x < 0.0:
        s = math.sin(math.pi * (x - floor(x + 0.5)))
        sign_, shift = -1.0, (math.pi / s) ** 2
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
    return shift + sign_ * (acc + 1.0 / x + 0.5 * u + series / x)


@_device
def checked(i, n, flag):
    # a run-time index: out of range, it raises the flag the host checks after the
    # launches (a kernel cannot raise), and reads element 0 meanwhile
    if i < 0 or i >= n:
        flag[0] = 1
        return 0
    return i


# primitives computed by a function here; the others are libdevice's `math.<name>`
FUNCTIONS = {
    "floor", "ceil", "exp", "expm1", "log", "log1p", "sqrt", "sinh", "cosh", "asin", "acos",
    "acosh", "atanh", "sign", "maximum", "minimum", "logistic", "logaddexp", "gammaln",
    "digamma", "trigamma",
}  # fmt: skip
