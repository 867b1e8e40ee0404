"""Partial derivatives of element-wise primitives, derived by SymPy and lowered to IR.

Each element-wise primitive carries its scalar meaning as a SymPy expression in
x, y, z (`logistic: 1/(1 + exp(-x))`). Its partials are `sympy.diff` of that
expression, rewritten where possible in terms of the primitive's own result r
(d logistic = r*(1 - r), d exp = r, d sqrt = 1/(2*r), d tanh = 1 - r**2): the
result is already computed by the primal pass, and these forms stay finite where
the textbook quotient overflows (exp(-x)/(1 + exp(-x))**2 at x = -1000).
The chosen expression is lowered back to IR through `ops`, so derivatives are
ordinary IR that later passes optimise and that can be differentiated again.

SymPy is imported on first use only: `import adjit` stays fast.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence

import numpy as np

from ..errors import UnsupportedError
from ..ir.core import Value
from ..ir.primitives import PRIMITIVES, ZERO_DERIVATIVE
from . import ops

_SYMBOLS = ("x", "y", "z")
RESULT = "r"  # the symbol standing for the primitive's own (primal) result

_FUNCTIONS = {
    "exp": "exp",
    "log": "log",
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "sinh": "sinh",
    "cosh": "cosh",
    "tanh": "tanh",
    "asin": "asin",
    "acos": "acos",
    "atan": "atan",
    "atan2": "atan2",
    "asinh": "asinh",
    "acosh": "acosh",
    "atanh": "atanh",
    "erf": "erf",
    "erfc": "erfc",
    "loggamma": "gammaln",
    "Abs": "abs",
    "sign": "sign",
    "floor": "floor",
    "ceiling": "ceil",
    "Max": "maximum",
    "Min": "minimum",
}

# polygamma(n, x) for the orders that are primitives
_POLYGAMMA = {0: "digamma", 1: "trigamma"}


# SymPy is not thread-safe (its caches and assumption dicts are shared and
# mutated: sympy/sympy#16734): every use of it, here and in the algebraic pass,
# holds this lock. Tracing is Python code under the GIL, so little is lost.
SYMPY_LOCK = threading.RLock()


def _sympy():
    import sympy

    return sympy


def _symbols(sp) -> dict[str, object]:
    syms = {s: sp.Symbol(s, real=True) for s in _SYMBOLS}
    syms[RESULT] = sp.Symbol(RESULT, real=True)
    return syms


def _in_terms_of_result(sp, d, expr, x, r):
    """`d` (a derivative of `expr` w.r.t. `x`) rewritten in the result r, or None."""
    direct = d.subs(expr, r)
    if x not in direct.free_symbols:
        return sp.simplify(direct)
    # unary: substitute x = f^-1(r); keep only a single rational function of r,
    # never a new transcendental (d log = 1/x beats exp(-r)). r is taken positive
    # so SymPy picks the real branch; a rational identity found for r > 0 holds on
    # the whole (connected, analytic) domain: tan' = 1 + r**2 also for r < 0.
    rp = sp.Symbol("rp", positive=True)
    try:
        solutions = sp.solve(sp.Eq(rp, expr), x)
    except (NotImplementedError, ValueError):
        return None
    alts = {sp.factor(sp.simplify(d.subs(x, s))) for s in solutions}
    if len(alts) != 1:
        return None
    (alt,) = alts
    if alt.is_rational_function(rp) and x not in alt.free_symbols:
        return alt.subs(rp, r)
    return None


def _binary_in_terms_of_result(sp, d, expr, r):
    """`d` with r substituted (d/dy x**y = r*log(x)), unless that adds a division.

    r*y/x for d/dx x**y would be NaN at x = 0 where y*x**(y - 1) is not.
    """
    better = d.subs(expr, r)
    if r not in better.free_symbols:
        return None
    better, plain = sp.simplify(better), sp.simplify(d)
    if not sp.cancel(sp.denom(plain) / sp.denom(better)).is_polynomial():
        return None
    return better


# Partials written by hand where SymPy's form is right in exact arithmetic but
# wrong in floating point or at a special point. A call of a primitive by name
# (div(a, b), hypot(a, b)) is that primitive, kept as written: SymPy would turn
# (y/h)/h into y/h**2, which underflows. Each is checked against sympy.diff when
# first used (`_chosen`, with the primitives' expressions substituted): the last
# piece of a Piecewise must equal it identically; the other pieces give the
# limit at points where that form is 0*inf or 0/0.
#   logaddexp: exp(x)/(exp(x) + exp(y)) is inf/inf at x = 1000, and exp(x - r)
#     rounds to 1 at x = y = 1e300 (r = x + log 2 = x); logistic(x - y) is exact.
#   hypot: x/sqrt(x**2 + y**2) overflows at x = 1e200; x/r does not. At the
#     origin (a kink, as |x|) the subgradient 0, as for abs.
#   atan2: y/(x**2 + y**2) is inf at x = y = 1e-300 and 0/inf at x = inf;
#     (y/h)/h with h = hypot(x, y) is neither.
#   pow: y*x**(y - 1) is 0*inf at x = 0, y = 0 (x**0 is constant 1: slope 0), and
#     r*log(x) is 0*(-inf) at x = 0, y > 0 (0**y is constant 0: slope 0). r = 0
#     otherwise only when x**y underflows, where r*log(x) is 0 to double precision.
_CHOSEN: dict[str, tuple[str, ...]] = {
    "logaddexp": ("logistic(x - y)", "logistic(y - x)"),
    "hypot": (
        "Piecewise((0, Eq(r, 0)), (div(x, r), True))",
        "Piecewise((0, Eq(r, 0)), (div(y, r), True))",
    ),
    "atan2": ("div(div(y, hypot(x, y)), hypot(x, y))", "-div(div(x, hypot(x, y)), hypot(x, y))"),
    "pow": (
        "Piecewise((0, Eq(y, 0)), (y*x**(y - 1), True))",
        "Piecewise((0, Eq(r, 0)), (r*log(x), True))",
    ),
}


# primitives a chosen partial may call by name
_CALLABLE = ("div", "hypot", "logistic")


def _chosen(sp, name: str, syms: dict[str, object], expr, derived: Sequence) -> tuple:
    """The hand-written partials of `name`, each verified against SymPy's."""
    calls = {n: sp.Function(n) for n in _CALLABLE}
    meaning = {
        f: sp.Lambda(syms_, sp.sympify(PRIMITIVES[n].scalar, locals=syms))
        for n, f in calls.items()
        for syms_ in [tuple(syms[s] for s in _SYMBOLS[: PRIMITIVES[n].arity])]
    }
    out = []
    for text, d in zip(_CHOSEN[name], derived):
        chosen = sp.sympify(text, locals={**syms, **calls})
        general = chosen.args[-1].expr if isinstance(chosen, sp.Piecewise) else chosen
        general = general.subs(meaning).subs(syms[RESULT], expr)
        if sp.simplify(general - d) != 0:
            raise AssertionError(f"chosen partial {text} of {name} is not its derivative {d}")
        out.append(chosen)
    return tuple(out)


