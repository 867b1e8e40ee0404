"""SymPy simplification of element-wise regions (adjit/compiler/passes/algebraic.py).

Oracles: the reference interpreter on the IR before and after the pass (a fixed
corpus of random element-wise expressions, over ordinary and special values),
closed forms of the logistic example, and the pass's safety contract: NaN, inf
and zero inputs give what they gave before, f32 stays f32, the verifier passes.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import adjit
from adjit.compiler.passes import algebraic_simplify, cse, dce, simplify
from adjit.ir import verify

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def logistic(z):
    return 1 / (1 + np.exp(-z))


def np_logistic(z):
    return np.exp(-np.logaddexp(0.0, -z))


def optimized(fn):
    """The pass alone between CSE/DCE, verified (what `simplify` does around it)."""
    return verify(dce(cse(algebraic_simplify(verify(dce(cse(fn)))))))


def op_names(fn) -> list[str]:
    return [op.name for op in fn.walk()]


# ------------------------------------------------------------ the logistic example


@pytest.mark.parametrize(
    "f",
    [
        lambda x: np.sum(np.log(1 / (1 + np.exp(-x)))),
        lambda x: np.sum(np.log(logistic(x))),
    ],
    ids=["inline", "user_logistic"],
)
def test_grad_of_log_logistic_is_one_minus_logistic(f):
    x = np.array([-1000.0, -30.0, -2.0, 0.0, 0.5, 3.0, 40.0, 1000.0])
    fn = simplify(adjit.trace(adjit.grad(f))(x))
    text = str(fn)
    assert "div" not in text and "exp" not in text, text
    assert op_names(fn) == ["neg", "logistic"]  # logistic(-x) = 1 - logistic(x)
    (got,) = fn(x)
    # 1 - logistic(x), computed without cancellation (logistic(-x))
    np.testing.assert_allclose(got, np_logistic(-x), rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(got, 1 - np_logistic(x), rtol=1e-15, atol=1e-16)
    # compiled: the same IR and value, finite where the quotient overflowed
    g = adjit.grad(f)
    assert "div" not in str(g.ir(x))
    np.testing.assert_allclose(g(x), np_logistic(-x), rtol=1e-15, atol=1e-300)
    assert np.all(np.isfinite(g(x)))


def test_value_and_grad_of_log_logistic_has_no_division():
    f = lambda x: np.sum(np.log(logistic(x)))  # noqa: E731
    x = np.linspace(-5, 5, 11)
    vg = adjit.value_and_grad(f)
    assert "div" not in str(vg.ir(x))
    value, grad = vg(x)
    np.testing.assert_allclose(value, np.sum(np.log(np_logistic(x))), rtol=1e-14)
    np.testing.assert_allclose(grad, 1 - np_logistic(x), rtol=1e-14)


def test_logistic_regression_loss_gradient():
    def loss(w, x):
        return -np.log(logistic(w @ x))

    w = np.array([0.3, -0.2, 0.5])
    x = np.array([1.0, 2.0, -1.5])
    g = adjit.grad(loss)
    text = str(g.ir(w, x))
    assert "div" not in text and "exp" not in text, text
    z = w @ x
    np.testing.assert_allclose(g(w, x), -(1 - np_logistic(z)) * x, rtol=1e-15)


# ------------------------------------------------------------ random expressions

UNARY = [np.exp, np.log, np.sqrt, np.tanh, np.sin, np.negative, np.log1p, np.expm1, logistic]
BINARY = [np.add, np.subtract, np.multiply, np.divide]


def random_expression(rng: np.random.Generator, names: list[str], depth: int):
    """A random element-wise function of `names`, as (python callable, description)."""
    if depth == 0 or rng.random() < 0.2:
        k = int(rng.integers(len(names) + 1))
        if k == len(names):
            c = float(rng.choice([1.0, 2.0, 0.5, -1.0, 3.0]))
            return (lambda env, c=c: c), repr(c)
        return (lambda env, n=names[k]: env[n]), names[k]
    if rng.random() < 0.4:
        u = UNARY[int(rng.integers(len(UNARY)))]
        a, da = random_expression(rng, names, depth - 1)
        return (lambda env: u(a(env))), f"{u.__name__}({da})"
    b = BINARY[int(rng.integers(len(BINARY)))]
    x, dx = random_expression(rng, names, depth - 1)
    y, dy = random_expression(rng, names, depth - 1)
    return (lambda env: b(x(env), y(env))), f"{b.__name__}({dx}, {dy})"


def corpus(n: int = 60):
    rng = np.random.default_rng(1234)
    out = []
    for i in range(n):
        names = ["a", "b", "c"][: 1 + i % 3]
        g, desc = random_expression(rng, names, depth=4)
        # multiply by 1 * a so every function is an array function of all inputs
        out.append((names, g, desc))
    # hand-written: the rewrites that are wrong at special values must not happen
    out += [
        (["a"], lambda e: e["a"] / e["a"], "a/a"),
        (["a"], lambda e: np.exp(e["a"]) * 0 + e["a"], "exp(a)*0 + a"),
        (["a", "b"], lambda e: e["b"] * e["a"] / e["a"], "b*a/a"),
        (["a", "b"], lambda e: e["a"] - e["a"] + e["b"], "a - a + b"),
        (["a"], lambda e: np.exp(np.log(e["a"])), "exp(log(a))"),
        (["a"], lambda e: np.sqrt(e["a"]) * np.sqrt(e["a"]), "sqrt(a)**2"),
        (["a", "b"], lambda e: e["a"] * e["b"] * (e["a"] + e["b"]) / (e["a"] + e["b"]), "pole"),
        (["a"], lambda e: np.log(np.exp(e["a"])), "log(exp(a))"),
        (["a"], lambda e: np.log(logistic(e["a"])), "log(logistic(a))"),
        (["a"], lambda e: (np.exp(e["a"]) - 1) / (np.exp(e["a"]) - 1), "expm1/expm1"),
    ]
    return out


SPECIAL = np.array(
    [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-300, 1e300, 700.0, -700.0, np.nan, np.inf, -np.inf]
)


def inputs(n_names: int, dtype) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    grid = np.array(np.meshgrid(*([SPECIAL] * n_names), indexing="ij")).reshape(n_names, -1)
    normal = rng.normal(size=(n_names, 200)) * 2
    return [np.concatenate([g, r]).astype(dtype) for g, r in zip(grid, normal)]


def check_same(before: np.ndarray, after: np.ndarray, args: list[np.ndarray], rtol: float):
    """The pass's contract: equal where inputs are ordinary, NaN kept, no new overflow."""
    finite_in = np.all([np.isfinite(a) for a in args], axis=0)
    nan_in = np.any([np.isnan(a) for a in args], axis=0)
    inf_in = np.any([np.isinf(a) for a in args], axis=0)
    # (tiny and huge inputs may underflow/overflow the original; the rewrite may not)
    moderate = np.all([(a == 0) | ((np.abs(a) > 1e-3) & (np.abs(a) < 100)) for a in args], axis=0)
    close = np.isclose(before, after, rtol=rtol, atol=rtol, equal_nan=True)
    # ordinary inputs: the same value, the same NaN/inf (0/0 stays NaN, x/0 inf)
    bad = finite_in & moderate & ~close
    assert not bad.any(), (before[bad][:5], after[bad][:5], [a[bad][:5] for a in args])
    # NaN in, NaN out (with an inf input, the original's NaN may be inf*0 instead)
    bad = nan_in & ~inf_in & np.isnan(before) & ~np.isnan(after)
    assert not bad.any(), (before[bad][:5], after[bad][:5], [a[bad][:5] for a in args])
    # where the original gives a number, so does the rewrite (no new overflow)
    bad = ~nan_in & np.isfinite(before) & ~close
    assert not bad.any(), (before[bad][:5], after[bad][:5], [a[bad][:5] for a in args])


