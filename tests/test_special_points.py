"""Derivatives at special points, for every element-wise primitive and composite.

For each element-wise primitive of the catalogue (iterated, so a new one is
covered) and each operand, forward (`adjit.jvp`) and reverse (`adjit.grad`)
derivatives at 0, +-1, integers, operands equal to each other, +-1e-300 and
+-1e300 are compared with mpmath.diff (at least 50 digits, on the primitive's own
SymPy expression run in mpmath) wherever the function is differentiable there.
Points outside the domain, at poles or at kinks are named, with the reason, in
NOT_SMOOTH; at kinks the subgradient must be the one the README lists
(SUBGRADIENTS), the same in both modes. NaN and inf operands must give NumPy's
value, a NaN derivative where the partial depends on the point, and the same
result in both modes. Composites (NumPy functions built from several IR ops)
get the same check against hand-written mpmath definitions, and their values
are checked against NumPy for every axis argument on 3-D and 4-D inputs.

All points of one function are batched into one array per operand, so each
function compiles once per mode.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from pathlib import Path

import mpmath
import numpy as np
import pytest
import scipy.special
import sympy

import adjit
from adjit.compiler import derivatives, numpy_api
from adjit.errors import ShapeError, UnsupportedError
from adjit.ir.primitives import NUMPY_UFUNC, PRIMITIVES

ELEMENTWISE = sorted(
    name
    for name, p in PRIMITIVES.items()
    if p.kind == "elementwise" and p.differentiable and p.scalar is not None
)
# differentiable element-wise primitives without a scalar expression, tested on their own
NO_SCALAR = {"select": "test_where_subgradient"}

UNARY_POINTS = [0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, 1e-300, -1e-300, 1e300, -1e300]
BINARY_VALUES = [0.0, 1.0, -1.0, 2.0, -2.5, 0.5, 3.0, 1e-300, -1e-300, 1e300, -1e300]
NONFINITE = [math.nan, math.inf, -math.inf]


def _points(arity: int) -> list[tuple[float, ...]]:
    """Finite special points: every pair of values (equal operands included)."""
    if arity == 1:
        return [(v,) for v in UNARY_POINTS]
    return list(itertools.product(BINARY_VALUES, repeat=arity))


def _nonfinite_points(arity: int) -> list[tuple[float, ...]]:
    """A NaN or an infinity in one operand, ordinary values in the others."""
    out = []
    for i, bad in itertools.product(range(arity), NONFINITE):
        for other in (0.5, -2.0):
            p = [other] * arity
            p[i] = bad
            out.append(tuple(p))
    return out


def _integer(v: float) -> bool:
    return float(v).is_integer()


# ---------------------------------------------------------- where not smooth
# name -> (point, operand) -> reason it is not differentiable there, or None.
# "kink" reasons mark genuine kinks, where SUBGRADIENTS gives the chosen value.


def _pow_reason(p: tuple[float, ...], i: int) -> str | None:
    x, y = p
    if x < 0 and not _integer(y):
        return "domain: negative base, fractional exponent"
    if x < 0 and i == 1:
        return "domain: negative base, the exponent's partial is log(x)"
    if x < 0 and abs(y) >= 2**53:
        return "float limit: y - 1 rounds to y, so x**(y - 1) has the wrong sign (known)"
    if x == 0 and y < 0:
        return "pole: 0**y for y < 0"
    if x == 0 and i == 1 and y == 0:
        return "jump: 0**y is 1 at y = 0, 0 for y > 0"
    if x == 0 and i == 0 and 0 < y < 1:
        return "domain boundary: slope +inf (x**y for fractional y is not real for x < 0)"
    if x == 0 and i == 0 and not _integer(y):
        return "domain boundary: (-h)**y is not real for fractional y"
    return None


def _atan2_reason(p: tuple[float, ...], i: int) -> str | None:
    x, y = p
    if x == 0 and y == 0:
        return "singular: atan2 is discontinuous at the origin"
    if x == 0 and y < 0:
        return "branch cut: atan2 jumps by 2 pi across x = 0 for y < 0"
    return None


def _quotient_jump(p: tuple[float, ...], i: int) -> str | None:
    x, y = p
    if y == 0:
        return "pole: division by zero"
    if not math.isfinite(x / y):
        return "overflow: x / y is not a float"
    if _integer(x / y):
        return "kink: x / y is an integer, floor jumps"
    return None


NOT_SMOOTH: dict[str, Callable[[tuple[float, ...], int], str | None]] = {
    "log": lambda p, i: "domain: x <= 0" if p[0] <= 0 else None,
    "log1p": lambda p, i: "domain: x <= -1" if p[0] <= -1 else None,
    "sqrt": lambda p, i: "domain: x <= 0 (x = 0: slope +inf)" if p[0] <= 0 else None,
    "asin": lambda p, i: "domain: |x| >= 1" if abs(p[0]) >= 1 else None,
    "acos": lambda p, i: "domain: |x| >= 1" if abs(p[0]) >= 1 else None,
    "abs": lambda p, i: "kink: x = 0" if p[0] == 0 else None,
    "sign": lambda p, i: "kink: jump at x = 0" if p[0] == 0 else None,
    "floor": lambda p, i: "kink: jump at an integer" if _integer(p[0]) else None,
    "ceil": lambda p, i: "kink: jump at an integer" if _integer(p[0]) else None,
    "maximum": lambda p, i: "kink: tie x = y" if p[0] == p[1] else None,
    "minimum": lambda p, i: "kink: tie x = y" if p[0] == p[1] else None,
    "hypot": lambda p, i: "kink: the origin (a cone)" if p[0] == p[1] == 0 else None,
    "div": lambda p, i: "pole: y = 0" if p[1] == 0 else None,
    "acosh": lambda p, i: "domain: x <= 1 (x = 1: slope +inf)" if p[0] <= 1 else None,
    "atanh": lambda p, i: "domain: |x| >= 1" if abs(p[0]) >= 1 else None,
    # log|gamma| and digamma for x < 0: mpmath's loggamma is complex there (the real
    # slopes are checked against SciPy in test_special_functions.py); poles at 0, -1, ...
    "gammaln": lambda p, i: "domain: x <= 0 (poles, complex loggamma)" if p[0] <= 0 else None,
    # mpmath's erfc overflows at 1e300 (where the slope underflows to 0, tested too)
    "erfc": lambda p, i: "oracle limit: mpmath erfc(1e300)" if abs(p[0]) > 1e100 else None,
    "digamma": lambda p, i: "pole or reflection: x <= 0" if p[0] <= 0 else None,
    "pow": _pow_reason,
    "atan2": _atan2_reason,
    "floordiv": _quotient_jump,
    "mod": _quotient_jump,
}

# Subgradients chosen at kinks (README, "Derivatives at kinks"): name -> (point,
# operand) -> value, for the kinks above that have one. Elsewhere in NOT_SMOOTH
# only forward == reverse is required.
SUBGRADIENTS: dict[str, Callable[[tuple[float, ...], int], float]] = {
    "abs": lambda p, i: 0.0,
    "sign": lambda p, i: 0.0,
    "floor": lambda p, i: 0.0,
    "ceil": lambda p, i: 0.0,
    "maximum": lambda p, i: float(i == 1),  # a tie goes to the second operand
    "minimum": lambda p, i: float(i == 1),
    "hypot": lambda p, i: 0.0,
    "floordiv": lambda p, i: 0.0 if p[1] != 0 else math.nan,
    "mod": lambda p, i: (1.0 if i == 0 else -math.floor(p[0] / p[1])) if p[1] != 0 else math.nan,
    "fmax": lambda p, i: float(i == 1),  # a tie as maximum
    "fmin": lambda p, i: float(i == 1),
}


# ------------------------------------------------------------------- oracle

_X, _Y, _Z = sympy.symbols("x y z", real=True)


def _mp_function(name: str) -> Callable[..., object]:
    """The primitive's own scalar expression, evaluated by mpmath."""
    prim = PRIMITIVES[name]
    syms = (_X, _Y, _Z)[: prim.arity]
    expr = sympy.sympify(prim.scalar, locals={"x": _X, "y": _Y, "z": _Z})
    return sympy.lambdify(syms, expr, modules="mpmath")


