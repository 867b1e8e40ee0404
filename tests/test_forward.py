"""Forward mode: the tangent pass, adjit.jvp, nesting of transformations, errors.

Oracles: central finite differences in float64 (every primitive through the
reference interpreter, and NumPy programs run by NumPy itself), exact textbook
derivatives, and the `autograd` package (nested transformations).
"""

from __future__ import annotations

import functools

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from linalg_samples import LINALG_STRUCTURAL
from samples import (
    BINARY_INPUTS,
    ELEMENTWISE,
    MATMUL_SHAPES,
    OTHER,
    POS,
    UNARY_INPUTS,
    X,
    assert_tree_close,
    normal,
    rng,
    uniform,
)

import adjit
from adjit import tree
from adjit.compiler import ops
from adjit.compiler.builder import Builder, building
from adjit.compiler.forward import jvp_function
from adjit.compiler.passes import simplify
from adjit.ir import PRIMITIVES, Function, Slice, TensorType, verify
from adjit.ir.indexing import Dynamic

# ------------------------------------------- every primitive vs finite differences
# The tangent pass on one primitive, run by the reference interpreter (before
# and after simplification), against a central difference along a random
# direction of each float input in turn and of all of them at once.


def _build(body, inputs) -> Function:
    """f(inputs) = body(*params), the op's result itself (not reduced)."""
    b = Builder()
    with building(b):
        params = [b.add_arg(TensorType.of_array(a), f"a{i}") for i, a in enumerate(inputs)]
        return verify(Function("f", b.block([body(*params)])))


def _directional_fd(fn: Function, inputs, directions, h: float = 1e-6) -> np.ndarray:
    plus = [a + h * d if d is not None else a for a, d in zip(inputs, directions)]
    minus = [a - h * d if d is not None else a for a, d in zip(inputs, directions)]
    return (fn(*plus)[0] - fn(*minus)[0]) / (2 * h)


def check_jvp_fd(body, *inputs: np.ndarray, rtol: float = 1e-6, atol: float = 1e-8) -> None:
    inputs = [np.asarray(a) for a in inputs]
    fn = _build(body, inputs)
    (want_out,) = fn(*inputs)
    floats = [i for i, a in enumerate(inputs) if a.dtype.kind == "f"]
    dirs = {i: normal(*inputs[i].shape, seed=100 + i) for i in floats}
    for wrt in [[i] for i in floats] + ([floats] if len(floats) > 1 else []):
        directions = [dirs.get(i) if i in wrt else None for i in range(len(inputs))]
        want = _directional_fd(fn, inputs, directions)
        jf = jvp_function(fn, wrt)
        assert [str(t) for t in jf.result_types] == [str(fn.results[0].type)] * 2
        for g in (jf, simplify(jf)):
            out, tangent = g(*inputs, *(dirs[i] for i in wrt))
            np.testing.assert_allclose(out, want_out, rtol=1e-14)
            assert tangent.shape == want_out.shape and tangent.dtype == want_out.dtype
            np.testing.assert_allclose(tangent, want, rtol=rtol, atol=atol, err_msg=f"wrt {wrt}")


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_jvp_matches_finite_differences(name):
    prim = PRIMITIVES[name]
    if prim.arity == 1:
        check_jvp_fd(lambda x: ops.elementwise(name, x), UNARY_INPUTS.get(name, X))
    else:
        a, b = BINARY_INPUTS.get(name, (X, OTHER))
        check_jvp_fd(lambda x, y: ops.elementwise(name, x, y), a, b)
        # broadcasting: the operand's tangent is broadcast like the operand
        check_jvp_fd(lambda x, y: ops.elementwise(name, x, y), a, b[:1, :])
        check_jvp_fd(lambda x, y: ops.elementwise(name, x, y), a[0], b)


def test_pow_jvp_with_a_constant_exponent_and_base():
    check_jvp_fd(lambda x: ops.elementwise("pow", x, ops.constant(np.float64(3.0))), X)
    check_jvp_fd(lambda x: ops.elementwise("pow", x, ops.constant(np.float64(-1.5))), POS)
    check_jvp_fd(lambda y: ops.elementwise("pow", ops.constant(np.float64(2.0)), y), X)


def _gt0(c):
    return ops.elementwise("gt", c, ops.constant(np.float64(0.0)))


