"""Reverse mode: the adjoint pass, its rule tables, grad / value_and_grad / vjp.

Oracles: central finite differences in float64 (every primitive, through the
reference interpreter), exact textbook gradients, the `autograd` package (a
corpus of programs, compiled by adjit), and ADBench's reference GMM gradient.
"""

from __future__ import annotations

import functools

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from adbench import data_path, gmm_objective, gmm_reference_gradient_test, read_gmm, rho
from linalg_samples import LINALG_STRUCTURAL
from samples import (
    BINARY_INPUTS,
    ELEMENTWISE,
    MATMUL_SHAPES,
    OTHER,
    UNARY_INPUTS,
    X,
    assert_tree_close,
    normal,
    rng,
    uniform,
)

import adjit
from adjit.compiler import derivatives, ops, rules
from adjit.compiler.builder import Builder, building
from adjit.compiler.passes import simplify
from adjit.compiler.reverse import vjp_function
from adjit.ir import PRIMITIVES, Function, Slice, TensorType, verify
from adjit.ir.indexing import Dynamic

# ----------------------------------------------------------- rule tables


@pytest.mark.parametrize("table", ["VJP_RULES", "JVP_RULES"])
def test_every_primitive_has_a_rule_or_is_marked(table):
    for name, prim in PRIMITIVES.items():
        if name in rules.REGION_OPS:
            assert prim.kind == "control", name
        elif name in rules.TAPE_OPS:  # reverse rules in reverse.py
            assert prim.kind == "tape", name
            assert table == "VJP_RULES" or name == "tape_new" or name in rules.JVP_RULES
        elif name in rules.NOT_DIFFERENTIABLE:
            assert not prim.differentiable, name
        elif prim.kind == "elementwise" and name not in getattr(rules, table):
            assert prim.scalar is not None, f"{name}: no SymPy expression to derive from"
            assert len(derivatives.partials(name)) == prim.arity
        elif name != "constant" or table == "VJP_RULES":
            assert name in getattr(rules, table), f"{name} has no rule in {table}"


def test_partials_are_simplified_and_reuse_the_result():
    show = {
        n: [str(e) for e in derivatives.partials(n)] for n in ("exp", "sqrt", "tanh", "logistic")
    }
    assert show == {
        "exp": ["r"],
        "sqrt": ["1/(2*r)"],
        "tanh": ["1 - r**2"],
        "logistic": ["-r*(r - 1)"],
    }
    assert derivatives.partials("floor") == (0,)
    # d/dx log(1 + x) lowers to 1/(x + 1); d/dx x**y keeps x**(y - 1) (finite at 0),
    # and is 0 for y = 0, where that is 0 * inf at x = 0
    assert str(derivatives.partials("pow")[0]) == "Piecewise((0, Eq(y, 0)), (x**(y - 1)*y, True))"


# ------------------------------------------- every primitive vs finite differences


def _build(body, inputs) -> Function:
    """f(inputs) = sum(body(*params) * W) for fixed random weights W: a scalar."""
    b = Builder()
    with building(b):
        params = [b.add_arg(TensorType.of_array(a), f"a{i}") for i, a in enumerate(inputs)]
        out = body(*params)
        w = normal(*out.type.shape, seed=99)
        weighted = ops.elementwise("mul", out, ops.constant(w))
        s = ops.reduce("reduce_sum", weighted, range(out.type.ndim))
        return verify(Function("f", b.block([s])))


def _finite_differences(
    fn: Function, inputs: list[np.ndarray], i: int, h: float = 1e-6
) -> np.ndarray:
    x = inputs[i]
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[k] += h
        minus[k] -= h
        args_p = [plus if j == i else a for j, a in enumerate(inputs)]
        args_m = [minus if j == i else a for j, a in enumerate(inputs)]
        g[k] = (fn(*args_p)[0] - fn(*args_m)[0]) / (2 * h)
    return g


