"""Jacobians, Hessians and vmap: jacfwd, jacrev, hessian, hvp, vmap.

Oracles: the `autograd` package (a corpus of vector functions, Hessians),
ADBench's reference bundle-adjustment Jacobian, the analytic Hessian of the
Rosenbrock function, and Python loops over slices (vmap).
"""

from __future__ import annotations

import functools
import warnings

import autograd
import autograd.numpy as anp
import numpy as np
import pytest
from adbench import ba_reference_jacobian_test, ba_residuals, data_path, read_ba, rho
from autograd.extend import Box
from samples import assert_tree_close, normal, uniform

import adjit
from adjit import tree


def _is_box(x) -> bool:
    return isinstance(x, Box)


def autograd_jacobian(f_anp, args: tuple, argnums):
    """The Jacobian in adjit's layout, one autograd.jacobian per (output leaf, input leaf):
    the output's structure with each leaf replaced by the structure of the differentiated
    argument(s), each of whose leaves is a block of shape out.shape + in.shape."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    out_leaves, out_tree = tree.flatten(f_anp(*args))
    arg_leaves = [tree.flatten(args[i]) for i in nums]

    def block(k, a, j):
        i = nums[a]
        leaves, t = arg_leaves[a]

        def g(leaf):
            new = list(args)
            new[i] = tree.unflatten(t, [leaf if n == j else x for n, x in enumerate(leaves)])
            return tree.flatten(f_anp(*new), is_leaf=_is_box)[0][k]

        with warnings.catch_warnings():  # blocks that are zero: "independent of input"
            warnings.simplefilter("ignore", UserWarning)
            jac = autograd.jacobian(g)(leaves[j])
        return np.reshape(jac, np.shape(out_leaves[k]) + np.shape(leaves[j]))

    per_out = []
    for k in range(len(out_leaves)):
        blocks = [
            tree.unflatten(t, [block(k, a, j) for j in range(len(leaves))])
            for a, (leaves, t) in enumerate(arg_leaves)
        ]
        per_out.append(blocks[0] if isinstance(argnums, int) else tuple(blocks))
    return tree.unflatten(out_tree, per_out)


# ------------------------------------------------------ corpus: jacfwd == jacrev == autograd


def elementwise_vec(np, x):
    return np.sin(x) * np.exp(x[::-1]) + np.log1p(x * x)


def matrix_to_matrix(np, A):
    return np.tanh(A @ A.T) + np.sum(A**2, axis=1)


def affine_two_args(np, W, x):
    return np.tanh(W @ x) * np.max(W, axis=1) + np.sum(W, axis=0)[:3] * x[0]


def tuple_outputs(np, x, y):
    return x * y, np.sum(x**2 * np.cos(y)), np.outer(x, y[:2])


def dict_params(np, p, x):
    h = np.tanh(x @ p["w"] + p["b"])
    return {"h": h, "norm": np.sqrt(np.sum(h * h) + p["eps"])}


def gather_scatter(np, x):
    y = np.zeros((3, 4))
    y[0] = x[np.array([3, 0, 1, 1])] * 2.0
    y[1:, ::-2] = np.sin(x[1:5]).reshape(2, 2)
    y[2, 1] += x[5] ** 2
    return y * x[:4]


def gather_scatter_functional(np, x):  # the same function without item assignment (autograd)
    row0 = x[np.array([3, 0, 1, 1])] * 2.0
    s = np.sin(x[1:5])
    # y[1:, ::-2] writes columns 3 and 1 of rows 1 and 2
    row1 = np.stack([0.0 * x[0], s[1], 0.0 * x[0], s[0]])
    row2 = np.stack([0.0 * x[0], s[3] + x[5] ** 2, 0.0 * x[0], s[2]])
    return np.stack([row0, row1, row2]) * x[:4]


def reductions(np, x):
    return np.concatenate([np.max(x, axis=0), np.prod(x, axis=1)]) + np.min(x) * np.mean(x)


def row_softmax(np, x):
    e = np.exp(x - np.max(x, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True)


def concat_stack(np, x, y):
    return np.stack([np.concatenate([x, y * y]), np.concatenate([y, x * y])], axis=1)


def cross_rows(np, a, b):
    i1, i2 = np.array([1, 2, 0]), np.array([2, 0, 1])
    return a[:, i1] * b[:, i2] - a[:, i2] * b[:, i1]


def polar(np, r, theta):
    return np.stack([r * np.cos(theta), r * np.sin(theta), r * r * theta])


def piecewise(np, x, y):
    return np.where(x > 0, x * y, np.exp(y)) + np.clip(x, -0.5, 0.5) * np.maximum(y, 0.1)


def batched_matmul(np, a, b):
    return np.tanh(a @ b)


CORPUS = {
    "elementwise_vec": (elementwise_vec, None, 0, normal(4, seed=1)),
    "matrix_to_matrix": (matrix_to_matrix, None, 0, normal(3, 4, seed=2)),
    "affine_two_args": (affine_two_args, None, (0, 1), normal(3, 3, seed=3), normal(3, seed=4)),
    "tuple_outputs": (tuple_outputs, None, (0, 1), normal(3, seed=5), normal(3, seed=6)),
    "dict_params": (
        dict_params,
        None,
        0,
        {"w": normal(4, 2, seed=7), "b": normal(2, seed=8), "eps": 0.3},
        normal(3, 4, seed=9),
    ),
    "gather_scatter": (gather_scatter, gather_scatter_functional, 0, normal(6, seed=10)),
    "reductions": (reductions, None, 0, normal(3, 4, seed=11)),
    "row_softmax": (row_softmax, None, 0, normal(2, 4, seed=12)),
    "concat_stack": (concat_stack, None, 1, normal(3, seed=13), normal(3, seed=14)),
    "cross_rows": (cross_rows, None, (0, 1), normal(2, 3, seed=15), normal(2, 3, seed=16)),
    "polar_python_floats": (polar, None, (0, 1), 1.7, 0.4),
    "piecewise": (piecewise, None, (0, 1), normal(5, seed=18), normal(5, seed=19)),
    "batched_matmul": (
        batched_matmul,
        None,
        (0, 1),
        normal(2, 3, 4, seed=20),
        normal(4, 2, seed=21),
    ),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_jacfwd_equals_jacrev_equals_autograd(name):
    f, f_ag, argnums, *args = CORPUS[name]
    fn = functools.partial(f, np)
    want = autograd_jacobian(functools.partial(f_ag or f, anp), tuple(args), argnums)
    fwd = adjit.jacfwd(fn, argnums=argnums)(*args)
    rev = adjit.jacrev(fn, argnums=argnums)(*args)
    assert_tree_close(fwd, rev, rtol=1e-12, atol=1e-13)
    assert_tree_close(fwd, want, rtol=1e-10, atol=1e-12)
    assert_tree_close(rev, want, rtol=1e-10, atol=1e-12)


def test_jacobian_is_jacrev_and_layout_is_out_then_in():
    assert adjit.jacobian is adjit.jacrev
    f = lambda x, y: (x[:, None] * y[None, :], np.sum(x) * y)  # noqa: E731
    x, y = normal(3, seed=24), normal(2, seed=25)
    (j0, j1) = adjit.jacfwd(f)(x, y)
    assert j0.shape == (3, 2, 3) and j1.shape == (2, 3)
    (k0, k1), (k2, k3) = adjit.jacrev(f, argnums=(0, 1))(x, y)
    assert (k0.shape, k1.shape, k2.shape, k3.shape) == ((3, 2, 3), (3, 2, 2), (2, 3), (2, 2))
    np.testing.assert_array_equal(k3, np.sum(x) * np.eye(2))
    np.testing.assert_array_equal(k1[:, :, 0], np.stack([x, 0 * x], axis=1))


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev"])
def test_jacobian_degenerate_cases(transform):
    jac = getattr(adjit, transform)
    x = normal(3, seed=60)
    np.testing.assert_array_equal(jac(lambda v: v)(x), np.eye(3))
    np.testing.assert_array_equal(jac(lambda v: np.ones(2) + 0.0 * v[0])(x), np.zeros((2, 3)))
    np.testing.assert_array_equal(jac(lambda v: np.ones(2))(x), np.zeros((2, 3)))
    assert jac(lambda s: s * s * s)(3.0) == 27.0
    j32 = jac(lambda v: v * v)(x.astype(np.float32))
    assert j32.dtype == np.float32
    np.testing.assert_array_equal(j32, np.diag(2 * x.astype(np.float32)))
    np.testing.assert_array_equal(jac(lambda a, b: a * b, argnums=-1)(x, x + 1), np.diag(x))
    (jaa, jab), (jba, jbb) = jac(lambda a, b: (a, b * 2.0), argnums=(0, 1))(x, 2.0)
    np.testing.assert_array_equal(jaa, np.eye(3))
    np.testing.assert_array_equal(jab, np.zeros(3))
    np.testing.assert_array_equal(jba, np.zeros(3))
    assert jbb == 2.0


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev"])
def test_jacobian_of_an_empty_array_has_shape_out_plus_in(transform):
    j = getattr(adjit, transform)(lambda v: v * 2.0)(np.ones(0))
    assert j.shape == (0, 0)
    j = getattr(adjit, transform)(lambda v: np.sum(v) + v[:0])(np.ones(0))
    assert j.shape == (0, 0)


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev"])
def test_jacobian_through_cond(transform):
    def f(x):
        return adjit.cond(np.sum(x) > 0, lambda v: np.sin(v) * v[0], lambda v: v**3, x)

    for x in (normal(3, seed=26) + 1.0, normal(3, seed=26) - 1.0):
        want = (
            autograd.jacobian(lambda v: anp.sin(v) * v[0])(x)
            if np.sum(x) > 0
            else np.diag(3 * x**2)
        )
        np.testing.assert_allclose(getattr(adjit, transform)(f)(x), want, rtol=1e-12, atol=1e-15)


def test_jacfwd_through_while_and_fori_loops():
    def f(x):
        y = adjit.fori_loop(0, 3, lambda i, v: np.sin(v) * v[::-1] + i, x)
        return adjit.while_loop(lambda v: np.sum(v * v) < 50.0, lambda v: v * 1.5 + 0.1, y)

    def g(x):  # the same, unrolled for autograd (the while loop stops after the same count)
        for i in range(3):
            x = anp.sin(x) * x[::-1] + i
        while anp.sum(x * x) < 50.0:
            x = x * 1.5 + 0.1
        return x

    x = normal(3, seed=27) * 0.5
    np.testing.assert_allclose(adjit.jacfwd(f)(x), autograd.jacobian(g)(x), rtol=1e-12)


def test_jacrev_through_fori_loop_matches_jacfwd():
    def f(x, w):
        def body(i, state):
            h, acc = state
            h = np.tanh(w @ h + x * i)
            return h, acc + h * h

        return adjit.fori_loop(1, 4, body, (x, np.zeros(3)))

    def g(x, w):
        h, acc = x, anp.zeros(3)
        for i in range(1, 4):
            h = anp.tanh(anp.dot(w, h) + x * i)
            acc = acc + h * h
        return h, acc

    x, w = normal(3, seed=64), normal(3, 3, seed=65) / 2
    fwd = adjit.jacfwd(f, argnums=(0, 1))(x, w)
    rev = adjit.jacrev(f, argnums=(0, 1))(x, w)
    assert_tree_close(fwd, rev, rtol=1e-12, atol=1e-14)
    assert_tree_close(fwd, autograd_jacobian(g, (x, w), (0, 1)), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------- ADBench bundle adjustment


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev"])
def test_adbench_ba_jacobian_matches_reference(transform):
    data = read_ba(data_path("ba", "test.txt"))
    feats, obs = data["feats"], data["obs"]

    def residuals(cams, X, w):
        return ba_residuals(cams, X, w, feats, obs)

    args = (data["cams"], data["X"], data["w"])
    jac = getattr(adjit, transform)(residuals, argnums=(0, 1, 2))(*args)
    reproj, w_err = residuals(*args)
    rows = []
    for out, blocks in zip((reproj, w_err), jac):
        assert [b.shape for b in blocks] == [out.shape + a.shape for a in args]
        rows.append(np.hstack([b.reshape(out.size, a.size) for b, a in zip(blocks, args)]))
    dense = np.vstack(rows)
    ref = ba_reference_jacobian_test()
    assert dense.shape == ref["shape"] == (30, 62)
    assert rho(dense, ref["dense"]).max() <= 1e-8
    # the sparsity is structural: entries outside ADBench's pattern are exactly zero
    assert np.all(dense[ref["dense"] == 0] == 0)


def _ba_observation(cam, x, w, feat):
    """The residuals of one observation: ba_residuals on a batch of one."""
    reproj, w_err = ba_residuals(
        cam[None], x[None], w[None], feat[None], np.zeros((1, 2), dtype=np.int64)
    )
    return reproj[0], w_err[0]


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev"])
def test_adbench_ba_sparse_jacobian_by_vmap_matches_reference(transform):
    # ADBench's own layout: each observation's 2 x 15 block (camera, point, weight),
    # computed for all observations in one call, laid out in CSR order
    data = read_ba(data_path("ba", "test.txt"))
    obs = data["obs"]
    cams, points = data["cams"][obs[:, 0]], data["X"][obs[:, 1]]
    per_obs = adjit.vmap(getattr(adjit, transform)(_ba_observation, argnums=(0, 1, 2)))
    (d_cam, d_pt, d_w), (_, _, d_werr) = per_obs(cams, points, data["w"], data["feats"])
    assert d_cam.shape == (len(obs), 2, 11) and d_werr.shape == (len(obs),)
    reproj_rows = np.concatenate([d_cam, d_pt, d_w[:, :, None]], axis=2).reshape(-1)
    vals = np.concatenate([reproj_rows, d_werr])
    ref = ba_reference_jacobian_test()["data"]
    assert vals.shape == ref.shape
    assert rho(vals, ref).max() <= 1e-8


# ------------------------------------------------------------------------- Hessians


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_hessian(x: np.ndarray) -> np.ndarray:
    n = x.size
    h = np.zeros((n, n))
    for i in range(n - 1):  # term i: 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2
        h[i, i] += 1200.0 * x[i] ** 2 - 400.0 * x[i + 1] + 2.0
        h[i, i + 1] += -400.0 * x[i]
        h[i + 1, i] += -400.0 * x[i]
        h[i + 1, i + 1] += 200.0
    return h


@pytest.mark.parametrize("n", [2, 10])
def test_rosenbrock_hessian_is_exact_and_symmetric(n):
    hess = adjit.hessian(rosenbrock)
    points = [np.ones(n), np.full(n, -1.2), normal(n, seed=28), uniform(n, lo=-2, hi=2, seed=29)]
    for x in points:
        h = hess(x)
        want = rosenbrock_hessian(x)
        assert h.shape == (n, n)
        scale = np.abs(want).max()
        np.testing.assert_allclose(h, want, rtol=1e-12, atol=1e-12 * scale)
        np.testing.assert_allclose(h, h.T, rtol=0, atol=1e-12 * scale)
        assert np.all(h[np.abs(np.subtract.outer(range(n), range(n))) > 1] == 0)


def logsumexp(np, x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


def softplus_loss(np, W, X):  # matrix argument: Hessian of shape (3, 2, 3, 2)
    z = X @ W
    return np.sum(np.log1p(np.exp(z))) + 0.1 * np.sum(W**4)


def gathered(np, x):
    return np.sum(x[np.array([0, 2, 2, 1])] ** 3 * x[1:3].sum()) + np.prod(x[::-1][:3])


HESSIAN_CASES = {
    "logsumexp": (logsumexp, normal(5, seed=30)),
    "softplus_loss_matrix": (softplus_loss, normal(3, 2, seed=31)),
    "gathered": (gathered, normal(4, seed=32)),
}
XH = normal(4, 3, seed=33)


@pytest.mark.parametrize("name", sorted(HESSIAN_CASES))
def test_hessian_matches_autograd(name):
    f, x = HESSIAN_CASES[name]
    args = (x, XH) if f is softplus_loss else (x,)
    got = adjit.hessian(functools.partial(f, np))(*args)
    want = autograd.hessian(functools.partial(f, anp))(*args)
    assert got.shape == x.shape + x.shape
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    flat = got.reshape(x.size, x.size)
    np.testing.assert_allclose(flat, flat.T, rtol=1e-12, atol=1e-13)


def two_args(np, x, y):
    return np.sum(np.sin(x) * y[:3] ** 2) + np.sum(y * y * y) * x[0] + np.prod(x)


def test_hessian_with_argnums_tuple():
    x, y = normal(3, seed=34), normal(4, seed=35)
    f, af = functools.partial(two_args, np), functools.partial(two_args, anp)
    got = adjit.hessian(f, argnums=(0, 1))(x, y)
    assert isinstance(got, tuple) and all(isinstance(row, tuple) for row in got)
    for i in range(2):
        for j in range(2):
            want = autograd.jacobian(autograd.grad(af, i), j)(x, y)
            assert got[i][j].shape == (x, y)[i].shape + (x, y)[j].shape
            np.testing.assert_allclose(got[i][j], want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[0][1], got[1][0].T, rtol=1e-12, atol=1e-13)


def test_hvp_equals_hessian_times_vector():
    f = functools.partial(softplus_loss, np)
    W, v = normal(3, 2, seed=36), normal(3, 2, seed=37)
    h = adjit.hessian(f)(W, XH)
    got = adjit.hvp(lambda W: f(W, XH), (W,), (v,))
    np.testing.assert_allclose(got, np.tensordot(h, v, axes=2), rtol=1e-12, atol=1e-13)
    # several arguments: a tuple of blocks (H @ v per argument)
    x, y = normal(3, seed=38), normal(4, seed=39)
    vx, vy = normal(3, seed=40), normal(4, seed=41)
    g = functools.partial(two_args, np)
    (hxx, hxy), (hyx, hyy) = adjit.hessian(g, argnums=(0, 1))(x, y)
    gx, gy = adjit.hvp(g, (x, y), (vx, vy))
    np.testing.assert_allclose(gx, hxx @ vx + hxy @ vy, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(gy, hyx @ vx + hyy @ vy, rtol=1e-12, atol=1e-13)
    # a dict argument: the result has its structure; f = sum(a^3) * b
    x = normal(3, seed=61)
    got = adjit.hvp(
        lambda p: np.sum(p["a"] ** 3) * p["b"], ({"a": x, "b": 2.0},), ({"a": x, "b": 1.0},)
    )
    np.testing.assert_allclose(got["a"], 6 * x * 2.0 * x + 3 * x**2, rtol=1e-14)
    np.testing.assert_allclose(got["b"], 3 * np.sum(x**3), rtol=1e-14)
    # Rosenbrock, against the analytic Hessian
    x = normal(10, seed=42)
    v = normal(10, seed=43)
    np.testing.assert_allclose(
        adjit.hvp(rosenbrock, (x,), (v,)), rosenbrock_hessian(x) @ v, rtol=1e-12, atol=1e-10
    )


# ------------------------------------------------------------------------------- vmap


def _loop(f, in_axes, *args):
    """vmap's oracle: f called on each slice, results stacked."""
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    size = next(tree.flatten(a)[0][0].shape[0] for a, ax in zip(args, axes) if ax == 0)
    outs = []
    for k in range(size):
        call = [
            a
            if ax is None
            else tree.unflatten(tree.flatten(a)[1], [x[k] for x in tree.flatten(a)[0]])
            for a, ax in zip(args, axes)
        ]
        outs.append(f(*call))
    leaves = [tree.flatten(o)[0] for o in outs]
    return tree.unflatten(tree.flatten(outs[0])[1], [np.stack(ls) for ls in zip(*leaves)])