ND = normal(2, 3, 4, seed=5)
STRUCTURAL = {
    "select": (
        lambda c, a, b: ops.elementwise("select", _gt0(c), a, b),
        X,
        normal(2, 3, seed=6),
        normal(3, seed=7),
    ),
    "reduce_sum": (lambda x: ops.reduce("reduce_sum", x, (0, 2)), ND),
    "reduce_sum_all": (lambda x: ops.reduce("reduce_sum", x, (0, 1, 2)), ND),
    "reduce_prod": (lambda x: ops.reduce("reduce_prod", x, (1,)), ND),
    "reduce_prod_all": (lambda x: ops.reduce("reduce_prod", x, (0, 1)), uniform(2, 3, seed=4)),
    "reduce_max": (lambda x: ops.reduce("reduce_max", x, (2,)), ND),
    "reduce_max_01": (lambda x: ops.reduce("reduce_max", x, (0, 1)), ND),
    "reduce_min": (lambda x: ops.reduce("reduce_min", x, (0, 1, 2)), ND),
    "reduce_min_0": (lambda x: ops.reduce("reduce_min", x, (0,)), ND),
    "broadcast": (lambda x: ops.broadcast_to(x, (4, 2, 3)), normal(2, 1, seed=8)),
    "broadcast_scalar": (lambda x: ops.broadcast_to(x, (2, 3)), np.float64(0.7)),
    "reshape": (lambda x: ops.reshape(x, (4, 6)), ND),
    "reshape_to_scalar": (lambda x: ops.reshape(x, ()), normal(1, 1, seed=9)),
    "transpose": (lambda x: ops.transpose(x, (2, 0, 1)), ND),
    "concatenate": (lambda x, y: ops.concatenate([x, y, x], 1), X, normal(2, 2, seed=9)),
    "concatenate_axis0": (lambda x, y: ops.concatenate([y, x], 0), X, normal(1, 3, seed=9)),
    "gather": (lambda x: ops.gather(x, (np.array([0, 1, 1]), Slice(2, 0, -1))), X),
    "gather_negative_step": (lambda x: ops.gather(x, (Slice(1, None, -1), Slice(2, None, -2))), X),
    "gather_int_and_newaxis": (lambda x: ops.gather(x, (None, 1, Slice(0, 4, 1))), ND),
    "gather_advanced_pair": (
        lambda x: ops.gather(x, (np.array([1, 0, 1]), Slice(0, 3, 1), np.array([3, 3, 0]))),
        ND,
    ),
    "gather_dynamic": (
        lambda x, i: ops.gather(x, (Dynamic(0), Slice(0, 3, 1)), [i]),
        X,
        np.array([1, 0, 1, 1]),
    ),
    "scatter": (lambda x, v: ops.scatter(x, (1, Slice(0, 3, 2)), v), X, normal(2, seed=10)),
    "scatter_broadcast_value": (
        lambda x, v: ops.scatter(x, (Slice(0, 2, 1), Slice(2, None, -1)), v),
        X,
        normal(3, seed=10),
    ),
    "scatter_advanced": (
        lambda x, v: ops.scatter(x, (np.array([1, 0]), np.array([2, 2])), v),
        X,
        normal(2, seed=14),
    ),
    "scatter_add": (
        lambda x, v: ops.scatter(x, (np.array([0, 1, 0]),), v, add=True),
        X,
        normal(3, 1, seed=11),
    ),
    "scatter_add_dynamic": (
        lambda x, v, i: ops.scatter(x, (Slice(0, 2, 1), Dynamic(0)), v, [i], add=True),
        X,
        normal(2, 4, seed=15),
        np.array([2, 0, 2, 2]),
    ),
    "linear_scan": (lambda a, b: ops.linear_scan(a, b, 1), X, normal(2, 3, seed=17)),
    "linear_scan_reverse_zeros": (
        lambda a, b: ops.linear_scan(a, b, 0, reverse=True),
        np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.5, 0.0, -1.0]]),
        normal(3, 3, seed=18),
    ),
}

STRUCTURAL.update(LINALG_STRUCTURAL)  # solve, cholesky, eigh, ...


@pytest.mark.parametrize("name", sorted(STRUCTURAL))
def test_structural_jvp_matches_finite_differences(name):
    body, *inputs = STRUCTURAL[name]
    check_jvp_fd(body, *inputs)


def test_convert_jvp_casts_the_tangent():
    # through f32 the tangent is the f32 rounding of the f64 one, exactly; FD is meaningless
    fn = _build(lambda x: ops.convert(ops.convert(x, "f32"), "f64"), [X])
    t = normal(2, 3, seed=16)
    for g in (jvp_function(fn, [0]), simplify(jvp_function(fn, [0]))):
        out, tangent = g(X, t)
        np.testing.assert_array_equal(out, X.astype(np.float32).astype(np.float64))
        np.testing.assert_array_equal(tangent, t.astype(np.float32).astype(np.float64))
    # a float -> int conversion has no tangent: the result of the jvp is zero
    fn = _build(lambda x: ops.convert(ops.convert(ops.convert(x, "i64"), "f64"), "f64"), [X])
    out, tangent = jvp_function(fn, [0])(X, t)
    np.testing.assert_array_equal(out, X.astype(np.int64).astype(np.float64))
    np.testing.assert_array_equal(tangent, np.zeros((2, 3)))
    # f32 in, f32 out: the tangent keeps the dtype
    x32 = X.astype(np.float32)
    fn = _build(lambda x: ops.elementwise("sin", x), [x32])
    out, tangent = jvp_function(fn, [0])(x32, t.astype(np.float32))
    assert tangent.dtype == np.float32
    np.testing.assert_allclose(tangent, np.cos(X) * t, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_jvp_batched_broadcast_1d(sa, sb):
    check_jvp_fd(lambda a, b: ops.matmul(a, b), normal(*sa, seed=1), normal(*sb, seed=2))


def test_reduce_prod_jvp_with_zeros():
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]])
    check_jvp_fd(lambda v: ops.reduce("reduce_prod", v, (1,)), x)
    check_jvp_fd(lambda v: ops.reduce("reduce_prod", v, (0,)), x)