def mp_partial(f: Callable[..., object], point: tuple[float, ...], i: int) -> float:
    """d f / d point[i] by mpmath.diff (central difference) at high precision.

    The step is relative to the operand, 2^-(120 + m) with m the operands' binary
    magnitudes summed: small enough for x**1e300 (the truncation error, h**2 times
    a second derivative up to 2^(2m), stays below 2^-240). At 0 it is 2^-(600 + m),
    so that the truncation error of a zero derivative (x**3 at 0) is below 1e-300.
    The precision covers the step next to every operand (1e300 + h must differ
    from 1e300) and leaves 120 bits after the difference cancels (240 bits for
    small operands; 2000 or more were needlessly slow: minutes for digamma).
    """
    m = sum(abs(int(mpmath.mag(v))) for v in point if v != 0)
    step = (120 if point[i] != 0 else 600) + m
    with mpmath.workprec(step + m + 120):
        x = mpmath.mpf(point[i])
        h = mpmath.ldexp(1, -step) * (abs(x) if x != 0 else 1)

        def along(t: object) -> object:
            args = [mpmath.mpf(v) for v in point]
            args[i] = t
            return f(*args)

        d = mpmath.diff(along, x, h=h)
        if isinstance(d, mpmath.mpc):
            raise AssertionError(f"mpmath: complex derivative at {point}: not a real point")
        return float(d)  # beyond the float range: +-inf, as float64 arithmetic gives


