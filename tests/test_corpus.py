"""The corpus: plain NumPy functions traced to IR; the interpreter must agree with NumPy.

Every case goes through `oracle.check_traced`: trace, verify, print/parse round
trip, interpret, compare each flattened result with NumPy's (shape, dtype, value).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from adbench import data_path, gmm_objective, read_gmm
from oracle import check_traced

import adjit


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def normal(*shape: int, seed: int = 0, dtype: type = np.float64) -> np.ndarray:
    return rng(seed).normal(size=shape).astype(dtype)


def uniform(*shape: int, lo: float = 0.1, hi: float = 0.9, seed: int = 0) -> np.ndarray:
    return rng(seed).uniform(lo, hi, size=shape)


A = normal(3, 4, seed=1)
B = normal(3, 4, seed=2)
P = uniform(3, 4, seed=3)  # in (0.1, 0.9): valid for log, sqrt, arcsin, arccos
V = normal(4, seed=4)

CASES: list = []


def case(*args, id: str | None = None, rtol: float = 1e-12, **kwargs):
    """Register `f` with example arguments as a corpus case."""

    def register(f):
        CASES.append(pytest.param(f, args, kwargs, rtol, id=id or f.__name__))
        return f

    return register


# ------------------------------------------------------------------ element-wise


@case(np.linspace(-2.0, 2.0, 9), np.arange(-5, 4))
def floor_divide_and_remainder(x, i):
    return x // 0.3, x % 0.7, x % -0.5, i // 3, i % 3, -i % 4, 7.5 % (x + 3.0)


@case(P, B)
def unary_chain_1(p, b):
    return np.exp(np.log(p) + np.sqrt(p)) * np.log1p(p) - np.expm1(b)


@case(P, B)
def unary_chain_trig(p, b):
    return np.sin(b) * np.cos(b) + np.tan(p) - np.tanh(b) + np.sinh(p) / np.cosh(b)


@case(P, B)
def unary_chain_inverse_trig(p, b):
    return np.arcsin(p) + np.arccos(p) * np.arctan(b) - np.arctan2(b, p) + np.arctan2(p, -1.5)


@case(A, B)
def binary_minmax(a, b):
    return np.maximum(a, b) - np.minimum(a, 0.25) + np.maximum(0.0, b)


@case(A * 3)
def piecewise_constant(a):
    return np.sign(a) + np.floor(a) * 2 - np.ceil(a) + np.abs(a) + abs(a)


@case(A, B)
def where_and_clip(a, b):
    return (
        np.where(a > b, a, b * 2)
        + np.clip(a, -0.5, 0.5)
        + a.clip(min=0.0)
        + np.where(b < 0, 1.0, b)
    )


@case(A, B)
def logaddexp_and_power(a, b):
    return (
        np.logaddexp(a, b)
        + np.power(np.abs(a), 1.5)
        + np.logaddexp(a * 400, 0.0)
        + np.power(2.0, b)
    )


@case(A, B)
def arithmetic_operators(a, b):
    return (a + b) * (a - b) / (np.abs(b) + 1) + (-a) ** 2 + 2.0**b + a**3 - 1 / (1 + b * b)


@case(A, B)
def reflected_operators(a, b):
    return 1.0 - a, 2 * b, 3.0 / (2 + a * a), 0.5**a, 7 + b


@case(A, B)
def comparisons(a, b):
    return (
        a < b,
        a <= 0.1,
        a > b,
        b >= a,
        a == a,
        a != b,
        (a > 0) & (b > 0),
        (a > 0) | (b > 0),
        ~(a > 0),
    )


@case(A, B)
def comparison_mask_arithmetic(a, b):
    mask = (a > b).astype(np.float64)
    return mask * a + (1 - mask) * b


@case(np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e308, -1e-310]))
def special_values(x):
    return np.exp(x) * 0 + x, np.maximum(x, 1.0), np.sign(x), np.abs(x), x * 2


@case(A)
def logistic_and_softplus(a):
    return (
        1 / (1 + np.exp(-a)),
        np.logaddexp(0.0, a),
        np.log1p(np.exp(-np.abs(a))) + np.maximum(a, 0),
    )


# ---------------------------------------------------------------- broadcasting


@case(A, 2.5)
def broadcast_python_float_arg(a, s):
    return a * s + s, s * s


@case(A, normal(4, seed=5), normal(3, 1, seed=6))
def broadcast_row_and_column(a, row, col):
    return a + row, a * col, row + col, row - a


@case(normal(2, 3, 4, seed=7), normal(3, 1, seed=8), normal(2, 1, 4, seed=9), normal(seed=10))
def broadcast_3d(x, m, n, s):
    return x * m + n - s, m + n, np.maximum(x, s)


@case(normal(1, 3, 1, seed=11), normal(4, 1, 5, seed=12))
def broadcast_both_sides(x, y):
    return x * y + np.arctan2(x, y)


# -------------------------------------------------------------------- reductions


@case(normal(2, 3, 4, seed=13))
def reductions_each_axis(x):
    out = {}
    for name, red in [
        ("sum", np.sum),
        ("mean", np.mean),
        ("max", np.max),
        ("min", np.min),
        ("prod", np.prod),
    ]:
        out[name] = (red(x), red(x, axis=0), red(x, axis=1), red(x, axis=2), red(x, axis=-1))
    return out


@case(normal(2, 3, 4, seed=14))
def reductions_tuples_and_keepdims(x):
    return (
        np.sum(x, axis=(0, 2)),
        np.max(x, axis=(-1, 0), keepdims=True),
        x.mean(axis=(1, 2), keepdims=True),
        x.min(keepdims=True),
        x.prod(axis=-2, keepdims=True),
        np.sum(x, axis=()),
        np.add.reduce(x, axis=1),
        np.maximum.reduce(x, axis=None),
    )


@case(normal(3, 5, seed=15))
def reduction_methods(x):
    return (
        x.sum(),
        x.sum(0),
        x.max(axis=1),
        x.min(0),
        x.mean(1),
        x.prod(),
        np.amax(x, 0),
        np.amin(x),
    )


@case(normal(4, 6, seed=16))
def var_std(x):
    return (
        np.var(x),
        np.std(x, axis=0),
        x.var(axis=1, keepdims=True),
        np.std(x, ddof=1),
        x.std(axis=(0, 1)),
    )


@case(normal(3, 4, seed=17))
def any_all(x):
    return np.any(x > 1), np.all(x > -3, axis=0), (x > 0).any(axis=1), (x < 0).all()


# ----------------------------------------------------------------- linear algebra


@case(V, normal(4, seed=18), normal(3, 4, seed=19), normal(4, 2, seed=20))
def dot_and_matmul_1d_2d(v, w, a, b):
    return np.dot(v, w), v @ w, a @ v, v @ b, a @ b, np.dot(a, b), a.dot(v), np.matmul(v, b)


@case(normal(5, 3, 4, seed=21), normal(5, 4, 2, seed=22), normal(4, 2, seed=23), normal(4, seed=24))
def matmul_batched(x, y, m, v):
    return x @ y, x @ m, x @ v, np.matmul(np.transpose(y, (0, 2, 1)), np.transpose(x, (0, 2, 1)))


@case(normal(2, 1, 3, 4, seed=25), normal(5, 4, 2, seed=26))
def matmul_broadcast_batch(x, y):
    return x @ y


@case(normal(3, seed=27), normal(4, seed=28), normal(2, 2, seed=29))
def outer_products(a, b, m):
    return np.outer(a, b), np.multiply.outer(a, b), np.outer(m, a), np.subtract.outer(b, a)


@case(normal(2, 3, 4, seed=30), normal(4, 5, seed=31))
def tensordot_inner_vdot(x, m):
    return np.tensordot(x, m, axes=1), np.inner(x, m.T[0]), np.vdot(m, m), np.dot(x, m)


# ----------------------------------------------------------------------- shapes


@case(normal(2, 3, 4, seed=32))
def transpose_and_reshape(x):
    return (
        x.T,
        np.transpose(x, (1, 0, 2)),
        x.transpose(2, 0, 1),
        x.reshape(6, 4),
        x.reshape(-1),
        np.reshape(x, (4, -1)),
        x.reshape((2, -1, 2)),
        np.ravel(x),
        x.flatten(),
        np.swapaxes(x, 0, 2),
        np.moveaxis(x, 0, -1),
        np.expand_dims(x, 1),
        np.squeeze(x[:, :1, :]),
        x[:1].squeeze(0),
    )


@case(normal(2, 3, seed=33), normal(4, 3, seed=34), normal(2, 3, seed=35))
def concatenate_and_stack(a, b, c):
    return (
        np.concatenate([a, b]),
        np.concatenate((a, c), axis=1),
        np.concatenate([a, b, a], axis=-2),
        np.concatenate([a, b], axis=None),
        np.stack([a, c]),
        np.stack([a, c], axis=-1),
        np.stack((a[0], c[1], a[1]), axis=1),
        np.vstack([a, b]),
        np.hstack([a, c]),
        np.array([a[0, 0], c[1, 2], 3.0]),
    )


@case(normal(3, seed=36), normal(2, 1, seed=37))
def broadcast_to_(v, c):
    return np.broadcast_to(v, (2, 3)), np.broadcast_to(c, (4, 2, 5)), np.broadcast_to(v[0], (3,))


@case(normal(3, 4, seed=38))
def creation_functions(x):
    return (
        np.zeros((3, 4)) + x,
        np.ones(4) * x,
        np.full((3, 1), 2.5) - x,
        np.eye(4) @ x.T,
        np.eye(3, 4, k=1) * x,
        np.identity(3) + x[:, :3],
        np.zeros_like(x) + 1,
        np.ones_like(x, dtype=np.float32),
        np.full_like(x, 7.0) * x,
        np.arange(4) * x,
        np.arange(12.0).reshape(3, 4) + x,
        np.zeros(3, dtype=np.int64),
    )


@case(normal(3, 4, seed=39), rng(40).integers(-5, 5, size=(3, 4)))
def astype_conversions(x, i):
    return (
        x.astype(np.float32),
        x.astype(np.int64),
        i.astype(np.float64) * x,
        (x > 0).astype(np.int32),
        np.asarray(x, dtype=np.float32),
        i.astype(np.int32),
    )


# ----------------------------------------------------------------- dtypes


@case(normal(3, 4, seed=41, dtype=np.float32), normal(4, seed=42, dtype=np.float32), rtol=1e-6)
def float32_stays_float32(x, v):
    return (
        np.exp(x) * 2.0 + 1,
        x @ v,
        np.sum(x, axis=0) / 3,
        np.mean(x),
        np.tanh(x) - v,
        np.maximum(x, 0.5),
        np.where(x > 0, x, 0.0),
        x**2,
        np.sqrt(np.abs(x)),
        np.logaddexp(x, v),
        np.var(x, axis=1),
    )


@case(normal(3, seed=43, dtype=np.float32), normal(3, seed=44))
def float32_promotes_with_float64(x, y):
    return x + y, x * np.float64(2.0), x.astype(np.float64) - y


@case(rng(45).integers(-10, 10, size=(3, 4)), rng(46).integers(1, 5, size=(4,)))
def int_inputs(i, j):
    return (
        i + j,
        i * 2,
        i - j,
        i / j,
        i * 0.5,
        np.sum(i),
        np.max(i, axis=0),
        np.abs(i),
        i**2,
        np.exp(j),
        np.mean(i, axis=1),
        i @ j,
        np.maximum(i, j),
        i > j,
    )


@case(rng(47).integers(-10, 10, size=(3,)).astype(np.int32), rng(48).integers(0, 3, size=(3,)))
def int32_inputs(i, j):
    return i + 1, i * j, np.sum(i), np.prod(i), i.astype(np.float32) * 2


@case(np.array([True, False, True]), normal(3, seed=49))
def bool_inputs(m, x):
    return np.where(m, x, -x), m & (x > 0), np.sum(m), m.astype(np.float64) * x, ~m


# ----------------------------------------------------------------------- indexing


@case(normal(5, 6, seed=50))
def basic_slicing(x):
    return (
        x[1],
        x[-1],
        x[1:3],
        x[:, 2],
        x[1:4, -2:],
        x[::2, ::-1],
        x[-1, -2],
        x[4:0:-2, 1::3],
        x[:, 10:],
        x[-100:2],
        x[3, 1:5:2],
    )


@case(normal(2, 3, 4, seed=51))
def newaxis_and_ellipsis(x):
    return (
        x[None],
        x[:, np.newaxis, :, None],
        x[..., 0],
        x[1, ...],
        x[..., None],
        x[0, ..., 1:3],
        x[None, ..., -1],
        x[...],
    )


@case(normal(5, 4, seed=52))
def integer_array_indexing(x):
    return (
        x[[0, 2, 4]],
        x[np.array([4, -1, 0])],
        x[:, [1, 3]],
        x[[0, 1], [2, 3]],
        x[np.array([[0, 1], [2, 3]])],
        x[[1, 2], 1:3],
        x[np.arange(3), np.arange(3)],
        x[[0], None],
    )


@case(normal(4, 5, seed=53))
def constant_mask_indexing(x):
    mask = np.array([True, False, True, True])
    mask2 = np.arange(20).reshape(4, 5) % 3 == 0
    return x[mask], x[:, np.array([False, True, False, True, True])], x[mask2]


@case(normal(3, 4, seed=54), normal(4, seed=55))
def item_assignment(x, v):
    a = np.zeros((3, 4))
    a[0] = v
    a[1:3] = x[1:3] * 2
    a[:, [0, 2]] = 1.5
    a[2, -1] = x[0, 0]
    a += x
    a[1] *= 3.0
    a[:, 1] -= v[:3]
    return a


@case(normal(4, 4, seed=56))
def item_assignment_patterns(x):
    b = np.ones(4)
    b[::2] = x[0, ::2]
    c = np.zeros_like(x)
    c[np.arange(4), np.arange(4)] = x[0]
    d = np.zeros((2, 4, 4))
    d[1, ..., 0] = x[:, 1]
    d[0, [1, 3]] += x[:2]
    e = np.empty(3)
    for i in range(3):
        e[i] = x[i, i] * i
    f = x.copy()
    f[f.shape[0] - 1] = 0.0
    return b, c, d, e, f


@case(normal(3, seed=57))
def item_assignment_aliases_see_update(v):
    a = np.zeros(3)
    alias = a  # same object: sees the update, as in NumPy
    a[1] = v[2]
    a *= 2.0
    return alias, a


@case(normal(5, 4, seed=78), np.array([4, -1, 0, 2]), np.int64(3))
def traced_index_arrays(x, idx, k):
    a = np.zeros(5)
    a[idx] = 1.0
    a[k] += 2.0
    a[idx[1]] *= 3.0
    return x[idx], x[:, idx[1:]], x[k], x[idx[1:], idx[1:]], a, x[-k]


@case(normal(3, 4, seed=79), normal(seed=80))
def full_with_traced_fill(x, s):
    a = np.full((2, 4), s)
    a[0] = x[0]
    return a, np.full_like(x, s) * x, np.full(3, x[1, 2], dtype=np.float32)


@case(np.array([[True, False], [False, False]]), rng(81).integers(-5, 5, size=(2, 2)))
def bool_and_int_dtypes_kept(m, i):
    return (
        np.max(m),
        np.min(m, axis=0),
        m.max(axis=1),
        np.floor(i),
        np.ceil(m),
        i.max(axis=0),
        np.sum(m),
    )


@case(uniform(3, 4, lo=0.1, hi=2.0, seed=82))
def composite_ufuncs(p):
    return (
        np.log2(p),
        np.log10(p),
        np.exp2(p),
        np.reciprocal(p),
        np.square(p),
        np.hypot(p, 2 * p),
        np.fabs(-p),
        np.deg2rad(p),
        np.rad2deg(p),
        np.float_power(p, 2.5),
        +p,
        np.isnan(p - p),
        np.isinf(p / 0.0),
        np.isfinite(p),
        np.logical_xor(p > 1, p < 1.5),
        np.logical_not(p > 1),
    )


@case(normal(3, 4, seed=83), normal(2, 3, 4, seed=84))
def trace_norm_misc(x, t):
    return (
        np.trace(x),
        np.trace(x, offset=1),
        np.trace(t, axis1=1, axis2=2),
        np.linalg.norm(x),
        np.linalg.norm(x, axis=1),
        np.linalg.norm(x, axis=0, keepdims=True),
        np.atleast_2d(x[0, 0]),
        np.atleast_1d(x[0, 0]),
        np.tensordot(t, t, axes=([1, 2], [1, 2])),
        np.sum(x, dtype=np.float32),
        np.mean(x, axis=0, dtype=np.float32),
    )


@case(np.float64(1.5), np.array(2.5), np.zeros((0, 3)))
def zero_dim_and_empty(s, a, e):
    return (
        s * 2,
        np.sin(a),
        a[None],
        a[...],
        np.stack([s, a]),
        e * 2,
        np.sum(e, axis=0),
        e @ np.ones((3, 2)),
        np.concatenate([e, e]),
    )


@case(normal(3, 4, seed=85))
def python_iteration(x):
    rows = [r * 2 for r in x]
    return sum(r for r in x), len(x), rows, np.array([x[0, 0], x[1, 1]]), np.asarray([x[0], x[2]])


# -------------------------------------------------------------- control flow


@case(normal(3, seed=86), 2.0)
def structured_control_flow(x, w):
    y = adjit.cond(np.sum(x) > 0, lambda a: a * w, lambda a: -a - w, x)
    z = adjit.fori_loop(0, 4, lambda i, acc: acc + x * i, np.zeros(3))
    n, v = adjit.while_loop(
        lambda s: s[1] < 100.0, lambda s: (s[0] + 1, s[1] * 2.0 + np.sum(w * w)), (np.int64(0), 1.0)
    )
    return y, z, n, v


@case(-normal(3, seed=87) - 5, 2.0, id="structured_control_flow_else")
def structured_control_flow_else(x, w):
    return structured_control_flow(x, w)


@case(normal(2, 3, seed=88))
def nested_control_flow(x):
    def body(i, acc):
        return adjit.cond(i < 2, lambda a: a + x, lambda a: a * 0.5, acc)

    return adjit.fori_loop(0, 5, body, np.zeros((2, 3)))


# ------------------------------------------------------------------------ models


def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def logsumexp(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    return np.log(np.sum(np.exp(x - m), axis=axis)) + np.squeeze(m, axis=axis)


@case(normal(4, 7, seed=58) * 30)
def softmax_rows(x):
    return softmax(x), softmax(x, axis=0)


@case(normal(4, 7, seed=59) * 300)
def logsumexp_rows(x):
    return logsumexp(x), logsumexp(x, axis=0)


@case(normal(5, 8, seed=60), normal(8, seed=61), normal(8, seed=62))
def layer_norm(x, gamma, beta):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.var(x, axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * gamma + beta


MLP_PARAMS = {
    "w1": normal(6, 16, seed=63) * 0.3,
    "b1": normal(16, seed=64) * 0.1,
    "w2": normal(16, 8, seed=65) * 0.3,
    "b2": normal(8, seed=66) * 0.1,
    "w3": normal(8, 3, seed=67) * 0.3,
    "b3": normal(3, seed=68) * 0.1,
}


@case(
    MLP_PARAMS, normal(10, 6, seed=69), rng(70).integers(0, 3, size=10), id="mlp_forward_and_loss"
)
def mlp(params, x, labels):
    h = np.tanh(x @ params["w1"] + params["b1"])
    h = np.maximum(h @ params["w2"] + params["b2"], 0.0)
    logits = h @ params["w3"] + params["b3"]
    logp = logits - logsumexp(logits)[:, None]
    onehot = labels[:, None] == np.arange(3)
    loss = -np.mean(np.sum(np.where(onehot, logp, 0.0), axis=1))
    return logits, loss


# -------------------------------------------------------------------- pytrees


@case((normal(3, seed=71), [normal(2, seed=72), {"a": normal(2, 2, seed=73), "b": 1.5}]))
def nested_inputs(t):
    x, (y, d) = t
    return np.sum(x) + y @ d["a"] @ y * d["b"]


@case(normal(3, seed=74), normal(3, seed=75))
def nested_outputs(x, y):
    return {"sum": x + y, "parts": [x * y, (np.sin(x), {"z": y - x})]}, x @ y


@case(normal(3, seed=76), 0.5, 3, scale=2.0, id="python_scalars_static_ints_kwargs")
def python_scalars(x, alpha, n, scale=1.0):
    acc = np.zeros(3)
    for i in range(n):
        acc = acc + alpha * x**i
    return acc * scale, alpha * 2.0, n * x


@case(normal(3, seed=77), 4, True)
def static_range_loop(x, steps, flag):
    y = x
    for _ in range(steps):
        y = 0.5 * (y + x / (np.abs(y) + 1))
    if flag:
        y = -y
    return y


# ------------------------------------------------------------------------- GMM


def _gmm(*parts: str):
    """The objective of one ADBench GMM file as a function of its arrays, and those arrays.

    The Wishart prior's `gamma` (a Python float, used with math.log) and `m` are
    constants of the problem: closed over rather than passed, since a Python
    float argument is traced like an array.
    """
    data = read_gmm(data_path(*parts))

    def objective(alphas, means, icf, x):
        return gmm_objective(alphas, means, icf, x, data["gamma"], data["m"])

    return objective, (data["alphas"], data["means"], data["icf"], data["x"])


def test_gmm_objective_test_instance():
    objective, args = _gmm("gmm", "test.txt")
    fn = check_traced(objective, *args)
    (value,) = fn(*args)
    assert value.shape == () and value.dtype == np.float64
    assert math.isclose(float(value), 8.07380408004975791, rel_tol=1e-12)


def test_gmm_objective_1k_d10_k5():
    objective, args = _gmm("gmm", "1k", "gmm_d10_K5.txt")
    assert args[3].shape == (1000, 10)
    check_traced(objective, *args, rtol=1e-10)


# --------------------------------------------------------------------- the test


@pytest.mark.parametrize("f, args, kwargs, rtol", CASES)
def test_corpus(f, args, kwargs, rtol):
    with np.errstate(all="ignore"):  # inf/nan cases: NumPy warns, the IR must just agree
        check_traced(f, *args, rtol=rtol, **kwargs)


def test_corpus_is_large_enough():
    assert len(CASES) >= 45


def test_python_float_argument_keeps_float32():
    def f(x, s):
        return x * s + s

    check_traced(f, np.ones(3, np.float32), 2.5)