@functools.cache
def partials(name: str) -> tuple[object, ...]:
    """The simplified SymPy partial derivatives of element-wise primitive `name`.

    One per operand; the integer 0 for piecewise-constant ops (sign, floor, ceil).
    """
    prim = PRIMITIVES[name]
    if prim.kind != "elementwise" or prim.scalar is None:
        raise UnsupportedError(f"{name} has no scalar expression to differentiate")
    if name in ZERO_DERIVATIVE:
        return (0,) * prim.arity
    with SYMPY_LOCK:
        return _derive(prim)


def _derive(prim) -> tuple[object, ...]:
    """The partials of `prim` (the caller holds SYMPY_LOCK)."""
    sp = _sympy()
    syms = _symbols(sp)
    expr = sp.sympify(prim.scalar, locals=syms)
    if prim.name in _CHOSEN:
        derived = [sp.diff(expr, syms[s]) for s in _SYMBOLS[: prim.arity]]
        return _chosen(sp, prim.name, syms, expr, derived)
    out = []
    # floor, ceiling and sign inside an expression (mod: x - y*floor(x/y)) are
    # piecewise constant: held as constants while differentiating
    held = {a: sp.Dummy() for a in expr.atoms(sp.floor, sp.ceiling, sp.sign)}
    unheld = {v: k for k, v in held.items()}
    for s in _SYMBOLS[: prim.arity]:
        x = syms[s]
        d = sp.diff(expr.xreplace(held), x).xreplace(unheld)
        if prim.arity == 1:
            better = _in_terms_of_result(sp, d, expr, x, syms[RESULT])
        else:
            better = _binary_in_terms_of_result(sp, d, expr, syms[RESULT])
        out.append(better if better is not None else sp.simplify(d))
    return tuple(out)


def _named(sp, e) -> tuple[str, object] | None:
    """(primitive, argument) when `e` spells out log1p, expm1 or logistic exactly.

    Those primitives are more accurate than their spelled-out forms (log(1 + a)
    loses a's digits for small a; 1/(1 + exp(-a)) overflows for a << 0).
    """
    one = sp.Integer(1)
    if isinstance(e, sp.log) and e.args[0].is_Add and one in e.args[0].args:
        return "log1p", e.args[0] - 1  # log(a + 1)
    if e.is_Add and len(e.args) == 2 and -one in e.args:
        (rest,) = [a for a in e.args if a != -one]
        if isinstance(rest, sp.exp):
            return "expm1", rest.args[0]  # exp(a) - 1
    if e.is_Pow and e.exp == -1 and e.base.is_Add and len(e.base.args) == 2 and one in e.base.args:
        (rest,) = [a for a in e.base.args if a != one]
        if isinstance(rest, sp.exp):
            return "logistic", -rest.args[0]  # 1/(1 + exp(-a))
    return None