V3 = normal(3, seed=62)


def v_mlp(x, W, b):
    return np.tanh(x @ W + b)


def v_stats(x):
    return np.sum(x**2), np.max(x, axis=0), x.T @ x


def v_indexing(x, y):
    z = np.zeros((3, 2))
    z[np.array([2, 0])] = x[::-1][:2] * y
    z[1] += x[np.array([1, 1])]
    return z, x[np.array([0, 2])] @ y


def v_pytree(p, x):
    return {"out": np.sum(p["w"] * x) + p["c"], "pair": [x * p["c"], np.cos(p["w"])]}


def v_control(x, k):  # predicate and loop bounds unbatched; state batched
    y = adjit.cond(k > 0.0, lambda v: v * k, lambda v: -v, x)
    return adjit.fori_loop(0, 3, lambda i, v: np.sin(v) + v[::-1] * i, y)


VMAP_CASES = {
    "mlp_batched_rows": (
        v_mlp,
        (0, None, None),
        normal(5, 3, seed=44),
        normal(3, 2, seed=45),
        normal(2, seed=46),
    ),
    "mlp_batched_weights": (
        v_mlp,
        (None, 0, 0),
        normal(3, seed=47),
        normal(5, 3, 2, seed=48),
        normal(5, 2, seed=49),
    ),
    "stats_tuple_out": (v_stats, 0, normal(4, 3, 2, seed=50)),
    "indexing_scatter": (v_indexing, 0, normal(5, 3, seed=51), normal(5, 2, seed=52)),
    "indexing_unbatched_second": (v_indexing, (0, None), normal(5, 3, seed=51), normal(2, seed=53)),
    "pytree": (
        v_pytree,
        (0, None),
        {"w": normal(4, 3, seed=54), "c": normal(4, seed=55)},
        normal(3, seed=56),
    ),
    "control_flow": (v_control, (0, None), normal(4, 3, seed=57), 0.7),
    "unbatched_output": (lambda a, b: (b * 2.0, np.sum(a)), (0, None), normal(4, 2, seed=58), V3),
}