def _close(got: float, want: float, rtol: float = 1e-12) -> bool:
    if math.isnan(want) or math.isnan(got):
        return math.isnan(want) and math.isnan(got)
    if math.isinf(want) or math.isinf(got):
        return got == want
    # 1e-300: the partials of x/y at y = 1e300 are 1e-300 and underflow either way
    return abs(got - want) <= rtol * abs(want) + 1e-299


# ----------------------------------------------------- forward and reverse


def _derivatives(fn: Callable, arity: int, cols: list[np.ndarray]):
    """(value, forward partials, reverse partials), one array per operand.

    Forward: the diagonal of jacfwd for one operand at a time. A jvp with tangent
    0 on the other operands would add 0 * (their partial), NaN where that is
    infinite (IEEE arithmetic, as in JAX), and test the harness, not the rule.
    """
    value = adjit.jit(fn)(*cols)
    rev = adjit.grad(lambda *xs: np.sum(fn(*xs)), argnums=tuple(range(arity)))(*cols)
    fwd = [np.diagonal(adjit.jacfwd(fn, argnums=i)(*cols)) for i in range(arity)]
    return np.asarray(value), fwd, [np.broadcast_to(r, cols[0].shape) for r in rev]


def _check(
    label: str,
    fn: Callable,
    arity: int,
    numpy_fn: Callable,
    mp_fn: Callable,
    not_smooth: Callable | None,
    subgradient: Callable | None,
    depends: tuple[set[int], ...],
) -> None:
    """Values and both modes' partials at every special point (see module doc).

    depends[i]: the operands partial i depends on (a NaN there must give NaN).
    """
    finite = _points(arity)
    points = finite + _nonfinite_points(arity)
    cols = [np.array([p[i] for p in points]) for i in range(arity)]
    value, fwd, rev = _derivatives(fn, arity, cols)
    with np.errstate(all="ignore"):
        want_value = numpy_fn(*cols)
    errors = []
    for k, p in enumerate(points):
        if not _close(float(value[k]), float(want_value[k]), 1e-13):
            errors.append(f"{label}{p}: value {value[k]!r}, NumPy {want_value[k]!r}")
        for i in range(arity):
            f, r = float(fwd[i][k]), float(rev[i][k])
            where = f"{label}{p} d/d{'xyz'[i]}"
            if not _close(f, r):
                errors.append(f"{where}: forward {f!r} != reverse {r!r}")
                continue
            if k >= len(finite):  # NaN or inf in an operand
                if any(math.isnan(p[j]) for j in depends[i]) and not math.isnan(f):
                    if not (not_smooth and subgradient):  # kinks: a chosen branch
                        errors.append(f"{where}: {f!r}, expected NaN to propagate")
                continue
            reason = not_smooth(p, i) if not_smooth else None
            if reason is None:
                want = mp_partial(mp_fn, p, i)
            elif reason.startswith("kink") and subgradient is not None:
                want = subgradient(p, i)
            else:
                continue  # outside the domain, a pole: the two modes agree, checked above
            if not _close(f, want, 1e-11):
                errors.append(f"{where}: {f!r}, expected {want!r} ({reason or 'mpmath'})")
    assert not errors, "\n".join(errors[:30])