CORPUS = corpus()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", range(len(CORPUS)), ids=[c[2][:40] for c in CORPUS])
def test_random_expression_unchanged(case, dtype):
    names, g, desc = CORPUS[case]
    args = inputs(len(names), dtype)

    def f(*xs):
        env = dict(zip(names, xs))
        out = g(env)
        return out * (xs[0] * 0 + 1) if np.ndim(out) == 0 else out  # an array result

    fn = adjit.trace(f)(*args)
    after = optimized(fn)
    with np.errstate(all="ignore"):
        (want,) = fn(*args)
        (got,) = after(*args)
    assert got.dtype == want.dtype  # (Python floats through NumPy may make f64)
    dtypes = {r.type.dtype for op in fn.walk() for r in op.results}
    assert {r.type.dtype for op in after.walk() for r in op.results} <= dtypes
    check_same(want, got, args, rtol=1e-4 if dtype == np.float32 else 1e-9)


def test_corpus_is_rewritten_somewhere():
    """The random corpus exercises the pass: many functions change."""
    changed = 0
    for names, g, _ in CORPUS:
        args = inputs(len(names), np.float64)

        def f(*xs, names=names, g=g):
            return g(dict(zip(names, xs))) * (xs[0] * 0 + 1)

        fn = adjit.trace(f)(*args)
        if op_names(optimized(fn)) != op_names(verify(dce(cse(fn)))):
            changed += 1
    assert changed >= 10, changed


@pytest.mark.parametrize(
    "f",
    [
        lambda a: a / a,
        lambda a: np.exp(a) * 0 + a,
        lambda a: np.exp(np.log(a)),
        lambda a: np.sqrt(a) * np.sqrt(a),
        lambda a: (a - 7) * a / (a - 7),  # a pole off the pass's check grid
        lambda a: a * (a - 7) / (a * a - 49),
    ],
    ids=["a/a", "times_zero", "exp_log", "sqrt_squared", "pole", "pole_factor"],
)
def test_special_values_unchanged(f):
    a = np.array([0.0, -1.0, np.inf, -np.inf, np.nan, 1e308, 2.0, 7.0, -7.0])
    fn = adjit.trace(f)(a)
    with np.errstate(all="ignore"):
        (want,) = fn(a)
        (got,) = simplify(fn)(a)
        np.testing.assert_array_equal(got, want)


def test_f32_preserved():
    f = adjit.grad(lambda x: np.sum(np.log(logistic(x)) * np.float32(2.0)))
    x = np.linspace(-3, 3, 7, dtype=np.float32)
    fn = simplify(adjit.trace(f)(x))
    assert "f64" not in str(fn), str(fn)
    (got,) = fn(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, 2 * (1 - np_logistic(x.astype(np.float64))), rtol=1e-6)


def test_regions_inside_control_flow_and_verifier():
    def f(x):
        def body(i, acc):
            e = np.exp(-acc * x)
            return acc + e / (1 + e)  # logistic(-acc*x): no division left

        return adjit.fori_loop(0, 3, body, x)

    x = np.linspace(-2.0, 2.0, 5)
    fn = adjit.trace(f)(x)
    after = verify(algebraic_simplify(verify(fn)))
    assert "div" in op_names(fn) and "div" not in op_names(dce(after))
    np.testing.assert_allclose(after(x)[0], fn(x)[0], rtol=1e-14)


def test_sympy_stays_lazy():
    code = "import sys, adjit; assert 'sympy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