@pytest.mark.parametrize("name", sorted(VMAP_CASES))
def test_vmap_matches_a_python_loop(name):
    f, in_axes, *args = VMAP_CASES[name]
    got = adjit.vmap(f, in_axes=in_axes)(*args)
    assert_tree_close(got, _loop(f, in_axes, *args), rtol=1e-13, atol=1e-14)


def test_vmap_of_one_function_with_different_in_axes():
    def f(x, y):
        return x * y

    a, b = np.arange(3.0), normal(2, 3, seed=63)
    np.testing.assert_array_equal(adjit.vmap(f, in_axes=(0, None))(b, a), b * a)
    np.testing.assert_array_equal(adjit.vmap(f, in_axes=(None, 0))(a, b), a * b)
    np.testing.assert_array_equal(adjit.vmap(f)(b, b), b * b)


def test_vmap_over_other_axes():
    x, y = normal(3, 4, 5, seed=64), normal(5, 4, seed=65)

    def f(a, b):
        return np.sin(a) * b, np.sum(a)

    got = adjit.vmap(f, in_axes=(1, 1), out_axes=-1)(x, y)
    loop = [f(x[:, i], y[:, i]) for i in range(4)]
    np.testing.assert_allclose(got[0], np.stack([r[0] for r in loop], axis=-1), rtol=1e-14)
    np.testing.assert_allclose(got[1], np.stack([r[1] for r in loop]), rtol=1e-12)