def _primitive(name: str) -> Callable:
    return lambda *xs: numpy_api._ew(name, *xs)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_primitive_derivatives_at_special_points(name: str) -> None:
    prim = PRIMITIVES[name]
    fn = _primitive(name)
    args = [np.zeros(3)] * prim.arity
    assert f"= {name} " in str(adjit.trace(fn)(*args)), "the test must exercise the primitive"
    depends = []
    for d in derivatives.partials(name):
        names = {s.name for s in getattr(d, "free_symbols", ())}
        on = set(range(prim.arity)) if "r" in names else set()
        depends.append(on | {j for j in range(prim.arity) if "xyz"[j] in names})
    _check(
        name,
        fn,
        prim.arity,
        NUMPY_UFUNC[name],
        _mp_function(name),
        NOT_SMOOTH.get(name),
        SUBGRADIENTS.get(name),
        tuple(depends),
    )


def test_every_differentiable_primitive_is_covered() -> None:
    for name, p in PRIMITIVES.items():
        if p.kind == "elementwise" and p.differentiable:
            assert name in ELEMENTWISE or name in NO_SCALAR, name
    # every kink named in NOT_SMOOTH with a subgradient is in the README's table
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Derivatives at kinks")[1].split("\n## ")[0]
    for name in SUBGRADIENTS:
        assert f"`{name}" in section, name


# ------------------------------------------------------ composite ufuncs