def check_fd(body, *inputs: np.ndarray) -> None:
    inputs = [np.asarray(a) for a in inputs]
    fn = _build(body, inputs)
    wrt = [i for i, a in enumerate(inputs) if a.dtype.kind == "f"]
    adj = vjp_function(fn, wrt)
    for g in (adj, simplify(adj)):
        value, *grads = g(*inputs, np.float64(1.0))
        np.testing.assert_allclose(value, fn(*inputs)[0], rtol=1e-14)
        for i, gi in zip(wrt, grads):
            assert gi.shape == inputs[i].shape and gi.dtype == inputs[i].dtype
            np.testing.assert_allclose(gi, _finite_differences(fn, inputs, i), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_gradient_matches_finite_differences(name):
    prim = PRIMITIVES[name]
    if prim.arity == 1:
        check_fd(lambda x: ops.elementwise(name, x), UNARY_INPUTS.get(name, X))
    else:
        a, b = BINARY_INPUTS.get(name, (X, OTHER))
        check_fd(lambda x, y: ops.elementwise(name, x, y), a, b)
        # broadcasting: the operand's cotangent is summed over broadcast dims
        check_fd(lambda x, y: ops.elementwise(name, x, y), a, b[:1, :])
        check_fd(lambda x, y: ops.elementwise(name, x, y), a[0], b)


def _cmp(name):
    return lambda c, a, b: ops.elementwise("select", ops.elementwise("gt", c, 0.0), a, b)


ND = normal(2, 3, 4, seed=5)
STRUCTURAL = {
    "select": (_cmp("select"), X, normal(2, 3, seed=6), normal(3, seed=7)),
    "reduce_sum": (lambda x: ops.reduce("reduce_sum", x, (0, 2)), ND),
    "reduce_prod": (lambda x: ops.reduce("reduce_prod", x, (1,)), ND),
    "reduce_max": (lambda x: ops.reduce("reduce_max", x, (2,)), ND),
    "reduce_min": (lambda x: ops.reduce("reduce_min", x, (0, 1, 2)), ND),
    "broadcast": (lambda x: ops.broadcast_to(x, (4, 2, 3)), normal(2, 1, seed=8)),
    "reshape": (lambda x: ops.reshape(x, (4, 6)), ND),
    "transpose": (lambda x: ops.transpose(x, (2, 0, 1)), ND),
    "concatenate": (lambda x, y: ops.concatenate([x, y, x], 1), X, normal(2, 2, seed=9)),
    "gather": (lambda x: ops.gather(x, (np.array([0, 1, 1]), Slice(2, 0, -1))), X),
    "scatter": (lambda x, v: ops.scatter(x, (1, Slice(0, 3, 2)), v), X, normal(2, seed=10)),
    "scatter_add": (
        lambda x, v: ops.scatter(x, (np.array([0, 1, 0]),), v, add=True),
        X,
        normal(3, 1, seed=11),
    ),
    "convert": (lambda x: ops.convert(ops.convert(x, "f32"), "f64"), X),
    "linear_scan": (lambda a, b: ops.linear_scan(a, b, 1), X, normal(2, 3, seed=17)),
    "linear_scan_reverse_zeros": (
        lambda a, b: ops.linear_scan(a, b, 0, reverse=True),
        np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.5, 0.0, -1.0]]),
        normal(3, 3, seed=18),
    ),
}

STRUCTURAL.update(LINALG_STRUCTURAL)  # solve, cholesky, eigh, ...


@pytest.mark.parametrize("name", sorted(STRUCTURAL))
def test_structural_gradient_matches_finite_differences(name):
    body, *inputs = STRUCTURAL[name]
    if name == "convert":  # through f32: exact for the cotangent, not for FD
        fn = _build(body, [X])
        _, g = vjp_function(fn, [0])(X, np.float64(1.0))
        np.testing.assert_array_equal(g, normal(2, 3, seed=99).astype(np.float32))
        return
    check_fd(body, *inputs)


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_gradient_batched_broadcast_1d(sa, sb):
    check_fd(lambda a, b: ops.matmul(a, b), normal(*sa, seed=1), normal(*sb, seed=2))


def test_reduce_prod_with_zeros():
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]])
    check_fd(lambda v: ops.reduce("reduce_prod", v, (1,)), x)


def test_reduce_max_ties_split_like_autograd():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]])
    f = lambda x: np.sum(np.max(x, axis=1) * np.array([1.0, 2.0]))  # noqa: E731
    np.testing.assert_array_equal(adjit.grad(f)(x), autograd.grad(f)(x))


def test_dynamic_gather_and_scatter_add():
    def body(x, v, i):
        picked = ops.gather(x, (Dynamic(0),), [i])
        added = ops.scatter(x, (Dynamic(0),), v, [i], add=True)
        return ops.elementwise("mul", picked, ops.gather(added, (Dynamic(0),), [i]))

    check_fd(body, X[0].reshape(3), normal(2, seed=4), np.array([2, 0]))