def test_every_differentiable_primitive_is_checked():
    # matmul: test_matmul_jvp_*; convert: test_convert_jvp_casts_the_tangent
    covered = set(ELEMENTWISE) | {"matmul", "convert"}
    for body, *inputs in STRUCTURAL.values():
        fn = _build(body, [np.asarray(a) for a in inputs])
        covered |= {op.name for op in fn.walk()}
    missing = {
        n
        for n, p in PRIMITIVES.items()
        if p.differentiable and p.kind not in ("control", "source", "tape") and n not in covered
    }
    assert not missing


# ----------------------------------------------- adjit.jvp on NumPy programs vs FD
# The public API, compiled: NumPy programs whose finite differences NumPy computes.


def _shift(p, t, s: float):
    if isinstance(p, float):
        return p + s * float(t)
    if isinstance(p, np.ndarray) and p.dtype.kind == "f":
        return p + s * np.asarray(t, p.dtype)
    return p


def fd_jvp(f, primals, tangents, h: float = 1e-6):
    """Central difference of f(*primals) along tangents (pytrees), NumPy only."""
    pl, ptree = tree.flatten(tuple(primals))
    tl = tree.flatten(tuple(tangents))[0]

    def at(s):
        shifted = tree.unflatten(ptree, [_shift(p, t, s) for p, t in zip(pl, tl)])
        out = f(*shifted)
        return out, tree.flatten(out)

    out, (plus, out_tree) = at(h)
    _, (minus, _) = at(-h)
    diffs = [(np.asarray(a, float) - np.asarray(b, float)) / (2 * h) for a, b in zip(plus, minus)]
    return tree.unflatten(out_tree, diffs)


def _random_tangents(primals, seed: int = 17):
    leaves, t = tree.flatten(tuple(primals))
    out = []
    for k, p in enumerate(leaves):
        if isinstance(p, float):
            out.append(float(rng(seed + k).normal()))
        elif p.dtype.kind == "f":
            out.append(rng(seed + k).normal(size=p.shape).astype(p.dtype))
        else:
            out.append(np.zeros_like(p))
    return tree.unflatten(t, out)


def check_api_jvp(f, *primals, rtol: float = 1e-6, atol: float = 1e-8):
    tangents = _random_tangents(primals)
    out, tangent_out = adjit.jvp(f, primals, tangents)
    assert_tree_close(out, f(*primals), rtol=1e-12, atol=1e-14)
    assert_tree_close(tangent_out, fd_jvp(f, primals, tangents), rtol=rtol, atol=atol)
    return out, tangent_out


A = normal(3, 4, seed=21)
B = normal(3, 4, seed=22)
P = uniform(3, 4, seed=23)
Q = uniform(3, 4, lo=1.1, hi=1.9, seed=24)
V4 = normal(4, seed=25)
N3 = normal(2, 3, 4, seed=27)
MASK = rng(28).random((3, 4)) > 0.4


def _assigned(x, v):
    y = np.zeros((3, 4))
    y[0] = x[1] * 2
    y[1:, ::2] = np.tanh(x[:2, 1::2])
    y[np.array([2, 0]), 3] = v[:2]
    y[-1, ::-1] = y[-1] + x[0, ::-1] * v[3]
    return y


def _augmented(x, v):
    y = x * 1.0
    y[np.array([0, 2])] += v
    y[1, ::-1] += x[2] ** 2
    y[:, 1] *= v[1]
    y[np.array([0, 1, 0]), np.array([3, 3, 3])] += v[:3]  # repeats: NumPy's last write wins
    y -= x
    return y


