"""Shape and array-manipulation functions (np.diag, np.pad, np.split, ...) on traced arrays.

Values against NumPy (reference interpreter and compiled code), derivatives in
both modes against jax (x64) and central finite differences, vmap against a
loop, and the errors for arguments adjit cannot take. The cases are batched into
one function per transform to keep the compiles few.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from oracle import check_traced

import adjit
from adjit.ir import interpret

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

N = 24


def _args(xp: Any, z: Any) -> tuple:
    """The case inputs carved out of one flat vector z of length N."""
    v, A, a3, b3 = z[:6], xp.reshape(z[6:18], (3, 4)), z[18:21], z[21:24]
    return v, A, xp.reshape(A, (2, 3, 2)), a3, b3


def _listed(xp: Any, items: list) -> Any:
    # NumPy is given the Python list itself (the feature under test); jax wants an array
    return jnp.stack(items) if xp is jnp else items


CASES: dict[str, Callable[..., Any]] = {
    "diag_1d": lambda xp, v, A, T, a, b: xp.diag(v, 1),
    "diag_1d_neg": lambda xp, v, A, T, a, b: xp.diag(a, -2),
    "diag_2d": lambda xp, v, A, T, a, b: (xp.diag(A), xp.diag(A, -1), xp.diag(A, 2)),
    "diagonal": lambda xp, v, A, T, a, b: (xp.diagonal(A, 1), xp.diagonal(T, -1, 2, 0)),
    "triu_tril": lambda xp, v, A, T, a, b: (
        xp.triu(A, 1),
        xp.tril(A, -1),
        xp.tril(T),
        xp.triu(T, -1),
    ),
    "tile": lambda xp, v, A, T, a, b: (xp.tile(v, (2, 2)), xp.tile(A, 2), xp.tile(a, (2, 1, 1))),
    "repeat": lambda xp, v, A, T, a, b: (
        xp.repeat(v, 2),
        xp.repeat(A, xp.array([1, 0, 2]), axis=0),
        xp.repeat(A, 2, axis=-1),
        xp.repeat(A, 3),
    ),
    "roll": lambda xp, v, A, T, a, b: (
        xp.roll(v, 2),
        xp.roll(A, (1, -1), (0, 1)),
        xp.roll(A, 5),
        xp.roll(T, (2, 1), (1, 1)),
    ),
    "rollaxis": lambda xp, v, A, T, a, b: (xp.rollaxis(T, 2), xp.rollaxis(T, 0, 3)),
    "flip": lambda xp, v, A, T, a, b: (
        xp.flip(A),
        xp.flip(A, 1),
        xp.flip(T, (0, 2)),
        xp.fliplr(A),
        xp.flipud(v),
    ),
    "rot90": lambda xp, v, A, T, a, b: (
        xp.rot90(A),
        xp.rot90(A, 2),
        xp.rot90(A, -1, (1, 0)),
        xp.rot90(T, 1, (0, 2)),
        xp.rot90(A, 4),
    ),
    "pad": lambda xp, v, A, T, a, b: (
        xp.pad(A, 1),
        xp.pad(A, ((1, 0), (2, 1)), constant_values=(1.5, -2.0)),
        xp.pad(v, (1, 2), constant_values=a[0]),
        xp.pad(v, 2, mode="edge"),
        xp.pad(A, (2, 3), mode="reflect"),
        xp.pad(T, ((0, 1), (1, 1), (0, 0)), mode="edge"),
    ),
    "meshgrid": lambda xp, v, A, T, a, b: (
        xp.meshgrid(v[:3], a[:2]),
        xp.meshgrid(v[:3], a[:2], b, indexing="ij"),
    ),
    "split": lambda xp, v, A, T, a, b: (
        xp.split(v, 3),
        xp.split(v, [1, 4]),
        xp.array_split(v, 4),
        xp.hsplit(A, 2),
        xp.vsplit(A, [1]),
        xp.dsplit(T, 2),
    ),
    "append_column_stack": lambda xp, v, A, T, a, b: (
        xp.append(v, a),
        xp.append(A, A[:1], axis=0),
        xp.column_stack([v[:3], a, A[:, :2]]),
    ),
    "atleast": lambda xp, v, A, T, a, b: (
        xp.atleast_1d(v[0]),
        xp.atleast_2d(v),
        xp.atleast_3d(v[0]),
        xp.atleast_3d(v),
        xp.atleast_3d(A),
        xp.atleast_3d(T),
    ),
    "diff": lambda xp, v, A, T, a, b: (
        xp.diff(v),
        xp.diff(A, 2, axis=0),
        xp.diff(v, prepend=0.5, append=b),
        xp.diff(T, axis=1),
        xp.diff(v, 0),
    ),
    "cross": lambda xp, v, A, T, a, b: (
        xp.cross(a, b),
        xp.cross(A, A[:, ::-1], axis=0),
        xp.cross(A[:, :3], b),
    ),
    "kron": lambda xp, v, A, T, a, b: (xp.kron(a, A), xp.kron(A[:2, :2], A[:, :1])),
    "select": lambda xp, v, A, T, a, b: xp.select([v > 0.3, v < -0.5], [v, v * v], default=-1.0),
    "nan_to_num": lambda xp, v, A, T, a, b: xp.nan_to_num(A),
    "spaces": lambda xp, v, A, T, a, b: (
        xp.linspace(v[0], v[1], 5),
        xp.linspace(a, b, 4, endpoint=False, axis=1),
        xp.linspace(0.5, v[2], 3),
        xp.logspace(v[0], v[1], 4, base=2.0),
        xp.logspace(a, v[3], 3, base=b + 2.0),
        xp.geomspace(v[2] + 2.0, v[3] + 3.0, 5),
        xp.geomspace(a - 2.0, -3.0 - b * b, 3, axis=-1),
    ),
    "methods": lambda xp, v, A, T, a, b: (
        A.repeat(2, axis=1),
        v.repeat(2),
        A.diagonal(1),
        T.diagonal(0, 0, 2),
        A.trace(),
        T.trace(1, 1, 2),
    ),
    "list_reductions": lambda xp, v, A, T, a, b: (
        xp.mean(_listed(xp, [v[0], a[1], b[2]])),
        xp.std(_listed(xp, [v[0], a[1], b[2]])),
        xp.linalg.norm(_listed(xp, [v[1], b[0]])),
    ),
}


def _flat(xp: Any, out: Any) -> list:
    if isinstance(out, (list, tuple)):
        return [e for o in out for e in _flat(xp, o)]
    return [xp.ravel(out)]


def _all_cases(xp: Any, names: list[str] | None = None) -> Callable[[Any], Any]:
    cases = [CASES[name] for name in names or CASES]

    def f(z: Any) -> Any:
        args = _args(xp, z)
        return xp.concatenate([e for case in cases for e in _flat(xp, case(xp, *args))])

    return f


Z = np.random.default_rng(15).uniform(-1.0, 1.0, N)
WEIGHTS = np.cos(np.arange(_all_cases(np)(Z).size))


def _loss(xp: Any) -> Callable[[Any], Any]:
    flat = _all_cases(xp)

    def loss(z: Any) -> Any:
        return xp.sum(xp.sin(flat(z)) * WEIGHTS)

    return loss


@pytest.mark.parametrize("name", list(CASES))
def test_values_in_the_reference_interpreter_equal_numpy(name):
    case = CASES[name]
    check_traced(lambda z: case(np, *_args(np, z)), Z)


# two compiled functions, two tests: pytest-xdist runs them side by side
HALVES = {"first": list(CASES)[: len(CASES) // 2], "second": list(CASES)[len(CASES) // 2 :]}


@pytest.mark.parametrize("half", HALVES)
def test_compiled_values_equal_numpy(half: str) -> None:
    f = _all_cases(np, HALVES[half])
    np.testing.assert_allclose(adjit.jit(f)(Z), f(Z), rtol=1e-13)


def test_integer_and_bool_inputs_keep_numpy_dtypes():
    def f(n, m):
        return (
            np.triu(m),
            np.triu(n),
            np.diag(n[0]),
            np.tile(m, 2),
            np.repeat(n, [2, 0, 1], axis=1),
            np.roll(n, 1, 0),
            np.pad(n, 1, constant_values=7),
            np.pad(m, (0, 2)),
            np.diff(m),
            np.diff(n, axis=0),
            np.kron(n, n[:1]),
            np.select([m, ~m], [1, 2]),
            np.nan_to_num(n),
            np.cross(n, n[::-1]),
        )

    n = np.arange(9, dtype=np.int64).reshape(3, 3)
    m = np.array([True, False, False, True])
    check_traced(f, n, m)


def test_nan_to_num_replaces_nan_and_infinities():
    def f(x):
        return np.nan_to_num(x), np.nan_to_num(x, nan=-1.0, posinf=9.0, neginf=-9.0)

    x = np.array([1.0, np.nan, np.inf, -np.inf, -2.5])
    check_traced(f, x)
    for got, want in zip(adjit.jit(f)(x), f(x)):
        np.testing.assert_array_equal(got, want)
    f32 = np.array([np.inf, -np.inf], np.float32)
    check_traced(lambda x: np.nan_to_num(x), f32)


def test_spaces_with_traced_endpoints_follow_numpy():
    def f(x):
        return (
            np.linspace(x[0], x[1], 6, retstep=True),
            np.linspace(x[0], 3.0 * x[1], 6, dtype=int),
            np.linspace(x[0], x[1], 1),
            np.linspace(x[0], x[1], 0),
            np.logspace(x[:2], x[1], 3, base=x[2:] + 2.0),
            np.geomspace(x[1], x[2] * 8.0, 1),
            np.geomspace(x[1], x[2] * 8.0, 4, endpoint=False),
        )

    x = np.array([-0.5, 1.5, 2.0, 0.75])
    check_traced(f, x)

    def g(x):  # constant endpoints still give an array that can be written into
        a = np.linspace(0.0, 1.0, 3)
        a[1] = x[0]
        return a

    check_traced(g, x)


def _interpreted(transformed: Callable, *args: Any) -> Any:
    """`transformed(*args)` through its IR in the reference interpreter: the same
    derivative and batching IR that `jit` compiles, without a Numba compile of
    this large function."""
    (out,) = interpret(adjit.trace(transformed)(*args), *args)
    return out


def test_reverse_mode_equals_jax_and_finite_differences():
    got = _interpreted(adjit.grad(_loss(np)), Z)
    want = np.asarray(jax.grad(_loss(jnp))(jnp.asarray(Z)))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    loss, h = _loss(np), 1e-6
    for d in np.random.default_rng(1).normal(size=(3, N)):
        fd = (loss(Z + h * d) - loss(Z - h * d)) / (2 * h)
        assert got @ d == pytest.approx(fd, rel=1e-6, abs=1e-7)


def test_forward_mode_equals_jax():
    t = np.random.default_rng(2).normal(size=N)
    tangent = _interpreted(lambda z, t: adjit.jvp(_all_cases(np), (z,), (t,))[1], Z, t)
    _, want = jax.jvp(_all_cases(jnp), (jnp.asarray(Z),), (jnp.asarray(t),))
    np.testing.assert_allclose(tangent, np.asarray(want), rtol=1e-12, atol=1e-12)


def _small(xp: Any) -> Callable[[Any], Any]:
    def g(x: Any) -> Any:
        M = xp.reshape(x, (2, 3))
        parts = (
            xp.diag(x[:3], 1),
            xp.pad(M, 1, mode="reflect"),
            xp.roll(M, 1, 1),
            xp.kron(M, M[:1]),
            xp.triu(M, 1),
            xp.repeat(M, xp.array([2, 0, 1]), axis=1),
            xp.cross(x[:3], x[3:]),
            xp.diff(M, axis=1),
        )
        return xp.concatenate([xp.ravel(p) for p in parts] + [xp.ravel(p) for p in xp.split(x, 3)])

    return g


def test_compiled_derivatives_of_small_cases_equal_jax():
    x = Z[:6]
    want = np.asarray(jax.jacfwd(_small(jnp))(jnp.asarray(x)))
    np.testing.assert_allclose(adjit.jacfwd(_small(np))(x), want, rtol=1e-13)
    w = np.cos(np.arange(want.shape[0]))
    got = adjit.grad(lambda x: np.sum(np.sin(_small(np)(x)) * w))(x)
    want_grad = jax.grad(lambda x: jnp.sum(jnp.sin(_small(jnp)(x)) * w))(jnp.asarray(x))
    np.testing.assert_allclose(got, np.asarray(want_grad), rtol=1e-12, atol=1e-12)


def test_vmap_over_a_batch_equals_a_loop():
    batch = np.random.default_rng(3).uniform(-1.0, 1.0, (3, N))
    got = _interpreted(adjit.vmap(_all_cases(np)), batch)
    want = np.stack([_all_cases(np)(z) for z in batch])
    np.testing.assert_allclose(got, want, rtol=1e-13)
    x = batch[:, :6]
    np.testing.assert_allclose(
        adjit.vmap(_small(np))(x), np.stack([_small(np)(r) for r in x]), rtol=1e-13
    )


def _refused(f: Callable, *args: Any, error: type = adjit.UnsupportedError, match: str) -> None:
    with pytest.raises(error, match=match):
        adjit.trace(f)(*args)


def test_arguments_that_set_the_shape_must_be_known():
    x, k = np.arange(6.0), np.int64(2)
    _refused(lambda x, k: np.roll(x, k), x, k, match="traced shift")
    _refused(lambda x, k: np.repeat(x, k), x, k, match="traced repeats")
    _refused(lambda x, k: np.pad(x, k), x, k, match="traced pad_width")
    _refused(lambda x, k: np.diag(x, k), x, k, match="traced k")
    _refused(lambda x, k: np.split(x, k), x, k, match="traced indices_or_sections")
    _refused(lambda x, k: np.tile(x, k), x, k, match="traced reps")
    _refused(lambda x, k: np.linspace(x[0], x[1], k), x, k, match="traced num")
    _refused(lambda x, k: np.geomspace(1.0, 2.0, k), x, k, match="traced num")


def test_unsupported_arguments_are_named():
    x = np.arange(6.0)
    _refused(lambda x: np.pad(x, 1, mode="linear_ramp"), x, match="mode='linear_ramp'")
    _refused(lambda x: np.pad(x, 1, mode="reflect", reflect_type="odd"), x, match="reflect_type")
    _refused(lambda x: np.pad(x, 1, mode="edge", constant_values=1), x, match="constant_values")
    _refused(lambda x: np.cross(x[:2], x[2:4]), x, match="a of 2-vectors")
    _refused(lambda x: np.repeat(x, 1.5), x, match="repeats must be integers")
    _refused(lambda x: np.select([x], [x]), x, match="condlist")


def test_shape_errors_match_numpy():
    x = np.arange(6.0)
    _refused(lambda x: np.split(x, 4), x, error=adjit.ShapeError, match="equal division")
    _refused(lambda x: np.vsplit(x, 2), x, error=adjit.ShapeError, match="2 or more")
    _refused(lambda x: np.rot90(x), x, error=adjit.ShapeError, match="at least 2-d")
    _refused(lambda x: np.diag(x.reshape(1, 2, 3)), x, error=adjit.ShapeError, match="1- or 2-d")
    _refused(lambda x: np.diff(x, -1), x, error=adjit.ShapeError, match="non-negative")
    _refused(lambda x: np.pad(x, -1), x, error=adjit.ShapeError, match="negative")
    _refused(lambda x: np.select([x > 0], [x, x]), x, error=adjit.ShapeError, match="same length")