def test_vmap_of_vmap_and_of_jacfwd():
    f = lambda x, y: np.sum(np.sin(x) * y)  # noqa: E731
    xs, ys = normal(3, 4, 2, seed=58), normal(3, 4, 2, seed=59)
    got = adjit.vmap(adjit.vmap(f))(xs, ys)
    np.testing.assert_allclose(got, np.sum(np.sin(xs) * ys, axis=2), rtol=1e-13)
    g = lambda x: np.tanh(x) * x[::-1]  # noqa: E731
    jacs = adjit.vmap(adjit.jacfwd(g))(xs[0])
    want = np.stack([autograd.jacobian(lambda v: anp.tanh(v) * v[::-1])(x) for x in xs[0]])
    np.testing.assert_allclose(jacs, want, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev"])
def test_jacobian_with_aux(transform):
    def f(x):
        return np.sin(x) * x[0], {"norm": np.sum(x * x), "steps": 3}

    x = normal(4, seed=66)
    jac, aux = getattr(adjit, transform)(f, has_aux=True)(x)
    want = autograd.jacobian(lambda v: anp.sin(v) * v[0])(x)
    np.testing.assert_allclose(jac, want, rtol=1e-13)
    assert aux["steps"] == 3
    np.testing.assert_allclose(aux["norm"], np.sum(x * x), rtol=1e-14)
    with pytest.raises(adjit.AdjitError, match=r"has_aux=True\): the function must return a pair"):
        getattr(adjit, transform)(lambda v: v * 2.0, has_aux=True)(x)


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev"])
def test_banded_jacobians_of_stencils_and_strided_slices(transform):
    # the unit directions stay banded through slices, sums and scatters; the
    # results must equal the dense truth exactly where it is an integer stencil
    def laplacian(u):
        return u[2:] - 2.0 * u[1:-1] + u[:-2]

    u = normal(12, seed=67)
    want = np.zeros((10, 12))
    for i in range(10):
        want[i, i : i + 3] = (1.0, -2.0, 1.0)
    np.testing.assert_array_equal(getattr(adjit, transform)(laplacian)(u), want)

    def pairs(x):  # strided, reversed and shifted slices mixed
        return x[1::2] * x[0::2] ** 2 + x[::-2] * x[-2::-2] - x[3:] @ x[:-3]

    x = normal(10, seed=68)
    got = getattr(adjit, transform)(pairs)(x)
    ref = autograd.jacobian(
        lambda x: x[1::2] * x[0::2] ** 2 + x[::-2] * x[-2::-2] - anp.dot(x[3:], x[:-3])
    )(x)
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-13)


def test_hessian_of_the_pairwise_rosenbrock_is_block_diagonal_and_exact():
    def rosen(x):
        return np.sum(100.0 * (x[1::2] - x[0::2] ** 2) ** 2 + (1.0 - x[0::2]) ** 2)

    x = uniform(20, lo=-1.5, hi=1.5, seed=69)
    want = np.zeros((20, 20))
    for i in range(0, 20, 2):
        a, c = x[i], x[i + 1]
        want[i, i] = 1200.0 * a * a - 400.0 * c + 2.0
        want[i, i + 1] = want[i + 1, i] = -400.0 * a
        want[i + 1, i + 1] = 200.0
    np.testing.assert_allclose(adjit.hessian(rosen)(x), want, rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev"])
def test_banded_directions_through_elements_stacks_and_concatenation(transform):
    def make(np_):
        def f(x):
            a, b = x[:3], x[3:]
            c = np_.array(
                [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
            )
            return np_.concatenate([c * x[0], x[::-1], np_.stack([x[2], x[4]])])

        return f

    x = normal(6, seed=72)
    got = getattr(adjit, transform)(make(np))(x)
    np.testing.assert_allclose(got, autograd.jacobian(make(anp))(x), rtol=1e-14, atol=1e-15)