NUMPY_CASES = {
    "exp_log_sqrt_log1p_expm1": (
        lambda x: np.exp(x) * np.log(x) + np.sqrt(x) / x + np.log1p(x) - np.expm1(-x),
        P,
    ),
    "trig_hyperbolic_inverse": (
        lambda x: (
            np.sin(x) * np.cos(2 * x) + np.tan(x / 2),
            np.sinh(x) - np.cosh(x / 3) * np.tanh(x),
            np.arcsin(x) + np.arccos(x / 2) * np.arctan(5 * x),
        ),
        P,
    ),
    "abs_neg_square_sign_floor_ceil": (
        lambda x: np.abs(x) * -x + np.square(x) + np.sign(x) * x + np.floor(3 * x) * np.ceil(x),
        A + 0.01,
    ),
    "pow_div": (
        lambda x, y: x**y + x**3 + 2.0**x + np.power(x, 0.5) + x**-1.5 + x / y - 1 / x,
        P,
        Q,
    ),
    "arctan2_hypot_logaddexp": (
        lambda x, y: np.arctan2(x, y) + np.arctan2(y, 2.0) * np.hypot(x, y) + np.logaddexp(x, y),
        A,
        B,
    ),
    "maximum_minimum": (
        lambda x, y: np.maximum(x, y) * np.minimum(x, 0.1) + np.maximum(y, 0),
        A,
        B,
    ),
    "mod_floordiv": (lambda x, y: np.mod(x, y) + (3 * x) % 1.5 + np.floor_divide(x, y) * x, A, Q),
    "logistic": (lambda x: 1 / (1 + np.exp(-x)) + np.log(1 / (1 + np.exp(-x))), A),
    "where_clip": (
        lambda x, y: (
            np.where(x > 0, x * y, np.sin(y))
            + np.clip(x, -0.5, 0.5)
            + np.where(x > 0.2, x, 0.0) * np.where(x < 0, 1.0, x**2)
        ),
        A,
        B,
    ),
    "sum_axes": (
        lambda x: (
            np.sum(x, axis=(0, 2)),
            x.sum(axis=1, keepdims=True),
            np.mean(x, axis=-1),
            np.var(x, axis=0) + np.std(x),
        ),
        N3,
    ),
    "prod": (lambda x: (np.prod(x, axis=1), np.prod(x), x.prod(axis=(0, 2))), N3),
    "max_min": (lambda x: (np.max(x, axis=2), np.min(x, axis=(0, 1)), x.max(), x.min(0)), N3),
    "matmul_1d_and_batched": (
        lambda u, m, t: (u @ m, u @ u, t @ m, m.T @ u, t @ u),
        V4,
        normal(4, 2, seed=31),
        normal(2, 3, 4, seed=32),
    ),
    "broadcast": (
        lambda x, y: np.broadcast_to(x, (2, 3, 4)) * (y[:, None, :] - x[None, None, :]).sum(1),
        V4,
        B,
    ),
    "reshape_transpose": (
        lambda x: (
            x.reshape(4, 6) * 2,
            x.T,
            np.transpose(x, (2, 0, 1)) ** 2,
            np.swapaxes(x, 0, 2) + 1,
            np.moveaxis(x, 0, -1) * x.ravel().reshape(3, 4, 2),
            np.expand_dims(x, 1).squeeze(1) * x,
        ),
        N3,
    ),
    "dot_outer_inner_tensordot": (
        lambda a, u: (
            np.dot(a, u),
            np.outer(u, a[0]),
            np.inner(a, a),
            np.tensordot(a, a.T, axes=([1], [0])),
        ),
        A,
        V4,
    ),
    "concatenate_stack": (
        lambda x, y: (
            np.concatenate([x, y * y, x], axis=1),
            np.concatenate([y, x]),
            np.stack([x, y], axis=1),
            np.hstack([x, y]),
            np.vstack([x[0], y]),
        ),
        A,
        B,
    ),
    "basic_indexing": (
        lambda x: (x[1:, ::2], x[::-1], x[-1], x[:, 3:0:-2], x[..., -1], x[None, 1], x[2, 1]),
        A,
    ),
    "advanced_indexing": (
        lambda x: (
            x[np.array([2, 0, 2])],
            x[np.array([0, 1]), np.array([3, 0])],
            x[:, np.array([1, 1, 0])],
            x[1:, np.array([0, 2])],
            x[np.array([[0, 1], [2, 2]]), ::-1],
            x[MASK],
        ),
        A,
    ),
    "traced_integer_index": (
        lambda x, idx: x[idx[:3]] * x[np.arange(3), idx[:3]][:, None] + x[idx[1], idx[0]],
        A,
        np.array([2, 0, 3, 1]) % 3,
    ),
    "item_assignment": (_assigned, A, V4),
    "augmented_assignment_at_indices": (_augmented, A, V4),
    "python_float_and_int_args": (lambda x, s, n: x * s**n + s * np.sum(x[:n]), V4, 1.3, 2),
    "integer_array_argument": (
        lambda x, n: x * n.astype(np.float64) + x ** n[0],
        P,
        np.arange(1, 5),
    ),
    "pytree_in_and_out": (
        lambda p, x: {"y": np.tanh(x @ p["w"] + p["b"]), "s": [np.sum(p["w"] ** 2), p["b"] * 2]},
        {"w": normal(4, 2, seed=29), "b": normal(2, seed=30)},
        A,
    ),
}


@pytest.mark.parametrize("name", sorted(NUMPY_CASES))
def test_jvp_of_numpy_programs_matches_finite_differences(name):
    f, *primals = NUMPY_CASES[name]
    check_api_jvp(f, *primals)


def test_jvp_of_astype_conversions():
    x = normal(5, seed=31)
    t = normal(5, seed=32)
    # f64 -> f32 -> f64: the tangent is rounded like the value
    out, tan = adjit.jvp(lambda v: v.astype(np.float32).astype(np.float64) * 2, (x,), (t,))
    np.testing.assert_array_equal(tan, t.astype(np.float32).astype(np.float64) * 2)
    # f32 arithmetic, checked against float64 FD of the float64 program
    x32, t32 = x.astype(np.float32), t.astype(np.float32)
    out, tan = adjit.jvp(lambda v: np.sin(v) * v, (x32,), (t32,))
    assert out.dtype == np.float32 and tan.dtype == np.float32
    np.testing.assert_allclose(
        tan, fd_jvp(lambda v: np.sin(v) * v, (x,), (t,)), rtol=1e-5, atol=1e-6
    )
    # float -> int cuts the tangent; int -> float of an int argument has none
    out, tan = adjit.jvp(
        lambda v, n: np.floor(v * 3).astype(np.int64).astype(float) * v + n.astype(float),
        (x, np.arange(5)),
        (t, np.zeros(5, np.int64)),
    )
    np.testing.assert_allclose(tan, np.floor(x * 3) * t, rtol=1e-14)
    # f32 -> f64 upcast in mixed arithmetic
    out, tan = adjit.jvp(lambda a, b: a * b.astype(np.float64), (x, x32), (t, t32))
    np.testing.assert_allclose(tan, t * x32 + x * t32.astype(np.float64), rtol=1e-14)