# name -> (NumPy function, arity, mpmath definition, where not smooth, subgradient,
# whether the partials are constants)
COMPOSITE_UFUNCS: dict[str, tuple] = {
    "square": (np.square, 1, lambda x: x * x, None, None),
    "reciprocal": (
        np.reciprocal,
        1,
        lambda x: 1 / x,
        lambda p, i: "pole: x = 0" if p[0] == 0 else None,
        None,
    ),
    "exp2": (np.exp2, 1, lambda x: mpmath.power(2, x), None, None),
    "log2": (np.log2, 1, lambda x: mpmath.log(x, 2), NOT_SMOOTH["log"], None),
    "log10": (np.log10, 1, lambda x: mpmath.log10(x), NOT_SMOOTH["log"], None),
    "logaddexp2": (
        np.logaddexp2,
        2,
        lambda x, y: mpmath.log(mpmath.power(2, x) + mpmath.power(2, y), 2),
        None,
        None,
    ),
    "float_power": (np.float_power, 2, lambda x, y: mpmath.power(x, y), _pow_reason, None),
    "deg2rad": (np.deg2rad, 1, lambda x: x * mpmath.pi / 180, None, None, True),
    "rad2deg": (np.rad2deg, 1, lambda x: x * 180 / mpmath.pi, None, None, True),
    "degrees": (np.degrees, 1, lambda x: x * 180 / mpmath.pi, None, None, True),
    "radians": (np.radians, 1, lambda x: x * mpmath.pi / 180, None, None, True),
    # NaN-ignoring: a NaN operand gives the other (slope 1), a tie as maximum/minimum
    "fmax": (
        np.fmax,
        2,
        lambda x, y: max(x, y),
        lambda p, i: "kink: tie x = y" if p[0] == p[1] else None,
        SUBGRADIENTS["maximum"],
    ),
    "fmin": (
        np.fmin,
        2,
        lambda x, y: min(x, y),
        lambda p, i: "kink: tie x = y" if p[0] == p[1] else None,
        SUBGRADIENTS["minimum"],
    ),
    "positive": (np.positive, 1, lambda x: x, None, None, True),
    "clip": (
        lambda x, lo: np.clip(x, lo, 2.0),
        2,
        lambda x, lo: min(max(x, lo), 2),
        lambda p, i: "kink: at a bound" if p[0] in (p[1], 2.0) or p[1] == 2.0 else None,
        # at a bound x gets 0, the bound 1 (a tie of maximum/minimum goes to the bound)
        lambda p, i: float(i == 1 and p[1] < 2.0 and p[0] == p[1]),
    ),
}
# scipy.special's composites; the last entry: the operands each partial depends on
# (d/dx xlogy = log(y) stays finite at x = NaN)
COMPOSITE_UFUNCS.update(
    {
        "logit": (
            scipy.special.logit,
            1,
            lambda x: mpmath.log(x / (1 - x)),
            lambda p, i: "domain: x <= 0 or x >= 1" if not 0 < p[0] < 1 else None,
            None,
        ),
        "xlogy": (
            scipy.special.xlogy,
            2,
            lambda x, y: x * mpmath.log(y),
            lambda p, i: "domain: y <= 0" if p[1] <= 0 else None,
            None,
            ({1}, {0, 1}),
        ),
        "xlog1py": (
            scipy.special.xlog1py,
            2,
            lambda x, y: x * mpmath.log1p(y),
            lambda p, i: "domain: y <= -1" if p[1] <= -1 else None,
            None,
            ({1}, {0, 1}),
        ),
    }
)
# The composites of numpy_api that have no derivative (bool results) or are a
# primitive under another name: nothing to check here.
NOT_ELEMENTWISE_COMPOSITES = {
    "floor",
    "ceil",
    "matmul",
    "isnan",
    "isinf",
    "isfinite",
    "logical_xor",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "invert",
}


def test_every_composite_ufunc_is_covered() -> None:
    for ufunc in numpy_api._UFUNC_COMPOSITE:
        name = ufunc.__name__
        assert name in COMPOSITE_UFUNCS or name in NOT_ELEMENTWISE_COMPOSITES, name
    from adjit.compiler import scipy_special

    for ufunc in scipy_special.UFUNCS:  # each one primitive, or a composite checked here
        traced = str(adjit.trace(lambda *xs, u=ufunc: u(*xs))(*[np.ones(2)] * ufunc.nin))
        ops = {line.split("= ")[1].split()[0] for line in traced.splitlines() if "= " in line}
        composite = len(ops - {"constant", "convert"}) > 1
        assert not composite or ufunc.__name__ in COMPOSITE_UFUNCS, ufunc.__name__


@pytest.mark.parametrize("name", sorted(COMPOSITE_UFUNCS))
def test_composite_derivatives_at_special_points(name: str) -> None:
    numpy_fn, arity, mp_fn, not_smooth, subgradient, *extra = COMPOSITE_UFUNCS[name]
    depends = (set() if extra and extra[0] is True else set(range(arity)),) * arity
    if extra and isinstance(extra[0], tuple):
        depends = extra[0]
    _check(name, numpy_fn, arity, numpy_fn, mp_fn, not_smooth, subgradient, depends)


# --------------------------------------------------------- the cases