def test_unreached_param_gets_zeros_and_types_match():
    b = Builder()
    with building(b):
        x = b.add_arg(TensorType("f64", (3,)))
        y = b.add_arg(TensorType("f32", (2,)))
        n = b.add_arg(TensorType("i64", ()))
        fn = Function("f", b.block([ops.reduce("reduce_sum", x, (0,))]))
    g = vjp_function(verify(fn), [0, 1])
    assert [str(p.type) for p in g.params] == ["f64[3]", "f32[2]", "i64[]", "f64[]"]
    assert [str(t) for t in g.result_types] == ["f64[]", "f64[3]", "f32[2]"]
    _, gx, gy = g(np.ones(3), np.ones(2, np.float32), np.int64(1), np.float64(2.0))
    np.testing.assert_array_equal(gx, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(gy, [0.0, 0.0])
    del y, n


# ------------------------------------------------------------- textbook examples


def test_textbook_product_plus_sine():
    df = adjit.grad(lambda x1, x2: x1 * x2 + np.sin(x2), argnums=(0, 1))
    x1, x2 = 1.5, -0.7
    assert df(x1, x2) == (x2, x1 + np.cos(x2))


def test_textbook_relu_vjp():
    out, pullback = adjit.vjp(lambda x: np.maximum(x, 0), np.array([1.0, -2.0, 3.0, -1.0]))
    np.testing.assert_array_equal(out, [1.0, 0.0, 3.0, 0.0])
    (g,) = pullback(np.array([4.0, -1.0, 5.0, 9.0]))
    np.testing.assert_array_equal(g, [4.0, 0.0, 5.0, 0.0])
    # relu'(0) = 0: the gradient goes to the input only where it is > 0
    assert adjit.grad(lambda x: np.sum(np.maximum(x, 0.0)))(np.zeros(2)).tolist() == [0.0, 0.0]


def test_textbook_logistic_loss():
    def loss(w, x):
        return -np.log(1 / (1 + np.exp(-(w @ x))))

    w, x = normal(5, seed=1), normal(5, seed=2)
    s = 1 / (1 + np.exp(-(w @ x)))
    np.testing.assert_allclose(adjit.grad(loss)(w, x), -(1 - s) * x, rtol=1e-14)


# ------------------------------------------------------ corpus against autograd


def logreg(np, w, b, X, y):
    z = X @ w + b
    p = 1 / (1 + np.exp(-z))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def mlp_xent(np, params, X, onehot, l1=1e-3, l2=1e-2):
    (w1, b1), (w2, b2) = params
    h = np.maximum(X @ w1 + b1, 0.0)
    logits = h @ w2 + b2
    logits = logits - np.max(logits, axis=1, keepdims=True)
    logp = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    reg = l1 * (np.sum(np.abs(w1)) + np.sum(np.abs(w2))) + l2 * (np.sum(w1 * w1) + np.sum(w2 * w2))
    return -np.sum(onehot * logp) / X.shape[0] + reg


def tanh_net(np, w1, w2, X, y):
    h = np.tanh(X @ w1)
    out = np.tanh(h @ w2)
    return np.sum((out - y) ** 2)


def logsumexp(np, x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


def layer_norm(np, x, gamma, beta):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + 1e-5) * gamma + beta
    return np.sum(y * np.sin(y))


def lstm_step(np, W, U, b, h, c, x):
    z = x @ W + h @ U + b
    n = h.shape[-1]
    i = 1 / (1 + np.exp(-z[:, :n]))
    f = 1 / (1 + np.exp(-z[:, n : 2 * n]))
    o = 1 / (1 + np.exp(-z[:, 2 * n : 3 * n]))
    g = np.tanh(z[:, 3 * n :])
    c2 = f * c + i * g
    h2 = o * np.tanh(c2)
    return np.sum(h2 * h2) + np.sum(c2)


def indexing(np, x):
    a = x[np.array([0, 2, 2, 1])]
    b = x[1:, ::2] * x[:-1, 1::2]
    return np.sum(a * a) + np.sum(b) + x[1, 2] ** 3


def elementwise_zoo(np, x, y):
    u = np.sin(x) * np.cos(y) + np.tan(x / 3) - np.arctan2(x, y)
    v = np.log1p(np.abs(x)) + np.expm1(-y * y) + np.sqrt(y * y + 1) + x**3 - y / (1 + x * x)
    w = np.sinh(x / 2) * np.cosh(y / 2) + np.arcsin(np.tanh(x) / 2) + np.arccos(np.tanh(y) / 2)
    return np.sum(u * v + w + np.minimum(x, y) * np.maximum(x, 0.2) + np.exp(-x) ** 2)


def reductions(np, x):
    return np.sum(np.prod(x, axis=0)) + np.sum(np.max(x, axis=1)) - np.min(x) + np.sum(x.T @ x)


def broadcasting(np, a, b):
    return np.sum((a[:, None, :] - b[None, :, :]) ** 2 * a.sum(axis=1)[:, None, None])


def where_clip(np, x):
    y = np.where(x > 0.3, x * x, -x)
    return np.sum(np.clip(y, -0.5, 0.5) + np.abs(x))


def concat_stack(np, x, y):
    z = np.concatenate([x, y * 2, x * y], axis=0)
    s = np.stack([x, y], axis=1)
    return np.sum(z * z) + np.sum(s.reshape(-1) * np.arange(s.size))


def softmax_attention(np, q, k, v):
    s = q @ k.T / np.sqrt(q.shape[1])
    s = s - np.max(s, axis=1, keepdims=True)
    a = np.exp(s)
    a = a / np.sum(a, axis=1, keepdims=True)
    return np.sum((a @ v) ** 2)


def pytree_dict(np, params, x):
    return np.sum(np.tanh(x @ params["w"] + params["b"]) * params["scale"])


def polynomial(np, x):
    return np.sum(3 * x**4 - 2 * x**3 + x**2 / 2 - 7 * x + 1)


def batched_matmul(np, a, b):
    return np.sum(np.tanh(a @ b))


def kinetic(np, q, p):
    return 0.5 * np.sum(p * p) + np.sum(np.cos(q[1:] - q[:-1]))


def rosenbrock(np, x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def variance_norm(np, x):
    return np.var(x) + np.sum(np.sqrt(np.sum(x * x, axis=0)))


def softplus_loss(np, w, X):
    return np.sum(np.log1p(np.exp(X @ w))) + np.sum(np.logaddexp(X @ w, 0.5))


def huber(np, r):
    a = np.abs(r)
    return np.sum(np.where(a <= 1.0, 0.5 * r * r, a - 0.5))


def cosine_similarity(np, a, b):
    return np.sum(a * b) / (np.sqrt(np.sum(a * a)) * np.sqrt(np.sum(b * b)))


def gaussian_nll(np, mu, log_sigma, x):
    s = np.exp(log_sigma)
    return np.sum(0.5 * ((x - mu) / s) ** 2 + log_sigma)


def rbf_kernel(np, X, ell):
    sq = np.sum(X * X, axis=1)
    d2 = sq[:, None] + sq[None, :] - 2 * X @ X.T
    return np.sum(np.exp(-d2 / (2 * ell * ell)) * np.arange(X.shape[0])[:, None])


def entropy(np, logits):
    p = np.exp(logits) / np.sum(np.exp(logits))
    return -np.sum(p * np.log(p))


def matrix_factorization(np, U, V, R):
    return np.sum((U @ V.T - R) ** 2) + 0.1 * (np.sum(U**2) + np.sum(V**2))


def trig_chain(np, x):
    return np.sum(np.arctan(np.sinh(x)) * np.cos(np.exp(-x * x)) + np.tanh(np.arcsin(x / 3)))


def mean_abs_error(np, w, X, y):
    return np.mean(np.abs(X @ w - y)) + np.max(np.abs(w))


def transposed_ops(np, A, B):
    C = A.T @ B
    return np.sum(np.swapaxes(C[None], 1, 2) * C.T) + np.sum(A.reshape(2, -1) ** 2)


def divide_and_power(np, x, y):
    return np.sum(x**y / (1 + y) + np.sqrt(x) ** 3 - 1 / x + np.power(2.0, -x))


Xb = normal(8, 5, seed=1)
yb = (rng(2).random(8) > 0.5).astype(float)
MLP = ((normal(5, 6, seed=3) * 0.5, normal(6, seed=4)), (normal(6, 3, seed=5), normal(3, seed=6)))
ONEHOT = np.eye(3)[rng(7).integers(0, 3, 8)]

CORPUS = {
    "logreg": (logreg, (0, 1), normal(5, seed=8), 0.3, Xb, yb),
    "mlp_softmax_xent_l1_l2": (mlp_xent, 0, MLP, Xb, ONEHOT),
    "tanh_net": (
        tanh_net,
        (0, 1),
        normal(5, 4, seed=9),
        normal(4, 2, seed=10),
        Xb,
        normal(8, 2, seed=11),
    ),
    "logsumexp": (logsumexp, 0, normal(7, seed=12)),
    "layer_norm": (
        layer_norm,
        (0, 1, 2),
        normal(4, 6, seed=13),
        normal(6, seed=14),
        normal(6, seed=15),
    ),
    "lstm_step": (
        lstm_step,
        (0, 1, 2, 3, 4, 5),
        normal(3, 8, seed=16),
        normal(2, 8, seed=17),
        normal(8, seed=18),
        normal(4, 2, seed=19),
        normal(4, 2, seed=20),
        normal(4, 3, seed=21),
    ),
    "indexing": (indexing, 0, normal(3, 4, seed=22)),
    "elementwise_zoo": (
        elementwise_zoo,
        (0, 1),
        normal(3, 4, seed=23),
        uniform(3, 4, lo=0.5, hi=2.0, seed=24),
    ),
    "reductions": (reductions, 0, normal(4, 3, seed=25)),
    "broadcasting": (broadcasting, (0, 1), normal(3, 4, seed=26), normal(2, 4, seed=27)),
    "where_clip": (where_clip, 0, normal(5, 3, seed=28)),
    "concat_stack": (concat_stack, (0, 1), normal(2, 3, seed=29), normal(2, 3, seed=30)),
    "softmax_attention": (
        softmax_attention,
        (0, 1, 2),
        normal(4, 3, seed=31),
        normal(5, 3, seed=32),
        normal(5, 2, seed=33),
    ),
    "pytree_dict": (
        pytree_dict,
        0,
        {"w": normal(3, 2, seed=34), "b": normal(2, seed=35), "scale": 1.5},
        normal(4, 3, seed=36),
    ),
    "polynomial": (polynomial, 0, normal(6, seed=37)),
    "batched_matmul": (batched_matmul, (0, 1), normal(2, 3, 4, seed=38), normal(4, 2, seed=39)),
    "kinetic": (kinetic, (0, 1), normal(5, seed=40), normal(5, seed=41)),
    "rosenbrock": (rosenbrock, 0, normal(6, seed=42)),
    "variance_norm": (variance_norm, 0, normal(5, 3, seed=43)),
    "softplus_loss": (softplus_loss, 0, normal(5, seed=44), Xb),
    "huber": (huber, 0, normal(9, seed=45) * 2),
    "cosine_similarity": (cosine_similarity, (0, 1), normal(6, seed=46), normal(6, seed=47)),
    "gaussian_nll": (
        gaussian_nll,
        (0, 1),
        normal(4, seed=48),
        normal(4, seed=49) * 0.3,
        normal(6, 4, seed=50),
    ),
    "rbf_kernel": (rbf_kernel, (0, 1), normal(5, 2, seed=51), 1.3),
    "entropy": (entropy, 0, normal(6, seed=52)),
    "matrix_factorization": (
        matrix_factorization,
        (0, 1),
        normal(4, 2, seed=53),
        normal(5, 2, seed=54),
        normal(4, 5, seed=55),
    ),
    "trig_chain": (trig_chain, 0, normal(7, seed=56)),
    "mean_abs_error": (mean_abs_error, 0, normal(5, seed=57), Xb, yb),
    "transposed_ops": (transposed_ops, (0, 1), normal(4, 3, seed=58), normal(4, 3, seed=59)),
    "divide_and_power": (
        divide_and_power,
        (0, 1),
        uniform(5, lo=0.5, hi=2.0, seed=60),
        normal(5, seed=61),
    ),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_matches_autograd(name):
    f, argnums, *args = CORPUS[name]
    want_value = f(np, *args)
    want = autograd.grad(functools.partial(f, anp), argnums)(*args)
    value, got = adjit.value_and_grad(functools.partial(f, np), argnums)(*args)
    np.testing.assert_allclose(value, want_value, rtol=1e-12)
    assert_tree_close(got, want)


def test_item_assignment_matches_autograd_functional_form():
    def assigned(x):
        y = np.zeros((3, 4))
        y[0] = x[0] * 2
        y[1:, 1:] = np.tanh(x[1:, :3])
        y[2, 0] += x[2, 3] ** 2
        return np.sum(y * y) + np.sum(y[:, 0])

    def functional(x):
        row0 = x[0] * 2
        t = anp.tanh(x[1:, :3])
        col0 = anp.array([0.0, 0.0, 1.0]) * x[2, 3] ** 2
        rest = anp.concatenate([row0[None, 1:], t], axis=0)
        y = anp.concatenate([anp.concatenate([row0[:1], col0[1:]])[:, None], rest], axis=1)
        return anp.sum(y * y) + anp.sum(y[:, 0])

    x = normal(3, 4, seed=50)
    np.testing.assert_allclose(assigned(x), functional(x), rtol=1e-14)
    np.testing.assert_allclose(adjit.grad(assigned)(x), autograd.grad(functional)(x), rtol=1e-10)


def test_gather_with_repeated_indices_accumulates():
    f = lambda x: np.sum(x[np.array([1, 1, 0, 1])] ** 2)  # noqa: E731
    x = np.array([3.0, -2.0])
    np.testing.assert_allclose(adjit.grad(f)(x), autograd.grad(f)(x))


# ------------------------------------------------------------------- ADBench GMM


def test_adbench_gmm_gradient_matches_reference():
    data = read_gmm(data_path("gmm", "test.txt"))
    gamma, m = data["gamma"], data["m"]

    def objective(alphas, means, icf, x):
        return gmm_objective(alphas, means, icf, x, gamma, m)

    g = adjit.grad(objective, argnums=(0, 1, 2))(
        data["alphas"], data["means"], data["icf"], data["x"]
    )
    ref = gmm_reference_gradient_test()
    for got, name in zip(g, ("alphas", "means", "icf")):
        assert rho(got, ref[name]).max() < 1e-8, name


# ------------------------------------------------------------------------- API


def test_grad_decorator_forms_and_pytrees():
    @adjit.grad
    def f(x):
        return np.sum(x * x)

    @adjit.grad(argnums=1)
    def g(x, y):
        return np.sum(x * y)

    x, y = normal(3, seed=1), normal(3, seed=2)
    np.testing.assert_allclose(f(x), 2 * x)
    np.testing.assert_allclose(g(x, y), x)
    h = adjit.grad(lambda p, s: s * np.sum(p["a"] ** 2) + p["b"][0] * p["b"][1], argnums=(0, 1))
    gp, gs = h({"a": x, "b": [1.5, 2.0]}, 3.0)
    np.testing.assert_allclose(gp["a"], 6 * x)
    assert gp["b"] == [2.0, 1.5] and isinstance(gp["b"], list)
    np.testing.assert_allclose(gs, np.sum(x * x))


def test_value_and_grad_one_native_call_and_inspection():
    f = lambda x: np.sum(np.exp(x))  # noqa: E731
    vg = adjit.value_and_grad(f)
    x = normal(4, seed=3)
    value, g = vg(x)
    np.testing.assert_allclose(value, np.sum(np.exp(x)))
    np.testing.assert_allclose(g, np.exp(x))
    ir = vg.ir(x)
    assert len(ir.results) == 2 and len(ir.params) == 1  # the seed is a constant
    assert sum(op.name == "exp" for op in ir.walk()) == 1  # the primal exp is reused
    assert "def entry(" in vg.source(x)


def test_has_aux():
    def f(x):
        return np.sum(x**2), {"mean": np.mean(x)}

    x = normal(3, seed=4)
    g, aux = adjit.grad(f, has_aux=True)(x)
    np.testing.assert_allclose(g, 2 * x)
    np.testing.assert_allclose(aux["mean"], np.mean(x))
    (v, aux2), g2 = adjit.value_and_grad(f, has_aux=True)(x)
    np.testing.assert_allclose(v, np.sum(x**2))
    np.testing.assert_allclose(aux2["mean"], np.mean(x))


def test_grad_of_grad_and_grad_inside_jit():
    f = lambda x: np.sin(x) * x**3  # noqa: E731
    x = 0.7
    want = -np.sin(x) * x**3 + 6 * x**2 * np.cos(x) + 6 * x * np.sin(x)
    np.testing.assert_allclose(adjit.grad(adjit.grad(f))(x), want, rtol=1e-13)
    np.testing.assert_allclose(adjit.jit(adjit.grad(f))(x), 3 * x**2 * np.sin(x) + x**3 * np.cos(x))
    h = lambda x: np.sum(np.tanh(x) ** 2)  # noqa: E731
    xs = normal(3, seed=5)
    np.testing.assert_allclose(
        adjit.grad(lambda x: np.sum(adjit.grad(h)(x) * x))(xs),
        autograd.grad(lambda x: anp.sum(autograd.grad(lambda x: anp.sum(anp.tanh(x) ** 2))(x) * x))(
            xs
        ),
        rtol=1e-12,
    )


def test_vjp_pytree_and_multiple_outputs():
    def f(x, y):
        return {"s": np.sin(x) * y, "t": np.sum(x)}

    x, y = normal(3, seed=6), normal(3, seed=7)
    out, pullback = adjit.vjp(f, x, y)
    np.testing.assert_allclose(out["s"], np.sin(x) * y)
    gx, gy = pullback({"s": np.ones(3), "t": 2.0})
    np.testing.assert_allclose(gx, np.cos(x) * y + 2.0)
    np.testing.assert_allclose(gy, np.sin(x))


def test_vjp_inside_a_trace():
    def f(x):
        return np.sin(x) * x

    def g(x):  # d/dx of <pullback(cos x), 1>: a vjp inlined into grad's trace
        _, pullback = adjit.vjp(f, x)
        (ct,) = pullback(np.cos(x))
        return np.sum(ct)

    def ag(x):
        pb, _ = autograd.make_vjp(lambda x: anp.sin(x) * x)(x)
        return anp.sum(pb(anp.cos(x)))

    x = normal(4, seed=8)
    np.testing.assert_allclose(adjit.jit(g)(x), ag(x), rtol=1e-13)
    np.testing.assert_allclose(adjit.grad(g)(x), autograd.grad(ag)(x), rtol=1e-12)


def test_error_non_scalar_output():
    with pytest.raises(adjit.AdjitError, match="scalar.*vjp.*jacrev"):
        adjit.grad(lambda x: x * 2)(np.ones(3))


def test_error_integer_argument_is_named():
    with pytest.raises(adjit.AdjitError, match="argument n .*i64"):
        adjit.grad(lambda x, n: np.sum(x * n), argnums=1)(np.ones(3), np.arange(3))


def test_error_has_aux_needs_a_pair():
    with pytest.raises(adjit.AdjitError, match="pair"):
        adjit.grad(lambda x: np.sum(x), has_aux=True)(np.ones(3))


def test_while_loop_and_fori_loop_with_traced_bounds_in_reverse_mode():
    # formerly refused; tests/test_loop_reverse.py has the full set
    def f(x):
        return adjit.while_loop(lambda v: v.sum() < 10, lambda v: v * 2, x).sum()

    np.testing.assert_array_equal(adjit.grad(f)(np.ones(3)), np.full(3, 4.0))


def test_fori_loop_with_traced_bounds_in_reverse_mode():
    def f(x, n):
        return adjit.fori_loop(0, n, lambda i, v: v * v, x).sum()

    np.testing.assert_allclose(adjit.grad(f)(np.full(3, 1.1), np.array(3)), 8 * 1.1**7)


def _central(f, x, eps=1e-6):
    x = np.asarray(x, dtype=float)
    return np.array(
        [(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(x.size)]
    ).reshape(x.shape)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_grad_through_cond_takes_the_branch_taken(sign):
    def f(x, y):
        z = adjit.cond(
            np.sum(x) > 0, lambda a, b: np.sin(a) * b, lambda a, b: a * a - np.exp(b), x, y
        )
        return np.sum(z * z) + y

    x, y = sign * np.array([0.3, -0.2, 0.5]), 0.7
    gx, gy = adjit.grad(f, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, _central(lambda v: f(v, y), x), rtol=1e-6)
    np.testing.assert_allclose(gy, _central(lambda v: f(x, v.item()), y), rtol=1e-6)


def test_grad_through_nested_cond_and_second_order():
    def f(x):
        inner = lambda v: adjit.cond(v[0] > 0, lambda w: w**3, lambda w: -w, v)  # noqa: E731
        return np.sum(adjit.cond(np.sum(x) > 1.0, inner, lambda v: np.tanh(v), x))

    x = np.array([0.5, 0.8])
    np.testing.assert_allclose(adjit.grad(f)(x), 3 * x**2, rtol=1e-13)
    hess_diag = adjit.grad(lambda v: np.sum(adjit.grad(f)(v)))(x)
    np.testing.assert_allclose(hess_diag, 6 * x, rtol=1e-13)


def test_control_flow_off_the_differentiated_path_is_kept():
    def f(x, s):
        k = adjit.cond(s > 0, lambda s: s * 2.0, lambda s: -s, s)
        return np.sum(x * x) * k

    x = np.arange(3.0)
    np.testing.assert_allclose(adjit.grad(f)(x, 1.5), 2 * x * 3.0)
    # inlined twice into one function: the cond is cloned with fresh values
    np.testing.assert_allclose(adjit.grad(lambda x: np.sum(adjit.grad(f)(x, -1.5)))(x), [3.0] * 3)


def test_nested_grad_closing_over_traced_values_is_inlined():
    def outer(x):
        inner = adjit.grad(lambda y: np.sum(x * y**2))  # closes over the traced x
        return np.sum(inner(x))

    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(adjit.grad(outer)(x), 4.0 * x, rtol=1e-14)


def test_no_perturbation_confusion():
    # d/dx [x * d/dy (x + y)] = 1 and d/dx [x * d/dy (x * y)] = 2x, at any x, y
    for x in (0.5, 3.0, -2.0):
        assert adjit.grad(lambda x: x * adjit.grad(lambda y: x + y)(2.0))(x) == 1.0
        np.testing.assert_allclose(
            adjit.grad(lambda x: x * adjit.grad(lambda y: x * y)(2.0))(x), 2 * x, rtol=1e-14
        )


def test_vjp_inside_a_trace_closing_over_traced_values():
    def outer(x):
        _, pullback = adjit.vjp(lambda y: x * np.sin(y), x)
        return np.sum(pullback(np.ones(2))[0])

    x = np.array([0.3, 0.5])
    np.testing.assert_allclose(adjit.grad(outer)(x), np.cos(x) - x * np.sin(x), rtol=1e-13)


def test_maximum_and_minimum_ties_give_a_subgradient():
    x = np.array([1.0, -2.0, 0.0, 3.0])
    (relu_vjp,) = adjit.vjp(lambda v: np.maximum(v, 0.0), x)[1](np.array([4.0, -1.0, 5.0, 9.0]))
    np.testing.assert_array_equal(relu_vjp, [4.0, 0.0, 0.0, 9.0])  # relu'(0) = 0
    np.testing.assert_array_equal(adjit.grad(lambda v: np.sum(np.maximum(v, v)))(x), [1.0] * 4)
    np.testing.assert_array_equal(adjit.grad(lambda v: np.sum(np.minimum(v, v)))(x), [1.0] * 4)
    ties = adjit.grad(lambda a, b: np.sum(np.maximum(a, b)), argnums=(0, 1))(x, x.copy())
    np.testing.assert_array_equal(ties[0] + ties[1], [1.0] * 4)


def test_gradient_of_a_keepdims_sum_broadcasts_a_constant_array():
    x = np.random.default_rng(0).normal(size=(4, 2))
    np.testing.assert_array_equal(
        adjit.grad(lambda v: np.sum(np.sum(v, axis=1, keepdims=True)))(x), np.ones((4, 2))
    )


# ------------------------------------------------- reverse mode through fori_loop


def _rnn(np_, W, x, h0, loop):
    """A tanh RNN with an accumulated loss; `loop` runs body(i, state) for i in 1..4."""

    def body(i, state):
        h, acc = state
        h = np_.tanh(np_.dot(W, h) + x * i)
        return h, acc + (h * h).sum() * i

    h, acc = loop(1, 5, body, (h0, 0.0))
    return acc + np_.dot(h, h)


def _python_loop(lo, hi, body, state):
    for i in range(lo, hi):
        state = body(i, state)
    return state


def test_grad_through_fori_loop_matches_autograd():
    W, x, h0 = normal(4, 4, seed=1) / 2, normal(4, seed=2), normal(4, seed=3)
    got = adjit.grad(lambda *a: _rnn(np, *a, adjit.fori_loop), argnums=(0, 1, 2))(W, x, h0)
    for i, g in enumerate(got):
        want = autograd.grad(lambda *a: _rnn(anp, *a, _python_loop), i)(W, x, h0)
        np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-14)


def test_grad_through_nested_fori_loops_and_int_state():
    def f(np_, x, loop):
        def inner(j, v):
            return np_.sin(v) * x + v * j

        def outer(i, state):
            v, k = state
            return loop(0, 2, inner, v) * 0.5, k + i

        v, k = loop(0, 3, outer, (x, 0))
        return (v * k).sum()

    x = normal(3, seed=4)
    got = adjit.grad(lambda x: f(np, x, adjit.fori_loop))(x)
    want = autograd.grad(lambda x: f(anp, x, _python_loop))(x)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_grad_through_empty_fori_loop_and_hessian():
    x = normal(3, seed=5)
    empty = adjit.grad(lambda x: adjit.fori_loop(2, 2, lambda i, v: v * v, x).sum())(x)
    np.testing.assert_array_equal(empty, np.ones(3))

    def cube(np_, loop, x):
        return loop(0, 3, lambda i, v: v * x, x).sum()  # x**4 element-wise, summed

    got = adjit.hessian(functools.partial(cube, np, adjit.fori_loop))(x)
    np.testing.assert_allclose(got, np.diag(12 * x**2), rtol=1e-12)


def test_fori_loop_tape_is_written_in_place():
    source = adjit.grad(lambda x: adjit.fori_loop(0, 50, lambda i, v: np.sin(v), x).sum()).source(
        np.ones(1000)
    )
    loop = source[source.index("for k") :]
    assert ".copy()" not in loop.split("return")[0], "the tape is copied every iteration"


def test_assignment_with_repeated_indices_differentiates_the_last_write():
    # NumPy keeps the last of repeated writes: only that value reaches the output
    idx = np.array([3, 1, 3, 0, 1, 3])

    def f(x, v):
        y = x.copy()
        y[idx] = v * v
        y[idx] += x[idx]  # a gather, an add and a scatter, with repeats again
        return np.sum(y * np.arange(1.0, 6.0))

    x, v = normal(5, seed=70), normal(6, seed=71)
    got = adjit.grad(f, argnums=(0, 1))(x, v)
    for k, arg in enumerate((x, v)):
        want = np.zeros_like(arg)
        for i in range(arg.size):
            step = np.zeros_like(arg)
            step[i] = 1e-6
            args_p = [x, v]
            args_m = [x, v]
            args_p[k], args_m[k] = arg + step, arg - step
            want[i] = (f(*args_p) - f(*args_m)) / 2e-6
        np.testing.assert_allclose(got[k], want, rtol=1e-7, atol=1e-8)