def test_jvp_is_linear_in_the_tangent_and_exact_for_textbook_cases():
    f = lambda x1, x2: x1 * x2 + np.sin(x2)  # noqa: E731
    x1, x2 = 1.5, -0.7
    assert adjit.jvp(f, (x1, x2), (1.0, 0.0))[1] == x2
    assert adjit.jvp(f, (x1, x2), (0.0, 1.0))[1] == x1 + np.cos(x2)
    np.testing.assert_allclose(
        adjit.jvp(f, (x1, x2), (2.0, -3.0))[1], 2 * x2 - 3 * (x1 + np.cos(x2)), rtol=1e-15
    )
    x = normal(4, seed=33)
    _, tan = adjit.jvp(lambda v: np.exp(v) * v, (x,), (np.ones(4),))
    np.testing.assert_allclose(tan, np.exp(x) * (1 + x), rtol=1e-14)


# ------------------------------------------------------------- forward through control flow


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_jvp_through_cond_takes_the_branch_taken(sign):
    def f(x, y):
        z = adjit.cond(
            np.sum(x) > 0, lambda a, b: np.sin(a) * b, lambda a, b: a * a - np.exp(b), x, y
        )
        return z * y, np.sum(z)

    check_api_jvp(f, sign * np.array([0.3, -0.2, 0.5]), 0.7)


def test_jvp_through_nested_cond_with_captures():
    def f(x, s):
        w = np.cos(x) * s  # captured by the branches

        def inner(v):
            return adjit.cond(v[0] > 0, lambda u: u**3 * w, lambda u: -u + w, v)

        return adjit.cond(np.sum(x) > 1.0, inner, lambda v: np.tanh(v) * s, x)

    for x in (np.array([0.5, 0.8]), np.array([-0.5, 1.8]), np.array([0.1, 0.2])):
        check_api_jvp(f, x, 1.7)


def test_jvp_through_cond_with_an_untangented_branch_output():
    def f(x, n):
        a, b = adjit.cond(n > 2, lambda v: (v * 2.0, n * 1.0), lambda v: (np.sin(v), 3.0), x)
        return a * b

    check_api_jvp(f, normal(3, seed=34), np.int64(3))
    check_api_jvp(f, normal(3, seed=34), np.int64(1))


def test_jvp_through_regions_whose_result_drops_the_tangent():
    # the tangent reaches a result through one branch (or the loop's input) but not
    # through the other branch (or the body): that region yields zeros for it
    def f(x):
        y = adjit.cond(x[0] > 0, lambda v: np.sin(v), lambda v: np.ones(3), x)
        a, b = adjit.fori_loop(0, 3, lambda i, s: (s[0] * 1.1, np.ones(3)), (x, x))
        return y, a, b

    for sign in (1.0, -1.0):
        out, (ty, ta, tb) = check_api_jvp(f, sign * np.array([0.3, -0.2, 0.5]))
        assert not np.any(tb) and np.any(ta) and np.any(ty) == (sign > 0)


def test_jvp_through_while_loop():
    def f(x, y):
        def body(state):
            i, a, b = state
            return i + 1, a * np.cos(b) + 0.5, b + a * 0.1

        _, a, b = adjit.while_loop(lambda s: s[0] < 5, body, (0, x, y))
        return a * b

    check_api_jvp(f, normal(3, seed=35), normal(3, seed=36))


def test_jvp_through_while_loop_with_a_value_dependent_exit():
    def f(x):  # doubles until the norm exceeds 10: tangent scales like the value
        return adjit.while_loop(lambda v: np.sum(v * v) < 100.0, lambda v: v * 2.0 + np.sin(v), x)

    for seed in (37, 38):
        check_api_jvp(f, normal(3, seed=seed) * 0.3)


def test_jvp_through_fori_loop():
    def f(x, w):
        def body(i, state):
            h, acc = state
            h = np.tanh(h @ w + i * 0.1)
            return h, acc + np.sum(h * h)

        return adjit.fori_loop(0, 4, body, (x, 0.0))

    check_api_jvp(f, normal(2, 3, seed=39), normal(3, 3, seed=40) * 0.5)


def test_jvp_through_fori_loop_state_reached_only_through_the_body():
    def f(x):
        def body(i, state):
            a, b, c = state  # b starts constant; the tangent reaches it in iteration 1
            return a * 1.1, b + a * a, c + 1.0

        return adjit.fori_loop(0, 3, body, (x, np.zeros(3), np.ones(3)))

    out, (ta, tb, tc) = check_api_jvp(f, normal(3, seed=41))
    np.testing.assert_array_equal(tc, np.zeros(3))


def test_jvp_through_fori_loop_inside_cond_inside_fori_loop():
    def f(x):
        def outer(i, v):
            inner = lambda u: adjit.fori_loop(0, 2, lambda j, w: np.sin(w) + u * j, u)  # noqa: E731
            return adjit.cond(np.sum(v) > 0, inner, lambda u: u * u - 1.0, v)

        return adjit.fori_loop(0, 3, outer, x)

    check_api_jvp(f, normal(4, seed=42) * 0.5)


# ------------------------------------------------------------- nesting of transformations


def _np_and_anp(f):
    return functools.partial(f, np), functools.partial(f, anp)