def test_logaddexp_at_equal_operands_and_far_apart() -> None:
    for f in (lambda x: np.logaddexp(0.0, x), lambda x: np.logaddexp(x, 0.0)):
        assert adjit.grad(f)(0.0) == pytest.approx(0.5, rel=1e-15)
        assert adjit.jvp(f, (0.0,), (1.0,))[1] == pytest.approx(0.5, rel=1e-15)
    x = np.array([1000.0, -1000.0, 1e300, 0.0])
    value = adjit.jit(np.logaddexp)(x, np.zeros(4))
    dx, dy = adjit.grad(lambda x, y: np.sum(np.logaddexp(x, y)), argnums=(0, 1))(x, np.zeros(4))
    np.testing.assert_array_equal(value, np.logaddexp(x, 0.0))
    np.testing.assert_allclose(dx, [1.0, 0.0, 1.0, 0.5], rtol=1e-15)
    np.testing.assert_allclose(dy, [0.0, 1.0, 0.0, 0.5], rtol=1e-15)


def test_logistic_loss_first_gradient_from_zero() -> None:
    # the numerically stable logistic loss started at w = 0: the gradient is
    # -X^T y / 2 / n (each margin is 0, each sigmoid 1/2)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 3)), np.sign(rng.normal(size=6))
    g = adjit.grad(lambda w: np.mean(np.logaddexp(0.0, -y * (X @ w))))(np.zeros(3))
    np.testing.assert_allclose(g, -(X.T @ y) / 2 / 6, rtol=1e-14)


def test_pow_limits() -> None:
    assert adjit.grad(lambda x: x**0.0)(0.0) == 0.0
    assert adjit.jvp(lambda x: x**0.0, (0.0,), (1.0,))[1] == 0.0
    y = np.array([0.5, 1.0, 2.0, 3.5])
    np.testing.assert_array_equal(adjit.grad(lambda y: np.sum(0.0**y))(y), 0.0)
    np.testing.assert_array_equal(adjit.jvp(lambda y: 0.0**y, (y,), (np.ones(4),))[1], 0.0)


