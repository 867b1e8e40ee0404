"""The spelled-out forms the SymPy derivation lowers to more accurate primitives,
and the Piecewise conditions it lowers to comparisons.

derivatives._named recognizes log(1 + a), exp(a) - 1 and 1/(1 + exp(-a)) in a
derived expression; no primitive's derivative in today's table happens to need
all three, so the recognizer is checked here directly, each answer against SymPy
(the named primitive applied to the argument found equals the expression).
"""

from __future__ import annotations

import numpy as np
import pytest

sp = pytest.importorskip("sympy")

from adjit.compiler import derivatives  # noqa: E402

a, b = sp.symbols("a b", real=True)

_DEFINITIONS = {
    "log1p": lambda u: sp.log(1 + u),
    "expm1": lambda u: sp.exp(u) - 1,
    "logistic": lambda u: 1 / (1 + sp.exp(-u)),
}


@pytest.mark.parametrize(
    ("expr", "name"),
    [
        (sp.log(1 + a * b), "log1p"),
        (sp.exp(a * b) - 1, "expm1"),
        (1 / (1 + sp.exp(-a * b)), "logistic"),
        (1 / (1 + sp.exp(a + b)), "logistic"),
    ],
)
def test_spelled_out_forms_are_named(expr, name):
    found = derivatives._named(sp, expr)
    assert found is not None and found[0] == name
    assert sp.simplify(_DEFINITIONS[name](found[1]) - expr) == 0


@pytest.mark.parametrize(
    "expr",
    [sp.log(2 + a), sp.exp(a) - 2, 1 / (2 + sp.exp(-a)), 1 / (1 + sp.sin(a)), sp.exp(a) + 1],
)
def test_other_forms_are_not_named(expr):
    assert derivatives._named(sp, expr) is None


_NUMPY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "neg": np.negative,
    "eq": np.equal,
    "ne": np.not_equal,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
    "select": np.where,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "sin": np.sin,
    "cos": np.cos,
    "pow": np.power,
    "log1p": np.log1p,
    "expm1": np.expm1,
    "logistic": lambda u: 1.0 / (1.0 + np.exp(-u)),
}


def _evaluate(recipe, env: dict[str, np.ndarray]) -> np.ndarray:
    if recipe[0] == "sym":
        return env[recipe[1]]
    if recipe[0] == "const":
        return np.float64(recipe[1])
    return _NUMPY[recipe[0]](*(_evaluate(r, env) for r in recipe[1:]))


def test_lowered_expressions_evaluate_as_sympy():
    # every branch of the lowering (sums with negated terms, rational, irrational and
    # floating-point coefficients, powers, Heaviside of a difference and of anything
    # else), its recipe evaluated with NumPy against SymPy's own evaluation
    syms = derivatives._symbols(sp)
    x, y = syms["x"], syms["y"]
    exprs = [
        x - 2 * y,
        -x - y,
        sp.Rational(3, 2) * x * y,
        -sp.Rational(1, 3) * x / y,
        sp.sqrt(2) * x,
        sp.Float(2.5) * x * y,  # a factor: as_coeff_mul takes only rational coefficients
        -sp.Float(0.3) * x / y,
        x**3,
        x**-2,
        sp.sqrt(sp.exp(x)),
        sp.Heaviside(x - y),
        sp.Heaviside(x + y),
        sp.Heaviside(x),
        sp.Heaviside(2 * x - 3 * y),
        sp.sin(x) / (1 + sp.exp(-y)),
    ]
    rng = np.random.default_rng(7)
    env = {"x": rng.uniform(0.2, 2.0, 50) * rng.choice([-1, 1], 50), "y": rng.uniform(0.3, 1.7, 50)}
    for expr in exprs:
        recipe = derivatives._RecipeLowering()(expr)
        want = sp.lambdify(
            (x, y), expr, modules=[{"Heaviside": lambda v, *_: np.heaviside(v, 0.5)}, "numpy"]
        )
        np.testing.assert_allclose(
            _evaluate(recipe, env), want(env["x"], env["y"]), rtol=1e-14, err_msg=str(expr)
        )


def test_piecewise_conditions_are_lowered_to_their_comparisons():
    # today's table holds only Eq conditions; each relation, at ties and off them,
    # against SymPy's evaluation of the Piecewise
    syms = derivatives._symbols(sp)
    x, y = syms["x"], syms["y"]
    relations = [sp.Eq, sp.Ne, sp.Lt, sp.Le, sp.Gt, sp.Ge]
    env = {"x": np.array([-1.0, 0.5, 2.0, 2.0, 3.0]), "y": np.array([0.5, 0.5, 1.0, 2.0, 4.0])}
    for rel in relations:
        expr = sp.Piecewise((x - y, rel(x, y)), (x * y, True))
        recipe = derivatives._RecipeLowering()(expr)
        want = sp.lambdify((x, y), expr, modules="numpy")
        np.testing.assert_array_equal(
            _evaluate(recipe, env), want(env["x"], env["y"]), err_msg=str(expr)
        )
    with pytest.raises(derivatives.UnsupportedError, match="cannot lower the condition"):
        derivatives._RecipeLowering()(sp.Piecewise((x, sp.And(x < y, y < 1)), (y, True)))


def test_spelled_out_forms_are_lowered_to_the_accurate_primitives():
    # log(1 + a) and exp(a) - 1 at a near 0 lose every digit past 1e-16 / a when
    # lowered as written; named, they keep full precision (against mpmath)
    import mpmath  # a dependency of SymPy

    syms = derivatives._symbols(sp)
    x, y = syms["x"], syms["y"]
    env = {"x": np.array([1e-9, -3e-12, 2e-7]), "y": np.array([0.5, 1.5, -0.25])}
    exact = {
        sp.log(1 + x * y): lambda u: mpmath.log1p(u),
        sp.exp(x * y) - 1: lambda u: mpmath.expm1(u),
    }
    for expr, want in exact.items():
        got = _evaluate(derivatives._RecipeLowering()(expr), env)
        products = [mpmath.mpf(u) * mpmath.mpf(v) for u, v in zip(env["x"], env["y"])]
        np.testing.assert_allclose(got, [float(want(p)) for p in products], rtol=1e-15)