def mix(np, x):  # a vector function R^3 -> R^2 with cross terms
    return np.stack([np.sin(x[0] * x[1]) + x[2] ** 2, np.exp(x[1] - x[2]) * x[0]])


def scalar_fn(np, x):
    return np.sum(np.tanh(x) * x[::-1]) + np.prod(x)


XN = normal(3, seed=43)


@pytest.mark.parametrize(
    "outer,inner",
    [("jacfwd", "jacrev"), ("jacrev", "jacfwd"), ("jacfwd", "jacfwd"), ("jacrev", "jacrev")],
)
def test_nested_jacobians_match_autograd(outer, inner):
    f, af = _np_and_anp(mix)
    got = getattr(adjit, outer)(getattr(adjit, inner)(f))(XN)
    want = autograd.jacobian(autograd.jacobian(af))(XN)
    assert got.shape == (2, 3, 3)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_jvp_of_grad_matches_autograd_hessian_vector():
    f, af = _np_and_anp(scalar_fn)
    v = normal(3, seed=44)
    g, tan = adjit.jvp(adjit.grad(f), (XN,), (v,))
    np.testing.assert_allclose(g, autograd.grad(af)(XN), rtol=1e-12)
    np.testing.assert_allclose(tan, autograd.hessian(af)(XN) @ v, rtol=1e-10, atol=1e-12)


def test_grad_of_a_function_calling_jvp():
    f, af = _np_and_anp(mix)
    v = normal(3, seed=45)
    c = normal(2, seed=46)

    def g(x):  # c . (J(x) v)
        return np.sum(adjit.jvp(f, (x,), (v,))[1] * c)

    want = autograd.grad(lambda x: anp.sum((autograd.jacobian(af)(x) @ v) * c))(XN)
    np.testing.assert_allclose(adjit.grad(g)(XN), want, rtol=1e-10, atol=1e-12)


def test_jvp_of_jvp_is_a_second_directional_derivative():
    f, af = _np_and_anp(mix)
    u, v = normal(3, seed=47), normal(3, seed=48)

    def d1(x):
        return adjit.jvp(f, (x,), (u,))[1]

    _, got = adjit.jvp(d1, (XN,), (v,))
    want = np.einsum("kij,i,j->k", autograd.jacobian(autograd.jacobian(af))(XN), u, v)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_vjp_of_a_jvp_based_function():
    f, af = _np_and_anp(mix)
    v, ct = normal(3, seed=49), normal(2, seed=50)

    def g(x):
        return adjit.jvp(f, (x,), (v,))[1]

    out, pullback = adjit.vjp(g, XN)
    ag = lambda x: autograd.jacobian(af)(x) @ v  # noqa: E731
    np.testing.assert_allclose(out, ag(XN), rtol=1e-12)
    (got,) = pullback(ct)
    np.testing.assert_allclose(got, autograd.jacobian(ag)(XN).T @ ct, rtol=1e-10, atol=1e-12)


def test_jit_of_jacfwd_and_jacfwd_inside_jit():
    f, af = _np_and_anp(mix)
    want = autograd.jacobian(af)(XN)
    np.testing.assert_allclose(adjit.jit(adjit.jacfwd(f))(XN), want, rtol=1e-12)

    @adjit.jit
    def uses_jacobian(x):
        j = adjit.jacfwd(f)(x)
        return j @ x, np.sum(j * j)

    got_a, got_b = uses_jacobian(XN)
    np.testing.assert_allclose(got_a, want @ XN, rtol=1e-12)
    np.testing.assert_allclose(got_b, np.sum(want * want), rtol=1e-12)


def test_vmap_of_grad_and_grad_inside_vmap():
    f, af = _np_and_anp(scalar_fn)
    xs = normal(5, 3, seed=51)
    want = np.stack([autograd.grad(af)(x) for x in xs])
    np.testing.assert_allclose(adjit.vmap(adjit.grad(f))(xs), want, rtol=1e-12)
    got = adjit.vmap(lambda x: adjit.grad(f)(x) * x)(xs)
    np.testing.assert_allclose(got, want * xs, rtol=1e-12)


def test_jvp_inside_vmap():
    f, af = _np_and_anp(mix)
    xs, vs = normal(4, 3, seed=52), normal(4, 3, seed=53)
    got = adjit.vmap(lambda x, v: adjit.jvp(f, (x,), (v,))[1])(xs, vs)
    want = np.stack([autograd.jacobian(af)(x) @ v for x, v in zip(xs, vs)])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    v = vs[0]  # unbatched tangent, batched primal
    got = adjit.vmap(lambda x, v: adjit.jvp(f, (x,), (v,))[1], in_axes=(0, None))(xs, v)
    np.testing.assert_allclose(got, np.stack([autograd.jacobian(af)(x) @ v for x in xs]))


def _layer(np, w, x):  # an affine-tanh layer, applied to each row by vmap
    return np.tanh(x @ w) * np.sum(w)


W_LAYER, XS_LAYER = normal(3, 2, seed=54), normal(4, 3, seed=55)