def test_where_subgradient() -> None:
    # select: the derivative goes to the chosen operand, in both modes
    def f(c, a, b):
        return np.where(c > 0, a, b)

    c = np.array([1.0, -1.0, 0.0])
    a, b = np.array([2.0, 2.0, 2.0]), np.array([2.0, 2.0, 2.0])  # equal values
    ga, gb = adjit.grad(lambda a, b: np.sum(f(c, a, b)), argnums=(0, 1))(a, b)
    np.testing.assert_array_equal(ga, [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(gb, [0.0, 1.0, 1.0])
    ta = adjit.jvp(lambda a, b: f(c, a, b), (a, b), (np.ones(3), np.zeros(3)))[1]
    np.testing.assert_array_equal(ta, ga)


# --------------------------------------------------- composite reductions


def _mp_var(xs: list, ddof: int = 0) -> object:
    m = mpmath.fsum(xs) / len(xs)
    return mpmath.fsum((x - m) ** 2 for x in xs) / (len(xs) - ddof)


MP_REDUCTIONS: dict[str, tuple[Callable, Callable]] = {
    "mean": (np.mean, lambda xs: mpmath.fsum(xs) / len(xs)),
    "var": (np.var, _mp_var),
    "var_ddof1": (lambda x: np.var(x, ddof=1), lambda xs: _mp_var(xs, 1)),
    "std": (np.std, lambda xs: mpmath.sqrt(_mp_var(xs))),
    "norm": (np.linalg.norm, lambda xs: mpmath.sqrt(mpmath.fsum(x * x for x in xs))),
    "trace": (np.trace, lambda xs: xs[0] + xs[3]),  # on 2x2 matrices
    "prod": (np.prod, lambda xs: mpmath.fprod(xs)),
}
# Inputs: constant (std: a kink, the subgradient 0 is also the central
# difference), zeros (norm: a kink at the origin, 0), ties and tiny and huge
# entries. A central difference at a kink of the form |x| is 0, as the chosen
# subgradient.
REDUCTION_INPUTS = [
    [2.0, 2.0, 2.0, 2.0],
    [0.0, 0.0, 0.0, 0.0],
    [1.0, 3.0, 3.0, -2.0],
    [0.5, -1.0, 2.0, 1e-300],
    [2.0**500, 3 * 2.0**500, -(2.0**500), 2.0**500],  # huge, exact in binary
    [0.0, 3.0, -1.0, 0.0],
]


@pytest.mark.parametrize("name", sorted(MP_REDUCTIONS))
def test_reduction_derivatives_at_special_points(name: str) -> None:
    numpy_fn, mp_fn = MP_REDUCTIONS[name]
    shape = (2, 2) if name == "trace" else (4,)
    grad = adjit.grad(lambda a: numpy_fn(a))
    jac = adjit.jacfwd(lambda a: numpy_fn(a))
    errors = []
    for row in REDUCTION_INPUTS:
        x = np.array(row).reshape(shape)
        rev, fwd = grad(x).ravel(), jac(x).ravel()
        want = [mp_partial(lambda *xs: mp_fn(list(xs)), tuple(row), i) for i in range(len(row))]
        # relative to the gradient's size: a zero entry among 1e150s is 0 up to rounding
        tol = 1e-12 * max([abs(w) for w in want if math.isfinite(w)] + [0.0]) + 1e-299

        def close(got: float, w: float, tol: float = tol) -> bool:
            return got == w if math.isinf(w) else abs(got - w) <= tol

        for i, w in enumerate(want):
            if not (close(fwd[i], w) and close(rev[i], w)):
                errors.append(f"{name}{row} d/dx{i}: forward {fwd[i]}, reverse {rev[i]}, {w}")
    assert not errors, "\n".join(errors)


def test_std_and_norm_of_a_scalar() -> None:
    for f in (np.std, np.var, np.linalg.norm):
        assert adjit.grad(f)(0.0) == 0.0 and adjit.grad(f)(1.5) == (f is np.linalg.norm)
        assert adjit.jvp(f, (0.0,), (1.0,))[1] == 0.0


# --------------------------------------------- composite values against NumPy


def _interpreted(f: Callable, x: np.ndarray) -> np.ndarray:
    """f(x) by adjit's reference interpreter (traced, not compiled: no Numba cost)."""
    (out,) = adjit.ir.interpret(adjit.trace(f)(x), x)
    return out


def _axis_arguments(ndim: int) -> list:
    singles = list(range(ndim)) + list(range(-ndim, 0))
    tuples = [t for k in range(2, ndim + 1) for t in itertools.combinations(range(ndim), k)]
    return [None, *singles, *tuples, (-1, 0)]


SHAPES = [(2, 3, 4), (2, 1, 3, 2)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fname", ["mean", "var", "std", "sum", "prod", "max", "min", "any", "all"])
def test_reduction_values_every_axis(fname: str, shape: tuple[int, ...]) -> None:
    x = np.random.default_rng(1).normal(size=shape)
    x.flat[::5] = 0.0
    np_fn = getattr(np, fname)
    for axis, keepdims in itertools.product(_axis_arguments(len(shape)), (False, True)):
        extra = [{}] + ([{"ddof": 1}] if fname in ("var", "std") else [])
        for kw in extra:
            with warnings.catch_warnings():  # ddof=1 over an axis of length 1: 0/0
                warnings.simplefilter("ignore", RuntimeWarning)
                want = np_fn(x, axis=axis, keepdims=keepdims, **kw)
            got = _interpreted(
                lambda a, axis=axis, keepdims=keepdims, kw=kw: np_fn(
                    a, axis=axis, keepdims=keepdims, **kw
                ),
                x,
            )
            assert got.shape == np.shape(want), (fname, axis, keepdims, kw)
            np.testing.assert_allclose(got, want, rtol=1e-13, err_msg=f"{fname} {axis} {kw}")


@pytest.mark.parametrize("shape", SHAPES)
def test_norm_values_every_axis(shape: tuple[int, ...]) -> None:
    x = np.random.default_rng(2).normal(size=shape)
    ndim = len(shape)
    cases = [(None, None)] + [(None, a) for a in _axis_arguments(ndim)[1:] if _count(a) <= 2]
    cases += [(2, a) for a in range(-ndim, ndim)] + [("fro", (0, 1)), ("fro", (-1, 1))]
    for (ord_, axis), keepdims in itertools.product(cases, (False, True)):
        want = np.linalg.norm(x, ord=ord_, axis=axis, keepdims=keepdims)
        got = _interpreted(lambda a, o=ord_, ax=axis, k=keepdims: np.linalg.norm(a, o, ax, k), x)
        assert got.shape == np.shape(want), (ord_, axis, keepdims)
        np.testing.assert_allclose(got, want, rtol=1e-13, err_msg=f"{ord_} {axis}")


def _count(axis: object) -> int:
    return len(axis) if isinstance(axis, tuple) else 1


def test_norm_unsupported_orders_raise() -> None:
    # (ord=2 of a matrix, its largest singular value, is supported: test_linalg.py)
    x = np.ones((3, 3))
    with pytest.raises(UnsupportedError, match="invalid norm order 3 for matrices"):
        adjit.trace(lambda a: np.linalg.norm(a, 3))(x)  # NumPy: ValueError
    with pytest.raises(UnsupportedError, match="invalid norm order 3 for matrices"):
        adjit.trace(lambda a: np.linalg.norm(a, 3, axis=(0, 1)))(x)
    with pytest.raises(UnsupportedError, match="'fro'"):
        adjit.trace(lambda a: np.linalg.norm(a, "fro", axis=0))(x)


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 3, 4)])
def test_trace_values_every_axis_pair(shape: tuple[int, ...]) -> None:
    x = np.arange(float(np.prod(shape))).reshape(shape)
    ndim = len(shape)
    for a1, a2 in itertools.permutations(range(-ndim, ndim), 2):
        if a1 % ndim == a2 % ndim:
            continue
        for offset in (0, 1, -1, 2, -3, 7):
            want = np.trace(x, offset, a1, a2)
            got = _interpreted(lambda a, o=offset, a1=a1, a2=a2: np.trace(a, o, a1, a2), x)
            assert got.shape == want.shape, (a1, a2, offset)
            np.testing.assert_array_equal(got, want, err_msg=f"{a1} {a2} {offset}")