class _Lowering:
    """SymPy expression -> IR values, with symbols bound to IR values."""

    def __init__(self, env: dict[str, Value], dtype: np.dtype) -> None:
        self.sp = _sympy()
        self.env = env
        self.dtype = dtype

    def const(self, v: object) -> Value:
        return ops.constant(np.asarray(float(v), self.dtype))

    def ew(self, name: str, *xs: Value) -> Value:
        return ops.elementwise(name, *xs)

    def __call__(self, e) -> Value:
        sp = self.sp
        if e.is_Symbol:
            return self.env[e.name]
        if e.is_number:  # also constant expressions: sqrt(pi) in erf's slope
            return self.const(e)
        named = _named(sp, e)
        if named is not None:
            return self.ew(named[0], self(named[1]))
        if e.is_Add:
            return self.add(e.args)
        if e.is_Mul:
            return self.mul(e)
        if e.is_Pow:
            return self.pow(e.base, e.exp)
        if isinstance(e, sp.Heaviside):
            return self.heaviside(e.args[0])
        if isinstance(e, sp.Piecewise):
            return self.piecewise(e.args)
        fname = type(e).__name__
        if isinstance(e, sp.core.function.AppliedUndef) and fname in _CALLABLE:
            return self.ew(fname, *(self(a) for a in e.args))
        if fname == "polygamma" and e.args[0] in _POLYGAMMA:
            return self.ew(_POLYGAMMA[e.args[0]], self(e.args[1]))
        if fname in _FUNCTIONS:
            return self.ew(_FUNCTIONS[fname], *(self(a) for a in e.args))
        raise UnsupportedError(f"cannot lower the derivative expression {e} to IR")

    def add(self, terms: Sequence) -> Value:
        pos = [t for t in terms if not t.could_extract_minus_sign()]
        neg = [-t for t in terms if t.could_extract_minus_sign()]
        acc = self(pos[0]) if pos else None
        for t in pos[1:]:
            acc = self.ew("add", acc, self(t))
        for t in neg:
            acc = self.ew("neg", self(t)) if acc is None else self.ew("sub", acc, self(t))
        return acc

    def mul(self, e) -> Value:
        coeff, factors = e.as_coeff_mul()
        # 1/(1 + exp(-a)) is a factor logistic(a), not a division
        is_den = [f.is_Pow and f.exp.is_negative and _named(self.sp, f) is None for f in factors]
        num = [f for f, d in zip(factors, is_den) if not d]
        den = [f.base**-f.exp for f, d in zip(factors, is_den) if d]
        negate = coeff < 0
        coeff = abs(coeff)
        if coeff != 1 and not coeff.is_Rational:
            num = [coeff, *num]
        elif coeff != 1:
            num = [self.sp.Integer(coeff.p), *num] if coeff.p != 1 else num
            den = [self.sp.Integer(coeff.q), *den] if coeff.q != 1 else den
        top = self.product(num) if num else self.const(1)
        out = self.ew("div", top, self.product(den)) if den else top
        return self.ew("neg", out) if negate else out

    def product(self, factors: Sequence) -> Value:
        acc = self(factors[0])
        for f in factors[1:]:
            acc = self.ew("mul", acc, self(f))
        return acc

    def pow(self, base, exp) -> Value:
        sp = self.sp
        if exp == sp.Rational(1, 2):
            return self.ew("sqrt", self(base))
        if exp.is_Integer and 0 < exp <= 4:
            b = self(base)
            acc = b
            for _ in range(int(exp) - 1):
                acc = self.ew("mul", acc, b)
            return acc
        if exp.is_negative:
            return self.ew("div", self.const(1), self.pow(base, -exp))
        return self.ew("pow", self(base), self(exp))

    def piecewise(self, pieces: Sequence) -> Value:
        """Nested selects, the first true condition winning; the last is True."""
        (value, cond), rest = pieces[0], pieces[1:]
        if cond == True or not rest:  # noqa: E712 (SymPy's true is not Python's)
            return self(value)
        return self.ew("select", self.condition(cond), self(value), self.piecewise(rest))

    def condition(self, c) -> Value:
        sp = self.sp
        names = {sp.Eq: "eq", sp.Ne: "ne", sp.Lt: "lt", sp.Le: "le", sp.Gt: "gt", sp.Ge: "ge"}
        for cls, op in names.items():
            if isinstance(c, cls):
                return self.ew(op, self(c.lhs), self(c.rhs))
        raise UnsupportedError(f"cannot lower the condition {c} to IR")

    def heaviside(self, arg) -> Value:
        # Heaviside(x - y) = [x > y] (maximum/minimum ties: see _TIE_TO_SECOND)
        terms = arg.args if arg.is_Add else (arg,)
        pos = [t for t in terms if not t.could_extract_minus_sign()]
        neg = [-t for t in terms if t.could_extract_minus_sign()]
        if len(pos) == 1 and len(neg) == 1:
            cond = self.ew("gt", self(pos[0]), self(neg[0]))
        else:
            cond = self.ew("gt", self(arg), self.const(0))
        return self.ew("select", cond, self.const(1), self.const(0))