def test_vmap_inside_jacfwd_and_jacrev():
    layer = functools.partial(_layer, np)

    def mapped(w, xs):  # the batched argument xs is traced (an argument of the outer function)
        return adjit.vmap(layer, in_axes=(None, 0))(w, xs)

    want = autograd.jacobian(lambda w: _layer(anp, w, XS_LAYER))(W_LAYER)
    assert want.shape == (4, 2, 3, 2)
    for jac in (adjit.jacfwd, adjit.jacrev):
        np.testing.assert_allclose(jac(mapped)(W_LAYER, XS_LAYER), want, rtol=1e-12, atol=1e-14)


def test_vmap_over_a_constant_inside_jacfwd():
    layer = functools.partial(_layer, np)

    def mapped(w):  # the batched array is a constant closed over by the traced function
        return adjit.vmap(lambda x: layer(w, x))(XS_LAYER)

    want = autograd.jacobian(lambda w: _layer(anp, w, XS_LAYER))(W_LAYER)
    np.testing.assert_allclose(adjit.jacfwd(mapped)(W_LAYER), want, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------- perturbation confusion
# d/dx [x * d/dy (x + y)] = 1 and d/dx [x * d/dy (x * y)] = 2x at any (x, y): the
# inner derivative's perturbation must not be confused with the outer one.


def _d_fwd(f):
    return lambda x: adjit.jvp(f, (x,), (1.0,))[1]


_INNER = {"fwd": _d_fwd, "rev": adjit.grad}
POINTS = [(0.5, 2.0), (3.0, -1.0), (-2.0, 0.25)]


@pytest.mark.parametrize("x0,y0", POINTS)
@pytest.mark.parametrize("outer", ["fwd", "rev"])
@pytest.mark.parametrize("inner", ["fwd", "rev"])
def test_no_perturbation_confusion_at_a_constant_inner_point(outer, inner, x0, y0):
    d_out, d_in = _INNER[outer], _INNER[inner]
    assert d_out(lambda x: x * d_in(lambda y: x + y)(y0))(x0) == 1.0
    np.testing.assert_allclose(
        d_out(lambda x: x * d_in(lambda y: x * y)(y0))(x0), 2 * x0, rtol=1e-14
    )


@pytest.mark.parametrize("outer", ["fwd", "rev"])
@pytest.mark.parametrize("inner", ["fwd", "rev"])
def test_no_perturbation_confusion_at_a_traced_inner_point(outer, inner):
    # the inner point y is an argument of the outer function (traced, not differentiated)
    d_in = _INNER[inner]

    def h(x, y):
        return x * d_in(lambda z: x + z)(y)

    def k(x, y):
        return x * d_in(lambda z: x * z)(y)

    for x0, y0 in POINTS:
        if outer == "fwd":
            got_h = adjit.jvp(h, (x0, y0), (1.0, 0.0))[1]
            got_k = adjit.jvp(k, (x0, y0), (1.0, 0.0))[1]
        else:
            got_h = adjit.grad(h)(x0, y0)
            got_k = adjit.grad(k)(x0, y0)
        assert got_h == 1.0
        np.testing.assert_allclose(got_k, 2 * x0, rtol=1e-14)


@pytest.mark.parametrize("outer", ["jacfwd", "jacrev"])
@pytest.mark.parametrize("inner", ["jacfwd", "jacrev"])
def test_no_perturbation_confusion_with_jacobians(outer, inner):
    # vector version: d/dx [x * trace(d/dy (x + y))] = n I for x, y of size n
    d_out, d_in = getattr(adjit, outer), getattr(adjit, inner)
    x0, y0 = normal(3, seed=57), normal(3, seed=58)
    got = d_out(lambda x, y: x * np.trace(d_in(lambda z: x + z)(y)))(x0, y0)
    np.testing.assert_array_equal(got, 3.0 * np.eye(3))


# ------------------------------------------------------------------------- errors


def test_error_jvp_tangent_structure():
    f = lambda x, y: x * y  # noqa: E731
    with pytest.raises(adjit.AdjitError, match="jvp: the tangents must have the structure"):
        adjit.jvp(f, (np.ones(3), np.ones(3)), (np.ones(3),))
    with pytest.raises(adjit.AdjitError, match="jvp: the tangents must have the structure"):
        adjit.jvp(lambda p: p["a"] * 2, ({"a": np.ones(2)},), ({"b": np.ones(2)},))


def test_error_jvp_tangent_shape():
    with pytest.raises(adjit.AdjitError, match=r"jvp: tangent of shape \(2,\) for the primal"):
        adjit.jvp(lambda x: np.sin(x), (np.ones(3),), (np.ones(2),))


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev"])
def test_error_jacobian_wrt_an_integer_argument(transform):
    jac = getattr(adjit, transform)
    with pytest.raises(
        adjit.AdjitError, match=f"{transform}: cannot differentiate argument n .*i64"
    ):
        jac(lambda x, n: x * n, argnums=1)(np.ones(3), np.arange(3))
    with pytest.raises(adjit.AdjitError, match=f"{transform}: argument 1 has no array leaves"):
        jac(lambda x, n: x * n, argnums=1)(np.ones(3), 2)


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev"])
def test_error_jacobian_of_an_integer_output(transform):
    with pytest.raises(
        adjit.AdjitError, match=f"{transform}: every output must be floating-point.*i64"
    ):
        getattr(adjit, transform)(lambda x: (x * 2, (x > 0).astype(np.int64)))(np.ones(3))
    with pytest.raises(
        adjit.AdjitError, match=f"{transform}: every output must be floating-point.*bool"
    ):
        getattr(adjit, transform)(lambda x: x > 0)(np.ones(3))


def test_error_vmap_mismatched_batch_sizes():
    with pytest.raises(adjit.AdjitError, match=r"vmap: .*batch size.*\[3, 4\]"):
        adjit.vmap(lambda a, b: a * np.sum(b))(np.ones((3, 2)), np.ones((4, 2)))


def test_error_vmap_bad_in_axes_and_scalar_leaves():
    with pytest.raises(
        adjit.AdjitError, match=r"vmap: in_axes='x' must be an int, None, or a tuple"
    ):
        adjit.vmap(lambda a: a, in_axes="x")(np.ones((4, 2)))
    with pytest.raises(adjit.AdjitError, match=r"vmap: in_axes=\(0, None\) must be .*1 given"):
        adjit.vmap(lambda a: a, in_axes=(0, None))(np.ones((4, 2)))
    with pytest.raises(adjit.AdjitError, match=r"vmap: axis 2 is out of range .* shape \(4, 2\)"):
        adjit.vmap(lambda a: a, in_axes=2)(np.ones((4, 2)))
    with pytest.raises(adjit.AdjitError, match="vmap: a batched argument has a scalar leaf"):
        adjit.vmap(lambda a, s: a * s)(np.ones((4, 2)), 2.0)


def test_vmap_of_cond_on_the_batched_argument_takes_each_slices_branch():
    def f(x):
        return adjit.cond(np.sum(x) > 0, lambda v: v * 2.0, lambda v: -v, x)

    xs = normal(6, 3, seed=59)
    want = np.stack([f(x) for x in xs])
    assert len({bool(np.sum(x) > 0) for x in xs}) == 2  # both branches are taken
    np.testing.assert_array_equal(adjit.vmap(f)(xs), want)
    jac = adjit.vmap(adjit.jacfwd(f))(xs)
    np.testing.assert_array_equal(jac, np.stack([adjit.jacfwd(f)(x) for x in xs]))


def test_vmap_of_while_runs_each_slice_until_its_own_condition_fails():
    def newton_sqrt(a):
        def running(state):
            x, k = state
            return (np.abs(x * x - a) > 1e-12) & (k < 50)

        def step(state):
            x, k = state
            return 0.5 * (x + a / x), k + 1

        return adjit.while_loop(running, step, (a + 1.0, 0))

    a = np.array([0.5, 2.0, 100.0, 1e6])
    roots, steps = adjit.vmap(newton_sqrt)(a)
    loops = [newton_sqrt(v) for v in a]
    np.testing.assert_array_equal(roots, [r for r, _ in loops])
    np.testing.assert_array_equal(steps, [k for _, k in loops])
    assert len(set(steps.tolist())) > 1  # the slices stop at different steps
    slopes = adjit.vmap(adjit.jacfwd(lambda a: newton_sqrt(a)[0]))(a)
    np.testing.assert_allclose(slopes, 0.5 / np.sqrt(a), rtol=1e-10)


def test_error_vmap_of_a_loop_bound_on_the_batched_argument_names_the_user_line():
    def f(x, n):
        return adjit.fori_loop(0, n, lambda i, v: v * 2.0, x)

    with pytest.raises(
        adjit.UnsupportedError,
        match=r"(?s)cannot batch for: a loop bound depends on the batched input.*"
        r"test_forward.py:\d+: return adjit.fori_loop",
    ):
        adjit.vmap(f)(np.ones((4, 3)), np.arange(4))


def test_error_vmap_of_a_jvp_names_the_line_of_the_primal_op_it_cannot_batch():
    # the forward pass re-emits the gather with the tangent's; a later pass (vmap)
    # that rejects it must still point at the user's indexing, not at the jvp call
    def f(x):  # advanced indices split by a slice, both depending on x
        return x[np.argsort(x[:, 0, 0]), :, np.argmax(x[0, 0])]

    def slope(x):
        return adjit.jvp(f, (x,), (np.ones_like(x),))[1]

    with pytest.raises(
        adjit.UnsupportedError,
        match=r"(?s)cannot batch gather: an index.*"
        r"test_forward.py:\d+: return x\[np.argsort",
    ):
        adjit.vmap(slope).ir(np.ones((2, 3, 4, 5)))


def test_jacrev_through_loops_without_static_trip_counts_matches_jacfwd():
    # reverse mode goes through while_loop and fori_loop with traced bounds on a
    # tape sized at run time (tests/test_loop_reverse.py); forward mode too
    def f(x):
        return adjit.while_loop(lambda v: np.sum(v) < 10.0, lambda v: v * 2.0, x)

    np.testing.assert_array_equal(adjit.jacrev(f)(np.ones(3)), 4.0 * np.eye(3))
    np.testing.assert_array_equal(adjit.jacfwd(f)(np.ones(3)), 4.0 * np.eye(3))

    def g(x, n):
        return adjit.fori_loop(0, n, lambda i, v: v * v, x)

    x = np.full(3, 1.1)
    expected = np.diag(8 * 1.1**7 * np.ones(3))
    np.testing.assert_allclose(adjit.jacrev(g)(x, np.array(3)), expected, rtol=1e-14)
    np.testing.assert_allclose(adjit.jacfwd(g)(x, np.array(3)), expected, rtol=1e-14)