def test_trace_compiled_and_differentiated() -> None:
    x = np.arange(60.0).reshape(3, 4, 5)
    np.testing.assert_array_equal(adjit.jit(np.trace)(x), np.trace(x))  # shape (5,)
    g = adjit.grad(lambda a: np.sum(np.trace(a, 1, 2, 0) * np.arange(4.0)))(x)
    want = np.zeros_like(x)  # the sum over k of a[k + 1, :, k] (axis1 = 2, axis2 = 0)
    for k in range(2):
        want[k + 1, :, k] = np.arange(4.0)
    np.testing.assert_array_equal(g, want)


def test_trace_errors() -> None:
    with pytest.raises(ShapeError, match="same axis"):
        adjit.trace(lambda a: np.trace(a, 0, 1, -2))(np.ones((2, 3, 4)))
    with pytest.raises(ShapeError, match="at least 2"):
        adjit.trace(lambda a: np.trace(a))(np.ones(3))


def test_composite_values_compiled_on_4d() -> None:
    x = np.random.default_rng(3).normal(size=(2, 3, 2, 4))

    def f(a):
        return (
            np.std(a, axis=(0, 2), ddof=1, keepdims=True),
            np.var(a, axis=-1),
            np.mean(a, axis=(1, 3)),
            np.linalg.norm(a, axis=(1, 2)),
            np.trace(a, -1, 3, 1),
            np.logaddexp(a, a[..., ::-1]),
            np.hypot(a * 1e200, a),
        )

    for got, want in zip(adjit.jit(f)(x), f(x)):
        np.testing.assert_allclose(got, want, rtol=1e-13)
