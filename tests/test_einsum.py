"""np.einsum on traced arrays, and the contractions written with tensordot, dot,
inner, outer, vdot and matmul.

Values against NumPy (reference interpreter and compiled code), derivatives in
both modes against jax.numpy.einsum (x64) and central finite differences, vmap
against a loop, and the errors for bad subscripts. The cases are batched into
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

# the inputs, carved out of one flat vector: (name, shape)
SHAPES = {
    "A": (3, 4),
    "B": (4, 5),
    "S": (3, 3),
    "T": (2, 3, 4),
    "U": (2, 4, 5),
    "D": (3, 3, 4),
    "v": (4,),
    "w": (3,),
    "c": (3, 1),
    "E": (2, 1, 3, 4),
    "P": (2, 4),
    "V": (2, 5, 3),
}
N = sum(int(np.prod(s)) for s in SHAPES.values())


def _args(xp: Any, z: Any) -> dict[str, Any]:
    out, start = {}, 0
    for name, shape in SHAPES.items():
        size = int(np.prod(shape))
        out[name] = xp.reshape(z[start : start + size], shape)
        start += size
    return out


def _e(spec: str, *names: str, **kwargs: Any) -> Callable[..., Any]:
    return lambda xp, a: xp.einsum(spec, *(a[n] for n in names), **kwargs)


# subscript strings covering: implicit and explicit output, traces and diagonals,
# sums over one operand's index, ellipsis with broadcasting, batch indices,
# scalars, three and more operands (in both orders of contraction)
CASES: dict[str, Callable[..., Any]] = {
    "matmul_implicit": _e("ij,jk", "A", "B"),
    "matmul_explicit": _e("ij,jk->ik", "A", "B"),
    "matmul_transposed_out": _e("ij,jk->ki", "A", "B"),
    "trace": _e("ii->", "S"),
    "trace_implicit": _e("ii", "S"),
    "diagonal": _e("ii->i", "S"),
    "diagonal_then_sum": _e("iij->j", "D"),
    "diagonal_kept": _e("iij->ij", "D"),
    "sum_all": _e("ij->", "A"),
    "sum_one_axis": _e("ij->j", "A"),
    "transpose": _e("ijk->kji", "T"),
    "transpose_implicit": _e("ji", "A"),
    "batch_matmul": _e("bij,bjk->bik", "T", "U"),
    "ellipsis_matmul": _e("...ij,...jk->...ik", "T", "U"),
    "ellipsis_implicit": _e("...ij,jk", "T", "B"),
    "ellipsis_broadcast": _e("...ij,...jk", "E", "U"),
    "ellipsis_dot": _e("...i,...i->...", "T", "T"),
    "size_one_broadcast": _e("ij,jk", "c", "S"),
    "frobenius": _e("ij,ij->", "A", "A"),
    "hadamard": _e("ij,ij->ij", "A", "A"),
    "outer": _e("i,j->ij", "w", "v"),
    "dot": _e("i,i", "v", "v"),
    "matvec": _e("ij,j->i", "A", "v"),
    "batch_matvec": _e("bij,bj->bi", "T", "P"),
    "scalar_times": lambda xp, a: xp.einsum(",ij->ij", a["S"][0, 0], a["A"]),
    "chain_of_three": _e("ij,jk,lk->il", "A", "B", "B", optimize=False),
    "chain_greedy": _e("ij,jk,lk->il", "A", "B", "B", optimize="greedy"),
    "batch_three": _e("bij,jk,bkl->bil", "T", "B", "V"),
    "four_operands": _e("i,ij,jk,lk->l", "w", "A", "B", "B"),
    "four_operands_optimal": _e("i,ij,jk,lk->l", "w", "A", "B", "B", optimize="optimal"),
    "triple_product": _e("i,i,i->", "v", "v", "v"),
    "mixed_case": lambda xp, a: xp.einsum("Ab,bA", a["A"], a["A"].T),
    "sum_shared_keep_one": _e("ijk,ijk->j", "T", "T"),
    "interleaved": lambda xp, a: xp.einsum(a["A"], [0, 1], a["B"], [1, 2], [2, 0]),
    "interleaved_ellipsis": lambda xp, a: xp.einsum(a["T"], [Ellipsis, 1], a["v"], [1]),
}


def _flat(xp: Any, out: Any) -> list:
    if isinstance(out, (list, tuple)):
        return [e for o in out for e in _flat(xp, o)]
    return [xp.ravel(out)]


def _all_cases(xp: Any) -> Callable[[Any], Any]:
    def f(z: Any) -> Any:
        a = _args(xp, z)
        return xp.concatenate([e for case in CASES.values() for e in _flat(xp, case(xp, a))])

    return f


Z = np.random.default_rng(15).uniform(-1.0, 1.0, N)
WEIGHTS = np.cos(np.arange(_all_cases(np)(Z).size))


def _loss(xp: Any) -> Callable[[Any], Any]:
    flat = _all_cases(xp)

    def loss(z: Any) -> Any:
        return xp.sum(xp.sin(flat(z)) * WEIGHTS)

    return loss


def _interpreted(transformed: Callable, *args: Any) -> Any:
    """`transformed(*args)` through its IR in the reference interpreter: the
    derivative IR that `jit` compiles, without a Numba compile of a large function."""
    (out,) = interpret(adjit.trace(transformed)(*args), *args)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_values_in_the_reference_interpreter_equal_numpy(name):
    case = CASES[name]
    check_traced(lambda z: case(np, _args(np, z)), Z)


def test_jax_agrees_with_numpy_on_every_case():
    # the derivative oracle below computes the same function
    np.testing.assert_allclose(
        np.asarray(_all_cases(jnp)(jnp.asarray(Z))), _all_cases(np)(Z), rtol=1e-12
    )


def test_compiled_values_equal_numpy():
    np.testing.assert_allclose(adjit.jit(_all_cases(np))(Z), _all_cases(np)(Z), rtol=1e-12)


def test_reverse_mode_equals_jax_and_finite_differences():
    got = _interpreted(adjit.grad(_loss(np)), Z)
    want = np.asarray(jax.grad(_loss(jnp))(jnp.asarray(Z)))
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)
    loss, h = _loss(np), 1e-6
    for d in np.random.default_rng(1).normal(size=(3, N)):
        fd = (loss(Z + h * d) - loss(Z - h * d)) / (2 * h)
        assert got @ d == pytest.approx(fd, rel=1e-6, abs=1e-7)


def test_forward_mode_equals_jax():
    t = np.random.default_rng(2).normal(size=N)
    tangent = _interpreted(lambda z, t: adjit.jvp(_all_cases(np), (z,), (t,))[1], Z, t)
    _, want = jax.jvp(_all_cases(jnp), (jnp.asarray(Z),), (jnp.asarray(t),))
    np.testing.assert_allclose(tangent, np.asarray(want), rtol=1e-11, atol=1e-12)


def _small(xp: Any) -> Callable[[Any], Any]:
    """A few contractions of a 12-vector, for compiled Jacobians in both modes."""

    def g(x: Any) -> Any:
        M, T = xp.reshape(x[:9], (3, 3)), xp.reshape(x, (2, 2, 3))
        parts = (
            xp.einsum("ii->i", M),
            xp.einsum("ij,jk->ik", M, M),
            xp.einsum("bij,bkj->bik", T, T),
            xp.einsum("...i,i", T, x[9:]),
            xp.einsum("ij,ij->", M, M),
            xp.einsum("i,j,ij->", x[:3], x[3:6], M),
        )
        return xp.concatenate([xp.ravel(p) for p in parts])

    return g


def test_compiled_jacobians_equal_jax():
    x = Z[:12]
    want = np.asarray(jax.jacfwd(_small(jnp))(jnp.asarray(x)))
    np.testing.assert_allclose(adjit.jacfwd(_small(np))(x), want, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(adjit.jacrev(_small(np))(x), want, rtol=1e-12, atol=1e-13)


def test_second_derivatives_are_contractions_too():
    def f(xp: Any) -> Callable[[Any], Any]:
        def g(x: Any) -> Any:
            M = xp.reshape(x, (2, 3))
            return xp.einsum("ij,kj,ik->", M, M, xp.einsum("ij,kj", M, M))

        return g

    x = Z[:6]
    want = np.asarray(jax.hessian(f(jnp))(jnp.asarray(x)))
    np.testing.assert_allclose(_interpreted(adjit.hessian(f(np)), x), want, rtol=1e-12, atol=1e-12)


def test_vmap_over_a_batch_equals_a_loop():
    batch = np.random.default_rng(3).uniform(-1.0, 1.0, (3, N))
    got = _interpreted(adjit.vmap(_all_cases(np)), batch)
    want = np.stack([_all_cases(np)(z) for z in batch])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_integer_and_float32_operands_and_dtype_argument_follow_numpy():
    def f(n: Any, x: Any, s: Any) -> Any:
        return (
            np.einsum("ij,jk", n, n),
            np.einsum("ii", n),
            np.einsum("ii->i", n),
            np.einsum("ij->j", n),
            np.einsum("ij,j", n, x),
            np.einsum("ij,jk", n, n, dtype=np.float64),
            np.einsum("ij,jk", x[:, None], s, dtype=np.float32, casting="same_kind"),
            np.einsum("ij,jk", s, s),
            np.einsum("ij,ij->", s, s),
            np.einsum("i,ij->j", x, s),
        )

    n = np.arange(9, dtype=np.int64).reshape(3, 3)
    s = np.linspace(-1.0, 1.0, 9, dtype=np.float32).reshape(3, 3)
    check_traced(f, n, np.linspace(0.0, 1.0, 3), s, rtol=1e-6)


def test_explicit_contraction_paths_give_numpys_values():
    def f(A: Any, B: Any, C: Any) -> Any:
        return (
            np.einsum("ij,jk,kl", A, B, C, optimize=["einsum_path", (1, 2), (0, 1)]),
            np.einsum("ij,jk,kl", A, B, C, optimize=["einsum_path", (0, 2), (0, 1)]),
            np.einsum("ij,jk,kl->li", A, B, C, optimize="optimal"),
            np.einsum("ij,j", A, [B[0, 0], B[1, 1], 1.0]),  # a list holding traced values
        )

    rng = np.random.default_rng(5)
    check_traced(f, rng.normal(size=(2, 3)), rng.normal(size=(3, 4)), rng.normal(size=(4, 2)))


def _refused(f: Callable, *args: Any, error: type = adjit.ShapeError, match: str) -> None:
    with pytest.raises(error, match=match) as info:
        adjit.trace(f)(*args)
    assert "test_einsum.py" in str(info.value)  # the user's line is named


def test_bad_subscripts_are_named_with_the_users_line():
    A, v = np.ones((2, 3)), np.ones(4)
    _refused(lambda A, v: np.einsum("ij,jk", A, v), A, v, match="has 1 dimension")
    _refused(lambda A, v: np.einsum("ij,j", A, v), A, v, match="index 'j' has size 3 .* but 4")
    _refused(lambda A, v: np.einsum("ij,jk", A), A, v, match="name 2 operand.* 1 were given")
    _refused(lambda A, v: np.einsum("ij->iz", A), A, v, match="'z' .* appears in no operand")
    _refused(lambda A, v: np.einsum("ij->ii", A), A, v, match="'i' .* more than once")
    _refused(lambda A, v: np.einsum("ii", A), A, v, match="sizes 2 and 3")
    _refused(lambda A, v: np.einsum("i2", A), A, v, match="invalid subscript '2'")
    _refused(lambda A, v: np.einsum("...i->i", A), A, v, match="no '...'")
    _refused(lambda A, v: np.einsum("...i,...i", A, v), A, v, match="size 3 .* but 4")
    _refused(lambda A, v: np.einsum("ij->i->j", A), A, v, match="only once")
    _refused(lambda A, v: np.einsum(A, [0, 99]), A, v, match="subscript 99")
    _refused(
        lambda A, v: np.einsum("ij->", A, dtype=np.float32),
        A,
        v,
        error=adjit.UnsupportedError,
        match="cannot cast .* float64 to float32 .* 'safe'",
    )
    _refused(
        lambda A, v: np.einsum("ij,jk,kl", A, A.T, A, optimize="bogus"),
        A,
        v,
        error=adjit.UnsupportedError,
        match="optimize='bogus'",
    )
    _refused(
        lambda A, v: np.einsum("ij,ij", A > 0, A > 0),
        A,
        v,
        error=adjit.UnsupportedError,
        match="bool",
    )


# tensordot, dot, inner, outer, vdot, matmul ------------------------------------


def _products(xp: Any, a: dict[str, Any]) -> tuple:
    A, B, T, U, D, v, w, E = (a[k] for k in "ABTUDvwE")
    return (
        xp.tensordot(A, B, 1),
        xp.tensordot(T, U, 0),
        xp.tensordot(T, D, axes=([1, 2], [1, 2])),
        xp.tensordot(T, D, axes=((-2, -1), (0, 2))),
        xp.tensordot(A, B, axes=(1, 0)),
        xp.tensordot(A, B.T, axes=(-1, -1)),
        xp.tensordot(D, xp.transpose(D, (1, 2, 0))),
        xp.tensordot(T, T, 3),
        xp.dot(T, B),
        xp.dot(T, U),
        xp.dot(v, U),
        xp.dot(a["S"][0, 0], A),
        xp.inner(T, D),
        xp.inner(v, v),
        xp.inner(A, v * 2.0),
        xp.outer(A, w),
        xp.vdot(T, T),
        xp.matmul(E, U),
        xp.matmul(T, v),
        xp.matmul(w, D),
        E @ B,
    )


def _all_products(xp: Any) -> Callable[[Any], Any]:
    def f(z: Any) -> Any:
        return xp.concatenate(_flat(xp, _products(xp, _args(xp, z))))

    return f


def test_tensordot_and_products_equal_numpy():
    check_traced(lambda z: _products(np, _args(np, z)), Z)


def test_tensordot_and_products_derivatives_equal_jax():
    t = np.random.default_rng(4).normal(size=N)
    w = np.cos(np.arange(_all_products(np)(Z).size))
    got = _interpreted(adjit.grad(lambda z: np.sum(np.sin(_all_products(np)(z)) * w)), Z)
    want = jax.grad(lambda z: jnp.sum(jnp.sin(_all_products(jnp)(z)) * w))(jnp.asarray(Z))
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-11, atol=1e-12)
    tangent = _interpreted(lambda z, t: adjit.jvp(_all_products(np), (z,), (t,))[1], Z, t)
    _, want = jax.jvp(_all_products(jnp), (jnp.asarray(Z),), (jnp.asarray(t),))
    np.testing.assert_allclose(tangent, np.asarray(want), rtol=1e-11, atol=1e-12)


def test_product_errors_name_the_function_and_shapes():
    A, B = np.ones((2, 3)), np.ones((4, 5))
    _refused(lambda A, B: np.tensordot(A, B, 1), A, B, match="shape-mismatch")
    _refused(lambda A, B: np.tensordot(A, B, axes=([0, 1], [0])), A, B, match="shape-mismatch")
    _refused(lambda A, B: np.tensordot(A, B, axes=(2, 0)), A, B, match="out of bounds")
    _refused(lambda A, B: np.inner(A, B), A, B, match=r"np.inner: shapes \(2, 3\) and \(4, 5\)")
    T = np.ones((2, 4, 5))
    _refused(lambda A, T: np.dot(A, T), A, T, match=r"np.dot: shapes \(2, 3\) and \(2, 4, 5\)")
    _refused(lambda A, B: np.matmul(A, B), A, B, match="not aligned")


# random subscripts ----------------------------------------------------------------


def _random_einsum(rng: np.random.Generator) -> tuple[str, list[np.ndarray]]:
    """A random subscript string over 'abcd' (repeats, size-1 broadcasting, '...',
    implicit or explicit output) with operands that NumPy accepts."""
    sizes = dict(zip("abcd", rng.integers(2, 4, size=4)))
    ellipsis_shape = tuple(rng.integers(1, 3, size=rng.integers(0, 3)))
    terms, arrays = [], []
    for _ in range(rng.integers(1, 4)):
        labels = list(rng.choice(list("abcd"), size=rng.integers(0, 4)))
        shape = [1 if rng.random() < 0.15 else sizes[lb] for lb in labels]
        for i, lb in enumerate(labels):  # a repeated label takes one size in an operand
            shape[i] = sizes[lb] if labels.count(lb) > 1 else shape[i]
        term = "".join(labels)
        if ellipsis_shape and rng.random() < 0.5:
            cut = rng.integers(0, len(ellipsis_shape) + 1)  # shorter ones broadcast
            pos = rng.integers(0, len(labels) + 1)
            term = term[:pos] + "..." + term[pos:]
            shape[pos:pos] = ellipsis_shape[cut:]
        terms.append(term)
        arrays.append(rng.normal(size=shape))
    spec = ",".join(terms)
    if rng.random() < 0.6:
        used = sorted(set("".join(terms).replace(".", "")))
        out = "".join(rng.permutation(used)[: rng.integers(0, len(used) + 1)])
        if "..." in spec:
            pos = rng.integers(0, len(out) + 1)
            out = out[:pos] + "..." + out[pos:]
        spec += "->" + out
    return spec, arrays


def test_random_subscripts_equal_numpy():
    rng = np.random.default_rng(15)
    checked = 0
    for _ in range(150):
        spec, arrays = _random_einsum(rng)
        try:
            want = np.einsum(spec, *arrays)
        except ValueError:
            continue  # NumPy refuses it too (e.g. an ellipsis it cannot broadcast)
        fn = adjit.trace(lambda *xs, spec=spec: np.einsum(spec, *xs))(*arrays)
        (got,) = interpret(fn, *arrays)
        assert got.shape == want.shape, spec
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=spec)
        checked += 1
    assert checked > 100


def test_random_subscripts_gradients_equal_finite_differences():
    rng = np.random.default_rng(16)
    for _ in range(30):
        spec, arrays = _random_einsum(rng)

        def loss(*xs: Any, spec: str = spec) -> Any:
            return np.sum(np.sin(np.einsum(spec, *xs)))

        argnums = tuple(range(len(arrays)))
        grads = interpret(adjit.trace(adjit.grad(loss, argnums=argnums))(*arrays), *arrays)
        dirs = [rng.normal(size=a.shape) for a in arrays]
        h = 1e-6
        fd = (
            loss(*(a + h * d for a, d in zip(arrays, dirs)))
            - loss(*(a - h * d for a, d in zip(arrays, dirs)))
        ) / (2 * h)
        got = sum(float(np.sum(g * d)) for g, d in zip(grads, dirs))
        assert got == pytest.approx(fd, rel=1e-6, abs=1e-8), spec
