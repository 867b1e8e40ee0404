"""np.linalg and scipy.linalg on traced arrays: values, derivatives, batching, errors.

Oracles: NumPy and SciPy for values (the reference interpreter, with the IR's
text form, and compiled code); jax.numpy.linalg in x64 and central finite
differences for derivatives, in both modes. Each compiled function carries many
cases (a tuple of results, a vector of objectives), to keep compilations few.
JAX symmetrizes the input of cholesky and eigh where NumPy reads the lower
triangle: the JAX oracles are given the symmetric matrix built from it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import pytest
import scipy.linalg
from linalg_samples import spd, well_conditioned
from oracle import check_traced
from samples import normal

import adjit
from adjit.errors import ShapeError, UnsupportedError

jax.config.update("jax_enable_x64", True)

A = well_conditioned(3, 3, seed=1)
AB = well_conditioned(2, 3, 3, seed=2)  # a batch of two
S = spd(3, 3, seed=3)
SB = spd(2, 3, 3, seed=4)
B = normal(3, 2, seed=5)
BB = normal(2, 3, 2, seed=6)
V = normal(3, seed=7)
R = normal(4, 3, seed=8)  # not square
X3 = normal(2, 3, 4, seed=9)

# ------------------------------------------------------------------ values


def values(a, ab, s, sb, b, bb, v, r):
    sign, logdet = np.linalg.slogdet(ab)
    w, vectors = np.linalg.eigh(sb)
    lower = np.linalg.cholesky(s)
    return (
        np.linalg.solve(a, b),
        np.linalg.solve(ab, bb),
        np.linalg.solve(ab, v),  # a vector against a batch of matrices
        np.linalg.solve(a, v),
        np.linalg.inv(ab),
        np.linalg.det(ab),
        np.linalg.det(a),
        sign,
        logdet,
        np.linalg.cholesky(sb),
        lower,
        np.linalg.cholesky(s, upper=True),
        w,
        vectors**2,  # eigenvector signs are LAPACK's choice
        np.linalg.eigvalsh(s, UPLO="U"),
        np.linalg.svd(r, compute_uv=False),
        np.linalg.svd(ab)[1],
        scipy.linalg.solve_triangular(lower, b, lower=True),
        scipy.linalg.solve_triangular(lower, v, lower=True, trans="T"),
        scipy.linalg.solve_triangular(lower.T, b, unit_diagonal=True),
        scipy.linalg.cho_solve((lower, True), b),
        scipy.linalg.cho_solve((lower.T, False), v),
        scipy.linalg.cholesky(s),
        *np.linalg.qr(r),
        np.linalg.qr(ab, mode="r"),
        np.linalg.svd(r, full_matrices=False)[0] ** 2,  # squared: signs are LAPACK's choice
        np.linalg.svd(r.T, full_matrices=False)[2] ** 2,
        np.linalg.pinv(r),
        np.linalg.pinv(ab),
        np.linalg.pinv(np.outer(v, v)),  # rank 1: the cutoff drops two singular values
    )


VALUE_ARGS = (A, AB, S, SB, B, BB, V, R)


VECTOR_ORDS = [None, 2, 1, -1, np.inf, -np.inf, 0, 3, 4, -2, 0.5]
MATRIX_ORDS = [None, "fro", "nuc", np.inf, -np.inf, 1, -1, 2, -2]


def norms(x3, v):
    out = [np.linalg.norm(v, ord) for ord in VECTOR_ORDS]
    out += [np.linalg.norm(x3, ord, axis=1, keepdims=True) for ord in (None, 1, np.inf, 3)]
    out += [np.linalg.norm(x3[0], ord) for ord in MATRIX_ORDS]
    out += [np.linalg.norm(x3, ord, axis=(2, 1), keepdims=True) for ord in MATRIX_ORDS]
    out += [np.linalg.norm(x3, ord, axis=(0, 2)) for ord in MATRIX_ORDS]
    out += [np.linalg.norm(x3), np.linalg.norm(x3, keepdims=True)]
    return tuple(out)


# two compiled functions, two tests (pytest-xdist runs them side by side)
VALUE_CASES = {
    "values": (values, VALUE_ARGS),
    # a zero: ord=0 counts, negative ords give 0
    "norms": (norms, (X3, np.array([0.5, -2.0, 0.0, 1.5]))),
}


@pytest.mark.parametrize("case", VALUE_CASES)
def test_values_and_every_norm_match_numpy_and_scipy_interpreted_and_compiled(case):
    fn, args = VALUE_CASES[case]
    with np.errstate(divide="ignore"):  # NumPy's own negative-ord norms divide by that zero
        check_traced(fn, *args, rtol=1e-10, atol=1e-12)
        got, want = adjit.jit(fn)(*args), fn(*args)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert np.shape(g) == np.shape(w), i
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, err_msg=f"result {i}")


# ------------------------------------------------------------- derivatives
# A vector of objectives of every function: its Jacobian (one compiled function
# per mode) against JAX's and against central differences of NumPy's.

C = normal(3, 3, seed=10)
W = normal(3, 2, seed=11)


def objectives(a, s, b, r, v):
    lower = np.linalg.cholesky(s)
    w, vectors = np.linalg.eigh(s)
    return np.stack(
        [
            np.sum(np.linalg.solve(a, b) * W),
            np.sum(np.linalg.solve(a, v) * v),
            np.sum(np.linalg.inv(a) * C),
            np.linalg.det(a),
            np.linalg.slogdet(a)[1],
            np.sum(lower * C),
            np.sum(scipy.linalg.solve_triangular(lower, b, lower=True) * W),
            np.sum(scipy.linalg.solve_triangular(a, b, trans=1, unit_diagonal=True) * W),
            np.sum(scipy.linalg.cho_solve((lower, True), b) * W),
            np.sum(w * v),
            np.sum(vectors**2 * C),
            np.sum(np.linalg.svd(r, compute_uv=False) * v),
            np.linalg.norm(r, "nuc"),
            np.linalg.norm(r, 2),
            np.linalg.norm(r, 1),
            np.linalg.norm(r, np.inf),
            np.linalg.norm(v, 3),
            np.sum(np.linalg.solve(np.stack([a, a.T]), np.stack([b, 2 * b])) * W),  # batched
            np.sum(np.linalg.eigvalsh(np.stack([s, 2 * s])) * v),
            np.sum(np.linalg.qr(r)[0] * R),
            np.sum(np.linalg.qr(r)[1] * C),
            np.sum(np.linalg.svd(r, full_matrices=False)[0] ** 2 * R),
            np.sum(np.linalg.svd(r.T, full_matrices=False)[2] ** 2 * R.T),
            np.sum(np.linalg.pinv(r) * R.T),
        ]
    )


def _sym(x):
    return jnp.tril(x) + jnp.tril(x, -1).T


def objectives_jax(a, s, b, r, v):
    lower = jnp.linalg.cholesky(_sym(s))
    w, vectors = jnp.linalg.eigh(_sym(s))
    unit_upper = jnp.triu(a, 1) + jnp.eye(3)
    return jnp.stack(
        [
            jnp.sum(jnp.linalg.solve(a, b) * W),
            jnp.sum(jnp.linalg.solve(a, v) * v),
            jnp.sum(jnp.linalg.inv(a) * C),
            jnp.linalg.det(a),
            jnp.linalg.slogdet(a)[1],
            jnp.sum(lower * C),
            jnp.sum(jsl.solve_triangular(lower, b, lower=True) * W),
            jnp.sum(jnp.linalg.solve(unit_upper.T, b) * W),
            jnp.sum(jsl.cho_solve((lower, True), b) * W),
            jnp.sum(w * v),
            jnp.sum(vectors**2 * C),
            jnp.sum(jnp.linalg.svd(r, compute_uv=False) * v),
            jnp.linalg.norm(r, "nuc"),
            jnp.linalg.norm(r, 2),
            jnp.linalg.norm(r, 1),
            jnp.linalg.norm(r, jnp.inf),
            jnp.linalg.norm(v, 3),
            jnp.sum(jnp.linalg.solve(jnp.stack([a, a.T]), jnp.stack([b, 2 * b])) * W),
            jnp.sum(jnp.linalg.eigvalsh(jnp.stack([_sym(s), 2 * _sym(s)])) * v),
            jnp.sum(jnp.linalg.qr(r)[0] * R),
            jnp.sum(jnp.linalg.qr(r)[1] * C),
            jnp.sum(jnp.linalg.svd(r, full_matrices=False)[0] ** 2 * R),
            jnp.sum(jnp.linalg.svd(r.T, full_matrices=False)[2] ** 2 * R.T),
            jnp.sum(jnp.linalg.pinv(r) * R.T),
        ]
    )


OBJECTIVE_ARGS = (A, S, B, R, V)
ARGNUMS = (0, 1, 2, 3, 4)


def _finite_differences(f, args, h=1e-6):
    jac = []
    for k, x in enumerate(args):
        cols = []
        for idx in np.ndindex(*x.shape):
            step = np.zeros_like(x)
            step[idx] = h
            up = [y + step if j == k else y for j, y in enumerate(args)]
            down = [y - step if j == k else y for j, y in enumerate(args)]
            cols.append((f(*up) - f(*down)) / (2 * h))
        jac.append(np.stack(cols, -1).reshape(-1, *x.shape))
    return jac


DIRECTIONS = [normal(*x.shape, seed=40 + k) for k, x in enumerate(OBJECTIVE_ARGS)]
WEIGHTS = normal(24, seed=50)  # one per objective


# the objectives whose NumPy-level arguments only this file checks in compiled
# gradients (vector b, trans, cho_solve, norms, batches, pinv); every primitive's
# rules are checked by test_grad, test_forward and test_compiled_primitives
FEW = [1, 2, 7, 8, 12, 14, 16, 17, 23]


@pytest.mark.slow
def test_grad_matches_jax_and_finite_differences(size):
    # the gradient of a weighted sum of the objectives, all of them under --runslow
    # (forward mode: the next test); unused objectives are dead code, never compiled
    chosen = list(range(len(WEIGHTS))) if size == "full" else FEW
    weights = WEIGHTS[chosen]
    fd = _finite_differences(objectives, OBJECTIVE_ARGS)
    value, grads = adjit.value_and_grad(
        lambda *xs: np.sum(objectives(*xs)[chosen] * weights), argnums=ARGNUMS
    )(*OBJECTIVE_ARGS)
    want_value = np.sum(objectives(*OBJECTIVE_ARGS)[chosen] * weights)
    np.testing.assert_allclose(value, want_value, rtol=1e-10)
    want = jax.grad(
        lambda *xs: jnp.sum(objectives_jax(*xs)[jnp.array(chosen)] * weights), argnums=ARGNUMS
    )(*OBJECTIVE_ARGS)
    for k, (g, w, j) in enumerate(zip(grads, want, fd)):
        np.testing.assert_allclose(g, w, rtol=1e-8, atol=1e-10, err_msg=f"grad, argument {k}")
        from_fd = np.tensordot(weights, j[chosen], 1)
        np.testing.assert_allclose(g, from_fd, rtol=1e-5, atol=1e-7, err_msg=f"grad vs FD, {k}")


def small_objectives(a, s):
    return np.stack(
        [np.sum(np.linalg.solve(a, s)), np.linalg.slogdet(a)[1], np.sum(np.linalg.cholesky(s))]
    )


@pytest.mark.slow
def test_jacfwd_equals_jacrev_and_jax(size):
    # full: every objective, their tangents against JAX's, and a Hessian through
    # solve; small: three objectives
    f, args = (objectives, OBJECTIVE_ARGS) if size == "full" else (small_objectives, (A, S))
    argnums = tuple(range(len(args)))
    rev = adjit.jacrev(f, argnums=argnums)(*args)
    fwd = adjit.jacfwd(f, argnums=argnums)(*args)
    fd = _finite_differences(f, args)
    for k, (r, w, j) in enumerate(zip(rev, fwd, fd)):
        np.testing.assert_allclose(r, w, rtol=1e-10, atol=1e-12, err_msg=f"argument {k}")
        np.testing.assert_allclose(r, j, rtol=1e-5, atol=1e-7, err_msg=f"vs FD, argument {k}")
    if size == "full":
        want = jax.jacrev(objectives_jax, argnums=argnums)(*args)
        for k, (r, w) in enumerate(zip(rev, want)):
            np.testing.assert_allclose(r, w, rtol=1e-8, atol=1e-10, err_msg=f"argument {k}")
        _, tangent = adjit.jvp(objectives, args, tuple(DIRECTIONS))
        _, want = jax.jvp(objectives_jax, args, tuple(DIRECTIONS))
        np.testing.assert_allclose(tangent, want, rtol=1e-8, atol=1e-10)

        def g(a):  # second order: the rules are IR, differentiated again
            return np.linalg.slogdet(a)[1] + np.sum(np.linalg.solve(a, B) * W)

        def g_jax(a):
            return jnp.linalg.slogdet(a)[1] + jnp.sum(jnp.linalg.solve(a, B) * W)

        got = adjit.hessian(g)(A)
        np.testing.assert_allclose(got, jax.hessian(g_jax)(A), rtol=1e-8, atol=1e-10)


# ----------------------------------------------------- batching, jvp, vmap


def batched(ab, sb, bb):
    sign, logdet = np.linalg.slogdet(ab)
    return (
        np.linalg.solve(ab, bb),
        np.linalg.inv(ab),
        sign * np.exp(logdet),
        np.linalg.cholesky(sb),
        np.linalg.eigvalsh(sb),
        np.linalg.svd(ab, compute_uv=False),
    )


def batched_jax(ab, sb, bb):
    sym = jax.vmap(_sym)
    sign, logdet = jnp.linalg.slogdet(ab)
    return (
        jnp.linalg.solve(ab, bb),
        jnp.linalg.inv(ab),
        sign * jnp.exp(logdet),
        jnp.linalg.cholesky(sym(sb)),
        jnp.linalg.eigvalsh(sym(sb)),
        jnp.linalg.svd(ab, compute_uv=False),
    )


def test_vmap_of_batched_inputs_matches_jax():
    args = (AB, SB, BB)
    # vmap over a leading axis of the batch (mapped on axis 1, so not just the front)
    mapped = adjit.vmap(batched, in_axes=(1, 1, 1))
    stacked = [np.stack([x, x[::-1]], axis=1) for x in args]
    got = mapped(*stacked)
    want = jax.vmap(batched_jax, in_axes=(1, 1, 1))(*stacked)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------- special matrices


def special(eye, diagonal, one, repeated):
    return (
        np.linalg.slogdet(eye)[1]
        + np.linalg.det(diagonal)
        + np.sum(np.linalg.inv(one))
        + np.sum(np.linalg.eigvalsh(repeated) ** 2)  # smooth although eigenvalues repeat
        + np.sum(np.linalg.cholesky(diagonal))
    )


def test_identity_diagonal_1x1_and_repeated_eigenvalues():
    eye, diagonal = np.eye(3), np.diag([2.0, 3.0, 0.5])
    one, repeated = np.array([[4.0]]), 2.0 * np.eye(3)
    value, grads = adjit.value_and_grad(special, argnums=(0, 1, 2, 3))(eye, diagonal, one, repeated)
    np.testing.assert_allclose(value, special(eye, diagonal, one, repeated), rtol=1e-13)
    np.testing.assert_allclose(grads[0], np.eye(3), atol=1e-15)  # d log|det| = a^-T
    d = np.diag(diagonal)
    want_diag = np.prod(d) / d  # det: det a^-T
    want_diag = want_diag + 0.5 / np.sqrt(d)  # cholesky of a diagonal: sqrt of its entries
    np.testing.assert_allclose(np.diag(grads[1]), want_diag, rtol=1e-12)
    np.testing.assert_allclose(grads[2], [[-1 / 16]], rtol=1e-13)
    # sum(w^2) = ||S||_F^2 with S from the lower triangle: 2 S_ii, 4 S_ij below, 0 above
    np.testing.assert_allclose(grads[3], np.diag([4.0, 4.0, 4.0]), atol=1e-12)
    jax_grads = jax.grad(
        lambda e, dg, o, rp: (
            jnp.linalg.slogdet(e)[1]
            + jnp.linalg.det(dg)
            + jnp.sum(jnp.linalg.inv(o))
            + jnp.sum(jnp.linalg.eigvalsh(_sym(rp)) ** 2)
            + jnp.sum(jnp.linalg.cholesky(_sym(dg)))
        ),
        argnums=(0, 2, 3),
    )(eye, diagonal, one, repeated)
    for g, w in zip((grads[0], grads[2], grads[3]), jax_grads):
        np.testing.assert_allclose(g, w, atol=1e-12)


# ------------------------------------------------------------------ errors


def test_singular_and_indefinite_matrices_raise_linalg_error():
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    indefinite = np.array([[1.0, 2.0], [2.0, 1.0]])

    def f(a, s, t):
        return (
            np.linalg.solve(a, np.ones(2)),
            np.linalg.cholesky(s),
            scipy.linalg.solve_triangular(t, np.ones(2), lower=True),
        )

    ok = (np.eye(2), np.eye(2), np.eye(2))
    jitted = adjit.jit(f)
    jitted(*ok)
    ir = adjit.trace(f)(*ok)
    zero_diagonal = np.array([[1.0, 0.0], [3.0, 0.0]])
    for bad in [(singular, *ok[1:]), (ok[0], indefinite, ok[2]), (*ok[:2], zero_diagonal)]:
        with pytest.raises(np.linalg.LinAlgError):
            jitted(*bad)
        with pytest.raises(np.linalg.LinAlgError):
            ir(*bad)
    # the gradient of det at a singular matrix solves with it: LinAlgError, not a number
    with pytest.raises(np.linalg.LinAlgError):
        adjit.grad(lambda a: np.linalg.det(a))(singular)
    # np.linalg.det itself is 0 there, as in NumPy
    assert adjit.jit(lambda a: np.linalg.det(a))(singular) == pytest.approx(0.0, abs=1e-15)


def _trace(f, *args):
    return adjit.trace(f)(*args)


def test_unsupported_arguments_and_shapes_name_the_line():
    with pytest.raises(UnsupportedError, match=r"full_matrices=False(.|\n)*test_linalg.py:\d+"):
        _trace(lambda r: np.linalg.svd(r), R)
    with pytest.raises(UnsupportedError, match="invalid norm order 'fro' for vectors"):
        _trace(lambda v: np.linalg.norm(v, "fro"), V)
    with pytest.raises(UnsupportedError, match="invalid norm order 3 for matrices"):
        _trace(lambda a: np.linalg.norm(a, 3), A)
    with pytest.raises(ShapeError, match=r"solve: shapes \(3, 3\) and \(4, 3\)(.|\n)*test_linalg"):
        _trace(lambda a, r: np.linalg.solve(a, r), A, R)
    with pytest.raises(ShapeError, match="must be square"):
        _trace(lambda r: np.linalg.inv(r), R)
    with pytest.raises(UnsupportedError, match="UPLO"):
        _trace(lambda s: np.linalg.eigh(s, UPLO="X"), S)
    with pytest.raises(UnsupportedError, match=r"qr of a wide matrix \(3x5\)(.|\n)*test_linalg"):
        adjit.grad(lambda a: np.sum(np.linalg.qr(a)[0]))(normal(3, 5, seed=1))
    with pytest.raises(UnsupportedError, match="mode='raw'"):
        _trace(lambda r: np.linalg.qr(r, mode="raw"), R)