# maximum(x, y) and minimum(x, y) at a tie x == y: SymPy's Heaviside would give
# both operands 0, which is no (sub)gradient at all (max(x, x) has slope 1). The
# tie goes to the second operand instead: relu written np.maximum(x, 0) then has
# gradient 0 at x = 0, as is customary, and max(x, x) has gradient 1.
_TIE_TO_SECOND = {"maximum": "gt", "minimum": "lt"}


def _max_min_partial(name: str, index: int, xs: Sequence[Value]) -> Value:
    first_wins = ops.elementwise(_TIE_TO_SECOND[name], xs[0], xs[1])  # strictly
    one, zero = (1, 0) if index == 0 else (0, 1)
    dtype = xs[index].type.np_dtype
    return ops.elementwise("select", first_wins, np.asarray(one, dtype), np.asarray(zero, dtype))


def partial(name: str, index: int, xs: Sequence[Value], result: Value) -> Value | int | None:
    """IR for d name(xs) / d xs[index], evaluated at xs (result = name(xs)).

    Returns None when the partial is identically 0, and the ints 1 / -1 when it is
    a constant +-1 (so the caller multiplies by nothing).
    """
    if name in _TIE_TO_SECOND:
        return _max_min_partial(name, index, xs)
    r = recipes(name)[index]
    if r is None or isinstance(r, int):
        return r
    env = {s: v for s, v in zip(_SYMBOLS, xs)}
    env[RESULT] = result
    return _build(r, env, xs[index].type.np_dtype)


# A recipe is a partial derivative as IR to build, without SymPy: ("sym", "x"),
# ("const", 0.5), or (primitive, *operand recipes); None for 0, the ints 1 and -1.
Recipe = tuple


def recipes(name: str) -> tuple[Recipe | int | None, ...]:
    """The recipe of each partial of element-wise primitive `name`: from the table
    generated ahead (partials_table.py, so a gradient needs no SymPy), otherwise
    derived now."""
    from .partials_table import PARTIALS

    found = PARTIALS.get(name)
    return found if found is not None else derive_recipes(name)


@functools.cache
def derive_recipes(name: str) -> tuple[Recipe | int | None, ...]:
    """The recipes of `name`'s partials, derived by SymPy."""
    out: list[Recipe | int | None] = []
    for expr in partials(name):
        if expr == 0:
            out.append(None)
        elif expr == 1 or expr == -1:
            out.append(int(expr))
        else:
            with SYMPY_LOCK:
                out.append(_RecipeLowering()(expr))
    return tuple(out)


class _RecipeLowering(_Lowering):
    """The lowering of a SymPy expression, recorded as a recipe instead of built."""

    def __init__(self) -> None:
        super().__init__({s: ("sym", s) for s in (*_SYMBOLS, RESULT)}, np.dtype(np.float64))

    def const(self, v: object) -> Recipe:
        return ("const", float(v))

    def ew(self, name: str, *xs: Recipe) -> Recipe:
        return (name, *xs)


def _build(r: Recipe, env: dict[str, Value], dtype: np.dtype) -> Value:
    if r[0] == "sym":
        return env[r[1]]
    if r[0] == "const":
        return ops.constant(np.asarray(r[1], dtype))
    return ops.elementwise(r[0], *(_build(x, env, dtype) for x in r[1:]))


def table_source() -> str:
    """The text of partials_table.py: the recipes of every differentiable
    element-wise primitive, derived now."""
    lines = [
        '"""Partial derivatives of the element-wise primitives, generated ahead by',
        "``python -m adjit.compiler.derivatives`` from their SymPy derivations (a test",
        'checks each entry against a fresh one). Do not edit."""',
        "",
        "PARTIALS = {",
    ]
    for name, prim in PRIMITIVES.items():
        if prim.kind != "elementwise" or prim.scalar is None or name in _TIE_TO_SECOND:
            continue
        try:
            entry = derive_recipes(name)
        except UnsupportedError:
            continue  # not lowerable: raises when used, as before
        lines.append(f"    {name!r}: {entry!r},")
    return "\n".join([*lines, "}", ""])


if __name__ == "__main__":
    import pathlib

    pathlib.Path(__file__).with_name("partials_table.py").write_text(table_source())
